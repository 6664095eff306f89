"""Node cost: how many objects an operation may ask for, counted before it runs.

Each connection field costs its page size (`first`, default 20) times the page sizes of the
connections around it, as GitHub counts it (50 repositories × 10 issues = 550 nodes); `nodes(ids:)`
costs its ids. Depth and alias limits cannot see this: `members(first: 100)` three levels deep is
a million rows in a short query.

Plain lists of objects are charged too, each at a bound of its own, and multiply like pages:
- `children` has no `first`. Its hard bound is 999 (three code digits per level), which would
  refuse every two-level tree browse; its typical width is far lower. Measured on the demo
  generator's 50,000-organization tree (the shape `make run` and the benchmarks use): 7,271
  parents, mean fan-out 6.9, 92 % with at most 9 children, 96 % at most 20, 99.7 % at most 50, the
  widest 276. It is charged CHILDREN_FANOUT = 20 per level (the 96th percentile): one level is
  over-estimated ~3× on average and two levels ~8×, which is the price of knowing nothing before
  running. So `children { children { children { members(first: 100) } } }` is charged
  20 + 400 + 8,000 + 800,000 (it was 100): refused; `children { children { members(first: 50) } }`
  is 20,420 and runs, as does GraphiQL's example `children { name members(first: 5) }` (120).
- Other object lists are bounded by the data: `ancestors` by the tree's depth, leaders, history
  and difficulties by what one organization or member holds. Each is charged LIST_ESTIMATE.
- `codes(table:)` is charged the size of its table (the largest one when the table is a variable);
  introspection lists (`types`, `fields`, `args`, `inputFields`, `enumValues`, `interfaces`,
  `possibleTypes`, `directives`) their mean size in the served schema, so the whole introspection
  query GraphiQL sends is charged about the number of objects it really returns (1,104 today),
  while nested introspection (`__schema { types { fields { type { fields { type { fields … } } } }
  } } }`: 3,360) multiplies and is refused when signed out.

Statistics are charged by the work they ask for, which no page size shows: a cross-tab
(`crossTab`, `StatDefinition.result`) is one GROUP BY over its whole scope (up to every member of
the tree: 0.1-0.8 s over 1,000,000 members on PostgreSQL, bench.compare W3-1m) and returns
rows × columns cells. Each costs STAT_SCAN (2,000) plus its cells, estimated from its dimensions
(DIMENSION_SIZES: the values a dimension can take; CHILD_ORGANIZATION at CHILDREN_FANOUT + 1; a
saved table's dimensions are not known before it runs: UNKNOWN_CELLS), times the pages around it;
its drill-through page (`members(first:)`) is charged as every connection, once per table.
`memberBalance` (two states of the history over the scope) costs STAT_SCAN too. So one request
holds at most 24 cross-tabs or balances, whatever the aliases (30) allow, and
`statDefinitions(first: 100) { result { ... } }` (100 GROUP BYs) is refused where the default page
of 20 runs.

Signed-out requests get a ceiling far below the signed-in one (MAX_NODES_ANONYMOUS = 2,000 against
50,000): they can only sign in, read code tables and introspect, and nothing a signed-out client
does should cost the server much more than GraphiQL's own introspection (1,104) does.

An operation is chosen as execution will choose it: by `operationName`, or the only operation of
the document. A document with several operations and no `operationName` is refused (the GraphQL
spec's GetOperation; strawberry 0.341 silently ran the first one).
"""
from __future__ import annotations

import json
import math
from collections import OrderedDict
from functools import lru_cache

from graphql import (
    ExecutionResult,
    EnumValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    VariableNode,
    is_composite_type,
)
from graphql.execution.values import get_variable_values
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef
from strawberry.extensions import SchemaExtension

from db import codes
from db.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from gql.auth.errors import OperationNotChosen, QueryTooComplex

