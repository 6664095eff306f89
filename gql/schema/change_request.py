"""党员自助 requests (issue 12): a MEMBER's own ChangeRequest, decided by its branch."""
from __future__ import annotations

import datetime as dt
import decimal
import json
from enum import Enum

import strawberry
from strawberry import Private

from db import models
from db.services import members as member_service
from gql.auth.directives import Role, auth
from gql.ids import to_global_id
from gql.schema.account import Account
from gql.schema.base import Node, UserError
from gql.schema.member import Member, MemberFields


@strawberry.enum
class ChangeRequestKind(Enum):
    PROFILE = strawberry.enum_value("PROFILE", description="Edit of one's own profile fields.")
    DUES = strawberry.enum_value("DUES", description="Monthly dues amount (党费标准).")
    TRANSFER = strawberry.enum_value("TRANSFER", description="A transfer out asked for by the member.")


@strawberry.enum
class ChangeRequestStatus(Enum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


def public_payload(kind: str, stored: str) -> str:
    """The stored request (db.services.change_requests' field names) in the API's terms: the
    MemberFields names of a PROFILE request, monthlyAmount and month of DUES, a global id for a
    TRANSFER's destination."""
    values = json.loads(stored)
    if kind == "PROFILE":
        values = {member_service.CAMEL.get(k, k): v for k, v in values.items()}
    elif kind == "DUES":
        values = {"month": values.get("month"), "monthlyAmount": values.get("amount")}
    elif kind == "TRANSFER":
        target = values.get("to_organization_id")
        values = {"toOrganizationId": to_global_id("Organization", target) if target is not None else None,
                  "externalDestination": values.get("external_destination"), "reason": values.get("reason")}
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


@strawberry.type(description="A member's own request, applied only when the branch approves it (书记审批).",
                 directives=[auth(Role.OPERATOR, allow_self=True)])
class ChangeRequest(Node):
    id: strawberry.ID
    kind: ChangeRequestKind
    status: ChangeRequestStatus
    payload: str = strawberry.field(description="The requested values as JSON text.")
    submitted_at: dt.datetime
    decided_at: dt.datetime | None
    rejection_reason: str | None
    member_pk: Private[int]
    decided_by_pk: Private[int | None]
    scope_path: Private[str]
    owner_member_id: Private[int]

    @classmethod
    def from_row(cls, row: tuple[models.ChangeRequest, str] | None) -> "ChangeRequest | None":
        if row is None:
            return None
        r, path = row
        return cls(id=strawberry.ID(to_global_id("ChangeRequest", r.id)), kind=ChangeRequestKind(r.kind),
                   status=ChangeRequestStatus(r.status), payload=public_payload(r.kind, r.payload),
                   submitted_at=r.submitted_at, decided_at=r.decided_at, rejection_reason=r.rejection_reason,
                   member_pk=r.member_id, decided_by_pk=r.decided_by_id, scope_path=path,
                   owner_member_id=r.member_id)

    @strawberry.field
    async def member(self, info: strawberry.Info) -> Member:
        return Member.from_row(await info.context.loaders.member.load(self.member_pk))

    @strawberry.field
    async def decided_by(self, info: strawberry.Info) -> Account | None:
        if self.decided_by_pk is None:
            return None
        return Account.from_row(await info.context.loaders.account.load(self.decided_by_pk))


@strawberry.input
class RequestProfileChangeInput:
    fields: MemberFields


@strawberry.input
class RequestDuesInput:
    monthly_amount: decimal.Decimal


@strawberry.input
class RequestTransferInput:
    to_organization_id: strawberry.ID | None = None
    external_destination: str | None = None
    reason: str | None = None


@strawberry.input
class DecideChangeRequestInput:
    request_id: strawberry.ID
    approve: bool
    reason: str | None = None


@strawberry.type
class ChangeRequestPayload:
    request: ChangeRequest | None
    user_errors: list[UserError]


@strawberry.input(description="党员注册: a member claims an account by matching a member record (实名比对).")
class RegisterMemberInput:
    id_number: str
    name: str
    phone: str
    password: str
