"""graphql-core's execution with two shortcuts: a list of scalars or enums is completed in one
loop, not item by item through the general machinery; and a scalar or enum field that only reads
its object's attribute (gql.schema.base.attribute_resolvers, no @auth check, no arguments) is read
without a resolve info.

Why: a cross-tab's `cells` is [[Int!]!]! (W3-100: 11 rows of 3 counts, W4: rows x 8 age bands),
and graphql-core completes every count on its own: a Path, an awaitable check, complete_value's
dispatch through the non-null and list checks, then the scalar's coercion, about ten Python calls
per number. Here such a list is one loop of the scalar's coerce_output_value, and a list of such
lists (the cells themselves) one loop of those (_grid).

What stays exactly graphql-core's: anything not plain takes its way, for the whole list. That is
a list that is no list or tuple (a generator, an async iterable), a @stream, an item that is None,
an Exception or awaitable, and a value the scalar does not coerce (it raises, or returns None).
Then the list is completed again from its first item by graphql-core, so its errors, their paths
and its nulls are graphql-core's (tests/test_execution.py compares the two).

The same holds for the attribute fields (a cross-tab's rows and columns, `key` and `label`: 28
fields at W3-100): graphql-core builds a resolve info (strawberry's, per field), calls the resolver
and completes the value through complete_value; here the attribute is read and coerced. A field
with an @auth rule is never one of them (gql.auth.guard wraps its resolver, and only the resolvers
themselves are in gql.schema.base.ATTRIBUTE_OF, never a wrapper), nor one with arguments; a value that is None where the type is non-null,
an exception, awaitable, or not coerced takes graphql-core's way, which reads the attribute again.

Measured (`python -m bench.request_cost W3-100 W4-100 --calls`): Python calls per request W3-100
4479 → 4117 (lists) → 3762 (attribute fields), W4-100 5601 → 4653 → 4242. Then plain ints and strs
as they are (_as_is, _coerced) and the cross-tab's rows read by position (db.fast.rows by_index), on
another machine (2026-12-01, `--calls`): W3-100 3839 → 3508, W4-100 4359 → 3631, W3-10k 4125 →
3724, W4-10k 8629 → 5977; and a list of lists of scalars (the cells) in one loop too (_grid): W3-100
3124, W4-100 3373, W3-10k 3270, W4-10k 5005.
"""
from __future__ import annotations

from typing import Any

from graphql import GraphQLInt, GraphQLList, GraphQLNonNull, GraphQLString, Undefined, is_leaf_type
from graphql.type.scalars import GRAPHQL_MAX_INT, GRAPHQL_MIN_INT
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from gql.schema.base import ATTRIBUTE_OF

_PLAIN_LISTS = (list, tuple)


def _probe(_source, _info):  # a resolver a middleware would wrap
    return None


class ExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Strawberry hands every execution a middleware manager, empty unless an extension
        # hooks resolve (none of the served schema's does): only without one are fields read here.
        manager = self.middleware_manager
        self.plain_resolvers = manager is None or manager.get_field_resolver(_probe) is _probe

    def execute_field(self, parent_type, source, field_details_list, path, position_context):
        field_def = parent_type.fields.get(field_details_list[0].node.name.value)
        name = ATTRIBUTE_OF.get(field_def.resolve) if field_def is not None else None
        if name is not None and not field_def.args and self.plain_resolvers:
            return_type = field_def.type
            non_null = isinstance(return_type, GraphQLNonNull)
            leaf = return_type.of_type if non_null else return_type
            if is_leaf_type(leaf):
                value = _leaf(leaf.coerce_output_value, source, name, non_null, self.is_awaitable)
                if value is not _GENERAL:
                    return value
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def complete_iterable_value(self, item_type, field_details_list, info, path, items, position_context):
        leaf = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if type(items) in _PLAIN_LISTS:
            completed = None
            if is_leaf_type(leaf):
                completed = _leaves(leaf.coerce_output_value, items, self.is_awaitable)
            elif isinstance(leaf, GraphQLList):
                # A list of lists of scalars (a cross-tab's cells): every inner list plain, or
                # graphql-core completes the whole outer list.
                inner = leaf.of_type.of_type if isinstance(leaf.of_type, GraphQLNonNull) else leaf.of_type
                if is_leaf_type(inner):
                    completed = _grid(inner.coerce_output_value, items, self.is_awaitable)
            if completed is not None and self.get_stream_usage(field_details_list, path) is None:
                return completed
        return super().complete_iterable_value(item_type, field_details_list, info, path, items, position_context)


_GENERAL = object()  # graphql-core completes the value itself


# Int's and String's coercion return a plain int in the 32-bit range and a plain str as they are
# (graphql-core's serialize_int and serialize_string): those values skip the call. W4-10k's cells
# are 216 counts; each went through an Exception check, the awaitable check and serialize_int's
# isinstance chain (with the rows read by position, 8,629 → 5,977 Python calls per request).
_INT, _STRING = GraphQLInt.coerce_output_value, GraphQLString.coerce_output_value


def _as_is(coerce, items) -> bool:
    """True when `coerce` returns each of `items` unchanged (plain ints in range, plain strs)."""
    kinds = set(map(type, items))
    if coerce is _INT:
        return kinds == {int} and GRAPHQL_MIN_INT <= min(items) and max(items) <= GRAPHQL_MAX_INT
    return coerce is _STRING and kinds == {str}


def _coerced(coerce, value, is_awaitable):
    """A value that is not null, coerced by its scalar or enum; _GENERAL where it is not plain."""
    kind = type(value)
    if (kind is str and coerce is _STRING) or (
            kind is int and coerce is _INT and GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT):
        return value
    if isinstance(value, Exception) or is_awaitable(value):
        return _GENERAL
    try:
        coerced = coerce(value)
    except Exception:
        return _GENERAL
    return _GENERAL if coerced is None or coerced is Undefined else coerced


def _leaves(coerce, items, is_awaitable) -> list[Any] | None:
    """The coerced items, or None where graphql-core has to complete the list itself."""
    if items and _as_is(coerce, items):
        return list(items)
    completed = []
    append = completed.append
    for item in items:
        if item is None or item is Undefined:
            return None
        value = _coerced(coerce, item, is_awaitable)
        if value is _GENERAL:
            return None
        append(value)
    return completed


def _grid(coerce, lines, is_awaitable) -> list[list[Any]] | None:
    """Each of `lines` completed by _leaves, or None where any is not plain (not a list or tuple,
    or an item _leaves refuses)."""
    completed = []
    for line in lines:
        if type(line) not in _PLAIN_LISTS:
            return None
        values = _leaves(coerce, line, is_awaitable)
        if values is None:
            return None
        completed.append(values)
    return completed


def _leaf(coerce, source, name: str, non_null: bool, is_awaitable):
    """The attribute `name` of `source`, coerced; None for a null of a nullable type; _GENERAL
    where graphql-core has to resolve the field itself."""
    try:
        value = getattr(source, name)
    except Exception:
        return _GENERAL
    if value is None or value is Undefined:
        return _GENERAL if non_null else None
    return _coerced(coerce, value, is_awaitable)
