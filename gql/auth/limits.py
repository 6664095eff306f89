"""Node cost: how many objects an operation may ask for, counted before it runs.

Each connection field costs its page size (`first`, default 20) times the page sizes of the
connections around it, as GitHub counts it (50 repositories × 10 issues = 550 nodes); `nodes(ids:)`
costs its ids. Depth and alias limits cannot see this: `members(first: 100)` three levels deep is
a million rows in a short query. Plain lists (children, ancestors, history) are bounded by the
data, not by the client, and are not charged.
"""
from __future__ import annotations

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

from db.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from gql.auth.errors import QueryTooComplex

MAX_NODES = 50_000
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


class _Counter:
    def __init__(self, fragments: dict[str, FragmentDefinitionNode], variables: dict):
        self.fragments, self.variables = fragments, variables

    def selection_cost(self, selection_set, multiplier: int, seen: frozenset = frozenset()) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field_cost(selection, multiplier, seen)
            elif isinstance(selection, InlineFragmentNode):
                total += self.selection_cost(selection.selection_set, multiplier, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in self.fragments and name not in seen:
                    total += self.selection_cost(self.fragments[name].selection_set, multiplier, seen | {name})
        return total

    def field_cost(self, field: FieldNode, multiplier: int, seen: frozenset) -> int:
        arguments = {a.name.value: _value(a.value, self.variables) for a in field.arguments or ()}
        name = field.name.value
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
        if size is None:
            return self.selection_cost(field.selection_set, multiplier, seen)
        nodes = multiplier * size
        return nodes + self.selection_cost(field.selection_set, nodes, seen)


def node_cost(document, operation_name: str | None, variables: dict | None) -> int:
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    counter = _Counter(fragments, variables or {})
    return max((counter.selection_cost(o.selection_set, 1) for o in chosen[:1]), default=0)


class NodeCostLimit(SchemaExtension):
    cost: int | None = None

    def on_execute(self):
        context = self.execution_context
        if context.result is None and context.graphql_document is not None:
            self.cost = node_cost(context.graphql_document, context.operation_name, context.variables)
            if self.cost > MAX_NODES:
                context.result = ExecutionResult(data=None, errors=[QueryTooComplex(
                    f"查询最多可请求 {MAX_NODES} 个对象，这个查询估计为 {self.cost} 个：请减小 first 或拆分查询")])
        yield

    def get_results(self) -> dict:
        return {"cost": {"nodes": self.cost, "limit": MAX_NODES}} if self.cost else {}
