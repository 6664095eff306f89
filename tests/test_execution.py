"""gql.schema.execution completes lists of scalars in one loop: every list answers as graphql-core
answers it, errors, paths and nulls included, on a schema made for the comparison."""
from __future__ import annotations

import enum
from typing import Optional

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from gql.schema import schema as served
from gql.schema.execution import ExecutionContext


@strawberry.enum
class Colour(enum.Enum):
    RED = "RED"
    GREEN = "GREEN"


@strawberry.type
class Query:
    @strawberry.field
    def ints(self) -> list[int]:
        return [1, 2, 3]

    @strawberry.field
    def grid(self) -> list[list[int]]:
        return [[1, 2], [3, 4], []]

    @strawberry.field
    def empty(self) -> list[int]:
        return []

    @strawberry.field
    def tuple_ints(self) -> list[int]:
        return (4, 5)  # type: ignore[return-value]

    @strawberry.field
    def generated(self) -> list[int]:
        return (i for i in range(3))  # type: ignore[return-value]

    @strawberry.field
    def null_in_non_null(self) -> list[int]:
        return [1, None, 3]  # type: ignore[list-item]

    @strawberry.field
    def null_in_nullable(self) -> list[Optional[int]]:
        return [1, None, 3]

    @strawberry.field
    def too_big(self) -> list[int]:
        return [1, 2**40, 3]

    @strawberry.field
    def not_a_number(self) -> list[int]:
        return [1, "x", 3]  # type: ignore[list-item]

    @strawberry.field
    def error_item(self) -> list[Optional[int]]:
        return [1, ValueError("boom"), 3]  # type: ignore[list-item]

    @strawberry.field
    def floats_as_ints(self) -> list[int]:
        return [1.0, 2.5]  # type: ignore[list-item]

    @strawberry.field
    def strings(self) -> list[str]:
        return ["a", "b", 1]  # type: ignore[list-item]

    @strawberry.field
    def colours(self) -> list[Colour]:
        return [Colour.RED, Colour.GREEN]

    @strawberry.field
    def bad_colours(self) -> list[Colour]:
        return [Colour.RED, "BLUE"]  # type: ignore[list-item]

    @strawberry.field
    async def awaited(self) -> list[int]:
        async def one() -> int:
            return 1

        return [one(), 2]  # type: ignore[list-item]

    @strawberry.field
    async def from_async_resolver(self) -> list[int]:
        return [7, 8]


FIELDS = ["ints", "grid", "empty", "tupleInts", "generated", "nullInNonNull", "nullInNullable", "tooBig", "notANumber",
          "errorItem", "floatsAsInts", "strings", "colours", "badColours", "awaited", "fromAsyncResolver"]


def answer(result) -> tuple:
    errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or [])
    return result.data, errors


@pytest.mark.parametrize("field", FIELDS)
async def test_a_list_answers_as_graphql_core_answers_it(field):
    fast = strawberry.Schema(query=Query, execution_context_class=ExecutionContext)
    plain = strawberry.Schema(query=Query, execution_context_class=StrawberryGraphQLCoreExecutionContext)
    query = f"{{ {field} }}"
    assert answer(await fast.execute(query)) == answer(await plain.execute(query))


async def test_all_fields_in_one_request():
    fast = strawberry.Schema(query=Query, execution_context_class=ExecutionContext)
    plain = strawberry.Schema(query=Query, execution_context_class=StrawberryGraphQLCoreExecutionContext)
    query = "{ " + " ".join(FIELDS) + " }"
    fast_answer, plain_answer = answer(await fast.execute(query)), answer(await plain.execute(query))
    assert fast_answer == plain_answer and plain_answer[1]  # some errors, the same ones


def test_the_served_schema_completes_with_it():
    assert served.execution_context_class is ExecutionContext


@pytest.mark.parametrize("field, shortcut", [("ints", True), ("grid", True), ("colours", True), ("tupleInts", True),
                                             ("nullInNonNull", False), ("tooBig", False), ("errorItem", False),
                                             ("awaited", False)])
async def test_the_shortcut_is_taken_for_plain_lists_only(field, shortcut, monkeypatch):
    from gql.schema import execution

    taken = []
    leaves = execution._leaves

    def spy(*args):
        completed = leaves(*args)
        taken.append(completed is not None)
        return completed

    monkeypatch.setattr(execution, "_leaves", spy)
    fast = strawberry.Schema(query=Query, execution_context_class=ExecutionContext)
    await fast.execute(f"{{ {field} }}")
    assert taken and all(taken) == shortcut, taken
