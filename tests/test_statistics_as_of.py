"""crossTab as of a past date (issue 9), through the GraphQL endpoint on both engines: members built
with a dated history (entered with `since`, developed with promoteMember, a back-dated death, a
placement moved between organizations) are counted at several past dates as they stood then, by
organization, category, status, 党龄 and join year; totals add up, every drill-through's
totalCount equals its cell as of the same date; a date after today is a client error; today's
numbers from the history equal the member rows' numbers for every dimension."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from db import clock, models
from db.branch import Branch, letter_snapshot
from db.engine import make_sessionmaker
from db.services import statistics
from db.services.members import MemberQuery
from db.services.statistics import MEMBER_DIMENSIONS, CrossTabSpec
from db.tree import repair_rollups
from gql.ids import from_global_id
from tests.conftest import error_codes, gid
from tests.test_member_lifecycle import PROMOTE, STATUS, create, ok
from tests.test_statistics import tree  # noqa: F401  (the fixture)

TODAY = clock.today()
TABLE = """query($input: CrossTabInput!) { crossTab(input: $input) {
  rows { key label } columns { key label } cells rowTotals columnTotals total } }"""
DRILL = """query($input: CrossTabInput!, $row: String!, $column: String) { crossTab(input: $input) {
  members(row: $row, column: $column, first: 100) { totalCount edges { node { name } } } } }"""
COUNT = """query($id: ID!) { organization(id: $id) { memberCount(filter: {scope: SUBTREE}) } }"""


async def table(api, who, **input_) -> dict:
    result = await api.as_(who, TABLE, {"input": input_})
    assert "errors" not in result, result
    t = result["data"]["crossTab"]
    assert t["rowTotals"] == [sum(line) for line in t["cells"]]
    assert t["columnTotals"] == [sum(line[j] for line in t["cells"]) for j in range(len(t["columns"]))]
    assert sum(t["rowTotals"]) == t["total"]
    return t


def by_row(t: dict) -> dict[str, int]:
    return {v["key"]: n for v, n in zip(t["rows"], t["rowTotals"])}


async def drill(api, who, row, column=None, **input_) -> tuple[int, set[str]]:
    result = await api.as_(who, DRILL, {"input": input_, "row": row, "column": column})
    assert "errors" not in result, result
    members = result["data"]["crossTab"]["members"]
    return members["totalCount"], {e["node"]["name"] for e in members["edges"]}


async def assert_drills_match(api, who, t: dict, **input_) -> None:
    for i, row in enumerate(t["rows"]):
        for j, column in enumerate(t["columns"]):
            key = None if input_.get("columns") is None else column["key"]
            count, names = await drill(api, who, row["key"], key, **input_)
            assert count == len(names) == t["cells"][i][j], (input_, row, column)
        count, _ = await drill(api, who, row["key"], None, **input_)
        assert count == t["rowTotals"][i], (input_, row)


@pytest.fixture
async def dated(api, engine, world):
    """A1 and A2 of the world (李明, 王芳 in A1 and 赵刚 in A2, FULL since 2010-07-01), and members
    with a history: 逝者 (A1 from 2014-01-01, died 2024-06-01), 补录 (A1 from 2022-03-01, joined
    2012), 发展 (A2 from 2015-01-10, applicant → activist 2016-02-01 → candidate 2017-03-01 →
    probationary 2018-04-01 → full 2019-04-01), 转移 (A1 from 2016-01-01, A2 from 2023-01-01)."""
    a1, a2 = world.orgs["a1"], world.orgs["a2"]
    full = {"joinedOn": "2012-07-01", "confirmedOn": "2013-07-01", "appliedOn": "2011-03-01"}
    dead = await create(api, "a_admin", a1, name="逝者", since="2014-01-01", **full)
    await create(api, "a_admin", a1, name="补录", since="2022-03-01", **full)
    grown = await create(api, "a_admin", a2, name="发展", category="APPLICANT", appliedOn="2015-01-10",
                         joinedOn=None, confirmedOn=None, since="2015-01-10")
    for to, day in (("ACTIVIST", "2016-02-01"), ("CANDIDATE", "2017-03-01"), ("PROBATIONARY", "2018-04-01"),
                    ("FULL", "2019-04-01")):
        ok(await api.as_("a_admin", PROMOTE, {"m": grown, "to": to, "d": day}), "promoteMember")
    moved = from_global_id(await create(api, "a_admin", a1, name="转移", since="2016-01-01", **full))[1]
    ok(await api.as_("a_admin", STATUS, {"m": dead, "k": "DEATH", "d": "2024-06-01", "r": "病故"}),
       "recordStatusChange")
    # A placement change (transfers have no mutation yet, issue 11): A1 until 2022-12-31, A2 from 2023-01-01.
    async with make_sessionmaker(engine)() as session, session.begin():
        p = models.MemberPlacement
        await session.execute(update(p).where(p.member_id == moved, p.valid_to.is_(None))
                              .values(valid_to=dt.date(2023, 1, 1)))
        session.add(models.MemberPlacement(member_id=moved, organization_id=a2.id, valid_from=dt.date(2023, 1, 1)))
        await session.flush()
        await repair_rollups(session)  # the member row's organization and the counts follow the history
    return world


# (date, A1, A2) counted under A (SUBTREE) by CHILD_ORGANIZATION.
EXPECTED = [
    ("2010-06-30", 0, 0),
    ("2013-12-31", 2, 1),
    ("2014-12-31", 3, 1),
    ("2015-12-31", 3, 2),
    ("2016-12-31", 4, 2),
    ("2022-12-31", 5, 2),
    ("2023-01-01", 4, 3),
    ("2024-05-31", 4, 3),
    ("2024-06-30", 3, 3),
]


async def test_counts_at_past_dates_are_what_was_true(api, dated):
    a, a1, a2 = (dated.orgs[n] for n in ("a", "a1", "a2"))
    scope = gid("Organization", a)
    for day, in_a1, in_a2 in EXPECTED + [(TODAY.isoformat(), 3, 3)]:
        t = await table(api, "a_viewer", organizationId=scope, rows="CHILD_ORGANIZATION", asOf=day)
        expected = {k: n for k, n in ((gid("Organization", a1), in_a1), (gid("Organization", a2), in_a2)) if n}
        assert by_row(t) == expected, day
        assert t["total"] == in_a1 + in_a2
        await assert_drills_match(api, "a_viewer", t, organizationId=scope, rows="CHILD_ORGANIZATION", asOf=day)
        self_ = await table(api, "a_viewer", organizationId=gid("Organization", a1), scope="SELF", rows="GENDER",
                            asOf=day)
        assert self_["total"] == in_a1, day
    today = await api.as_("a_viewer", COUNT, {"id": scope})
    assert today["data"]["organization"]["memberCount"] == 6
    without_date = await table(api, "a_viewer", organizationId=scope, rows="CHILD_ORGANIZATION")
    assert without_date["total"] == 6


async def test_the_death_counts_the_day_before_and_not_after(api, dated):
    a1 = gid("Organization", dated.orgs["a1"])
    before = await drill(api, "a_viewer", gid("Organization", dated.orgs["a1"]), None, organizationId=a1,
                         rows="CHILD_ORGANIZATION", asOf="2024-05-31")
    after = await drill(api, "a_viewer", gid("Organization", dated.orgs["a1"]), None, organizationId=a1,
                        rows="CHILD_ORGANIZATION", asOf="2024-06-30")
    assert "逝者" in before[1] and "逝者" not in after[1]
    assert before[0] == 4 and after[0] == 3
    # With LEFT among the filter's statuses, the status is the one of that day.
    f = {"statuses": ["ACTIVE", "LEFT"]}
    t = await table(api, "a_viewer", organizationId=a1, rows="STATUS", filter=f, asOf="2024-06-30")
    assert by_row(t) == {"ACTIVE": 3, "LEFT": 1}
    t = await table(api, "a_viewer", organizationId=a1, rows="STATUS", filter=f, asOf="2024-05-31")
    assert by_row(t) == {"ACTIVE": 4}
    await assert_drills_match(api, "a_viewer", t, organizationId=a1, rows="STATUS", filter=f, asOf="2024-05-31")


async def test_category_join_year_and_party_age_of_that_day(api, dated):
    a2 = gid("Organization", dated.orgs["a2"])
    expected = {
        "2015-12-31": ({"FULL": 1, "APPLICANT": 1}, {"2010": 1, "NONE": 1}),
        "2017-12-31": ({"FULL": 1, "CANDIDATE": 1}, {"2010": 1, "NONE": 1}),
        "2018-12-31": ({"FULL": 1, "PROBATIONARY": 1}, {"2010": 1, "2018": 1}),
        "2019-12-31": ({"FULL": 2}, {"2010": 1, "2018": 1}),
    }
    for day, (categories, years) in expected.items():
        t = await table(api, "a_viewer", organizationId=a2, rows="CATEGORY", columns="JOIN_YEAR", asOf=day)
        assert by_row(t) == categories, day
        assert {c["key"]: n for c, n in zip(t["columns"], t["columnTotals"])} == years, day
        await assert_drills_match(api, "a_viewer", t, organizationId=a2, rows="CATEGORY", columns="JOIN_YEAR",
                                  asOf=day)
    # 赵刚 joined 2010-07-01: 9 whole years on 2019-12-31, 10 on 2020-12-31; 发展 joined 2018-04-01.
    t = await table(api, "a_viewer", organizationId=a2, rows="PARTY_AGE_BAND", asOf="2019-12-31")
    assert by_row(t) == {"0-4": 1, "5-9": 1}
    t = await table(api, "a_viewer", organizationId=a2, rows="PARTY_AGE_BAND", asOf="2020-06-30")
    assert by_row(t) == {"0-4": 1, "5-9": 1}
    t = await table(api, "a_viewer", organizationId=a2, rows="PARTY_AGE_BAND", asOf="2020-07-01")
    assert by_row(t) == {"0-4": 1, "10-19": 1}
    # The filter's category is the one of that day too.
    t = await table(api, "a_viewer", organizationId=gid("Organization", dated.orgs["a"]), rows="CHILD_ORGANIZATION",
                    filter={"categories": ["PROBATIONARY"]}, asOf="2018-12-31")
    assert t["total"] == 1 and by_row(t) == {gid("Organization", dated.orgs["a2"]): 1}


async def test_future_date_and_foreign_scope(api, dated):
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    result = await api.as_("a_viewer", TABLE, {"input": {"organizationId": gid("Organization", dated.orgs["a"]),
                                                         "rows": "GENDER", "asOf": tomorrow}})
    assert error_codes(result) == ["BAD_USER_INPUT"]
    result = await api.as_("a1_viewer", TABLE, {"input": {"organizationId": gid("Organization", dated.orgs["a"]),
                                                          "rows": "GENDER", "asOf": "2020-12-31"}})
    assert error_codes(result) == ["NOT_FOUND"]
    result = await api.as_("b_viewer", DRILL, {"input": {"organizationId": gid("Organization", dated.orgs["a1"]),
                                                         "rows": "GENDER", "asOf": "2020-12-31"}, "row": "MALE"})
    assert error_codes(result) == ["NOT_FOUND"]


async def test_history_of_today_equals_the_member_rows_for_every_dimension(engine, tree):  # noqa: F811
    """The past-date path run for today (history.state_as_of(today)) gives exactly the numbers of
    the member rows' path, for every dimension, over SUBTREE and SELF, with and without a filter."""
    root = tree.orgs["root"]
    branch = Branch(path=root.path)
    tomorrow = TODAY + dt.timedelta(days=1)
    queries = [None, MemberQuery(statuses=("ACTIVE", "LEFT", "TRANSFERRED_OUT"), categories=("FULL", "PROBATIONARY"))]
    async with make_sessionmaker(engine)() as session:
        for org in (root, tree.orgs["a"], tree.orgs["a1"]):
            for rows in MEMBER_DIMENSIONS:
                for subtree in (True, False):
                    for query in queries:
                        spec = CrossTabSpec(organization_id=org.id, rows=rows, subtree=subtree, query=query, as_of=TODAY)
                        now = await statistics.cross_tab(session, branch, spec, today=TODAY)
                        past = await statistics.cross_tab(session, branch, spec, today=tomorrow)
                        assert not now.historical and past.historical
                        assert (now.rows, now.cells, now.total) == (past.rows, past.cells, past.total), (org.name, rows)
                        for value in past.rows:
                            assert await statistics.drill_count(session, past, value.key, None) == \
                                past.row_totals[past.rows.index(value)]


