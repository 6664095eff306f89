"""党代表 (representative seats and the summary query) and 党员志愿者 (volunteers). Rows come from
db.services.representatives."""
from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Awaitable, Callable

import strawberry
from strawberry import Private

from db import models
from gql.auth.directives import Role, auth
from gql.ids import to_global_id
from gql.schema.base import Connection, Node, Scope, UserError
from gql.schema.member import Member


@strawberry.enum
class RepresentativeLevel(Enum):
    NATIONAL = "NATIONAL"
    PROVINCIAL = "PROVINCIAL"
    CITY = "CITY"
    COUNTY = "COUNTY"
    TOWNSHIP = "TOWNSHIP"


@strawberry.type(description="党代表: one term of office at one level.",
                 directives=[auth(Role.VIEWER, allow_self=True)])
class RepresentativeTerm(Node):
    id: strawberry.ID
    level: RepresentativeLevel
    term: int = strawberry.field(description="届次, e.g. 11 for the 11th congress.")
    category: str | None
    delegation: str | None = strawberry.field(description="所属团组.")
    terminated_on: dt.date | None = strawberry.field(description="终止 ends the qualification (资格终止).")
    termination_reason: str | None
    member_pk: Private[int]
    scope_path: Private[str]
    owner_member_id: Private[int]

    @classmethod
    def from_row(cls, row: tuple[models.RepresentativeTerm, str] | None) -> "RepresentativeTerm | None":
        if row is None:
            return None
        r, path = row
        return cls(id=strawberry.ID(to_global_id("RepresentativeTerm", r.id)), level=RepresentativeLevel(r.level),
                   term=r.term, category=r.category, delegation=r.delegation, terminated_on=r.terminated_on,
                   termination_reason=r.termination_reason, member_pk=r.member_id, scope_path=path,
                   owner_member_id=r.member_id)

    @strawberry.field
    async def member(self, info: strawberry.Info) -> Member:
        return Member.from_row(await info.context.loaders.member.load(self.member_pk))


@strawberry.input
class AddRepresentativeTermInput:
    member_id: strawberry.ID
    level: RepresentativeLevel
    term: int
    category: str | None = None
    delegation: str | None = None


@strawberry.input
class TerminateRepresentativeInput:
    term_id: strawberry.ID
    date: dt.date
    reason: str


@strawberry.type
class RepresentativeTermPayload:
    representative_term: RepresentativeTerm | None
    user_errors: list[UserError]


@strawberry.input
class LevelTerm:
    level: RepresentativeLevel
    term: int | None = strawberry.field(default=None, description="Any term when null.")


@strawberry.input(description=(
    "Representatives in scope who hold every `allOf` seat, none of the `noneOf` seats, and at least\n"
    "`minTerms` distinct terms and `minLevels` distinct levels (层级重叠/排除、届次交叉、层级届次联动、多届次汇总)."))
class RepresentativeQuery:
    organization_id: strawberry.ID
    scope: Scope = Scope.SUBTREE
    all_of: list[LevelTerm] | None = None
    none_of: list[LevelTerm] | None = None
    min_terms: int | None = None
    min_levels: int | None = None
    include_terminated: bool = False


@strawberry.type
class RepresentativeSummary:
    count: int = strawberry.field(description="Representatives matching the query.")
    total: int = strawberry.field(description="All representatives in scope.")
    percent: float = strawberry.field(description="count / total × 100, two decimals.")
    page: Private[Callable]

    @strawberry.field
    async def members(self, info: strawberry.Info, first: int | None = None,
                      after: str | None = None) -> Connection[Member]:
        return await self.page(info, first, after)


@strawberry.type(description="党员志愿者.", directives=[auth(Role.VIEWER, allow_self=True)])
class Volunteer(Node):
    id: strawberry.ID
    category: str
    service_time: str | None
    service_intent: str | None
    member_pk: Private[int]
    scope_path: Private[str]
    owner_member_id: Private[int]

    @classmethod
    def from_row(cls, row: tuple[models.Volunteer, str] | None) -> "Volunteer | None":
        if row is None:
            return None
        v, path = row
        return cls(id=strawberry.ID(to_global_id("Volunteer", v.id)), category=v.category,
                   service_time=v.service_time, service_intent=v.service_intent, member_pk=v.member_id,
                   scope_path=path, owner_member_id=v.member_id)

    @strawberry.field
    async def member(self, info: strawberry.Info) -> Member:
        return Member.from_row(await info.context.loaders.member.load(self.member_pk))


@strawberry.input
class VolunteerFilter:
    organization_id: strawberry.ID
    scope: Scope | None = strawberry.field(default=None, description="SELF (default): the organization alone; SUBTREE: it and its descendants.")
    category: str | None = strawberry.field(default=None, description="Exactly this category.")
    service_time: str | None = strawberry.field(default=None, description="Service time containing this text.")
    service_intent: str | None = strawberry.field(default=None, description="Service intent containing this text.")


@strawberry.input
class SetVolunteerInput:
    member_id: strawberry.ID
    category: str
    service_time: str | None = None
    service_intent: str | None = None


@strawberry.type
class VolunteerPayload:
    volunteer: Volunteer | None
    user_errors: list[UserError]
