"""N+1 guard: a request issues a number of SQL statements that depends on the query's shape,
never on how many organizations or members it returns."""
from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from sqlalchemy import event

from db import clock, models
from db.engine import make_sessionmaker
from gql.ids import to_global_id
from gql.settings import Settings
from tests.factories import make_member, make_org


@pytest.fixture
def settings() -> Settings:
    """The SQL a query's shape costs, without the response cache in the way (a repeated document
    over changed data costs one statement more there: tests/test_response_cache.py)."""
    return Settings(password_profile="cheapest", response_cache_entries=0)


DEEP = """{ organization(code: "001") { children { children {
  members(first: %d) { totalCount edges { node { name organization { name } } } }
  memberCount
} } } }"""


@contextlib.contextmanager
def counting(engine):
    statements: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _executemany):
        statements.append(statement)

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)


async def run(api, engine, token, query, variables=None):
    with counting(engine) as statements:
        result = await api.post(query, variables, token)
    assert "errors" not in result, result
    return result["data"], list(statements)


async def grow(engine, world, branches=5, members_each=10):
    """`branches` more branches under A and under B, with `members_each` members each."""
    async with make_sessionmaker(engine)() as session, session.begin():
        for key, district in (("a", "甲"), ("b", "乙")):
            parent = await session.get(models.Organization, world.orgs[key].id)
            for i in range(branches):
                branch = await make_org(session, parent, f"中共示范市{district}区新建第{i + 1}支部委员会",
                                        f"{101 + i:03d}", type="BRANCH")
                for j in range(members_each):
                    await make_member(session, branch, name=f"{district}新{i + 1}-{j + 1:02d}")


def describe(statements: list[str]) -> str:
    return "\n".join(f"{i + 1}. {' '.join(s.split())[:160]}" for i, s in enumerate(statements))


async def test_deep_query_costs_the_same_for_a_small_and_a_large_tree(api, world, engine):
    token = await api.login("root_admin")  # signing in issues statements of its own
    small, small_statements = await run(api, engine, token, DEEP % 50)
    grandchildren = [g for c in small["organization"]["children"] for g in c["children"]]
    assert [g["memberCount"] for g in grandchildren] == [2, 1, 1]
    assert [g["members"]["totalCount"] for g in grandchildren] == [2, 1, 1]

    await grow(engine, world)
    large, large_statements = await run(api, engine, token, DEEP % 50)
    grandchildren = [g for c in large["organization"]["children"] for g in c["children"]]
    assert len(grandchildren) == 13
    assert sum(g["memberCount"] for g in grandchildren) == 4 + 100
    assert sum(len(g["members"]["edges"]) for g in grandchildren) == 104
    for g in grandchildren:
        assert g["members"]["totalCount"] == g["memberCount"] == len(g["members"]["edges"])

    assert len(large_statements) == len(small_statements), (
        f"small tree: {len(small_statements)} statements\n{describe(small_statements)}\n"
        f"large tree: {len(large_statements)} statements\n{describe(large_statements)}")
    # A handful, whatever the size (BEGIN on PostgreSQL): the viewer, the organization, two
    # levels of children (each organization with its plain member counts, so memberCount and
    # totalCount need no statement), one page of members (with their organizations).
    assert len(large_statements) <= 6, describe(large_statements)


async def test_page_size_does_not_change_the_statement_count(api, world, engine):
    await grow(engine, world, branches=2, members_each=10)
    token = await api.login("root_admin")
    few, few_statements = await run(api, engine, token, DEEP % 5)
    many, many_statements = await run(api, engine, token, DEEP % 50)
    few_nodes = [len(g["members"]["edges"]) for c in few["organization"]["children"] for g in c["children"]]
    many_nodes = [len(g["members"]["edges"]) for c in many["organization"]["children"] for g in c["children"]]
    assert max(few_nodes) == 5 and max(many_nodes) == 10
    assert len(few_statements) == len(many_statements), (
        f"first: 5 → {len(few_statements)}\n{describe(few_statements)}\n"
        f"first: 50 → {len(many_statements)}\n{describe(many_statements)}")


async def test_each_member_shows_its_own_organization(api, world, engine):
    await grow(engine, world, branches=2, members_each=3)
    token = await api.login("root_admin")
    data, _ = await run(api, engine, token, """{ organization(code: "001") { children { children {
        name members(first: 50) { edges { node { name organization { name } } } } } } } }""")
    for child in data["organization"]["children"]:
        for g in child["children"]:
            assert g["members"]["edges"]
            assert {e["node"]["organization"]["name"] for e in g["members"]["edges"]} == {g["name"]}


