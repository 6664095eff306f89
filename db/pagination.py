"""Keyset pagination: opaque cursors and the seek predicate.

A page is ordered by a list of sort keys ending in a unique id. The cursor holds the last row's
key values; the next page starts strictly after them. The predicate is written in the explicit
seek form `k1 >= v1 AND (k1 > v1 OR k2 > v2)`, which SQLite turns into an index seek (a row-value
comparison it would scan: 116 ms against 0.015 ms, measured).
"""
from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

CURSOR_VERSION = 1
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class SortKey:
    column: Any
    descending: bool = False

    def order_by(self):
        return self.column.desc() if self.descending else self.column.asc()


def _encode_value(value):
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    return value


def _decode_value(value):
    try:
        if isinstance(value, dict) and len(value) == 1:
            if isinstance(value.get("t"), str):
                return dt.datetime.fromisoformat(value["t"])
            if isinstance(value.get("d"), str):
                return dt.date.fromisoformat(value["d"])
    except ValueError as exc:
        raise BadCursor("malformed cursor value") from exc
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return value
    raise BadCursor("malformed cursor value")


def _fits(value, key: SortKey) -> bool:
    """The value has exactly the Python type of the key's column (a cursor of another list or
    ordering must never reach SQL)."""
    try:
        expected = key.column.type.python_type
    except NotImplementedError:
        return False
    return type(value) is expected


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([CURSOR_VERSION, *map(_encode_value, values)], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, keys: Sequence[SortKey]) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadCursor("malformed cursor") from exc
    if not isinstance(data, list) or len(data) != len(keys) + 1 or data[0] != CURSOR_VERSION:
        raise BadCursor("the cursor does not belong to this list or ordering")
    values = [_decode_value(v) for v in data[1:]]
    if not all(_fits(value, key) for value, key in zip(values, keys)):
        raise BadCursor("the cursor does not belong to this list or ordering")
    return values


def seek_after(keys: Sequence[SortKey], values: Sequence[Any]):
    """Rows strictly after `values` in the order of `keys`."""

    def after(index: int):
        key, value = keys[index], values[index]
        beyond = key.column < value if key.descending else key.column > value
        if index == len(keys) - 1:
            return beyond
        reached = key.column <= value if key.descending else key.column >= value
        return and_(reached, or_(beyond, after(index + 1)))

    return after(0)


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if first < 1 or first > MAX_PAGE_SIZE:
        raise ValueError(f"first must be between 1 and {MAX_PAGE_SIZE}")
    return first


@dataclass
class Page:
    rows: list[Any]
    cursors: list[str]
    has_next_page: bool


def starting_after(stmt, keys: Sequence[SortKey], after: str | None):
    return stmt.where(seek_after(keys, decode_cursor(after, keys))) if after else stmt


def _page(rows: list, first: int, key_values) -> Page:
    return Page(rows=[tuple(r) for r in rows[:first]], cursors=[encode_cursor(key_values(r)) for r in rows[:first]],
                has_next_page=len(rows) > first)


async def keyset_page(session, stmt, keys: Sequence[SortKey], first: int, after: str | None, key_values) -> Page:
    """One page of `stmt` in the order of `keys`, after the cursor."""
    stmt = starting_after(stmt, keys, after).order_by(*(k.order_by() for k in keys)).limit(first + 1)
    return _page((await session.execute(stmt)).all(), first, key_values)


async def pages_by_anchor(session, stmt, anchor, keys: Sequence[SortKey], anchor_ids: Sequence[int],
                          first: int, after: str | None, key_values) -> dict[int, Page]:
    """One page for each anchor (say, each organization of a list), in one statement.

    `stmt` selects the rows of every anchor with `anchor` (a column expression) among its
    columns; `key_values(row)` gives a row's sort-key values for its cursor. With one anchor this
    is a plain keyset page; with many, ROW_NUMBER() per anchor keeps the first `first + 1` rows of
    each, so a list of organizations with their nested lists costs one query, not one per row."""
    if len(anchor_ids) == 1:
        return {anchor_ids[0]: await keyset_page(session, stmt.where(anchor == anchor_ids[0]), keys, first, after,
                                                 key_values)}
    stmt = starting_after(stmt, keys, after)
    order = [k.order_by() for k in keys]
    rn = func.row_number().over(partition_by=anchor, order_by=order)
    inner = stmt.where(anchor.in_(anchor_ids)).add_columns(anchor.label("anchor_id"), rn.label("rn")).subquery()
    # Read the same columns back out of the numbered subquery: entities as aliases of it.
    outer_columns = []
    for description in stmt.column_descriptions:
        if description.get("entity") is not None and description["expr"] is description["entity"]:
            outer_columns.append(aliased(description["entity"], inner))
        else:
            outer_columns.append(inner.c[description["name"]])
    outer = (select(*outer_columns, inner.c.anchor_id)
             .where(inner.c.rn <= first + 1).order_by(inner.c.anchor_id, inner.c.rn))
    grouped = {}
    for row in (await session.execute(outer)).all():
        grouped.setdefault(row[-1], []).append(tuple(row[:-1]))
    return {anchor_id: _page(grouped.get(anchor_id, []), first, key_values) for anchor_id in anchor_ids}
