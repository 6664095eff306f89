"""gql.schema.execution completes lists of scalars in one loop: every list answers as graphql-core
answers it, errors, paths and nulls included, on a schema made for the comparison."""
from __future__ import annotations

import enum
from typing import Optional

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from gql.schema import schema as served
from gql.schema.base import ATTRIBUTE_OF
from gql.schema.execution import ExecutionContext


@strawberry.enum
class Colour(enum.Enum):
    RED = "RED"
    GREEN = "GREEN"


class Label(str):
    def __str__(self):
        return "label"


class Count(int):
    pass


@strawberry.type
class Query:
    @strawberry.field
    def ints(self) -> list[int]:
        return [1, 2, 3]

    @strawberry.field
    def grid(self) -> list[list[int]]:
        return [[1, 2], [3, 4], []]

    @strawberry.field
    def tuple_grid(self) -> list[list[int]]:
        return ((1, 2), [3])  # type: ignore[return-value]

    @strawberry.field
    def grid_with_null_line(self) -> list[Optional[list[int]]]:
        return [[1], None, [2]]

    @strawberry.field
    def grid_with_null_line_non_null(self) -> list[list[int]]:
        return [[1], None, [2]]  # type: ignore[list-item]

    @strawberry.field
    def grid_with_bad_value(self) -> list[list[int]]:
        return [[1, 2], [3, "x"], [5]]  # type: ignore[list-item]

    @strawberry.field
    def grid_with_null_value(self) -> list[list[Optional[int]]]:
        return [[1, None], [2]]

    @strawberry.field
    def grid_of_generators(self) -> list[list[int]]:
        return [[1], (i for i in range(2))]  # type: ignore[list-item]

    @strawberry.field
    def grid_of_strings(self) -> list[list[str]]:
        return [["a", "b"], ["c"]]

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
    def plain_strings(self) -> list[str]:
        return ["a", "b", ""]

    @strawberry.field
    def str_subclass(self) -> list[str]:
        return ["a", Label("b")]  # type: ignore[list-item]

    @strawberry.field
    def bools_as_ints(self) -> list[int]:
        return [True, 2, False]  # type: ignore[list-item]

    @strawberry.field
    def int_bounds(self) -> list[int]:
        return [-2**31, 0, 2**31 - 1]

    @strawberry.field
    def just_too_big(self) -> list[int]:
        return [1, 2**31]

    @strawberry.field
    def just_too_small(self) -> list[int]:
        return [-2**31 - 1, 1]

    @strawberry.field
    def int_subclass(self) -> list[int]:
        return [Count(3), 4]  # type: ignore[list-item]

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


FIELDS = ["ints", "grid", "tupleGrid", "gridWithNullLine", "gridWithNullLineNonNull", "gridWithBadValue",
          "gridWithNullValue", "gridOfGenerators", "gridOfStrings", "empty", "tupleInts", "generated", "nullInNonNull", "nullInNullable", "tooBig", "notANumber",
          "errorItem", "floatsAsInts", "strings", "plainStrings", "strSubclass", "boolsAsInts", "intBounds",
          "justTooBig", "justTooSmall", "intSubclass", "colours", "badColours", "awaited", "fromAsyncResolver"]


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
                                             ("awaited", False), ("plainStrings", True), ("intBounds", True),
                                             ("justTooBig", False)])
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


# ------------------------------------------------------------------ attribute fields read directly


class Broken:
    @property
    def value(self):
        raise RuntimeError("no value")


@strawberry.type
class Thing:
    name: str
    count: int
    maybe: Optional[int]
    colour: Colour
    when: Optional[str] = None


