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

OrganizationType = Annotated["Organization", strawberry.lazy("gql.schema.organization")]


@strawberry.enum
class OrgRecordKind(Enum):
    MEETING = strawberry.enum_value("MEETING", description="民主生活会 / 组织生活会")
    EVALUATION = strawberry.enum_value("EVALUATION", description="民主评议 (of the organization)")
    DISCLOSURE = strawberry.enum_value("DISCLOSURE", description="党务公开")
    SPECIAL_ACTIVITY = strawberry.enum_value("SPECIAL_ACTIVITY", description="专题活动")
    PUNISHMENT = strawberry.enum_value("PUNISHMENT", description="党组织惩戒")


@strawberry.type(directives=[auth(Role.VIEWER)])
class OrgRecord(Node):
    id: strawberry.ID
    kind: OrgRecordKind
    title: str
    held_on: dt.date
    content: str | None
    organization_pk: Private[int]
    scope_path: Private[str]

    @classmethod
    def from_row(cls, row: tuple[models.OrgRecord, str] | None) -> "OrgRecord | None":
        if row is None:
            return None
        r, path = row
        return cls(id=strawberry.ID(to_global_id("OrgRecord", r.id)), kind=OrgRecordKind(r.kind), title=r.title,
                   held_on=r.held_on, content=r.content, organization_pk=r.organization_id, scope_path=path)

    @strawberry.field
    async def organization(self, info: strawberry.Info) -> OrganizationType:
        from gql.schema.organization import Organization

        return Organization.from_row(await info.context.loaders.organization.load(self.organization_pk))


@strawberry.input
class AddOrgRecordInput:
    organization_id: strawberry.ID
    kind: OrgRecordKind
    title: str
    held_on: dt.date
    content: str | None = None


@strawberry.type
class OrgRecordPayload:
    record: OrgRecord | None
    user_errors: list[UserError]
