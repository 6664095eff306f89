"""One request, one password check.

Every `login` costs an argon2 hash (0.1–0.4 s of CPU at the production profile), whether the
username exists or not. Aliases made one request worth many: 30 aliased `login` fields (the alias
limit) cost 30 hashes, 6–9 s of CPU, and sprayed 30 usernames past any per-request throttling.
So an operation may select at most one field that checks a password (`login`, `changePassword`,
later `registerMember`), counted before anything runs: root fields of the operation that will run,
through fragments and inline fragments, by field name (aliases do not help), `@skip`/`@include`
ignored (a field that might run counts).

Refused with QUERY_TOO_COMPLEX, not BAD_USER_INPUT: nothing in the input is wrong (each `login`
alone would run), the request's shape exceeds a limit, as with the depth, alias and node-cost
limits, which answer QUERY_TOO_COMPLEX before execution too; the whole request is refused, so no
field of it runs and no hash is computed.
"""
from __future__ import annotations

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
)
from strawberry.extensions import SchemaExtension

from gql.auth.errors import QueryTooComplex

# Root mutation fields that check a password. `changePassword` verifies the current password (and
# hashes the new one): 30 aliases were 30 argon2 checks and 30 guesses of the current password of
# a stolen token's account, with no lockout.
PASSWORD_FIELDS = frozenset({"login", "registerMember", "changePassword"})
MAX_PASSWORD_FIELDS = 1


def password_checks(selection_set, fragments: dict[str, FragmentDefinitionNode],
                    seen: frozenset = frozenset()) -> int:
    """The root fields of `selection_set` that check a password, fragments included."""
    count = 0
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            count += selection.name.value in PASSWORD_FIELDS
        elif isinstance(selection, InlineFragmentNode):
            count += password_checks(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                count += password_checks(fragments[name].selection_set, fragments, seen | {name})
    return count


def most_password_checks(document, operation_name: str | None) -> int:
    """The most password checks one operation of the document would make: the named operation,
    or every operation when none is named (graphql-core refuses an ambiguous document anyway)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)
                  and (operation_name is None or (d.name is not None and d.name.value == operation_name))]
    return max((password_checks(o.selection_set, fragments) for o in operations), default=0)


def refuse_password_checks(context) -> None:
    """Refuses the operation (sets `context.result`) when it would check more than one password."""
    if context.result is None and context.graphql_document is not None:
        count = most_password_checks(context.graphql_document, context.operation_name)
        if count > MAX_PASSWORD_FIELDS:
            context.result = ExecutionResult(data=None, errors=[QueryTooComplex(
                f"一个请求最多只能校验一次密码（这个请求有 {count} 个 login/changePassword 字段）：请分开发送")])


class SignInLimit(SchemaExtension):
    """`refuse_password_checks` as an extension (the served schema runs it from
    gql.auth.policy.RequestPolicy)."""

    def on_execute(self):
        refuse_password_checks(self.execution_context)
        yield
