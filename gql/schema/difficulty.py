from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry import Private

from db import models
from gql.auth.directives import Role, auth
from gql.ids import to_global_id
from gql.schema.base import Node, UserError
from gql.schema.codes import Code

MemberType = Annotated["Member", strawberry.lazy("gql.schema.member")]
OrganizationType = Annotated["Organization", strawberry.lazy("gql.schema.organization")]


@strawberry.type(directives=[auth(Role.VIEWER, allow_self=True)])
class Difficulty(Node):
    id: strawberry.ID
    kind: Code
    description: str | None
    recorded_on: dt.date
    revoked_on: dt.date | None = strawberry.field(description="撤销: no longer in difficulty.")
    member_pk: Private[int]
    organization_pk: Private[int]
    scope_path: Private[str]
    owner_member_id: Private[int]

    @classmethod
    def from_row(cls, row: tuple[models.Difficulty, str] | None) -> "Difficulty | None":
        if row is None:
            return None
        d, path = row
        return cls(id=strawberry.ID(to_global_id("Difficulty", d.id)), kind=Code.of("difficulty_kind", d.kind_code),
                   description=d.description, recorded_on=d.recorded_on, revoked_on=d.revoked_on,
                   member_pk=d.member_id, organization_pk=d.organization_id, scope_path=path,
                   owner_member_id=d.member_id)

    @strawberry.field
    async def member(self, info: strawberry.Info) -> MemberType:
        from gql.schema.member import Member

        return Member.from_row(await info.context.loaders.member.load(self.member_pk))

    @strawberry.field
    async def organization(self, info: strawberry.Info) -> OrganizationType:
        from gql.schema.organization import Organization

        return Organization.from_row(await info.context.loaders.organization.load(self.organization_pk))


@strawberry.input
class AddDifficultyInput:
    member_id: strawberry.ID
    kind_code: str
    description: str | None = None
    recorded_on: dt.date


@strawberry.input
class RevokeDifficultyInput:
    difficulty_id: strawberry.ID
    date: dt.date


@strawberry.type
class DifficultyPayload:
    difficulty: Difficulty | None
    user_errors: list[UserError]
