"""Shapes every domain shares: Node, connections, UserError, and the small enums."""
from __future__ import annotations

from enum import Enum
from typing import Awaitable, Callable, Generic, TypeVar

import strawberry
from strawberry import Private

from db.errors import Problem


@strawberry.interface(description="An object with a globally unique, opaque id.")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.enum
class ErrorCode(Enum):
    INVALID = strawberry.enum_value("INVALID", description="The input is malformed or breaks a field rule (bad ID number, bad code, missing field).")
    NOT_FOUND = strawberry.enum_value("NOT_FOUND", description="The object does not exist, or is outside the caller's branch.")
    DUPLICATE = strawberry.enum_value("DUPLICATE", description="A unique value is taken (organization name or code, ID number, username).")
    CONFLICT = strawberry.enum_value("CONFLICT", description="The object changed since it was read (expectedVersion mismatch), or the state moved on.")
    NOT_ALLOWED = strawberry.enum_value("NOT_ALLOWED", description="A business rule forbids it (revoking an organization that still has members, ...).")


@strawberry.type(description="A failure the caller can fix; `field` is the path into the input.")
class UserError:
    field: list[str] | None
    message: str
    code: ErrorCode

    @classmethod
    def from_problem(cls, problem: Problem) -> "UserError":
        return cls(field=problem.field, message=problem.message, code=ErrorCode(problem.code))


def user_errors(problems: list[Problem]) -> list[UserError]:
    return [UserError.from_problem(p) for p in problems]


@strawberry.type
class Payload:
    ok: bool
    user_errors: list[UserError]


@strawberry.enum
class Gender(Enum):
    MALE = "MALE"
    FEMALE = "FEMALE"


@strawberry.enum(description="本级 (the organization alone) or 辖区 (it and all its descendants).")
class Scope(Enum):
    SELF = "SELF"
    SUBTREE = "SUBTREE"


@strawberry.enum
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


T = TypeVar("T")


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    count: Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.count()


def connection(nodes: list, cursors: list[str], has_next_page: bool,
               count: Callable[[], Awaitable[int]], has_previous_page: bool = False) -> Connection:
    return Connection(
        edges=[Edge(cursor=c, node=n) for n, c in zip(nodes, cursors)],
        page_info=PageInfo(has_next_page=has_next_page, has_previous_page=has_previous_page,
                           start_cursor=cursors[0] if cursors else None,
                           end_cursor=cursors[-1] if cursors else None),
        count=count,
    )
