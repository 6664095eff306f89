"""Reads of organizations: lookups, tree navigation and the descendants list."""
from __future__ import annotations

from db.pagination import BadCursor
from db.tree import ancestor_ids
from gql.ids import pk_of
from gql.resolvers.common import checked_first, cursor_errors, viewer_of


async def by_id_or_code(info, global_id: str | None, code: str | None):
    viewer_of(info)
    if global_id is not None:
        pk = pk_of(global_id, "Organization")
        return await info.context.loaders.organization.load(pk) if pk else None
    if code is not None:
        return await info.context.loaders.organization_by_code(code.strip())
    return None


async def parent(info, path: str, parent_id: int | None):
    viewer = viewer_of(info)
    if parent_id is None or path == viewer.organization_path:
        return None
    return await info.context.loaders.organization.load(parent_id)


async def ancestors(info, path: str):
    viewer = viewer_of(info)
    top = len(ancestor_ids(viewer.organization_path))
    ids = ancestor_ids(path)[top - 1:-1] if path.startswith(viewer.organization_path) else []
    rows = await info.context.loaders.organization.load_many(ids)
    return [r for r in rows if r is not None]


async def descendants(info, organization_id: int, name_contains, types, include_revoked, term_ends_before,
                      first, after):
    """A page of the organizations below (batched across a list of organizations)."""
    viewer_of(info)
    criteria = (name_contains, types, include_revoked, term_ends_before)
    page = await _page(info, info.context.loaders.descendant_page, (organization_id, criteria, checked_first(first), after))

    async def count() -> int:
        return await info.context.loaders.descendant_count.load((organization_id, criteria))

    return page, count


async def _page(info, loader, key):
    try:
        return await loader.load(key)
    except BadCursor as exc:
        raise cursor_errors(exc) from exc


async def difficulties(info, organization_id: int, subtree: bool, include_revoked: bool, first, after):
    viewer_of(info)
    key = (organization_id, subtree, include_revoked, checked_first(first), after)
    page = await _page(info, info.context.loaders.difficulty_page, key)

    async def count() -> int:
        return await info.context.loaders.difficulty_count.load((organization_id, subtree, include_revoked))

    return page, count


async def org_records(info, organization_id: int, kind: str | None, first, after):
    viewer_of(info)
    page = await _page(info, info.context.loaders.record_page, (organization_id, kind, checked_first(first), after))

    async def count() -> int:
        return await info.context.loaders.record_count.load((organization_id, kind))

    return page, count