async def test_every_dimension_at_a_past_date_adds_up_and_drills(api, tree):  # noqa: F811
    scope = gid("Organization", tree.orgs["a"])
    for rows in MEMBER_DIMENSIONS:
        t = await table(api, "a_viewer", organizationId=scope, rows=rows, asOf="2015-06-30")
        for i, value in enumerate(t["rows"]):
            count, _ = await drill(api, "a_viewer", value["key"], None, organizationId=scope, rows=rows,
                                   asOf="2015-06-30")
            assert count == t["rowTotals"][i], (rows, value)


DRILL_ORGS = """query($input: CrossTabInput!, $row: String!) { crossTab(input: $input) {
  members(row: $row, first: 100) { totalCount edges { node { name organization { name } } } } } }"""


async def test_drill_through_lists_every_member_of_the_cell_as_of_a_past_date(api, engine, dated):
    """转移 placed in B1 from 2024-01-01 (a transfer out of A's branch): counted in A1's cell as of
    2022-06-30, and listed there to A's viewer as to the root's ADMIN (totalCount equals the cell,
    always), with its organization of that day (A1, inside A's branch), not B1."""
    b1 = dated.orgs["b1"]
    await transfer_out(engine, "转移", b1.id, dt.date(2024, 1, 1))
    input_ = {"organizationId": gid("Organization", dated.orgs["a"]), "rows": "CHILD_ORGANIZATION",
              "asOf": "2022-06-30"}
    a1 = gid("Organization", dated.orgs["a1"])
    everyone = {"李明", "王芳", "逝者", "补录", "转移"}
    for who in ("root_admin", "a_viewer"):
        t = await table(api, who, **input_)
        assert by_row(t)[a1] == 5
        count, names = await drill(api, who, a1, None, **input_)
        assert names == everyone and count == 5, who
        await assert_drills_match(api, who, t, **input_)
        result = await api.as_(who, DRILL_ORGS, {"input": input_, "row": a1})
        assert "errors" not in result, result
        places = {e["node"]["name"]: e["node"]["organization"]["name"]
                  for e in result["data"]["crossTab"]["members"]["edges"]}
        assert places["转移"] == dated.orgs["a1"].name, who
    # Today 转移 is B1's: not in A's table, not listed.
    t = await table(api, "a_viewer", organizationId=input_["organizationId"], rows="CHILD_ORGANIZATION")
    assert by_row(t)[a1] == 3


