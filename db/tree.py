"""The organization tree's materialized path.

A path lists the ids from the root down to the organization itself, each followed by '/':
'/1/5/61/'. Everything under an organization (itself included) is the half-open range
[path, upper_bound(path)): '/' (0x2F) sorts just before '0' (0x30), so replacing the final '/'
by '0' gives the first string after every descendant's path. Both engines seek on it.
"""
from __future__ import annotations

from sqlalchemy import ColumnElement, and_, func

CODE_SUFFIX_DIGITS = 3


def child_path(parent_path: str | None, organization_id: int) -> str:
    return f"{parent_path or '/'}{organization_id}/"


def upper_bound(path: str) -> str:
    return path[:-1] + "0"


def ancestor_ids(path: str) -> list[int]:
    """Ids from the root down to the organization itself."""
    return [int(part) for part in path.strip("/").split("/")]


def depth_of(path: str) -> int:
    return path.count("/") - 2


def within(path_column: ColumnElement, branch_path: str) -> ColumnElement[bool]:
    """`path_column` lies in the subtree rooted at `branch_path` (the root included)."""
    return and_(path_column >= branch_path, path_column < upper_bound(branch_path))


def contains(branch_path: str, path: str) -> bool:
    return path.startswith(branch_path)


def within_subtree_of(path_column: ColumnElement, anchor_path_column: ColumnElement) -> ColumnElement[bool]:
    """`path_column` lies in the subtree of the organization whose path is `anchor_path_column`
    (both columns: for joining many anchors at once; the bound is computed in SQL)."""
    upper = func.substr(anchor_path_column, 1, func.length(anchor_path_column) - 1) + "0"
    return and_(path_column >= anchor_path_column, path_column < upper)


def _violation_queries():
    """{invariant: SELECT of the offending rows' ids}; each is empty on a healthy database.

    path = parent's path + id + '/', depth = parent's depth + 1, code = parent's code + 3 digits,
    the root's path is '/id/' at depth 0, organization.direct_member_count = its members in the
    counted statuses, organization.subtree_member_count + its pending member_count_delta rows =
    the direct counts over its subtree, member.completeness = the percent of its fields (integer, rounded down)."""
    from sqlalchemy import String, cast, func, or_, select
    from sqlalchemy.orm import aliased

    from db import models
    from db.services.history import differs_from_history, last_fact_differs, periods_differ, snapshot_differs
    from db.services.members import DEFAULT_STATUSES, completeness_percent, subtree_count

    child, parent = models.Organization, aliased(models.Organization)
    joined = select(child.id).join(parent, parent.id == child.parent_id)
    counted = (select(func.count(models.Member.id))
               .where(models.Member.organization_id == child.id, models.Member.status.in_(DEFAULT_STATUSES))
               .scalar_subquery())
    below = aliased(models.Organization)
    summed = (select(func.coalesce(func.sum(below.direct_member_count), 0))
              .where(within_subtree_of(below.path, child.path)).scalar_subquery())
    return {
        "path": joined.where(child.path != parent.path + cast(child.id, String) + "/"),
        "depth": joined.where(child.depth != parent.depth + 1),
        "code": joined.where(or_(func.substr(child.code, 1, func.length(parent.code)) != parent.code,
                                 func.length(child.code) != func.length(parent.code) + CODE_SUFFIX_DIGITS)),
        "root": select(child.id).where(child.parent_id.is_(None),
                                       or_(child.path != "/" + cast(child.id, String) + "/", child.depth != 0)),
        "member_count": select(child.id).where(child.direct_member_count != counted),
        # Folded + pending = the direct counts over the subtree's range (those are checked above).
        "subtree_member_count": select(child.id).where(subtree_count(child.__table__) != summed),
        # The same integer expression as the services' bulk path; Python's
        # completeness_percent_of() gives the same number row by row.
        "completeness": select(models.Member.id).where(models.Member.completeness != completeness_percent()),
        # The member row's organization, category and status = the dated history's answer for
        # today (placements, category and status steps: db.services.history).
        "history": differs_from_history(),
        # member.last_fact_on = the date of the member's latest fact (db.services.history).
        "last_fact": last_fact_differs(),
        # The kept days' member states = the dated history's answer for those days (db.services.history).
        "snapshot": snapshot_differs(),
        # The members' state periods = the dated history's answer at each of their fact days.
        "periods": periods_differ(),
        # An open flow (流动) belongs to a member who is FLOWING_OUT (db.services.flows): a flow
        # ends when the member returns or leaves the party.
        "open_flow": (select(models.Flow.id).join(models.Member, models.Member.id == models.Flow.member_id)
                      .where(models.Flow.returned_on.is_(None), models.Member.status != "FLOWING_OUT")),
    }


