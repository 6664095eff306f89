"""流动 (flows): a member away for a while. Rows come from db.services.flows."""
from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry
from strawberry import Private

from db import models
from gql.auth.directives import Role, auth
from gql.ids import to_global_id
from gql.schema.base import Node, UserError
from gql.schema.member import Member


@strawberry.enum
class FlowStatus(Enum):
    OUT = "OUT"
    RETURNED = "RETURNED"


@strawberry.type(description="流动: a member away for a while, with the place where they are.",
                 directives=[auth(Role.VIEWER, allow_self=True)])
class Flow(Node):
    id: strawberry.ID
    destination: str
    reason: str | None
    since: dt.date
    returned_on: dt.date | None
    status: FlowStatus
    contact: str | None
    member_pk: Private[int]
    scope_path: Private[str]
    owner_member_id: Private[int]

    @classmethod
    def from_row(cls, row: tuple[models.Flow, str] | None) -> "Flow | None":
        if row is None:
            return None
        f, path = row
        return cls(id=strawberry.ID(to_global_id("Flow", f.id)), destination=f.destination, reason=f.reason,
                   since=f.since, returned_on=f.returned_on,
                   status=FlowStatus.OUT if f.returned_on is None else FlowStatus.RETURNED, contact=f.contact,
                   member_pk=f.member_id, scope_path=path, owner_member_id=f.member_id)

    @strawberry.field
    async def member(self, info: strawberry.Info) -> Member:
        return Member.from_row(await info.context.loaders.member.load(self.member_pk))


@strawberry.input
class FlowOutInput:
    member_id: strawberry.ID
    destination: str
    since: dt.date
    reason: str | None = None
    contact: str | None = None


@strawberry.input
class UpdateFlowInput:
    flow_id: strawberry.ID
    destination: str | None = strawberry.UNSET
    reason: str | None = strawberry.UNSET
    contact: str | None = strawberry.UNSET


@strawberry.input
class ReturnFromFlowInput:
    flow_id: strawberry.ID
    date: dt.date


@strawberry.type
class FlowPayload:
    flow: Flow | None
    user_errors: list[UserError]
