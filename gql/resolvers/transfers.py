"""Resolvers of transfers (组织关系转接): input → db.services.transfers through the one write path,
and the reads (the directory, the transfer list)."""
from __future__ import annotations

from db.errors import DomainError
from db.pagination import BadCursor
from db.services import transfers as service
from gql.auth.errors import BadUserInput
from gql.ids import input_pk
from gql.resolvers import organization as organization_resolvers
from gql.resolvers.common import checked_first, cursor_errors, empty_page, enum_values, viewer_of
from gql.resolvers.lifecycle import indexed_pks
from gql.resolvers.write import Outcome, write


async def transfer_members(info, data) -> Outcome:
    days = info.context.settings.transfer_valid_days
    return await write(info, lambda session, actor: service.send(
        session, actor, indexed_pks(data.member_ids, "Member", "memberIds"),
        input_pk(data.to_organization_id, "Organization", "toOrganizationId"), data.external_destination,
        data.date, data.reason, days))


def _transfer_pk(data):
    return input_pk(data.transfer_id, "Transfer", "transferId")


async def accept(info, data) -> Outcome:
    return await write(info, lambda session, actor: service.accept(session, actor, _transfer_pk(data), data.date))


async def reject(info, data) -> Outcome:
    return await write(info, lambda session, actor: service.reject(
        session, actor, _transfer_pk(data), data.date, data.reason))


async def cancel(info, data) -> Outcome:
    return await write(info, lambda session, actor: service.cancel(
        session, actor, _transfer_pk(data), data.date, data.reason))


def uncacheable_transfers(info) -> None:
    """A request that reads transfers is never answered from the response cache. A transfer shows
    each side what no version of the caller's branch covers: the names and paths of the other
    end and of both ends' ancestors (OrganizationRef: a rename above the caller's organization, or
    in the other branch, moves none of its versions), and the letter's frozen copy of the member.
    Called by every field that returns transfers (Query.transfers, Member.transfers, node/nodes);
    the receiver's sight of a PENDING member's live record is covered by versions instead
    (db.changes: a member's write marks the destination of its pending transfer)."""
    info.context.uncacheable = True


async def directory(info, search: str, first: int | None) -> list:
    viewer_of(info)
    # The whole tree's active organizations, not the caller's branch: no branch version covers
    # them (a new organization or a rename elsewhere moves none of the caller's), so never cached.
    info.context.uncacheable = True
    try:
        return await info.context.db.read(lambda s: service.search_directory(s, search, first))
    except DomainError as exc:
        raise BadUserInput(exc.problems[0].message) from exc


async def page(info, transfer_filter, first, after):
    """transfers(filter:): at `organizationId` (default: the caller's own organization), SELF or
    SUBTREE (default SELF), INCOMING / OUTGOING / either, by status, overdue."""
    viewer = viewer_of(info)
    uncacheable_transfers(info)
    size = checked_first(first)
    f = transfer_filter
    anchor_path = viewer.branch.path
    if f is not None and f.organization_id is not None:
        organization = await organization_resolvers.by_id_or_code(info, f.organization_id, None)
        if organization is None:
            return empty_page()
        anchor_path = organization.path
    query = service.TransferQuery(
        anchor_path=anchor_path,
        subtree=f is not None and f.scope is not None and f.scope.value == "SUBTREE",
        direction=f.direction.value if f is not None and f.direction is not None else None,
        statuses=enum_values(f.statuses) if f is not None else None,
        overdue=bool(f is not None and f.overdue))
    try:
        result = await info.context.db.read(lambda s: service.page(s, viewer.branch, query, size, after))
    except BadCursor as exc:
        raise cursor_errors(exc) from exc

    async def count() -> int:
        return await info.context.db.read(lambda s: service.count(s, viewer.branch, query))

    return result, count
