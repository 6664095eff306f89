"""The one served schema (never build a second one from these types: strawberry#3823).

The depth and alias limits are validation rules built ONCE, here, and added by
gql.auth.policy.RequestPolicy as the same rules tuple every request. Strawberry's QueryDepthLimiter
and MaxAliasesLimiter, built per request by a factory, each create a new rule class per request;
ValidationCache keys its LRU on the rules tuple, so it never hit (0 of 451 requests, strawberry
issue 4635) and every request paid the whole validation: 21% of the server's CPU on W1 at c=16
(py-spy, bench/compare.py). ParserCache and ValidationCache keep their LRU at module level
(keyed by maxsize), so building those two per request costs nothing.
"""
from __future__ import annotations

import strawberry
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter

from gql.auth import guard
from gql.auth.policy import request_policy
from gql.schema.base import attribute_resolvers
from gql.schema.execution import ExecutionContext
from gql.schema.account import Account
from gql.schema.difficulty import Difficulty
from gql.schema.leadership import LeaderPosition
from gql.schema.org_record import OrgRecord
from gql.schema.member import Member
from gql.schema.mutation import Mutation
from gql.schema.organization import Organization
from gql.schema.query import Query
from gql.schema.statistics import StatDefinition
from gql.schema.flow import Flow
from gql.schema.representative import RepresentativeTerm, Volunteer

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 5000
# Operations in one batched request (a JSON array of requests), run one after another.
MAX_BATCH = 10
# Stable across requests: the validation cache's key includes them.
LIMIT_RULES = (max_depth_rule(MAX_DEPTH, None), max_aliases_rule(MAX_ALIASES))



class RememberingNameConverter(NameConverter):
    """camelCase names computed once per Python name: strawberry converts the name of every
    argument of every resolver call again (convert_arguments → to_camel_case), 1.2% of the
    server's CPU on W1 (py-spy). The set of names is the schema's, so the dict stays small."""

    def __init__(self, auto_camel_case: bool = True) -> None:
        super().__init__(auto_camel_case)
        self._names: dict[tuple[bool, str], str] = {}

    def apply_naming_config(self, name: str) -> str:
        key = (self.auto_camel_case, name)
        converted = self._names.get(key)
        if converted is None:
            converted = self._names[key] = super().apply_naming_config(name)
        return converted


class Schema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        """Strawberry logs every error of every request with its message (which can quote a
        variable's value: an ID number) and its traceback. Client errors need no log, and
        internal ones are logged by gql.auth.errors.ErrorPolicy with their path only."""


schema = Schema(
    query=Query,
    mutation=Mutation,
    types=[Organization, Member, Account, LeaderPosition, Difficulty, OrgRecord, StatDefinition, Flow,
           RepresentativeTerm, Volunteer],
    # One extension for every per-request rule (gql.auth.policy): error codes and masking, text,
    # node cost, password checks, introspection, depth and aliases, tokens, parse and validation
    # caches. @auth is not an extension: it is in the resolvers (GUARDED_FIELDS below).
    extensions=[request_policy(LIMIT_RULES, MAX_TOKENS)],
    config=StrawberryConfig(auto_camel_case=True, name_converter=RememberingNameConverter(),
                            batching_config={"max_operations": MAX_BATCH}),
    # Lists of scalars completed in one loop (the cross-tabs' cells), unguarded attribute fields read
    # without a resolve info: gql.schema.execution.
    execution_context_class=ExecutionContext,
)

# Basic fields read their attribute directly (gql.schema.base.attribute_resolvers); then @auth is
# put in front of the resolvers, these included.
ATTRIBUTE_FIELDS = attribute_resolvers(schema)
# @auth on every field whose rule is not public, in the field's resolver (gql.auth.guard.install):
# deny by default, checked on every resolution, with no per-request middleware.
GUARDED_FIELDS = guard.install(schema._schema)

__all__ = ["schema"]
