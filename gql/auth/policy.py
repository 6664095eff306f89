"""Every per-request rule of the served schema in one strawberry extension (RequestPolicy).

The rules are those of the modules beside this one, run in the order the separate extensions ran
them (ErrorPolicy, TextPolicy, NodeCostLimit, SignInLimit, IntrospectionPolicy, the depth and
alias rules, the token limit, the parse and validation caches), with the same results:
- before anything: the depth and alias rules (LIMIT_RULES) join the validation rules, and the
  parser stops after MAX_TOKENS tokens;
- parse: strawberry's ParserCache LRU (module level, keyed by its size), so one query text is
  parsed once and every request with it gets the same document object;
- validate: once per document object and rule set (below);
- before execution, the first refusal wins: a forbidden control character (gql.auth.text), the
  node cost or no operation chosen (gql.auth.limits), more than one password check
  (gql.auth.sign_in_limit), introspection when it is off (gql.auth.introspection);
- after: errors get their codes or are masked (gql.auth.errors.ErrorPolicy).

Why one extension: strawberry makes every extension anew for every request and, for each of the
four phases (operation, parse, validate, execute), asks every extension for its hook and wraps
each hook it finds in a fresh `contextlib.contextmanager` (functools.wraps and a generator per
hook): ten extensions, seven hooks per request. Now one object and four hooks.

Validation is remembered by the document object (ParserCache hands the same one to every request
with the same text), not through strawberry's ValidationCache, which keys its LRU on the document
itself and so hashed the whole syntax tree on every request (graphql-core's nodes hash
recursively).

Measured on a cold crossTab over 100 members in process (bench/compare.py W3-100, the ASGI app
called directly, response cache off, bench schema, py-spy --gil): the extension hooks, the
validation cache's hashing, the node cost and the error masking were 8.1% of the worker's CPU
samples, 4.4% now.
"""
from __future__ import annotations

from collections import OrderedDict

import strawberry.schema.schema as strawberry_schema
from strawberry.extensions.parser_cache import _get_parse_cache

from gql.auth.errors import ErrorPolicy
from gql.auth.introspection import refuse_introspection
from gql.auth.limits import cost_results, refuse_cost
from gql.auth.sign_in_limit import refuse_password_checks
from gql.auth.text import refuse_text

PARSED_KEPT = 512
VALIDATED_KEPT = 512

# (document id, rules) → (the document, its validation errors). The document is held with its
# verdict so that its id cannot be reused while it is a key.
_VALIDATED: OrderedDict[tuple, tuple[object, list]] = OrderedDict()


def validation_errors(schema, document, rules: tuple) -> list:
    key = (id(document), id(schema), rules)
    kept = _VALIDATED.get(key)
    if kept is not None and kept[0] is document:
        _VALIDATED.move_to_end(key)
        return kept[1]
    # Looked up at call time: tests count the calls of strawberry's `validate`.
    errors = strawberry_schema.validate_document(schema, document, rules)
    _VALIDATED[key] = (document, errors)
    while len(_VALIDATED) > VALIDATED_KEPT:
        _VALIDATED.popitem(last=False)
    return errors


def request_policy(limit_rules: tuple, max_tokens: int) -> type:
    """The extension class for these depth/alias rules and token limit."""

    class RequestPolicy(ErrorPolicy):
        cost: int | None = None
        limit: int = 0

        def on_operation(self):
            context = self.execution_context
            context.validation_rules = context.validation_rules + limit_rules
            context.parse_options["max_tokens"] = max_tokens
            yield from super().on_operation()

        def on_parse(self):
            context = self.execution_context
            context.graphql_document = _get_parse_cache(PARSED_KEPT)(context.query, **context.parse_options)
            yield

        def on_validate(self):
            context = self.execution_context
            context.pre_execution_errors = validation_errors(context.schema._schema, context.graphql_document,
                                                             context.validation_rules)
            yield

        def on_execute(self):
            context = self.execution_context
            refuse_text(context)
            self.cost, self.limit = refuse_cost(context)
            refuse_password_checks(context)
            refuse_introspection(context)
            yield

        def get_results(self) -> dict:
            return cost_results(self.cost, self.limit)

    return RequestPolicy
