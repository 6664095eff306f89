"""Small helpers shared by the resolvers of every domain."""
from __future__ import annotations

from typing import Any

from strawberry.types.unset import UNSET

from db.pagination import BadCursor, Page, page_size
from gql.auth.errors import BadUserInput, Unauthenticated


def viewer_of(info):
    viewer = info.context.viewer
    if viewer is None:
        raise Unauthenticated()
    return viewer


def checked_first(first: int | None) -> int:
    try:
        return page_size(first)
    except ValueError as exc:
        raise BadUserInput(f"first 须在 1 到 100 之间（收到 {first}）") from exc


def cursor_errors(exc: BadCursor) -> BadUserInput:
    return BadUserInput(f"无效的分页游标：{exc}")


def enum_values(values) -> tuple[str, ...] | None:
    if values is None or values is UNSET:
        return None
    return tuple(v.value if hasattr(v, "value") else v for v in values)


def given(value: Any) -> bool:
    return value is not UNSET


def provided(obj: Any, *names: str) -> dict[str, Any]:
    """The input fields the client actually sent (an explicit null included), by snake_case name."""
    return {n: getattr(obj, n) for n in names if getattr(obj, n, UNSET) is not UNSET}


async def _zero() -> int:
    return 0


def empty_page():
    """What a list anchored at an absent or foreign organization answers: nothing, and a count of 0."""
    return Page(rows=[], cursors=[], has_next_page=False), _zero
