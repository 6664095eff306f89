"""Reads of the audit trail."""
from __future__ import annotations

from db.pagination import BadCursor
from db.services import audit as audit_service
from gql.ids import MalformedId, from_global_id, pk_of
from gql.resolvers import organization as organization_resolvers
from gql.resolvers.common import checked_first, cursor_errors, empty_page, viewer_of


async def page(info, filter, first, after):
    """Entries of the caller's branch, or of filter.organizationId (SUBTREE unless scope SELF),
    newest first. An organization, actor or target id outside the branch, malformed or of
    another type, matches nothing. Never cached (Context.uncacheable)."""
    viewer = viewer_of(info)
    info.context.uncacheable = True
    size = checked_first(first)
    anchor_path, subtree, query = None, True, audit_service.AuditQuery()
    if filter is not None:
        if filter.organization_id is not None:
            organization = await organization_resolvers.by_id_or_code(info, filter.organization_id, None)
            if organization is None:
                return empty_page()
            anchor_path = organization.path
        subtree = filter.scope is None or filter.scope.value == "SUBTREE"
        actor = None
        if filter.actor_id is not None:
            actor = pk_of(filter.actor_id, "Account")
            if actor is None:
                return empty_page()
        target = None
        if filter.target_id is not None:
            try:
                target = from_global_id(filter.target_id)
            except MalformedId:
                return empty_page()
        query = audit_service.AuditQuery(
            actions=tuple(filter.actions) if filter.actions is not None else None, actor_account_id=actor,
            target=target, since=filter.since, until=filter.until)
    try:
        found, counting = await info.context.db.read(lambda s: audit_service.page(
            s, viewer.branch, anchor_path, subtree, query, size, after))
    except BadCursor as exc:
        raise cursor_errors(exc) from exc

    async def count() -> int:
        return (await info.context.db.read(lambda s: s.execute(counting))).scalar_one()

    return found, count
