from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import Private

from db import models
from gql.auth.directives import Role, auth
from gql.ids import to_global_id
from gql.resolvers import member as member_resolvers
from gql.resolvers import organization as resolvers
from gql.resolvers.common import enum_values
from gql.schema.base import Connection, Node, Scope, UserError, connection, plain_input
from gql.schema.difficulty import Difficulty
from gql.schema.leadership import Leadership
# Argument types are imported, not lazy: strawberry converts an argument on every call, and a
# LazyType argument re-imports its module and compares two files on disk (Path.samefile: two
# stat calls) each time, 4% of the server's CPU on W1 (17 `memberCount(filter:)` per request).
# gql.schema.member does not import this module, so no cycle.
from gql.schema.member import MemberFilter, MemberOrder
from gql.schema.org_record import OrgRecord, OrgRecordKind

if TYPE_CHECKING:
    from gql.schema.member import Member

MemberType = Annotated["Member", strawberry.lazy("gql.schema.member")]


@strawberry.enum
class OrgType(Enum):
    COMMITTEE = strawberry.enum_value("COMMITTEE", description="党委")
    WORKING_COMMITTEE = strawberry.enum_value("WORKING_COMMITTEE", description="党工委")
    GENERAL_BRANCH = strawberry.enum_value("GENERAL_BRANCH", description="党总支")
    BRANCH = strawberry.enum_value("BRANCH", description="党支部")
    JOINT_BRANCH = strawberry.enum_value("JOINT_BRANCH", description="联合党支部")
    PROVISIONAL = strawberry.enum_value("PROVISIONAL", description="临时党组织")


@strawberry.enum
class OrgStatus(Enum):
    ACTIVE = "ACTIVE"
    REVOKED = strawberry.enum_value("REVOKED", description="撤销")


@plain_input
@strawberry.input
class OrganizationFilter:
    name_contains: str | None = None
    types: list[OrgType] | None = None
    include_revoked: bool | None = None
    term_ends_before: dt.date | None = strawberry.field(default=None, description="Only organizations whose leadership term ends on or before this date (换届提醒).")


@strawberry.enum
class OrgEventKind(Enum):
    CREATED = "CREATED"
    RENAMED = "RENAMED"
    MOVED = "MOVED"
    REVOKED = "REVOKED"


@strawberry.type
class OrgEvent:
    kind: OrgEventKind
    date: dt.date
    before: str | None = strawberry.field(description="Old and new name for RENAMED; old and new parent name for MOVED (null where that parent lies outside the caller's branch).")
    after: str | None
    reason: str | None


