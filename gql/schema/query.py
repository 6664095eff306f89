from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry

from gql.auth.directives import Role, auth_field
from gql.ids import MalformedId, from_global_id
from gql.resolvers import account as account_resolvers
from gql.resolvers import member as member_resolvers
from gql.resolvers import organization as organization_resolvers
from gql.resolvers import statistics as statistics_resolvers
from gql.auth.errors import BadUserInput
from gql.auth.errors import Forbidden
from gql.auth.guard import may_ask_for, require_signed_in
from gql.schema.account import Account
from gql.schema.audit import AuditEntry, AuditFilter
from gql.resolvers import audit as audit_resolvers
from gql.schema.base import Connection, Node, Scope, connection
from gql.schema.change_request import ChangeRequest, ChangeRequestStatus
from gql.schema.codes import Code, CodeTable, codes_of
from gql.resolvers import change_requests as change_request_resolvers
from gql.schema.difficulty import Difficulty
from gql.schema.flow import Flow
from gql.resolvers import flows as flow_resolvers
from gql.schema.representative import (
    RepresentativeQuery, RepresentativeSummary, RepresentativeTerm, Volunteer, VolunteerFilter,
)
from gql.resolvers import lifecycle as lifecycle_resolvers
from gql.schema.leadership import LeaderPosition
from gql.schema.lifecycle import MemberRecord, MemberRecordKind, StatusChange
from gql.schema.member import Member, MemberFilter, MemberOrder
from gql.schema.org_record import OrgRecord
from gql.schema.organization import Organization
from gql.schema.transfer import OrganizationRef, Transfer, TransferFilter
from gql.resolvers import transfers as transfer_resolvers
from gql.schema.statistics import CrossTab, CrossTabInput, MemberBalance, StatDefinition, member_balance_of


# Global id type → (schema type, loader). The type's @auth decides, before anything is loaded,
# whether the caller may ask for such an object at all (FORBIDDEN, whatever the id); a loader
# then answers null alike for an absent id and for one outside the branch.
NODE_TYPES = {
    "Organization": (Organization, "organization"),
    "Member": (Member, "member"),
    "Account": (Account, "account"),
    "LeaderPosition": (LeaderPosition, "position"),
    "Difficulty": (Difficulty, "difficulty"),
    "OrgRecord": (OrgRecord, "record"),
    "MemberRecord": (MemberRecord, "member_record"),
    "StatusChange": (StatusChange, "status_change"),
    "StatDefinition": (StatDefinition, "stat_definition"),
    "AuditEntry": (AuditEntry, "audit_entry"),
    "ChangeRequest": (ChangeRequest, "change_request"),
    "Transfer": (Transfer, "transfer"),
    "Flow": (Flow, "flow"),
    "RepresentativeTerm": (RepresentativeTerm, "representative_term"),
    "Volunteer": (Volunteer, "volunteer"),
}


def _parsed(global_id: str) -> tuple[str, int] | None:
    try:
        type_name, pk = from_global_id(global_id)
    except MalformedId:
        return None
    return (type_name, pk) if type_name in NODE_TYPES else None


def _check_type(info, type_name: str) -> None:
    if not may_ask_for(info.context.viewer, NODE_TYPES[type_name][0]):
        raise Forbidden()


async def load_nodes(info, global_ids: list[str]) -> list:
    """The objects of `global_ids` in order (null for malformed, absent or foreign ids): the role
    is checked per named type first, then each type's ids load in one batch (one statement)."""
    require_signed_in(info)
    parsed = [_parsed(i) for i in global_ids]
    by_type: dict[str, list[int]] = {}
    for item in parsed:
        if item is not None:
            by_type.setdefault(item[0], []).append(item[1])
    for type_name in by_type:
        _check_type(info, type_name)
    if "AuditEntry" in by_type or "Transfer" in by_type:  # as auditLog and transfers: never from the response cache
        info.context.uncacheable = True
    loaders = info.context.loaders
    loaded = {}
    for type_name, pks in by_type.items():
        node_type, loader = NODE_TYPES[type_name]
        rows = await getattr(loaders, loader).load_many(pks)
        loaded.update({(type_name, pk): node_type.from_row(row) for pk, row in zip(pks, rows)})
    return [loaded.get(item) if item is not None else None for item in parsed]


