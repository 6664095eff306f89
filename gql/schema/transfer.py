"""组织关系转接: Transfer and what goes with it (OrganizationRef, the filter, inputs and payloads).

A transfer is read by each side (db.branch.transfers); its scope_path is the path of the side in
the caller's branch, so the @auth guard admits exactly those. The other side's organization is
null (`fromOrganization`/`toOrganization` load through the caller's branch) and only named by
its ref. `member` answers for both sides in every state: the member's record while the caller's
branch reads it, else the member as the letter shows it (db.branch, the letter reach;
Member.from_letter), so a list selecting `member` is never nulled by a side that lost sight."""
from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated

import strawberry
from strawberry import Private

from db.services import transfers as service
from gql.auth.directives import Role, auth
from gql.ids import to_global_id
from gql.schema.base import Node, Scope, UserError, plain_input

MemberType = Annotated["Member", strawberry.lazy("gql.schema.member")]
OrganizationType = Annotated["Organization", strawberry.lazy("gql.schema.organization")]


@strawberry.enum
class TransferStatus(Enum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    COMPLETED = strawberry.enum_value("COMPLETED", description="Out of the system: done when sent.")


@strawberry.enum
class TransferDirection(Enum):
    INCOMING = "INCOMING"
    OUTGOING = "OUTGOING"


@strawberry.type(description=(
    "组织目录: an organization as any OPERATOR+ may see it, inside or outside the branch, to pick and\n"
    "name the other end of a transfer. Names and codes only: nothing below it is reachable from here."))
class OrganizationRef:
    id: strawberry.ID = strawberry.field(description="The organization's global id (usable as toOrganizationId).")
    code: str
    name: str
    path: list[str] = strawberry.field(description="The names of its ancestors and itself, top first (省委 > 市委 > … > 支部).")

    @classmethod
    def of(cls, ref: service.Ref | None) -> "OrganizationRef | None":
        if ref is None:
            return None
        return cls(id=strawberry.ID(to_global_id("Organization", ref.id)), code=ref.code, name=ref.name,
                   path=list(ref.path_names))


@strawberry.type(description="组织关系转接.", directives=[auth(Role.VIEWER, allow_self=True)])
class Transfer(Node):
    id: strawberry.ID
    from_organization_ref: OrganizationRef
    to_organization_ref: OrganizationRef | None
    external_destination: str | None = strawberry.field(description="The receiving party's name when it is outside the system (转出到市外/省外).")
    status: TransferStatus
    requested_on: dt.date
    decided_on: dt.date | None
    reason: str | None
    rejection_reason: str | None
    letter_number: str = strawberry.field(description="介绍信编号.")
    valid_until: dt.date = strawberry.field(description="The letter is valid until this date (有效期); a transfer still PENDING after it is overdue (口袋党员).")
    view: Private[object]
    scope_path: Private[str]
    owner_member_id: Private[int]

    @classmethod
    def of(cls, view: service.TransferView | None) -> "Transfer | None":
        if view is None:
            return None
        t = view.transfer
        return cls(id=strawberry.ID(to_global_id("Transfer", t.id)),
                   from_organization_ref=OrganizationRef.of(view.from_ref),
                   to_organization_ref=OrganizationRef.of(view.to_ref), external_destination=t.external_destination,
                   status=TransferStatus(t.status), requested_on=t.requested_on, decided_on=t.decided_on,
                   reason=t.reason, rejection_reason=t.rejection_reason, letter_number=t.letter_number,
                   valid_until=t.valid_until, view=view, scope_path=view.sight_path, owner_member_id=t.member_id)

    from_row = of  # node/nodes make objects with from_row

    @strawberry.field(description=(
        "The member transferred. Each side reads it in every state: the member's record while the\n"
        "caller's branch reads it (the sender until acceptance, the receiver while PENDING and after\n"
        "acceptance); otherwise (the sender after acceptance, the receiver after a rejection or a\n"
        "cancellation) as the letter (介绍信) shows it, frozen when the transfer was sent: see Member."))
    async def member(self, info: strawberry.Info) -> MemberType:
        from gql.schema.member import Member

        if self.view.member_in_sight:
            row = await info.context.loaders.member.load(self.view.transfer.member_id)
            if row is not None:
                return Member.from_row(row)
            # Decided between the two reads: the letter reach is what is left.
        return Member.from_letter(self.view)

    @strawberry.field(description="Null when the sending organization is outside the caller's branch; see fromOrganizationRef.")
    async def from_organization(self, info: strawberry.Info) -> OrganizationType | None:
        return await _organization(info, self.view.transfer.from_organization_id)

    @strawberry.field(description="Null when the destination is outside the system or outside the caller's branch.")
    async def to_organization(self, info: strawberry.Info) -> OrganizationType | None:
        return await _organization(info, self.view.transfer.to_organization_id)

    @strawberry.field(description="The text of the introduction letter (介绍信), ready to print.")
    def letter(self, info: strawberry.Info) -> str:
        viewer = info.context.viewer
        sees = viewer is not None and viewer.sees_id_numbers
        return service.letter_text(self.view, service.masked(self.view.member_id_number, sees))


async def _organization(info, organization_id: int | None):
    if organization_id is None:
        return None
    from gql.schema.organization import Organization

    return Organization.from_row(await info.context.loaders.organization.load(organization_id))


@plain_input
@strawberry.input
class TransferFilter:
    organization_id: strawberry.ID | None = None
    scope: Scope | None = None
    direction: TransferDirection | None = None
    statuses: list[TransferStatus] | None = None
    overdue: bool | None = strawberry.field(default=None, description="Only PENDING transfers past validUntil.")


@strawberry.input(description="One member or many (批量转接) to one destination: an organization in the system or an external name.")
class TransferMembersInput:
    member_ids: list[strawberry.ID]
    to_organization_id: strawberry.ID | None = None
    external_destination: str | None = None
    date: dt.date
    reason: str | None = None


@strawberry.input
class DecideTransferInput:
    transfer_id: strawberry.ID
    date: dt.date
    reason: str | None = strawberry.field(default=None, description="Required when rejecting.")


@strawberry.type
class TransfersPayload:
    transfers: list[Transfer]
    user_errors: list[UserError]


@strawberry.type
class TransferPayload:
    transfer: Transfer | None
    user_errors: list[UserError]