MAX_NODES = 50_000
MAX_NODES_ANONYMOUS = 2_000
CHILDREN_FANOUT = 20
LIST_ESTIMATE = 10
STAT_SCAN = 2_000
UNKNOWN_CELLS = CHILDREN_FANOUT * LIST_ESTIMATE
# The number of values (rows or columns) each statistics dimension can have, 未填 included.
DIMENSION_SIZES = {
    "CHILD_ORGANIZATION": CHILDREN_FANOUT + 1, "ORG_TYPE": 7, "LEVEL": LIST_ESTIMATE, "GENDER": 3,
    "ETHNICITY": "ethnicity", "EDUCATION": "education", "AGE_BAND": 10, "PARTY_AGE_BAND": 8, "JOIN_YEAR": 80,
    "CATEGORY": 6, "AFFILIATION": 3, "STATUS": 8, "JOB_POSITION": "job_position",
    "TECHNICAL_TITLE": "technical_title", "HAS_ACCOUNT": 2,
}
STAT_FIELDS = {("Query", "crossTab"), ("StatDefinition", "result"), ("Query", "memberBalance")}
# Fields that return a connection (they take `first`).
CONNECTIONS = frozenset({"members", "descendants", "difficulties", "orgRecords", "accounts"})


def _value(node, variables: dict):
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, ListValueNode):
        return node.values
    return None


@lru_cache(maxsize=4)
def list_sizes(schema: GraphQLSchema) -> dict[tuple[str, str], int]:
    """The charge of each plain object list of the schema, introspection included."""
    types = list(schema.type_map.values())
    with_fields = [t for t in types if isinstance(t, (GraphQLObjectType, GraphQLInterfaceType))]
    fields = [f for t in with_fields for f in t.fields.values()]

    def mean(total: int, over: int) -> int:
        return max(1, math.ceil(total / max(over, 1)))

    sizes = {
        ("__Schema", "types"): len(types),
        ("__Schema", "directives"): len(schema.directives),
        ("__Type", "fields"): mean(len(fields), len(types)),
        ("__Type", "inputFields"): mean(sum(len(t.fields) for t in types if isinstance(t, GraphQLInputObjectType)),
                                        len(types)),
        ("__Type", "enumValues"): mean(sum(len(t.values) for t in types if isinstance(t, GraphQLEnumType)), len(types)),
        ("__Type", "interfaces"): mean(sum(len(t.interfaces) for t in with_fields), len(types)),
        ("__Type", "possibleTypes"): mean(sum(len(schema.get_possible_types(t)) for t in types
                                              if isinstance(t, (GraphQLInterfaceType, GraphQLUnionType))), len(types)),
        ("__Field", "args"): mean(sum(len(f.args) for f in fields), len(fields)),
        ("__Directive", "args"): mean(sum(len(d.args) for d in schema.directives), len(schema.directives)),
    }
    sizes[("Query", "codes")] = max(len(codes.entries(table)) for table in codes.TABLES)
    return sizes


def dimension_size(value) -> int:
    """The values a dimension (a name, an enum, or unknown) can have; the largest when unknown."""
    name = getattr(value, "value", getattr(value, "name", value))
    if not isinstance(name, str) or name not in DIMENSION_SIZES:
        return max(dimension_size(d) for d in DIMENSION_SIZES)
    size = DIMENSION_SIZES[name]
    return len(codes.entries(size)) + 1 if isinstance(size, str) else size


def code_table_size(table: str) -> int:
    name = table.lower()
    return len(codes.entries(name)) if name in codes.TABLES else 1


def _unwrap(type_):
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return type_


def _named(type_):
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_