MOVE = """mutation($input: MoveOrganizationInput!) { moveOrganization(input: $input) {
  organization { id } userErrors { field message code } } }"""


async def test_a_past_date_counts_over_the_tree_of_that_day(api, dated):
    """A2 (赵刚, 发展, 转移) moved from A to B on 2024-03-01 (moveOrganization, dated): as of a day before
    the move A2 counts under A (a row of A's CHILD_ORGANIZATION) and not under B; from the move on
    under B and not A. The totals agree with memberBalance's ends (the same tree of that day), and
    every drill-through equals its cell."""
    a, a1, a2, b = (dated.orgs[n] for n in ("a", "a1", "a2", "b"))
    moved = await api.as_("root_admin", MOVE, {"input": {"organizationId": gid("Organization", a2),
                                                         "newParentId": gid("Organization", b), "date": "2024-03-01"}})
    assert "errors" not in moved and moved["data"]["moveOrganization"]["userErrors"] == [], moved
    ga, ga1, ga2, gb = (gid("Organization", o) for o in (a, a1, a2, b))
    before = await table(api, "root_admin", organizationId=ga, rows="CHILD_ORGANIZATION", asOf="2024-02-29")
    assert by_row(before) == {ga1: 4, ga2: 3}
    await assert_drills_match(api, "root_admin", before, organizationId=ga, rows="CHILD_ORGANIZATION",
                              asOf="2024-02-29")
    after = await table(api, "root_admin", organizationId=ga, rows="CHILD_ORGANIZATION", asOf="2024-03-01")
    assert by_row(after) == {ga1: 4}
    at_b = {day: by_row(await table(api, "root_admin", organizationId=gb, rows="CHILD_ORGANIZATION", asOf=day))
            for day in ("2024-02-29", "2024-03-01")}
    assert ga2 not in at_b["2024-02-29"] and at_b["2024-03-01"][ga2] == 3
    await assert_drills_match(api, "root_admin", await table(api, "root_admin", organizationId=gb,
                                                             rows="CHILD_ORGANIZATION", asOf="2024-03-01"),
                              organizationId=gb, rows="CHILD_ORGANIZATION", asOf="2024-03-01")
    # The same tree as memberBalance's: its end of 2024-02-29 is the cross-tab's party members that day.
    BALANCE = """query($o: ID!) { memberBalance(organizationId: $o, from: "2024-02-29", to: "2024-02-29") { end } }"""
    for org in (ga, gb):
        end = (await api.as_("root_admin", BALANCE, {"o": org}))["data"]["memberBalance"]["end"]
        t = await table(api, "root_admin", organizationId=org, rows="GENDER", asOf="2024-02-29",
                        filter={"categories": ["PROBATIONARY", "FULL"]})
        assert t["total"] == end, org
    # The A viewer's past tables still count A2 before the move (A's branch then), never after.
    t = await table(api, "a_viewer", organizationId=ga, rows="CHILD_ORGANIZATION", asOf="2024-02-29")
    assert by_row(t) == {ga1: 4, ga2: 3}


