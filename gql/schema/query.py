from __future__ import annotations

import strawberry

from gql.auth.directives import Role, auth_field
from gql.ids import MalformedId, from_global_id
from gql.resolvers import account as account_resolvers
from gql.resolvers import member as member_resolvers
from gql.resolvers import organization as organization_resolvers
from gql.auth.errors import BadUserInput
from gql.auth.guard import require_signed_in
from gql.schema.account import Account
from gql.schema.base import Connection, Node, Scope, connection
from gql.schema.codes import Code, CodeTable, codes_of
from gql.schema.difficulty import Difficulty
from gql.schema.leadership import LeaderPosition
from gql.schema.member import Member, MemberFilter, MemberOrder
from gql.schema.org_record import OrgRecord
from gql.schema.organization import Organization


async def load_node(info, global_id: str):
    try:
        type_name, pk = from_global_id(global_id)
    except MalformedId:
        return None
    loaders = info.context.loaders
    if type_name == "Organization":
        return Organization.from_row(await loaders.organization.load(pk))
    if type_name == "Member":
        return Member.from_row(await loaders.member.load(pk))
    if type_name == "Account":
        return Account.from_row(await loaders.account.load(pk))
    if type_name == "LeaderPosition":
        return LeaderPosition.from_row(await loaders.position.load(pk))
    if type_name == "Difficulty":
        return Difficulty.from_row(await loaders.difficulty.load(pk))
    if type_name == "OrgRecord":
        return OrgRecord.from_row(await loaders.record.load(pk))
    return None


@strawberry.type
class Query:
    @strawberry.field
    async def node(self, info: strawberry.Info, id: strawberry.ID) -> Node | None:
        require_signed_in(info)
        return await load_node(info, id)

    @strawberry.field
    async def nodes(self, info: strawberry.Info, ids: list[strawberry.ID]) -> list[Node | None]:
        require_signed_in(info)
        if len(ids) > 100:
            raise BadUserInput("ids 最多 100 个")
        return [await load_node(info, i) for i in ids]

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

    @strawberry.field
    def codes(self, table: CodeTable) -> list[Code]:
        return codes_of(table)
