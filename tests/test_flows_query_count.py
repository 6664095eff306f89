"""N+1 guard for issue 11's second half: Member.flows, representativeTerms and volunteer under a page
of members, and the representative summary, cost a number of statements that depends on the
query's shape, not on how many members, flows, seats or volunteer records there are."""
from __future__ import annotations

import datetime as dt

import pytest

from gql.settings import Settings
from tests.conftest import gid
from tests.test_flows_representatives import SUMMARY


@pytest.fixture
def settings() -> Settings:
    """Without the response cache (as tests/test_query_count.py)."""
    return Settings(password_profile="cheapest", response_cache_entries=0)


NESTED = """{ organization(code: "001") { members(first: 50, filter: {scope: SUBTREE}) { edges { node {
  name flows { id status member { name } } representativeTerms { id level } volunteer { id category } } } } } }"""


async def give_everyone_a_flow_a_seat_and_a_volunteer_record(engine, world, extra: int) -> None:
    from db import models
    from db.branch import SYSTEM_ACTOR
    from db.engine import make_sessionmaker
    from db.services import flows as flow_service
    from db.services import representatives as representative_service
    from tests.factories import make_member

    async with make_sessionmaker(engine)() as session, session.begin():
        a1 = await session.get(models.Organization, world.orgs["a1"].id)
        for n in range(extra):
            member = await make_member(session, a1, name=f"新成员{n:02d}")
            await flow_service.flow_out(session, SYSTEM_ACTOR, member.id, "外地", dt.date(2024, 3, 1), None, None)
            await representative_service.add_term(session, SYSTEM_ACTOR, member.id, "CITY", 12, None, None)
            await representative_service.set_volunteer(session, SYSTEM_ACTOR, member.id, "社区服务", None, None)


async def test_nested_flows_seats_and_volunteers_cost_the_same_for_few_and_many_members(api, world, engine):
    from tests.test_query_count import describe, run

    token = await api.login("root_admin")
    await give_everyone_a_flow_a_seat_and_a_volunteer_record(engine, world, 1)
    small, small_statements = await run(api, engine, token, NESTED)
    await give_everyone_a_flow_a_seat_and_a_volunteer_record(engine, world, 20)
    large, large_statements = await run(api, engine, token, NESTED)
    nodes = [e["node"] for e in large["organization"]["members"]["edges"]]
    assert len(nodes) == 25 and sum(len(n["flows"]) for n in nodes) == 21
    assert sum(len(n["representativeTerms"]) for n in nodes) == 21
    assert sum(n["volunteer"] is not None for n in nodes) == 21
    assert len(large_statements) == len(small_statements), (
        f"small: {len(small_statements)}\n{describe(small_statements)}\nlarge: {len(large_statements)}\n"
        f"{describe(large_statements)}")


async def test_the_representative_summary_costs_the_same_whatever_the_members(api, world, engine):
    from tests.test_query_count import describe, run

    token = await api.login("root_admin")
    query = {"q": {"organizationId": gid("Organization", world.orgs["root"]), "minTerms": 1}}
    await give_everyone_a_flow_a_seat_and_a_volunteer_record(engine, world, 1)
    small, small_statements = await run(api, engine, token, SUMMARY, query)
    await give_everyone_a_flow_a_seat_and_a_volunteer_record(engine, world, 20)
    large, large_statements = await run(api, engine, token, SUMMARY, query)
    assert (small["representatives"]["count"], large["representatives"]["count"]) == (1, 21)
    assert len(large_statements) == len(small_statements), describe(large_statements)
