"""Reads of members: the filter, one member, and member lists (nested or across the branch)."""
from __future__ import annotations

from db import models
from db.branch import members
from db.pagination import BadCursor
from db.services import members as member_service
from db.services.members import MemberOrder, MemberQuery
from gql.auth.errors import BadUserInput, Forbidden
from gql.ids import pk_of
from gql.resolvers import organization as organization_resolvers
from gql.resolvers.common import checked_first, cursor_errors, empty_page, enum_values, viewer_of


def no_id_number_search(viewer, id_number: str | None) -> None:
    """Refuse a lookup by ID number to a caller who sees the numbers masked (Viewer.sees_id_numbers):
    the same refusal whether or not the number exists, so it confirms nothing."""
    if id_number is not None and not viewer.sees_id_numbers:
        raise Forbidden("只读账户看到的身份证号码是部分隐藏的，不能按身份证号码查找党员")


def member_query(viewer, member_filter, default_subtree: bool = False) -> MemberQuery:
    if member_filter is None:
        return MemberQuery(subtree=default_subtree)
    f = member_filter
    no_id_number_search(viewer, f.id_number)
    for name in ("min_age", "max_age"):
        value = getattr(f, name)
        if value is not None and not 0 <= value <= 150:
            raise BadUserInput(f"{name} 须在 0 到 150 之间")
    # A percent: outside 0..101 it reached PostgreSQL's int2/int4 bind as an internal error.
    if f.completeness_below is not None and not 0 <= f.completeness_below <= 101:
        raise BadUserInput("completenessBelow 须在 0 到 101 之间（完整度为 0 到 100 的整数百分比）")
    scope = enum_values([f.scope]) if f.scope is not None else None
    return MemberQuery(
        subtree=(scope[0] == "SUBTREE") if scope else default_subtree,
        name_contains=f.name_contains, id_number=f.id_number,
        categories=enum_values(f.categories), affiliations=enum_values(f.affiliations),
        statuses=enum_values(f.statuses), genders=enum_values(f.genders),
        education_codes=enum_values(f.education_codes), ethnicity_codes=enum_values(f.ethnicity_codes),
        job_position_codes=enum_values(f.job_position_codes),
        min_age=f.min_age, max_age=f.max_age, joined_from=f.joined_from, joined_to=f.joined_to,
        has_account=f.has_account, completeness_below=f.completeness_below,
    )


def member_order(order) -> MemberOrder:
    if order is None:
        return MemberOrder()
    return MemberOrder(field=order.field.value, descending=order.direction.value == "DESC")


async def by_id_or_number(info, global_id: str | None, id_number: str | None):
    viewer = viewer_of(info)
    if global_id is not None:
        pk = pk_of(global_id, "Member")
        return await info.context.loaders.member.load(pk) if pk else None
    if id_number is not None:
        no_id_number_search(viewer, id_number)
        stmt = members(viewer.branch, models.Member, models.Organization.path).where(
            models.Member.id_number == id_number.strip().upper())
        return (await info.context.db.read(lambda s: s.execute(stmt))).first()
    return None


async def page_of_organization(info, organization_id: int, member_filter, order, first, after):
    """A page of an organization's members (batched across a list of organizations)."""
    query, sort, size = member_query(viewer_of(info), member_filter), member_order(order), checked_first(first)
    loaders = info.context.loaders
    try:
        page = await loaders.member_page.load((organization_id, query, sort, size, after))
    except BadCursor as exc:
        raise cursor_errors(exc) from exc

    async def count() -> int:
        n = loaders.member_count(organization_id, query)
        return n if isinstance(n, int) else await n

    return page, count


def count_of_organization(info, organization_id: int, member_filter):
    """An int when the organization's loaded row answers the count (no statement), else an
    awaitable (gql.resolvers.loaders.Loaders.member_count)."""
    return info.context.loaders.member_count(organization_id, member_query(viewer_of(info), member_filter))


async def page_of_branch(info, organization_global_id, member_filter, order, first, after):
    """Query.members: the caller's whole branch, or `organizationId` under the filter's scope."""
    viewer = viewer_of(info)
    size = checked_first(first)
    if organization_global_id is not None:
        organization = await organization_resolvers.by_id_or_code(info, organization_global_id, None)
        if organization is None:
            return empty_page()
        return await page_of_organization(info, organization.id, member_filter, order, size, after)
    query, sort = member_query(viewer, member_filter, default_subtree=True), member_order(order)
    try:
        page = await info.context.db.read(lambda s: member_service.page_in_branch(
            s, viewer.branch, query, sort, size, after))
    except BadCursor as exc:
        raise cursor_errors(exc) from exc

    async def count() -> int:
        return await info.context.db.read(lambda s: member_service.count_in(s, viewer.branch, query))

    return page, count