BRANCH_LIST = """query($first: Int) {
  members(first: $first, filter: {scope: SUBTREE}) {
    totalCount edges { node { name organization { name parent { name } } account { username } } }
  }
  organization(code: "001") {
    descendants(first: $first) { totalCount edges { node { code parent { code } memberCount children { code } } } }
  }
}"""


async def test_flat_lists_cost_the_same_for_a_small_and_a_large_tree(api, world, engine):
    token = await api.login("root_admin")
    _, small = await run(api, engine, token, BRANCH_LIST, {"first": 100})
    await grow(engine, world, branches=4, members_each=5)
    data, large = await run(api, engine, token, BRANCH_LIST, {"first": 100})
    assert data["members"]["totalCount"] == 4 + 40
    assert len(data["organization"]["descendants"]["edges"]) == 5 + 8
    # Eight more organizations and forty more members: any per-row statement would add at least
    # eight. Sibling root fields may batch one organization load apart, depending on timing.
    assert abs(len(small) - len(large)) <= 1, (
        f"small: {len(small)}\n{describe(small)}\nlarge: {len(large)}\n{describe(large)}")
    assert len(large) <= 14, describe(large)


NESTED_DESCENDANTS = """{ organization(code: "001") { children {
  descendants(first: 3, filter: {types: [BRANCH]}) { totalCount edges { node { name memberCount } } } } } }"""


async def test_nested_descendants_cost_the_same_for_a_small_and_a_large_tree(api, world, engine):
    token = await api.login("root_admin")
    small, small_statements = await run(api, engine, token, NESTED_DESCENDANTS)
    assert [c["descendants"]["totalCount"] for c in small["organization"]["children"]] == [2, 1]

    await grow(engine, world)
    large, large_statements = await run(api, engine, token, NESTED_DESCENDANTS)
    children = large["organization"]["children"]
    assert [c["descendants"]["totalCount"] for c in children] == [7, 6]
    assert [len(c["descendants"]["edges"]) for c in children] == [3, 3]
    assert len(large_statements) == len(small_statements), describe(large_statements)


CROSS_TAB = """query($id: ID!) { crossTab(input: {organizationId: $id, rows: CHILD_ORGANIZATION, columns: AGE_BAND}) {
  rows { key label } columns { key } cells total
  members(row: $row, first: 5) { totalCount edges { node { name organization { name } } } } } }"""


async def test_cross_tab_is_one_grouped_statement_whatever_the_tree(api, world, engine):
    """The scope organization, one GROUP BY, the labels of the children; then the drill-through's
    page and count: the same statements for 3 or 13 children and 4 or 54 members."""
    token = await api.login("root_admin")
    organization_id = to_global_id("Organization", world.orgs["a"].id)
    document = CROSS_TAB.replace("query($id: ID!)", "query($id: ID!, $row: String!)")
    row = to_global_id("Organization", world.orgs["a1"].id)
    small, small_statements = await run(api, engine, token, document, {"id": organization_id, "row": row})
    assert small["crossTab"]["total"] == 3
    await grow(engine, world)
    large, large_statements = await run(api, engine, token, document, {"id": organization_id, "row": row})
    assert large["crossTab"]["total"] == 3 + 50
    assert len(large["crossTab"]["rows"]) == 7
    assert len(large_statements) == len(small_statements), describe(large_statements)
    grouped = [s for s in large_statements if "GROUP BY" in s]
    assert len(grouped) == 1, describe(large_statements)


async def test_a_past_day_cross_tab_asks_its_probe_with_the_scope(api, world, engine):
    """A past day's cross-tab asks whether the scope's tree moved since the day and whether the
    day is kept in the statement that reads the scope organization (db.services.statistics,
    _SCOPE_PROBE): as many statements as today's cross-tab, for a kept day and for one not kept."""
    from db.services import history

    token = await api.login("root_admin")
    document = """query($id: ID!, $asOf: Date) { crossTab(input: {organizationId: $id, rows: CHILD_ORGANIZATION,
      columns: GENDER, asOf: $asOf}) { rows { key label } cells total } }"""
    organization_id = to_global_id("Organization", world.orgs["root"].id)
    _, today = await run(api, engine, token, document, {"id": organization_id})
    yesterday = (clock.today() - dt.timedelta(days=1)).isoformat()
    _, not_kept = await run(api, engine, token, document, {"id": organization_id, "asOf": yesterday})
    async with make_sessionmaker(engine)() as session, session.begin():
        await history.build_snapshot(session, dt.date.fromisoformat(yesterday))
    _, kept = await run(api, engine, token, document, {"id": organization_id, "asOf": yesterday})
    assert len(not_kept) == len(today) == len(kept), describe(kept)
    probes = [s for s in kept if "past_moved" in s]
    assert len(probes) == 1 and "past_kept" in probes[0], describe(kept)
