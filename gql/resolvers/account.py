"""Reads of accounts."""
from __future__ import annotations

from db.pagination import BadCursor
from db.services import accounts as account_service
from gql.resolvers import organization as organization_resolvers
from gql.resolvers.common import checked_first, cursor_errors, empty_page, viewer_of


async def page(info, organization_global_id, subtree: bool, first, after):
    """Accounts of the caller's organization, or of `organizationId`, alone or with its subtree."""
    viewer = viewer_of(info)
    size = checked_first(first)
    anchor_path = viewer.organization_path
    if organization_global_id is not None:
        organization = await organization_resolvers.by_id_or_code(info, organization_global_id, None)
        if organization is None:
            return empty_page()
        anchor_path = organization.path
    try:
        found, counting = await info.context.db.read(lambda s: account_service.page(
            s, viewer.branch, anchor_path, subtree, size, after))
    except BadCursor as exc:
        raise cursor_errors(exc) from exc

    async def count() -> int:
        return (await info.context.db.read(lambda s: s.execute(counting))).scalar_one()

    return found, count