@strawberry.type
class Things:
    @strawberry.field
    def good(self) -> list[Thing]:
        return [Thing(name="a", count=1, maybe=None, colour=Colour.RED),
                Thing(name="b", count=2, maybe=3, colour=Colour.GREEN, when="x")]

    @strawberry.field
    def null_name(self) -> list[Optional[Thing]]:
        return [Thing(name=None, count=1, maybe=None, colour=Colour.RED)]  # type: ignore[arg-type]

    @strawberry.field
    def bad_count(self) -> Optional[Thing]:
        return Thing(name="a", count="many", maybe=2**40, colour="BLUE")  # type: ignore[arg-type]

    @strawberry.field
    def raising(self) -> Optional[Thing]:
        thing = Thing(name="a", count=1, maybe=None, colour=Colour.RED)
        thing.__class__ = type("RaisingThing", (Thing,), {"count": property(lambda self: 1 // 0)})
        return thing

    @strawberry.field
    def error_value(self) -> Optional[Thing]:
        return Thing(name=ValueError("boom"), count=1, maybe=None, colour=Colour.RED)  # type: ignore[arg-type]


THING = "{ name count maybe colour when a: name }"
THING_FIELDS = ["good", "nullName", "badCount", "raising", "errorValue"]


def things_schemas():
    from gql.schema.base import attribute_resolvers

    fast = strawberry.Schema(query=Things, execution_context_class=ExecutionContext)
    plain = strawberry.Schema(query=Things, execution_context_class=StrawberryGraphQLCoreExecutionContext)
    assert attribute_resolvers(fast) and attribute_resolvers(plain)
    return fast, plain


@pytest.mark.parametrize("field", THING_FIELDS)
async def test_an_attribute_field_answers_as_graphql_core_answers_it(field):
    fast, plain = things_schemas()
    query = f"{{ {field} {THING} }}"
    assert answer(await fast.execute(query)) == answer(await plain.execute(query))


async def test_attribute_fields_all_in_one_request():
    fast, plain = things_schemas()
    query = "{ " + " ".join(f"{field} {THING}" for field in THING_FIELDS) + " }"
    fast_answer, plain_answer = answer(await fast.execute(query)), answer(await plain.execute(query))
    assert fast_answer == plain_answer and plain_answer[1]


def spy_on_the_field_shortcut(monkeypatch) -> list[bool]:
    """A list that gets, for each attribute field the shortcut tries, whether it answered."""
    from gql.schema import execution

    taken = []
    leaf = execution._leaf

    def spy(*args):
        value = leaf(*args)
        taken.append(value is not execution._GENERAL)
        return value

    monkeypatch.setattr(execution, "_leaf", spy)
    return taken


async def test_attribute_fields_are_read_directly(monkeypatch):
    taken = spy_on_the_field_shortcut(monkeypatch)
    fast, _ = things_schemas()
    await fast.execute(f"{{ good {THING} }}")
    assert taken and all(taken), taken


def test_no_field_read_directly_carries_a_rule():
    """Only fields without an @auth rule read their attribute without a resolver: the guard wraps
    the resolver of every other field (gql.auth.guard.install), and a wrapper is not in
    ATTRIBUTE_OF. Generated from the served schema, so a field added later is checked."""
    from graphql import GraphQLObjectType

    from gql.auth.guard import PUBLIC, rule_in

    direct = [(type_, name) for type_ in served._schema.type_map.values() if isinstance(type_, GraphQLObjectType)
              and not type_.name.startswith("__") for name, field in type_.fields.items()
              if ATTRIBUTE_OF.get(field.resolve) is not None]
    assert len(direct) > 50
    assert [f"{t.name}.{n}" for t, n in direct if rule_in(served._schema, t, n) is not PUBLIC] == []


async def test_a_wrapper_around_an_attribute_resolver_is_not_skipped():
    """A resolver wrapped later (functools.wraps copies the wrapped function's attributes) runs: the
    shortcut knows the attribute resolvers themselves (ATTRIBUTE_OF), not a mark a wrapper copies."""
    import functools

    fast, _ = things_schemas()
    field = fast._schema.type_map["Thing"].fields["name"]
    inner = field.resolve
    assert ATTRIBUTE_OF.get(inner) == "name"

    @functools.wraps(inner)
    def shouting(source, info, **arguments):
        return inner(source, info, **arguments).upper()

    field.resolve = shouting
    assert ATTRIBUTE_OF.get(shouting) is None
    result = await fast.execute("{ good { name } }")
    assert result.errors is None and result.data["good"] == [{"name": "A"}, {"name": "B"}]
