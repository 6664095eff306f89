"""A past day's counts for a caller whose branch organizations moved across (a reviewer, 2026-12-02).

As of a past day a cross-tab and memberBalance counted the scope's tree of that day, whichever
branch its organizations were in, while the drill-through and the balance's lines list only what
the caller's branch holds. Two faults followed:
- a VIEWER got counts, and a row keyed with the global id, of an organization its branch never
  held (it hung under an organization that has since moved into the branch, and left it before
  that move): the guide's "an object outside the caller's branch does not exist for the caller,
  nor its counts". Mended: a past day counts only the organizations the caller's branch held that
  day or holds today (balance.seen_condition), in the cross-tab and in both ends of the balance;
- the drill-through's totalCount is less than the cell for an organization that was in the branch
  that day and has moved out since: counted (the branch's record of that day), not listed (it
  does not exist for the caller now). Two rules of the contract disagree there; it stays, as a
  strict xfail (README, "Statistics")."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import gid
from tests.factories import new_id_number

TABLE = """query($input: CrossTabInput!) { crossTab(input: $input) {
  rows { key label } rowTotals total } }"""
DRILL = """query($input: CrossTabInput!, $row: String!) { crossTab(input: $input) {
  members(row: $row, first: 10) { totalCount } } }"""
BALANCE = """query($o: ID!, $from: Date!, $to: Date!) {
  memberBalance(organizationId: $o, scope: SUBTREE, from: $from, to: $to) {
    start end decreases { kind count members(first: 10) { totalCount } } } }"""
CREATE = """mutation($input: CreateMemberInput!) { createMember(input: $input) { member { id } userErrors { message } } }"""
CREATE_ORG = """mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) {
  organization { id } userErrors { message } } }"""
MOVE = """mutation($input: MoveOrganizationInput!) { moveOrganization(input: $input) {
  organization { id } userErrors { message } } }"""


def ok(result: dict, field: str) -> dict:
    assert "errors" not in result, result
    assert result["data"][field]["userErrors"] == [], result
    return result["data"][field]


async def organization(api, parent: int | str, name: str, suffix: str) -> str:
    parent = parent if isinstance(parent, str) else gid("Organization", parent)
    return ok(await api.as_("root_admin", CREATE_ORG, {"input": {
        "parentId": parent, "name": name, "type": "BRANCH", "codeSuffix": suffix,
        "establishedOn": "2000-01-01"}}), "createOrganization")["organization"]["id"]


async def member(api, who: str, org: str, name: str) -> None:
    fields = {"name": name, "idNumber": new_id_number(dt.date(1990, 5, 20)), "category": "FULL",
              "appliedOn": "2010-03-01", "joinedOn": "2012-07-01", "confirmedOn": "2013-07-01"}
    ok(await api.as_(who, CREATE, {"input": {"organizationId": org, "fields": fields, "since": "2018-01-01"}}),
       "createMember")


async def move(api, org: str, parent: int, day: str, suffix: str) -> None:
    ok(await api.as_("root_admin", MOVE, {"input": {"organizationId": org, "newParentId": gid("Organization", parent),
                                                    "date": day, "codeSuffix": suffix}}), "moveOrganization")


async def never_held(api, world) -> tuple[str, str]:
    """(X, C): X under B with a child C, one member in X and three in C since 2018-01-01; C moved up
    under B on 2020-01-01 (still B's); X moved under A on 2021-01-01. C was never in A's branch."""
    o = world.orgs
    x = await organization(api, o["b"], "乙区第九支部委员会", "009")
    c = await organization(api, x, "乙区第九支部下属小组", "001")
    await member(api, "b_admin", x, "乙甲")
    for i in range(3):
        await member(api, "b_admin", c, f"乙丙{i}")
    await move(api, c, o["b"], "2020-01-01", "077")
    await move(api, x, o["a"], "2021-01-01", "009")
    return x, c


def force_the_walk(monkeypatch) -> None:
    """balance.held_then answers False where it would answer None ("the branch's organization was
    inside the scope's tree that day"), so that seen_condition takes its other way: in the branch
    today, or in the walk down the branch of that day (branch_then), as in that rare case."""
    from db.services import balance

    real = balance.held_then

    async def held_or_walk(*args):
        return True if await real(*args) else False

    monkeypatch.setattr(balance, "held_then", held_or_walk)


@pytest.mark.parametrize("walk", [False, True])
async def test_a_past_day_counts_nothing_of_an_organization_never_in_the_callers_branch(api, world, monkeypatch,
                                                                                         walk):
    """X under B with a child C; C moved up under B on 2020-01-01 (still B's); X moved under A on
    2021-01-01. C was never in A's branch. A's VIEWER, X as of 2019-06-30 and X's balance of 2020.
    `walk`: the same through the walk down A's branch of that day (force_the_walk), which holds
    neither X nor C that day."""
    if walk:
        force_the_walk(monkeypatch)
    x, c = await never_held(api, world)
    result = await api.as_("a_viewer", TABLE, {"input": {"organizationId": x, "rows": "CHILD_ORGANIZATION",
                                                         "asOf": "2019-06-30"}})
    assert "errors" not in result, result
    table = result["data"]["crossTab"]
    balance = await api.as_("a_viewer", BALANCE, {"o": x, "from": "2020-01-01", "to": "2020-12-31"})
    assert "errors" not in balance, balance
    assert c not in [row["key"] for row in table["rows"]] and table["total"] == 1, table
    summary = balance["data"]["memberBalance"]
    assert (summary["start"], summary["end"]) == (1, 1), summary
    assert all(line["count"] == line["members"]["totalCount"] == 0 for line in summary["decreases"]), summary
    # B's VIEWER still counts C under X as of that day (X and C were B's then).
    theirs = await api.as_("b_viewer", TABLE, {"input": {"organizationId": gid("Organization", world.orgs["b"]),
                                                         "rows": "CHILD_ORGANIZATION", "asOf": "2019-06-30"}})
    assert theirs["data"]["crossTab"]["total"] >= 4, theirs


PERIOD = """query($o: ID!, $from: Date!, $to: Date!) {
  memberBalance(organizationId: $o, scope: SUBTREE, from: $from, to: $to) {
    start end increases { count } decreases { count } } }"""
PARTY_TOTAL = """query($input: CrossTabInput!) { crossTab(input: $input) { total } }"""


async def test_the_narrowed_balance_chains_and_agrees_with_the_cross_tab(api, world):
    """The same moves, A's VIEWER over X: start + increases - decreases = end for each period, each
    period's end is the next one's start, and each end is the cross-tab's party members that day."""
    x, _ = await never_held(api, world)
    periods = [("2018-01-01", "2019-12-31"), ("2020-01-01", "2020-06-30"), ("2020-07-01", "2021-01-01"),
               ("2021-01-02", "2022-12-31")]
    previous_end = None
    for start, end in periods:
        result = await api.as_("a_viewer", PERIOD, {"o": x, "from": start, "to": end})
        assert "errors" not in result, result
        b = result["data"]["memberBalance"]
        plus, minus = sum(line["count"] for line in b["increases"]), sum(line["count"] for line in b["decreases"])
        assert b["start"] + plus - minus == b["end"], (start, end, b)
        if previous_end is not None:
            assert b["start"] == previous_end, (start, b)
        previous_end = b["end"]
        table = await api.as_("a_viewer", PARTY_TOTAL, {"input": {
            "organizationId": x, "rows": "GENDER", "asOf": end, "filter": {"categories": ["PROBATIONARY", "FULL"]}}})
        assert table["data"]["crossTab"]["total"] == b["end"], (end, table, b)
        assert b["end"] == 1, (end, b)  # X's own member; C's three were never A's


@pytest.mark.xfail(strict=True, reason="counted (the branch's record of that day), not listed (it does not exist "
                                        "for the caller now): two rules of the contract disagree (README, Statistics)")
async def test_the_drill_through_of_an_organization_since_moved_out_equals_its_cell(api, world):
    o = world.orgs
    a3 = await organization(api, o["a"], "甲区第三支部", "003")
    await member(api, "a_admin", a3, "随迁")
    await move(api, a3, o["b"], "2024-02-01", "003")
    table_input = {"organizationId": gid("Organization", o["a"]), "rows": "CHILD_ORGANIZATION", "asOf": "2023-12-31"}
    result = await api.as_("a_viewer", TABLE, {"input": table_input})
    assert "errors" not in result, result
    table = result["data"]["crossTab"]
    cells = {row["key"]: n for row, n in zip(table["rows"], table["rowTotals"])}
    drilled = await api.as_("a_viewer", DRILL, {"input": table_input, "row": a3})
    assert "errors" not in drilled, drilled
    assert drilled["data"]["crossTab"]["members"]["totalCount"] == cells.get(a3, 0), (cells, drilled)