# Which table each invariant's ids belong to (for reports).
VIOLATION_TABLES = {"path": "organization", "depth": "organization", "code": "organization",
                    "root": "organization", "member_count": "organization",
                    "subtree_member_count": "organization", "completeness": "member", "history": "member",
                    "last_fact": "member", "snapshot": "member", "periods": "member",
                    "open_flow": "flow"}


async def invariant_violations(session) -> dict[str, int]:
    """Rows that break the tree's derived columns and rollups; all zero on a healthy database.
    Checked in SQL, so it runs on millions of rows."""
    from sqlalchemy import func, select

    return {name: await session.scalar(select(func.count()).select_from(query.subquery()))
            for name, query in _violation_queries().items()}


async def violation_samples(session, limit: int = 10) -> dict[str, list[int]]:
    """Up to `limit` ids of offending rows per invariant (for `python -m db check`)."""
    return {name: list(await session.scalars(query.order_by(query.selected_columns[0]).limit(limit)))
            for name, query in _violation_queries().items()}


async def repair_rollups(session) -> None:
    """Recompute what can be recomputed from the rows themselves: the members' cached organization,
    category and status from their dated history, organization.direct_member_count,
    organization.subtree_member_count (the delta log emptied) and member.completeness. Paths,
    depths and codes are not rewritten here: they follow from the parent chain only when that
    chain is sound, which a person should look at first.

    Safe on a live database. On PostgreSQL (READ COMMITTED) the recount's UPDATE, waiting for the
    row of an organization whose createMember was in flight, re-evaluated that row with the
    member count of its own older snapshot and wrote a count without the new member: the repair
    made the rollup wrong. So the organization table is locked first (EXCLUSIVE: plain reads go
    on; the lock waits for every write in flight that locked or updated an organization row, and
    holds new ones back), and the recount's snapshot then sees every member those writes added.
    A status change that has updated its member but not yet its organization waits at the lock
    and then adds its delta to the recounted value, which is right too. The delta log is locked
    after the organizations (a member write updates its organization's row, then appends deltas:
    the recount must see neither half alone). Members are updated before organizations are
    locked: member rows before organization rows, the writers' order (db.services.organizations),
    so the two cannot deadlock."""
    from sqlalchemy import text, update

    from db import clock, models
    from db.services.history import lock_kept_days as _lock_kept_days
    from db.services.history import (differs_from_history, last_fact, rebuild_periods, rebuild_snapshots,
                                     refresh_last_fact, state_columns)
    from db.services.members import completeness_percent, recount

    # The kept days are built again below: their lock first, before any member row is updated
    # (db.session.SNAPSHOT_LOCK: a writer holds it shared from its start, then locks member rows).
    await _lock_kept_days(session)
    # The member row's organization, category and status are a cache of the history's answer
    # for today: where they differ, the history wins (before completeness, which depends on the
    # category, and before the recount, which follows the statuses).
    organization_id, category, status = state_columns(clock.today())
    m = models.Member
    wrong = list(await session.scalars(differs_from_history()))
    if wrong:
        await session.execute(update(m).where(m.id.in_(wrong)).values(
            organization_id=func.coalesce(organization_id, m.organization_id),
            category=func.coalesce(category, m.category), status=func.coalesce(status, m.status))
            .execution_options(synchronize_session=False))
    await session.execute(update(models.Member).values(completeness=completeness_percent())
                          .execution_options(synchronize_session=False))
    await session.execute(refresh_last_fact(models.Member.last_fact_on.is_distinct_from(last_fact(models.Member.id))))
    await rebuild_snapshots(session)  # after last_fact_on, which says whose states are kept
    await rebuild_periods(session)
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("LOCK TABLE organization IN EXCLUSIVE MODE"))
        await session.execute(text("LOCK TABLE member_count_delta IN EXCLUSIVE MODE"))
    await recount(session)


REPAIRABLE = ("member_count", "subtree_member_count", "completeness", "history", "last_fact", "snapshot", "periods")
HEALTHY = {"path": 0, "depth": 0, "code": 0, "root": 0, "member_count": 0, "subtree_member_count": 0,
           "completeness": 0, "history": 0, "last_fact": 0, "snapshot": 0, "periods": 0, "open_flow": 0}
