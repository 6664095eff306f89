"""The one served schema (never build a second one from these types: strawberry#3823)."""
from __future__ import annotations

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, ParserCache, QueryDepthLimiter, ValidationCache
from strawberry.schema.config import StrawberryConfig

from gql.auth.errors import ErrorPolicy
from gql.auth.guard import AuthGuard
from gql.auth.limits import NodeCostLimit
from gql.auth.sign_in_limit import SignInLimit
from gql.auth.text import TextPolicy
from gql.schema.account import Account
from gql.schema.difficulty import Difficulty
from gql.schema.leadership import LeaderPosition
from gql.schema.org_record import OrgRecord
from gql.schema.member import Member
from gql.schema.mutation import Mutation
from gql.schema.organization import Organization
from gql.schema.query import Query

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 5000

schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    types=[Organization, Member, Account, LeaderPosition, Difficulty, OrgRecord],
    extensions=[
        AuthGuard,
        ErrorPolicy,
        TextPolicy,
        NodeCostLimit,
        SignInLimit,
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
    ],
    config=StrawberryConfig(auto_camel_case=True),
)

__all__ = ["schema"]