@strawberry.type
class Query:
    @strawberry.field
    async def node(self, info: strawberry.Info, id: strawberry.ID) -> Node | None:
        return (await load_nodes(info, [id]))[0]

    @strawberry.field
    async def nodes(self, info: strawberry.Info, ids: list[strawberry.ID]) -> list[Node | None]:
        require_signed_in(info)
        if len(ids) > 100:
            raise BadUserInput("ids 最多 100 个")
        return await load_nodes(info, ids)

    @strawberry.field(description="The signed-in account; null when signed out.")
    async def viewer(self, info: strawberry.Info) -> Account | None:
        viewer = info.context.viewer
        if viewer is None:
            return None
        return Account.from_row(await info.context.loaders.account.load(viewer.account_id))

    @auth_field(requires=Role.VIEWER, allow_self=True)
    async def organization(self, info: strawberry.Info, id: strawberry.ID | None = None,
                           code: str | None = None) -> Organization | None:
        return Organization.from_row(await organization_resolvers.by_id_or_code(info, id, code))

    @auth_field(requires=Role.VIEWER, allow_self=True)
    async def member(self, info: strawberry.Info, id: strawberry.ID | None = None,
                     id_number: str | None = None) -> Member | None:
        return Member.from_row(await member_resolvers.by_id_or_number(info, id, id_number))

    @auth_field(requires=Role.VIEWER, description="Members across the caller's branch, or under filter scope of `organizationId`.")
    async def members(self, info: strawberry.Info, organization_id: strawberry.ID | None = None,
                      filter: MemberFilter | None = None, order_by: MemberOrder | None = None,
                      first: int | None = None, after: str | None = None) -> Connection[Member]:
        page, count = await member_resolvers.page_of_branch(info, organization_id, filter, order_by, first, after)
        return connection([Member.from_row(r) for r in page.rows], page.cursors, page.has_next_page, count)

    @auth_field(requires=Role.ADMIN)
    async def accounts(self, info: strawberry.Info, organization_id: strawberry.ID | None = None,
                       scope: Scope | None = None, first: int | None = None,
                       after: str | None = None) -> Connection[Account]:
        page, count = await account_resolvers.page(info, organization_id, scope != Scope.SELF, first, after)
        return connection([Account.from_row(r) for r in page.rows], page.cursors, page.has_next_page, count)

    @auth_field(requires=Role.OPERATOR, description="Entries waiting for this caller's approval (待审党员), from child organizations that require it.")
    async def pending_approvals(self, info: strawberry.Info, organization_id: strawberry.ID | None = None,
                                first: int | None = None, after: str | None = None) -> Connection[Member]:
        page, count = await lifecycle_resolvers.pending_approvals(info, organization_id, first, after)
        return connection([Member.from_row(r) for r in page.rows], page.cursors, page.has_next_page, count)

    @auth_field(requires=Role.OPERATOR, allow_self=True, description=(
        "党员自助 requests, newest first: a MEMBER's own; for OPERATOR+ those of the members now in the branch\n"
        "(under `organizationId` when given)."))
    async def change_requests(self, info: strawberry.Info, organization_id: strawberry.ID | None = None,
                              statuses: list[ChangeRequestStatus] | None = None, first: int | None = None,
                              after: str | None = None) -> Connection[ChangeRequest]:
        page, count = await change_request_resolvers.page(info, organization_id, statuses, first, after)
        return connection([ChangeRequest.from_row(r) for r in page.rows], page.cursors, page.has_next_page, count)

    @auth_field(requires=Role.OPERATOR, description="Members with no record of `kind` on or after `since` (批量录入: 查询未录入).")
    async def members_without_record(self, info: strawberry.Info, organization_id: strawberry.ID, kind: MemberRecordKind,
                                     since: dt.date, scope: Scope | None = None, first: int | None = None,
                                     after: str | None = None) -> Connection[Member]:
        page, count = await lifecycle_resolvers.members_without_record(info, organization_id, scope, kind, since,
                                                                       first, after)
        return connection([Member.from_row(r) for r in page.rows], page.cursors, page.has_next_page, count)
    @auth_field(requires=Role.VIEWER, description=(
        "组织关系转接 at `organizationId` (default: the caller's organization; scope SELF by default), sent from it\n"
        "(OUTGOING), to it (INCOMING) or either, newest first; `overdue`: PENDING past validUntil (口袋党员)."))
    async def transfers(self, info: strawberry.Info, filter: TransferFilter | None = None, first: int | None = None,
                        after: str | None = None) -> Connection[Transfer]:
        page, count = await transfer_resolvers.page(info, filter, first, after)
        return connection([Transfer.of(v) for v in page.rows], page.cursors, page.has_next_page, count)

    @auth_field(requires=Role.OPERATOR, description=(
        "组织目录: active organizations anywhere whose name or code contains `search` (at least 2 characters), "
        "for choosing a transfer's destination."))
    async def organization_directory(self, info: strawberry.Info, search: str,
                                     first: int | None = None) -> list[OrganizationRef]:
        return [OrganizationRef.of(ref) for ref in await transfer_resolvers.directory(info, search, first)]

    @auth_field(requires=Role.VIEWER)
    async def cross_tab(self, info: strawberry.Info, input: CrossTabInput) -> CrossTab:
        return CrossTab.from_table(await statistics_resolvers.cross_tab(info, input))

    @auth_field(requires=Role.VIEWER, description=(
        "党员增减: how the scope's membership changed from `from` to `to` (inclusive), reconciled. `to` before\n"
        "`from`, or after today, is BAD_USER_INPUT; an organization outside the caller's branch is NOT_FOUND."))
    async def member_balance(self, info: strawberry.Info, organization_id: strawberry.ID,
                             from_: Annotated[dt.date, strawberry.argument(name="from")],
                             to: dt.date, scope: Scope = Scope.SUBTREE) -> MemberBalance:
        result = await statistics_resolvers.member_balance(info, organization_id, scope, from_, to)
        return member_balance_of(result, from_, to, scope == Scope.SUBTREE)

    @auth_field(requires=Role.VIEWER, description=(
        "统计表格 saved in the caller's branch (their organization lies in it), oldest first; `after`: the id "
        "of the last one of the previous page."))
    async def stat_definitions(self, info: strawberry.Info, first: int | None = None,
                               after: str | None = None) -> list[StatDefinition]:
        return [StatDefinition.from_row(r) for r in await statistics_resolvers.definitions(info, first, after)]

    @auth_field(requires=Role.ADMIN, description=(
        "操作记录: entries of the caller's branch (or of filter.organizationId, SUBTREE unless scope SELF), newest\n"
        "first. Entries cannot be changed or deleted."))
    async def audit_log(self, info: strawberry.Info, filter: AuditFilter | None = None, first: int | None = None,
                        after: str | None = None) -> Connection[AuditEntry]:
        page, count = await audit_resolvers.page(info, filter, first, after)
        return connection([AuditEntry.from_row(r) for r in page.rows], page.cursors, page.has_next_page, count)

    @auth_field(requires=Role.VIEWER, description=(
        "党代表 in the scope of `query.organizationId` (counted as members there, in the caller's branch):\n"
        "how many match the query, of how many, and which. A seat is one congress (a level and its 届次):\n"
        "`minTerms` counts seats. An organization absent or outside the branch: 0 of 0."))
    async def representatives(self, info: strawberry.Info, query: RepresentativeQuery) -> RepresentativeSummary:
        count, total, page = await flow_resolvers.representatives_summary(info, query)

        async def members(info_, first, after):
            rows, counted = await page(first, after)
            return connection([Member.from_row(r) for r in rows.rows], rows.cursors, rows.has_next_page, counted)

        return RepresentativeSummary(count=count, total=total, percent=flow_resolvers.representatives.percent(count, total),
                                     page=members)

    @auth_field(requires=Role.VIEWER, description=(
        "党员志愿者 of members counted in the filter's scope (default SELF), in tree order; an organization\n"
        "absent or outside the branch: none."))
    async def volunteers(self, info: strawberry.Info, filter: VolunteerFilter, first: int | None = None,
                         after: str | None = None) -> Connection[Volunteer]:
        page, count = await flow_resolvers.volunteers(info, filter, first, after)
        return connection([Volunteer.from_row(r) for r in page.rows], page.cursors, page.has_next_page, count)

    @strawberry.field
    def codes(self, table: CodeTable) -> list[Code]:
        return codes_of(table)