async def transfer_out(engine, name: str, to_organization_id: int, day: dt.date) -> None:
    """`name` moved to `to_organization_id` on `day` by an accepted transfer from its organization
    then: the transfer (with its letter, db.branch.letter_snapshot) and the placement, in the history."""
    async with make_sessionmaker(engine)() as session, session.begin():
        member = (await session.execute(select(models.Member).where(models.Member.name == name))).scalar_one()
        p = models.MemberPlacement
        sender = (await session.execute(select(p.organization_id).where(
            p.member_id == member.id, p.valid_from <= day, (p.valid_to.is_(None)) | (p.valid_to > day)))).scalar_one()
        session.add(models.Transfer(
            member_id=member.id, from_organization_id=sender, to_organization_id=to_organization_id,
            status="ACCEPTED", requested_on=day, decided_on=day, letter_year=day.year, letter_seq=member.id,
            letter_number=f"test-{day.year}-{member.id}", valid_until=day + dt.timedelta(days=30),
            **letter_snapshot(member)))
    await move_placement(engine, name, to_organization_id, day)


async def move_placement(engine, name: str, organization_id: int, day: dt.date) -> None:
    async with make_sessionmaker(engine)() as session, session.begin():
        member = (await session.execute(select(models.Member.id).where(models.Member.name == name))).scalar_one()
        p = models.MemberPlacement
        await session.execute(update(p).where(p.member_id == member, p.valid_to.is_(None)).values(valid_to=day))
        session.add(models.MemberPlacement(member_id=member, organization_id=organization_id, valid_from=day))
        await session.flush()
        await repair_rollups(session)


