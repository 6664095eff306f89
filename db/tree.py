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


async def invariant_violations(session) -> dict[str, int]:
    """Rows that break the tree's derived columns; all zero on a healthy tree.

    path = parent's path + id + '/', depth = parent's depth + 1, code = parent's code + 3 digits,
    and the root's path is '/id/'. Checked in SQL, so it runs on millions of rows."""
    from sqlalchemy import String, cast, func, or_, select
    from sqlalchemy.orm import aliased

    from db import models

    child, parent = models.Organization, aliased(models.Organization)
    joined = select(func.count()).select_from(child).join(parent, parent.id == child.parent_id)
    stale_path = await session.scalar(joined.where(child.path != parent.path + cast(child.id, String) + "/"))
    stale_depth = await session.scalar(joined.where(child.depth != parent.depth + 1))
    stale_code = await session.scalar(joined.where(or_(
        func.substr(child.code, 1, func.length(parent.code)) != parent.code,
        func.length(child.code) != func.length(parent.code) + CODE_SUFFIX_DIGITS)))
    bad_roots = await session.scalar(select(func.count()).select_from(child).where(
        child.parent_id.is_(None), or_(child.path != "/" + cast(child.id, String) + "/", child.depth != 0)))
    # The member-count rollup against the members themselves.
    from db.services.members import DEFAULT_STATUSES

    counted = (select(func.count(models.Member.id))
               .where(models.Member.organization_id == child.id, models.Member.status.in_(DEFAULT_STATUSES))
               .scalar_subquery())
    stale_counts = await session.scalar(select(func.count()).select_from(child).where(child.direct_member_count != counted))
    return {"path": stale_path, "depth": stale_depth, "code": stale_code, "root": bad_roots,
            "member_count": stale_counts}


HEALTHY = {"path": 0, "depth": 0, "code": 0, "root": 0, "member_count": 0}
