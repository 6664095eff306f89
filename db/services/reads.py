"""Scoped reads of the organization's affairs (leadership, history, difficulties, records),
batched by organization or member for the per-request loaders."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from db.branch import ANCHOR, IN_ANCHOR_SUBTREE, Branch, hanging, owned_by_member
from db.pagination import Page, SortKey, pages_by_anchor

O, P, D, R, E = (models.Organization, models.LeaderPosition, models.Difficulty, models.OrgRecord,
                 models.OrganizationEvent)


def hanging_with_path(branch: Branch, entity):
    """Rows of `entity` whose organization lies in the branch, with that organization's path."""
    return hanging(branch, entity, entity, O.path)


async def open_positions(session: AsyncSession, branch: Branch, org_ids: Sequence[int]) -> dict[int, list]:
    stmt = (hanging_with_path(branch, P)
            .where(P.organization_id.in_(org_ids), P.until.is_(None)).order_by(P.since, P.id))
    grouped = defaultdict(list)
    for position, path in (await session.execute(stmt)).all():
        grouped[position.organization_id].append((position, path))
    return grouped


async def positions_by_id(session: AsyncSession, branch: Branch, ids: Sequence[int]) -> dict[int, tuple]:
    stmt = hanging_with_path(branch, P).where(P.id.in_(ids))
    return {p.id: (p, path) for p, path in (await session.execute(stmt)).all()}


@dataclass(frozen=True)
class EventView:
    """An organization event as one caller may read it."""

    kind: str
    date: object
    before: str | None
    after: str | None
    reason: str | None


async def events(session: AsyncSession, branch: Branch, org_ids: Sequence[int]) -> dict[int, list[EventView]]:
    """History of each organization, oldest first. A MOVED event names the old and new parent
    only when that parent lies in the caller's branch (else null): after a move across branches
    the new branch does not learn where the organization came from. Names are the ones recorded
    at the time; the ids decide who sees them (migration 0006 backfilled ids; an event without
    one shows no name to anybody)."""
    stmt = hanging_with_path(branch, E).where(E.organization_id.in_(org_ids)).order_by(E.date, E.id)
    rows = [event for event, _path in (await session.execute(stmt)).all()]
    parent_ids = {i for e in rows if e.kind == "MOVED"
                  for i in (e.before_organization_id, e.after_organization_id) if i is not None}
    visible = set()
    if parent_ids:
        visible = set((await session.execute(
            select(O.id).where(O.id.in_(parent_ids), branch.organization_condition()))).scalars())

    def shown(text: str | None, organization_id: int | None) -> str | None:
        return text if organization_id in visible else None

    grouped = defaultdict(list)
    for e in rows:
        before, after = e.before, e.after
        if e.kind == "MOVED":
            before, after = shown(e.before, e.before_organization_id), shown(e.after, e.after_organization_id)
        grouped[e.organization_id].append(EventView(e.kind, e.date, before, after, e.reason))
    return grouped


def _difficulties(branch: Branch):
    return hanging_with_path(branch, D).where(owned_by_member(branch, D.member_id))


async def difficulties_by_id(session: AsyncSession, branch: Branch, ids: Sequence[int]) -> dict[int, tuple]:
    rows = (await session.execute(_difficulties(branch).where(D.id.in_(ids)))).all()
    return {d.id: (d, path) for d, path in rows}


async def difficulties_of_members(session: AsyncSession, branch: Branch, member_ids: Sequence[int]) -> dict[int, list]:
    rows = (await session.execute(_difficulties(branch).where(D.member_id.in_(member_ids))
                                  .order_by(D.recorded_on, D.id))).all()
    grouped = defaultdict(list)
    for d, path in rows:
        grouped[d.member_id].append((d, path))
    return grouped


async def difficulty_pages(session: AsyncSession, branch: Branch, org_ids: Sequence[int], subtree: bool,
                           include_revoked: bool, first: int, after: str | None) -> dict[int, Page]:
    stmt, anchor = _difficulties_anchored(branch, subtree, include_revoked)
    return await pages_by_anchor(session, stmt, anchor, [SortKey(D.id)], org_ids, first, after,
                                 lambda row: [row[0].id])