async def test_drilling_many_cells_of_one_past_table_builds_its_member_columns_once(api, dated, monkeypatch):
    """A request drilling into every row of a past day's table (aliases) builds that day's member
    columns for the drill-throughs once (Table.drill_columns), as many times as a request drilling
    into one row; the counts are the table's row totals."""
    calls = []
    original = statistics.member_columns
    monkeypatch.setattr(statistics, "member_columns", lambda *a, **k: calls.append(a) or original(*a, **k))
    input_ = {"organizationId": gid("Organization", dated.orgs["a"]), "rows": "GENDER", "asOf": "2022-06-30"}
    t = await table(api, "a_viewer", **input_)
    keys = [v["key"] for v in t["rows"]]
    assert len(keys) >= 2, t
    built = []
    for drilled in (keys[:1], keys):
        calls.clear()
        aliases = " ".join(f'd{i}: members(row: "{key}") {{ totalCount }}' for i, key in enumerate(drilled))
        result = await api.as_("a_viewer", f"query($input: CrossTabInput!) {{ crossTab(input: $input) {{ {aliases} }} }}",
                               {"input": input_})
        assert "errors" not in result, result
        assert [result["data"]["crossTab"][f"d{i}"]["totalCount"] for i in range(len(drilled))] == \
            t["rowTotals"][:len(drilled)]
        built.append(len(calls))
    assert built[0] == built[1], built
