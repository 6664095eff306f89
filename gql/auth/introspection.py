"""Introspection switchable off by setting (Settings.introspection, DANGJIAN_INTROSPECTION=off).

On by default: GraphiQL reads the schema through it, and the schema is public anyway (the
contract). Off, an operation that selects `__schema` or `__type` anywhere (fragments included,
`@skip` ignored) is refused before anything runs; `__typename` stays allowed (clients such as
Apollo add it to every selection). Field suggestions ("Did you mean ...?") are the other way of
reading the schema without introspection; gql.app removes them from error messages when
Settings.field_suggestions is off.
"""
from __future__ import annotations

import re

from graphql import ExecutionResult, FieldNode, FragmentDefinitionNode, InlineFragmentNode, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

from gql.auth.errors import AppError

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


class IntrospectionDisabled(AppError):
    code = "INTROSPECTION_DISABLED"


def introspects(document) -> bool:
    """Whether any operation or fragment of the document selects `__schema` or `__type`."""
    stack = [d.selection_set for d in document.definitions
             if isinstance(d, (OperationDefinitionNode, FragmentDefinitionNode))]
    while stack:
        selection_set = stack.pop()
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode) and selection.name.value in INTROSPECTION_FIELDS:
                return True
            if isinstance(selection, (FieldNode, InlineFragmentNode)) and selection.selection_set:
                stack.append(selection.selection_set)
    return False


def without_suggestions(message: str) -> str:
    return SUGGESTION.sub("", message)


def refuse_introspection(context) -> None:
    """Refuses an introspecting operation (sets `context.result`) when the setting is off."""
    settings = getattr(context.context, "settings", None)
    if (context.result is None and settings is not None and not settings.introspection
            and context.graphql_document is not None and introspects(context.graphql_document)):
        context.result = ExecutionResult(data=None, errors=[IntrospectionDisabled("此服务器已关闭内省查询（__schema、__type）")])


class IntrospectionPolicy(SchemaExtension):
    """`refuse_introspection` as an extension (the served schema runs it from
    gql.auth.policy.RequestPolicy)."""

    def on_execute(self):
        refuse_introspection(self.execution_context)
        yield