async def records_by_id(session: AsyncSession, branch: Branch, ids: Sequence[int]) -> dict[int, tuple]:
    stmt = hanging_with_path(branch, R).where(R.id.in_(ids))
    return {r.id: (r, path) for r, path in (await session.execute(stmt)).all()}


async def record_pages(session: AsyncSession, branch: Branch, org_ids: Sequence[int], kind: str | None,
                       first: int, after: str | None) -> dict[int, Page]:
    """Newest first."""
    stmt = hanging_with_path(branch, R)
    if kind is not None:
        stmt = stmt.where(R.kind == kind)
    keys = [SortKey(R.held_on, descending=True), SortKey(R.id, descending=True)]
    return await pages_by_anchor(session, stmt, R.organization_id, keys, org_ids, first, after,
                                 lambda row: [row[0].held_on, row[0].id])



def _difficulties_anchored(branch: Branch, subtree: bool, include_revoked: bool, *columns):
    """Difficulties in the branch, with the anchor they count for: their organization (SELF) or
    each organization whose subtree holds it (SUBTREE)."""
    stmt = hanging(branch, D, *(columns or (D, O.path))).where(owned_by_member(branch, D.member_id))
    if not include_revoked:
        stmt = stmt.where(D.revoked_on.is_(None))
    if not subtree:
        return stmt, D.organization_id
    return stmt.join(ANCHOR, IN_ANCHOR_SUBTREE), ANCHOR.c.id


async def count_difficulties(session: AsyncSession, branch: Branch, org_ids: Sequence[int], subtree: bool,
                             include_revoked: bool) -> dict[int, int]:
    stmt, anchor = _difficulties_anchored(branch, subtree, include_revoked, func.count(D.id))
    stmt = stmt.add_columns(anchor).where(anchor.in_(org_ids)).group_by(anchor)
    return {anchor_id: n for n, anchor_id in await session.execute(stmt)}


async def count_records(session: AsyncSession, branch: Branch, org_ids: Sequence[int], kind: str | None) -> dict[int, int]:
    stmt = (hanging(branch, R, R.organization_id, func.count(R.id))
            .where(R.organization_id.in_(org_ids)).group_by(R.organization_id))
    if kind is not None:
        stmt = stmt.where(R.kind == kind)
    return {org_id: n for org_id, n in await session.execute(stmt)}


# ------------------------------------------------------------ descendants


def _descendants_anchored(branch: Branch, name_contains: str | None, types: tuple[str, ...] | None,
                          include_revoked: bool, term_ends_before, *columns):
    """Organizations strictly below each anchor organization, with the anchor's id."""
    anchor = ANCHOR
    stmt = (select(*(columns or (O,))).join(anchor, IN_ANCHOR_SUBTREE)
            .where(O.path != anchor.c.path, branch.holds(anchor.c.path)))
    if branch.is_self_only:
        stmt = stmt.where(branch.organization_condition())
    if not include_revoked:
        stmt = stmt.where(O.status == "ACTIVE")
    if name_contains:
        stmt = stmt.where(O.name.contains(name_contains.strip(), autoescape=True))
    if types:
        stmt = stmt.where(O.type.in_(types))
    if term_ends_before is not None:
        stmt = stmt.where(O.term_ends_on <= term_ends_before)
    return stmt, anchor.c.id


async def descendant_pages(session: AsyncSession, branch: Branch, org_ids: Sequence[int], criteria: tuple,
                           first: int, after: str | None) -> dict[int, Page]:
    """`criteria`: (name contains, types, include revoked, term ends before); tree order."""
    stmt, anchor = _descendants_anchored(branch, *criteria)
    return await pages_by_anchor(session, stmt, anchor, [SortKey(O.path)], org_ids, first, after,
                                 lambda row: [row[0].path])


async def count_descendants(session: AsyncSession, branch: Branch, org_ids: Sequence[int],
                            criteria: tuple) -> dict[int, int]:
    stmt, anchor = _descendants_anchored(branch, *criteria, func.count(O.id))
    stmt = stmt.add_columns(anchor).where(anchor.in_(org_ids)).group_by(anchor)
    return {anchor_id: n for n, anchor_id in await session.execute(stmt)}
