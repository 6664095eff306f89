"""Shapes every domain shares: Node, connections, UserError, and the small enums."""
from __future__ import annotations

import dataclasses
import weakref
from enum import Enum
from typing import Any, Awaitable, Callable, Generic, TypeVar

import strawberry
from strawberry import UNSET, Private
from strawberry.relay import GlobalID
from strawberry.types.base import StrawberryList, StrawberryOptional, has_object_definition
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.scalars import is_scalar

from db.errors import Problem


def _leaf(type_, scalars) -> bool:
    while isinstance(type_, StrawberryOptional):
        type_ = type_.of_type
    if type_ is GlobalID or has_object_definition(type_):
        return False
    return (is_scalar(type_, scalars) or isinstance(type_, StrawberryEnumDefinition)
            or has_enum_definition(type_))


def _plain_list(type_, scalars) -> bool:
    while isinstance(type_, StrawberryOptional):
        type_ = type_.of_type
    return isinstance(type_, StrawberryList) and _leaf(type_.of_type, scalars)


def plain_input(cls):
    """Convert this input type's arguments by renaming its fields, not field by field.

    For an input whose fields are all scalars, enums or lists of them, strawberry's conversion
    (convert_argument) only renames the keys graphql-core already coerced, yet walks every field's
    type each time: `memberCount(filter: {scope: SUBTREE})` converted MemberFilter's 16 fields
    on each of W1's 17 counts, 10% of the server's CPU (py-spy, bench/compare.py W1 c=16). This
    sets the definition's documented `from_input` hook to a rename planned once; any field that is
    not plain (an input object, a GlobalID) still goes through strawberry's own conversion. Lists
    are copied as strawberry copies them (graphql-core shares a default list across requests)."""
    definition = cls.__strawberry_definition__
    plan: list[tuple[str, str, str, Any, bool]] = []

    def from_input(type_, value, context):
        if not plan:
            steps = []
            for field in definition.fields:
                resolved = field.resolve_type(type_definition=definition)
                kind = ("leaf" if _leaf(resolved, context.scalar_registry)
                        else "list" if _plain_list(resolved, context.scalar_registry) else "convert")
                required = (field.default_value is dataclasses.MISSING
                            and field.default_factory is dataclasses.MISSING)
                steps.append((context.config.name_converter.from_field(field), field.python_name, kind,
                              resolved, required))
            plan[:] = steps
        kwargs = {}
        for graphql_name, python_name, kind, resolved, required in plan:
            if graphql_name not in value:
                if required:  # as strawberry: graphql-core has checked the required ones are there
                    kwargs[python_name] = None
                continue
            item = value[graphql_name]
            if kind == "leaf" or item is None or item is UNSET:
                kwargs[python_name] = item
            elif kind == "list":
                kwargs[python_name] = list(item)
            else:
                kwargs[python_name] = context.convert(item, resolved, graphql_name)
        return type_(**kwargs)

    definition.from_input = from_input
    return cls


@strawberry.interface(description="An object with a globally unique, opaque id.")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.enum
class ErrorCode(Enum):
    INVALID = strawberry.enum_value("INVALID", description="The input is malformed or breaks a field rule (bad ID number, bad code, missing field).")
    NOT_FOUND = strawberry.enum_value("NOT_FOUND", description="The object does not exist, or is outside the caller's branch.")
    DUPLICATE = strawberry.enum_value("DUPLICATE", description="A unique value is taken (organization name or code, ID number, username).")
    CONFLICT = strawberry.enum_value("CONFLICT", description="The object changed since it was read (expectedVersion mismatch), or the state moved on.")
    NOT_ALLOWED = strawberry.enum_value("NOT_ALLOWED", description="A business rule forbids it (revoking an organization that still has members, ...).")


@strawberry.type(description="A failure the caller can fix; `field` is the path into the input.")
class UserError:
    field: list[str] | None
    message: str
    code: ErrorCode

    @classmethod
    def from_problem(cls, problem: Problem) -> "UserError":
        return cls(field=problem.field, message=problem.message, code=ErrorCode(problem.code))


def user_errors(problems: list[Problem]) -> list[UserError]:
    return [UserError.from_problem(p) for p in problems]


@strawberry.type
class Payload:
    ok: bool
    user_errors: list[UserError]


@strawberry.enum
class Gender(Enum):
    MALE = "MALE"
    FEMALE = "FEMALE"


@strawberry.enum(description="本级 (the organization alone) or 辖区 (it and all its descendants).")
class Scope(Enum):
    SELF = "SELF"
    SUBTREE = "SUBTREE"


@strawberry.enum
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


T = TypeVar("T")


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    count: Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.count()


def connection(nodes: list, cursors: list[str], has_next_page: bool,
               count: Callable[[], Awaitable[int]], has_previous_page: bool = False) -> Connection:
    return Connection(
        edges=[Edge(cursor=c, node=n) for n, c in zip(nodes, cursors)],
        page_info=PageInfo(has_next_page=has_next_page, has_previous_page=has_previous_page,
                           start_cursor=cursors[0] if cursors else None,
                           end_cursor=cursors[-1] if cursors else None),
        count=count,
    )


def attribute_resolvers(schema) -> int:
    """Give every basic field of the served schema (no resolver, no field extension: strawberry's
    `_get_basic_result`) a resolver that reads the attribute directly: the same
    `default_resolver(source, python_name)` strawberry's chain ends in (getattr unless the config
    says otherwise), without the chain (`_get_basic_result` → `StrawberryField.get_result` → two
    property reads → the default resolver) on every field of every object of every answer. Once,
    when the schema is built; returns the number of fields changed.

    Measured: a cold crossTab (W3-100) resolves ~35 such fields (rows and columns' key and label,
    cells, total), W2 (50 members) ~150; ~4 Python calls fewer each (cProfile call counts, the
    ASGI app in process)."""
    default = schema.config.default_resolver
    changed = 0
    for type_ in schema._schema.type_map.values():
        fields = getattr(type_, "fields", None)
        if type(type_).__name__ != "GraphQLObjectType" or type_.name.startswith("__") or not fields:
            continue
        for field in fields.values():
            definition = field.extensions.get("strawberry-definition") if field.extensions else None
            resolve = field.resolve
            if (definition is None or resolve is None or getattr(resolve, "__name__", "") != "_get_basic_result"
                    or not definition.is_basic_field or not definition.python_name):
                continue
            field.resolve = _attribute(default, definition.python_name)
            changed += 1
    return changed


# The resolvers made by _attribute that only read their attribute, and its name: gql.schema.execution
# reads such a field without a resolve info. Kept by the function object itself, not as an attribute
# on it: functools.wraps copies a function's attributes, so a wrapper (a guard, a logger) around one
# of these would have carried the mark and been skipped (tests/test_execution.py).
ATTRIBUTE_OF: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()


def _attribute(default_resolver, name: str):
    if default_resolver is getattr:
        def resolve(source, _info, **_arguments):
            return getattr(source, name)

        ATTRIBUTE_OF[resolve] = name
    else:
        def resolve(source, _info, **_arguments):
            return default_resolver(source, name)
    resolve._is_default = True  # as strawberry marks its own (its tracing reads it)
    return resolve
