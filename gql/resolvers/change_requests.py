"""Resolvers of 党员自助 requests: input → db.services.change_requests through the one write path,
and the list. Who may reach what is db.branch's (ChangeRequest rows are read through the
member's current organization; a MEMBER's branch holds its own member only) and the @auth guard's."""
from __future__ import annotations

from db.pagination import BadCursor
from db.services import change_requests
from gql.ids import input_pk
from gql.resolvers import organization as organization_resolvers
from gql.resolvers.common import checked_first, cursor_errors, empty_page, enum_values, provided, viewer_of
from gql.resolvers.mutations import MEMBER_FIELDS
from gql.resolvers.write import Outcome, write


async def request_profile_change(info, data) -> Outcome:
    fields = provided(data.fields, *MEMBER_FIELDS)
    if fields.get("category") is not None:
        fields["category"] = fields["category"].value
    return await write(info, lambda session, actor: change_requests.request_profile_change(session, actor, fields))


async def request_dues(info, data) -> Outcome:
    return await write(info, lambda session, actor: change_requests.request_dues(session, actor, data.monthly_amount))


async def request_transfer(info, data) -> Outcome:
    return await write(info, lambda session, actor: change_requests.request_transfer(
        session, actor, input_pk(data.to_organization_id, "Organization", "toOrganizationId"),
        data.external_destination, data.reason))


async def decide(info, data) -> Outcome:
    return await write(info, lambda session, actor: change_requests.decide(
        session, actor, input_pk(data.request_id, "ChangeRequest", "requestId"), data.approve, data.reason))


async def page(info, organization_global_id, statuses, first, after):
    """The requests the caller reaches (a MEMBER: its own), under `organizationId` when given."""
    viewer = viewer_of(info)
    size = checked_first(first)
    anchor_path = None
    if organization_global_id is not None:
        organization = await organization_resolvers.by_id_or_code(info, organization_global_id, None)
        if organization is None:
            return empty_page()
        anchor_path = organization.path
    wanted = enum_values(statuses)
    try:
        result = await info.context.db.read(lambda s: change_requests.page(
            s, viewer.branch, anchor_path, wanted, size, after))
    except BadCursor as exc:
        raise cursor_errors(exc) from exc

    async def count() -> int:
        return await info.context.db.read(lambda s: change_requests.count(s, viewer.branch, anchor_path, wanted))

    return result, count
