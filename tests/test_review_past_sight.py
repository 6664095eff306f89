"""Known faults, not mended: a past day's counts for a caller whose branch organizations moved
across (a reviewer, 2026-12-02). Strict xfail: each test fails today and must pass once mended.

As of a past day a cross-tab and memberBalance count the scope's tree of that day, whichever
branch its organizations are in today; the drill-through and the balance's lines list only what
the caller's branch holds (db.services.statistics._drill: the organization of that day in the
branch today, balance.listed, balance.listable_today). The two rules differ, so:
- a VIEWER gets counts, and a row keyed with the global id, of an organization that was never in
  its branch (it hung under an organization that has since moved into the branch, and left it
  before that move): the guide's "an object outside the caller's branch does not exist for the
  caller, nor its counts";
- the drill-through's totalCount is less than the cell (and a balance line's list than its count)
  for an organization since moved out of the caller's branch: the issue's "totalCount equals the
  cell, always".
The mend is one rule for counting and listing, applied in the cross-tab's past-day statements,
the drill-through and the balance's classification alike (so that its chaining holds); see the
session note of 2026-12-02."""
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


@pytest.mark.xfail(strict=True, reason="a past day counts the scope's tree of that day, branch or not (session note 2026-12-02)")
async def test_a_past_day_counts_nothing_of_an_organization_never_in_the_callers_branch(api, world):
    """X under B with a child C; C moved up under B on 2020-01-01 (still B's); X moved under A on
    2021-01-01. C was never in A's branch. A's VIEWER, X as of 2019-06-30 and X's balance of 2020."""
    o = world.orgs
    x = await organization(api, o["b"], "乙区第九支部委员会", "009")
    c = await organization(api, x, "乙区第九支部下属小组", "001")
    await member(api, "b_admin", x, "乙甲")
    for i in range(3):
        await member(api, "b_admin", c, f"乙丙{i}")
    await move(api, c, o["b"], "2020-01-01", "077")
    await move(api, x, o["a"], "2021-01-01", "009")
    result = await api.as_("a_viewer", TABLE, {"input": {"organizationId": x, "rows": "CHILD_ORGANIZATION",
                                                         "asOf": "2019-06-30"}})
    assert "errors" not in result, result
    table = result["data"]["crossTab"]
    balance = await api.as_("a_viewer", BALANCE, {"o": x, "from": "2020-01-01", "to": "2020-12-31"})
    assert "errors" not in balance, balance
    assert c not in [row["key"] for row in table["rows"]] and table["total"] == 1, table
    assert balance["data"]["memberBalance"]["decreases"] == [], balance


@pytest.mark.xfail(strict=True, reason="counted, not listed: an organization since moved out (session note 2026-12-02)")
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
