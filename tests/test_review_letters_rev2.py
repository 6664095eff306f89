"""Review rev2 of 983b56b/36ea79e (members listed as of a past day who have left the caller's
branch are read through a letter), through the GraphQL endpoint on both engines. Each test here
failed on the reviewed commit; now such a member, gone without a transfer's letter, is counted and
not listed (db.services.balance, "members gone from the branch").

- A member gone from the caller's branch without a transfer sent from it (a placement of the
  history moved it: 转移 of the `dated` fixture, A1 until 2022-12-31, A2 from 2023-01-01; A1's
  accounts no longer read it) is listed through "a letter made from its identity fields" — but
  those fields are read from its record of TODAY (balance._identity_letter reads the member row).
  So the name and the ID number that the side holding it now (A2, written by a_admin) wrote after
  it left A1 are readable by A1's accounts through a past drill-through and a memberBalance line,
  the ID number in full for A1's ADMIN; node(id:) of the member is null for them. A transfer's
  letter is a copy frozen when the member left; this "letter" is not frozen at all."""
from __future__ import annotations

import datetime as dt

from tests.conftest import gid
from tests.factories import new_id_number
from tests.test_member_lifecycle import UPDATE, ok
from tests.test_statistics_as_of import dated  # noqa: F401  (the fixture)

FIELDS = "id name idNumber version status organization { id }"
DRILL = """query($input: CrossTabInput!, $row: String!) { crossTab(input: $input) {
  members(row: $row, first: 50) { totalCount edges { node { %s } } } } }""" % FIELDS
LINES = """query($o: ID!, $from: Date!, $to: Date!) { memberBalance(organizationId: $o, scope: SELF, from: $from, to: $to) {
  decreases { kind count members(first: 10) { totalCount edges { node { %s } } } } } }""" % FIELDS
DRILL_CELL = """query($input: CrossTabInput!, $row: String!) { crossTab(input: $input) { rows { key } rowTotals
  members(row: $row, first: 50) { totalCount edges { node { %s } } } } }""" % FIELDS
NODE = """query($id: ID!) { node(id: $id) { id } }"""
CORRECT = """mutation($m: ID!, $n: String!) { correctIdNumber(input: {memberId: $m, newIdNumber: $n, reason: "更正"}) {
  member { idNumber } userErrors { code message } } }"""
RENAMED = "甲二改名"


async def _moved_then_rewritten(api, dated) -> tuple[str, str, str]:
    """转移's global id, its ID number while in A1, and the one A2's side (a_admin) wrote after
    it left A1; a_admin also renames it."""
    a1 = gid("Organization", dated.orgs["a1"])
    before = await api.as_("root_admin", DRILL, {"input": {"organizationId": a1, "rows": "CATEGORY",
                                                           "asOf": "2022-06-30"}, "row": "FULL"})
    assert "errors" not in before, before
    moved = [e["node"] for e in before["data"]["crossTab"]["members"]["edges"] if e["node"]["name"] == "转移"]
    assert len(moved) == 1, before
    member, old_number = moved[0]["id"], moved[0]["idNumber"]
    new_number = new_id_number(dt.date(1990, 5, 20))
    while new_number == old_number:
        new_number = new_id_number(dt.date(1990, 5, 20))
    ok(await api.as_("a_admin", UPDATE, {"m": member, "f": {"name": RENAMED}}), "updateMember")
    corrected = await api.as_("a_admin", CORRECT, {"m": member, "n": new_number})
    assert "errors" not in corrected and corrected["data"]["correctIdNumber"]["userErrors"] == [], corrected
    for who in ("a1_admin", "a1_viewer"):  # it does not exist for A1's accounts
        assert (await api.as_(who, NODE, {"id": member}))["data"]["node"] is None
    return member, old_number, new_number


async def test_a_past_drill_shows_no_identity_written_after_the_member_left_without_a_transfer(api, dated):
    """a1_admin and a1_viewer drill A1 (SUBTREE, CATEGORY) as of 2022-06-30, row FULL: 转移 was in
    A1 that day and is counted, but it left A1's branch without a transfer sent from it, so there is
    no copy of it as A1 kept it: not listed (totalCount one below the cell), and nothing A2's side
    wrote afterwards (the name 甲二改名, the new ID number) is read. The root's ADMIN still lists it."""
    member, _old, new_number = await _moved_then_rewritten(api, dated)
    a1 = gid("Organization", dated.orgs["a1"])
    for who in ("a1_admin", "a1_viewer"):
        drill = await api.as_(who, DRILL_CELL, {"input": {"organizationId": a1, "rows": "CATEGORY", "asOf": "2022-06-30"},
                                                "row": "FULL"})
        assert "errors" not in drill, drill
        table = drill["data"]["crossTab"]
        cell = table["rowTotals"][[v["key"] for v in table["rows"]].index("FULL")]
        nodes = [e["node"] for e in table["members"]["edges"]]
        assert member not in {n["id"] for n in nodes}, (who, nodes)
        assert table["members"]["totalCount"] == len(nodes) == cell - 1, (who, table)
        assert RENAMED not in {n["name"] for n in nodes} and new_number not in {n["idNumber"] for n in nodes}
    root = await api.as_("root_admin", DRILL, {"input": {"organizationId": a1, "rows": "CATEGORY", "asOf": "2022-06-30"},
                                               "row": "FULL"})
    assert member in {e["node"]["id"] for e in root["data"]["crossTab"]["members"]["edges"]}, root


async def test_a_balance_line_shows_no_identity_written_after_the_member_left_without_a_transfer(api, dated):
    """memberBalance of A1 (SELF) over 2023: 转移 is the TRANSFERRED_OUT line (the placement moved
    it to A2 on 2023-01-01, no transfer): counted, not listed to A1's ADMIN."""
    member, _old, _new_number = await _moved_then_rewritten(api, dated)
    line = await api.as_("a1_admin", LINES, {"o": gid("Organization", dated.orgs["a1"]), "from": "2023-01-01",
                                             "to": "2023-12-31"})
    assert "errors" not in line, line
    out = {d["kind"]: d for d in line["data"]["memberBalance"]["decreases"]}["TRANSFERRED_OUT"]
    assert out["count"] == 1 and out["members"]["totalCount"] == 0 and out["members"]["edges"] == [], out