@strawberry.type(directives=[auth(Role.VIEWER, allow_self=True)])
class Organization(Node):
    id: strawberry.ID
    code: str = strawberry.field(description="党组织代码: the parent's code followed by this organization's three digits.")
    name: str = strawberry.field(description="Full name (全称); unique among organizations.")
    short_name: str | None
    type: OrgType
    status: OrgStatus
    requires_approval: bool = strawberry.field(description="新增党员需上级审批: members entered here wait for the parent's approval.")
    established_on: dt.date | None
    revoked_on: dt.date | None
    revoke_reason: str | None
    contact_phone: str | None
    address: str | None
    depth: int = strawberry.field(description="0 at the root of the whole tree.")
    version: int
    pk: Private[int]
    parent_pk: Private[int | None]
    scope_path: Private[str]
    row: Private[models.Organization]

    @classmethod
    def from_row(cls, row: models.Organization | None) -> "Organization | None":
        if row is None:
            return None
        return cls(
            id=strawberry.ID(to_global_id("Organization", row.id)), code=row.code, name=row.name,
            short_name=row.short_name, type=OrgType(row.type), status=OrgStatus(row.status),
            requires_approval=row.requires_approval, established_on=row.established_on,
            revoked_on=row.revoked_on, revoke_reason=row.revoke_reason, contact_phone=row.contact_phone,
            address=row.address, depth=row.depth, version=row.version,
            pk=row.id, parent_pk=row.parent_id, scope_path=row.path, row=row,
        )

    @strawberry.field(description="Null at the top of the caller's branch.")
    async def parent(self, info: strawberry.Info) -> "Organization | None":
        return Organization.from_row(await resolvers.parent(info, self.scope_path, self.parent_pk))

    @strawberry.field(description="From the top of the caller's branch down to the parent.")
    async def ancestors(self, info: strawberry.Info) -> list["Organization"]:
        return [Organization.from_row(r) for r in await resolvers.ancestors(info, self.scope_path)]

    @strawberry.field
    async def children(self, info: strawberry.Info, include_revoked: bool = False) -> list["Organization"]:
        rows = await info.context.loaders.children.load((self.pk, include_revoked))
        return [Organization.from_row(r) for r in rows]

    @strawberry.field
    async def descendants(self, info: strawberry.Info, filter: OrganizationFilter | None = None,
                          first: int | None = None, after: str | None = None) -> Connection["Organization"]:
        f = filter or OrganizationFilter()
        page, count = await resolvers.descendants(
            info, self.pk, f.name_contains, enum_values(f.types), bool(f.include_revoked),
            f.term_ends_before, first, after)
        return connection([Organization.from_row(r[0]) for r in page.rows], page.cursors, page.has_next_page, count)

    @strawberry.field
    async def members(self, info: strawberry.Info, filter: MemberFilter | None = None,
                      order_by: MemberOrder | None = None, first: int | None = None,
                      after: str | None = None) -> Connection[MemberType]:
        from gql.schema.member import Member

        page, count = await member_resolvers.page_of_organization(info, self.pk, filter, order_by, first, after)
        nodes = [Member.from_row(row) for row in page.rows]
        return connection(nodes, page.cursors, page.has_next_page, count)

    @strawberry.field
    def member_count(self, info: strawberry.Info, filter: MemberFilter | None = None) -> int:
        # Sync: an unfiltered count is usually known from the organization's row (an int, and
        # graphql-core then completes a list of organizations without a task per item); else an
        # awaitable, which graphql-core awaits.
        return member_resolvers.count_of_organization(info, self.pk, filter)


    @strawberry.field(description="班子: the current term and its office holders.")
    async def leadership(self, info: strawberry.Info) -> Leadership:
        return Leadership.of(self.row, await info.context.loaders.open_positions.load(self.pk))

    @strawberry.field(description="困难党员 of this organization (SELF) or its whole subtree (SUBTREE).")
    async def difficulties(self, info: strawberry.Info, scope: Scope = Scope.SELF, include_revoked: bool = False,
                           first: int | None = None, after: str | None = None) -> Connection[Difficulty]:
        page, count = await resolvers.difficulties(info, self.pk, scope == Scope.SUBTREE, include_revoked, first, after)
        return connection([Difficulty.from_row(r) for r in page.rows], page.cursors, page.has_next_page, count)

    @strawberry.field(description="民主生活会/组织生活会, 民主评议, 党务公开, 专题活动, 党组织惩戒 records.")
    async def org_records(self, info: strawberry.Info, kind: OrgRecordKind | None = None, first: int | None = None,
                          after: str | None = None) -> Connection[OrgRecord]:
        page, count = await resolvers.org_records(info, self.pk, kind.value if kind else None, first, after)
        return connection([OrgRecord.from_row(r) for r in page.rows], page.cursors, page.has_next_page, count)

    @strawberry.field(description="Renames, moves and revocation, oldest first (党组织异动).")
    async def history(self, info: strawberry.Info) -> list[OrgEvent]:
        return [OrgEvent(kind=OrgEventKind(e.kind), date=e.date, before=e.before, after=e.after, reason=e.reason)
                for e in await info.context.loaders.history.load(self.pk)]


@strawberry.input
class CreateOrganizationInput:
    parent_id: strawberry.ID
    name: str
    short_name: str | None = None
    type: OrgType
    code_suffix: str = strawberry.field(description="The last three digits of the code; the parent's code is the prefix.")
    requires_approval: bool = False
    established_on: dt.date | None = None
    contact_phone: str | None = None
    address: str | None = None


@strawberry.input
class UpdateOrganizationInput:
    organization_id: strawberry.ID
    expected_version: int | None = None
    short_name: str | None = strawberry.UNSET
    type: OrgType | None = strawberry.UNSET
    requires_approval: bool | None = strawberry.UNSET
    contact_phone: str | None = strawberry.UNSET
    address: str | None = strawberry.UNSET


@strawberry.input
class RenameOrganizationInput:
    organization_id: strawberry.ID
    name: str
    date: dt.date
    reason: str | None = None


@strawberry.input(description="变更隶属关系: the organization moves under a new parent with its whole subtree and all their members.")
class MoveOrganizationInput:
    organization_id: strawberry.ID
    new_parent_id: strawberry.ID
    code_suffix: str | None = strawberry.field(default=None, description="A new last-three-digits when the old one is taken under the new parent; codes of the whole subtree take the new prefix.")
    date: dt.date
    reason: str | None = None


@strawberry.input(description="撤销: only from a strictly higher level, and only when no member remains in the subtree.")
class RevokeOrganizationInput:
    organization_id: strawberry.ID
    date: dt.date
    reason: str


@strawberry.type
class OrganizationPayload:
    organization: Organization | None
    user_errors: list[UserError]
