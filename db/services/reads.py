"""Scoped reads of the organization's affairs (leadership, history, difficulties, records),
batched by organization or member for the per-request loaders."""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from db.branch import Branch, owned_by_member
from db.pagination import Page, SortKey, pages_by_anchor
from db.tree import within, within_subtree_of

O, P, D, R, E = (models.Organization, models.LeaderPosition, models.Difficulty, models.OrgRecord,
                 models.OrganizationEvent)


def hanging(branch: Branch, entity, *extra):
    """Rows of `entity` whose organization lies in the branch, with that organization's path."""
    return (select(entity, O.path, *extra).join(O, O.id == entity.organization_id)
            .where(branch.organization_condition()))


async def open_positions(session: AsyncSession, branch: Branch, org_ids: Sequence[int]) -> dict[int, list]:
    stmt = (hanging(branch, P)
            .where(P.organization_id.in_(org_ids), P.until.is_(None)).order_by(P.since, P.id))
    grouped = defaultdict(list)
    for position, path in (await session.execute(stmt)).all():
        grouped[position.organization_id].append((position, path))
    return grouped


async def positions_by_id(session: AsyncSession, branch: Branch, ids: Sequence[int]) -> dict[int, tuple]:
    stmt = hanging(branch, P).where(P.id.in_(ids))
    return {p.id: (p, path) for p, path in (await session.execute(stmt)).all()}


async def events(session: AsyncSession, branch: Branch, org_ids: Sequence[int]) -> dict[int, list]:
    stmt = hanging(branch, E).where(E.organization_id.in_(org_ids)).order_by(E.date, E.id)
    grouped = defaultdict(list)
    for event, _path in (await session.execute(stmt)).all():
        grouped[event.organization_id].append(event)
    return grouped


def _difficulties(branch: Branch):
    return hanging(branch, D).where(owned_by_member(branch, D.member_id))


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
    stmt = _difficulties(branch)
    if not include_revoked:
        stmt = stmt.where(D.revoked_on.is_(None))
    if subtree:
        anchor_table = O.__table__.alias("anchor")
        stmt = stmt.join(anchor_table, within_subtree_of(O.path, anchor_table.c.path))
        anchor = anchor_table.c.id
    else:
        anchor = D.organization_id
    keys = [SortKey(D.id)]
    return await pages_by_anchor(session, stmt, anchor, keys, org_ids, first, after, lambda row: [row[0].id])


async def records_by_id(session: AsyncSession, branch: Branch, ids: Sequence[int]) -> dict[int, tuple]:
    stmt = hanging(branch, R).where(R.id.in_(ids))
    return {r.id: (r, path) for r, path in (await session.execute(stmt)).all()}


async def record_pages(session: AsyncSession, branch: Branch, org_ids: Sequence[int], kind: str | None,
                       first: int, after: str | None) -> dict[int, Page]:
    """Newest first."""
    stmt = hanging(branch, R)
    if kind is not None:
        stmt = stmt.where(R.kind == kind)
    keys = [SortKey(R.held_on, descending=True), SortKey(R.id, descending=True)]
    return await pages_by_anchor(session, stmt, R.organization_id, keys, org_ids, first, after,
                                 lambda row: [row[0].held_on, row[0].id])



async def count_difficulties(session: AsyncSession, branch: Branch, organization_id: int, subtree: bool,
                             include_revoked: bool) -> int:
    stmt = _difficulties(branch).with_only_columns(func.count(D.id), maintain_column_froms=True)
    if not include_revoked:
        stmt = stmt.where(D.revoked_on.is_(None))
    if subtree:
        anchor = (await session.execute(select(O.path).where(O.id == organization_id))).scalar_one()
        stmt = stmt.where(within(O.path, anchor))
    else:
        stmt = stmt.where(D.organization_id == organization_id)
    return (await session.execute(stmt)).scalar_one()


async def count_records(session: AsyncSession, branch: Branch, organization_id: int, kind: str | None) -> int:
    stmt = hanging(branch, R).with_only_columns(func.count(R.id), maintain_column_froms=True).where(
        R.organization_id == organization_id)
    if kind is not None:
        stmt = stmt.where(R.kind == kind)
    return (await session.execute(stmt)).scalar_one()