class _Counter:
    def __init__(self, schema: GraphQLSchema | None, fragments: dict[str, FragmentDefinitionNode], variables: dict,
                 signed_in: bool = True):
        self.schema, self.fragments, self.variables = schema, fragments, variables
        self.signed_in = signed_in
        self.sizes = list_sizes(schema) if schema is not None else {}

    def _type(self, name: str | None):
        return self.schema.get_type(name) if self.schema is not None and name else None

    def selection_cost(self, selection_set, multiplier: int, parent=None, seen: frozenset = frozenset()) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field_cost(selection, multiplier, parent, seen)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self._type(condition.name.value) if condition else parent
                total += self.selection_cost(selection.selection_set, multiplier, inner, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in self.fragments and name not in seen:
                    fragment = self.fragments[name]
                    total += self.selection_cost(fragment.selection_set, multiplier,
                                                 self._type(fragment.type_condition.name.value), seen | {name})
        return total

    def _definition(self, parent, name: str):
        if name == "__schema":
            return SchemaMetaFieldDef
        if name == "__type":
            return TypeMetaFieldDef
        fields = getattr(parent, "fields", None)
        return fields.get(name) if fields else None

    def _input_fields(self, field: FieldNode, argument: str) -> dict:
        """An input-object argument's fields as values: from a literal (enum values as their names,
        variables looked up) or from a variable's coerced value."""
        for a in field.arguments or ():
            if a.name.value != argument:
                continue
            if isinstance(a.value, VariableNode):
                value = self.variables.get(a.value.name.value)
                if isinstance(value, dict):
                    return value
                return {k: getattr(value, k) for k in ("rows", "columns") if hasattr(value, k)}
            if isinstance(a.value, ObjectValueNode):
                out = {}
                for f in a.value.fields:
                    if isinstance(f.value, EnumValueNode):
                        out[f.name.value] = f.value.value
                    elif isinstance(f.value, VariableNode):
                        out[f.name.value] = self.variables.get(f.value.name.value)
                    elif isinstance(f.value, NullValueNode):
                        out[f.name.value] = None
                    else:
                        out[f.name.value] = ...
                return out
        return {}

    def stat_cost(self, field: FieldNode, parent_name: str, name: str) -> int:
        """STAT_SCAN plus the table's cells (rows × columns) for a cross-tab."""
        if name == "memberBalance":
            return STAT_SCAN
        if name == "result":
            return STAT_SCAN + UNKNOWN_CELLS
        spec = self._input_fields(field, "input")
        columns = spec.get("columns")
        return STAT_SCAN + dimension_size(spec.get("rows")) * (1 if columns is None else dimension_size(columns))

    def field_cost(self, field: FieldNode, multiplier: int, parent, seen: frozenset) -> int:
        arguments = {a.name.value: _value(a.value, self.variables) for a in field.arguments or ()}
        name = field.name.value
        definition = self._definition(parent, name)
        returns = _named(definition.type) if definition is not None else None
        parent_name = getattr(parent, "name", None)
        # Signed out, statistics are refused by @auth before any work (UNAUTHENTICATED, not a cost).
        if (parent_name, name) in STAT_FIELDS and self.signed_in:
            # The table once per enclosing page; what it holds (its drill-through page, the
            # balance's lines) at the same multiplier: one page per table, not per cell.
            return multiplier * self.stat_cost(field, parent_name, name) + \
                self.selection_cost(field.selection_set, multiplier, returns, seen)
        size = None
        if name in CONNECTIONS or "first" in arguments:
            first = arguments.get("first")
            # Sizes outside 1..100 are refused by the field itself (BAD_USER_INPUT), so they are
            # counted here as the nearest size that could run.
            valid = isinstance(first, int) and not isinstance(first, bool) and first > 0
            size = min(first, MAX_PAGE_SIZE) if valid else DEFAULT_PAGE_SIZE
        elif name == "nodes":
            ids = arguments.get("ids")
            size = min(len(ids), MAX_PAGE_SIZE) if isinstance(ids, list) else 1
        elif (parent_name, name) == ("Query", "codes") and field.arguments \
                and isinstance(field.arguments[0].value, EnumValueNode):
            size = code_table_size(field.arguments[0].value.value)
        elif (parent_name, name) in self.sizes:
            size = self.sizes[(parent_name, name)]
        elif definition is not None and isinstance(_unwrap(definition.type), GraphQLList) and is_composite_type(returns) \
                and not name.startswith("__") and name not in ("edges", "userErrors"):
            size = CHILDREN_FANOUT if name == "children" else LIST_ESTIMATE
        if size is None:
            return self.selection_cost(field.selection_set, multiplier, returns, seen)
        nodes = multiplier * size
        return nodes + self.selection_cost(field.selection_set, nodes, returns, seen)


def chosen_operation(document, operation_name: str | None) -> OperationDefinitionNode | None:
    """The operation execution runs: the named one, or the only one (None when it is ambiguous
    or absent; execution then refuses the request)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == operation_name), None)


def node_cost(document, operation_name: str | None, variables: dict | None, schema: GraphQLSchema | None = None,
              signed_in: bool = True) -> int:
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operation = chosen_operation(document, operation_name)
    if operation is None:
        return 0
    root = None
    variables = variables or {}
    if schema is not None:
        root = {"query": schema.query_type, "mutation": schema.mutation_type,
                "subscription": schema.subscription_type}[operation.operation.value]
        variables = coerced_variables(schema, operation, variables)
    return _Counter(schema, fragments, variables, signed_in).selection_cost(operation.selection_set, 1, root)


def coerced_variables(schema: GraphQLSchema, operation: OperationDefinitionNode, variables: dict) -> dict:
    """The variables as execution will see them: defaults filled in, values coerced (an Int
    variable sent as 100.0 runs as 100). Counting the raw request values instead charged
    `first: $f` with `$f: Int = 100` or `{"f": 100.0}` as the default page of 20: three nested
    pages of 100 (1,010,100 nodes) were estimated at 8,420 and ran. Variables that do not coerce
    fail execution anyway; they are counted as sent."""
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables)
    coerced = getattr(coerced, "coerced", coerced)  # graphql-core 3.3: VariableValues; errors: a list
    return coerced if isinstance(coerced, dict) else variables


# The cost of a (document, operation, variables, signed in or not) as computed: the document is
# the parse cache's object for its text, so a repeated request finds its cost here instead of
# walking the document and coercing its variables again (2% of the worker's CPU on a cold
# crossTab, W3-100). Held with its document, so that an id is never reused while it is a key.
# Variables longer than MEMO_VARIABLES_CHARS as JSON are not remembered (memory, not speed).
_COSTS: OrderedDict[tuple, tuple[object, int]] = OrderedDict()
COSTS_KEPT = 512
MEMO_VARIABLES_CHARS = 2_000


def _variables_key(variables) -> str | None:
    try:
        text = json.dumps(variables, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return None
    return text if len(text) <= MEMO_VARIABLES_CHARS else None


def remembered_cost(document, operation_name: str | None, variables: dict | None, schema: GraphQLSchema,
                    signed_in: bool) -> int:
    """node_cost, computed once per document, operation, variables and sign-in state."""
    variables_key = _variables_key(variables)
    if variables_key is None:
        return node_cost(document, operation_name, variables, schema, signed_in)
    key = (id(document), id(schema), operation_name, variables_key, signed_in)
    kept = _COSTS.get(key)
    if kept is not None and kept[0] is document:
        _COSTS.move_to_end(key)
        return kept[1]
    cost = node_cost(document, operation_name, variables, schema, signed_in)
    _COSTS[key] = (document, cost)
    while len(_COSTS) > COSTS_KEPT:
        _COSTS.popitem(last=False)
    return cost


def refuse_cost(context) -> tuple[int | None, int]:
    """Refuses the operation (sets `context.result`) when it asks for more nodes than the limit,
    or names no operation among several; (its cost, the limit) for the response's extensions."""
    limit = MAX_NODES
    if context.result is None and context.graphql_document is not None:
        document = context.graphql_document
        provided = getattr(context, "_provided_operation_name", None)
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if provided is None and len(operations) > 1:
            context.result = ExecutionResult(data=None, errors=[OperationNotChosen(
                "文档含有多个操作时必须用 operationName 指明执行哪一个")])
            return None, limit
        signed_in = getattr(context.context, "viewer", None) is not None
        limit = MAX_NODES if signed_in else MAX_NODES_ANONYMOUS
        cost = remembered_cost(document, provided, context.variables, context.schema._schema, signed_in)
        if cost > limit:
            who = "" if signed_in else "未登录时"
            context.result = ExecutionResult(data=None, errors=[QueryTooComplex(
                f"{who}查询最多可请求 {limit} 个对象，这个查询估计为 {cost} 个：请减小 first 或拆分查询")])
        return cost, limit
    return None, limit


def cost_results(cost: int | None, limit: int) -> dict:
    return {"cost": {"nodes": cost, "limit": limit}} if cost else {}


class NodeCostLimit(SchemaExtension):
    """`refuse_cost` as an extension (the served schema runs it from gql.auth.policy.RequestPolicy)."""
    cost: int | None = None
    limit: int = MAX_NODES

    def on_execute(self):
        self.cost, self.limit = refuse_cost(self.execution_context)
        yield

    def get_results(self) -> dict:
        return cost_results(self.cost, self.limit)
