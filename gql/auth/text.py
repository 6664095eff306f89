"""Text a request may carry: valid Unicode without control characters, checked once per request.

Before this, strings went to the database as the JSON parser produced them. A lone UTF-16
surrogate ("\\ud800", legal JSON escape, not a character) failed when the driver or the response
encoder turned it into UTF-8: INTERNAL_SERVER_ERROR on both engines, for signed-out callers too
(`login(input: {username: "\\ud800"})`). A NUL byte was stored by SQLite and refused by PostgreSQL
("invalid byte sequence"): two engines, two answers. Both, and every other control character, are
refused here, before any resolver runs, for every string of every variable and every string
literal of the document, so that no field can forget it:

- lone surrogates anywhere in the request body: 400 from the view (gql/app.py), since such a body
  cannot even be echoed back as UTF-8;
- C0 controls except TAB, LF and CR (multi-line text: addresses, record contents, descriptions),
  DEL, and the C1 controls U+0080–U+009F (invisible, never typed, the classic way to smuggle
  terminal escapes into logs and exports): BAD_USER_INPUT, naming the variable or the position,
  never echoing the value.
"""
from __future__ import annotations

import re
from collections import OrderedDict

from graphql import ExecutionResult, StringValueNode, visit
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension

from gql.auth.errors import BadUserInput

FORBIDDEN_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
SURROGATE = re.compile("[\ud800-\udfff]")
# Deeper JSON than this in `variables` is refused (no input type of the schema nests beyond 3).
MAX_VARIABLE_DEPTH = 32


def control_character(text: str) -> str | None:
    """'U+0000' style name of the first forbidden control character, or None."""
    match = FORBIDDEN_CONTROL.search(text)
    return f"U+{ord(match.group()):04X}" if match else None


def _strings(value):
    """Every string (keys included) inside a JSON value, iteratively (no recursion limit)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def json_problem(value, max_depth: int | None = None) -> str | None:
    """Why a parsed request body (or a part of it) is not acceptable text, or None."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if max_depth is not None and depth > max_depth:
            return f"JSON 嵌套超过 {max_depth} 层"
        if isinstance(item, str):
            if SURROGATE.search(item):
                return "含有无效的 Unicode 字符（单独的代理项）"
        elif isinstance(item, dict):
            stack.extend((k, depth + 1) for k in item.keys())
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return None


class _Literals(Visitor):
    def __init__(self):
        super().__init__()
        self.found: list[tuple[StringValueNode, str]] = []

    def enter_string_value(self, node: StringValueNode, *_):
        bad = control_character(node.value)
        if bad:
            self.found.append((node, bad))


# The literals' verdict per document object. The parser cache hands identical query texts the same
# document, so the walk over the whole document (1% of the server's CPU on W1) runs once per text.
# The document is held with its verdict so that its id cannot be reused while it is a key.
_LITERAL_VERDICTS: OrderedDict[int, tuple[object, str | None]] = OrderedDict()
LITERAL_VERDICTS_KEPT = 512


def _literal_problem(document) -> str | None:
    key = id(document)
    kept = _LITERAL_VERDICTS.get(key)
    if kept is not None and kept[0] is document:
        _LITERAL_VERDICTS.move_to_end(key)
        return kept[1]
    literals = _Literals()
    visit(document, literals)
    bad = literals.found[0][1] if literals.found else None
    _LITERAL_VERDICTS[key] = (document, bad)
    while len(_LITERAL_VERDICTS) > LITERAL_VERDICTS_KEPT:
        _LITERAL_VERDICTS.popitem(last=False)
    return bad


def text_errors(document, variables: dict | None) -> list[BadUserInput]:
    errors = []
    for name, value in (variables or {}).items():
        for text in _strings(value):
            bad = control_character(text)
            if bad:
                errors.append(BadUserInput(f"变量 ${name} 含有不允许的控制字符（{bad}）"))
                break
    if document is not None:
        bad = _literal_problem(document)
        if bad:
            errors.append(BadUserInput(f"字符串字面量含有不允许的控制字符（{bad}）"))
    return errors


def refuse_text(context) -> None:
    """Refuses the operation (sets `context.result`) when a string breaks the rules above."""
    if context.result is None:
        errors = text_errors(context.graphql_document, context.variables)
        if errors:
            context.result = ExecutionResult(data=None, errors=errors)


class TextPolicy(SchemaExtension):
    """Refuses the operation before execution when a string breaks the rules above (the served
    schema runs `refuse_text` from gql.auth.policy.RequestPolicy)."""

    def on_execute(self):
        refuse_text(self.execution_context)
        yield
