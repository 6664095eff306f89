from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated

import strawberry
from strawberry import Private

from db import models
from gql.auth.directives import Role, auth
from gql.ids import to_global_id
from gql.schema.base import Node, UserError

MemberType = Annotated["Member", strawberry.lazy("gql.schema.member")]


@strawberry.enum
class ElectionMethod(Enum):
    COMPETITIVE = strawberry.enum_value("COMPETITIVE", description="差额选举")
    NON_COMPETITIVE = strawberry.enum_value("NON_COMPETITIVE", description="等额选举")
    APPOINTED = strawberry.enum_value("APPOINTED", description="上级任命")


@strawberry.enum
class LeaderTitle(Enum):
    SECRETARY = "SECRETARY"
    DEPUTY_SECRETARY = "DEPUTY_SECRETARY"
    COMMITTEE_MEMBER = "COMMITTEE_MEMBER"


@strawberry.type(directives=[auth(Role.VIEWER)])
class LeaderPosition(Node):
    id: strawberry.ID
    title: LeaderTitle
    since: dt.date
    until: dt.date | None
    member_pk: Private[int]
    scope_path: Private[str]

    @classmethod
    def from_row(cls, row: tuple[models.LeaderPosition, str] | None) -> "LeaderPosition | None":
        if row is None:
            return None
        p, path = row
        return cls(id=strawberry.ID(to_global_id("LeaderPosition", p.id)), title=LeaderTitle(p.title),
                   since=p.since, until=p.until, member_pk=p.member_id, scope_path=path)

    @strawberry.field
    async def member(self, info: strawberry.Info) -> MemberType:
        from gql.schema.member import Member

        return Member.from_row(await info.context.loaders.member.load(self.member_pk))


@strawberry.type(description="班子: the current term and its office holders.")
class Leadership:
    election_method: ElectionMethod | None
    elected_on: dt.date | None
    term_ends_on: dt.date | None
    last_changed_on: dt.date | None
    secretary: LeaderPosition | None = strawberry.field(description="书记: at most one at a time, a direct member of this organization.")
    deputy_secretaries: list[LeaderPosition] = strawberry.field(description="副书记: any number.")
    committee_members: list[LeaderPosition]

    @classmethod
    def of(cls, organization, positions: list[tuple[models.LeaderPosition, str]]) -> "Leadership":
        by_title: dict[str, list[LeaderPosition]] = {t.value: [] for t in LeaderTitle}
        for row in positions:
            by_title[row[0].title].append(LeaderPosition.from_row(row))
        secretaries = by_title["SECRETARY"]
        return cls(
            election_method=ElectionMethod(organization.election_method) if organization.election_method else None,
            elected_on=organization.elected_on, term_ends_on=organization.term_ends_on,
            last_changed_on=organization.leadership_changed_on,
            secretary=secretaries[-1] if secretaries else None,
            deputy_secretaries=by_title["DEPUTY_SECRETARY"], committee_members=by_title["COMMITTEE_MEMBER"])


@strawberry.input
class SetLeadershipTermInput:
    organization_id: strawberry.ID
    election_method: ElectionMethod
    elected_on: dt.date
    term_ends_on: dt.date
    last_changed_on: dt.date | None = None


@strawberry.input(description="Appointing a SECRETARY ends the current secretary's position on `since`.")
class AppointLeaderInput:
    organization_id: strawberry.ID
    member_id: strawberry.ID
    title: LeaderTitle
    since: dt.date


@strawberry.input
class EndLeaderPositionInput:
    position_id: strawberry.ID
    until: dt.date


@strawberry.type
class LeaderPositionPayload:
    position: LeaderPosition | None
    user_errors: list[UserError]
