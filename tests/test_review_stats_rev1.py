"""Review rev1 of the statistics (crossTab, its drill-through, memberBalance, saved tables), through
the GraphQL endpoint on both engines. Each test here failed on the reviewed commit (e2a8efe): one
defect each, fixed since.

- A member transferred out of the caller's branch is listed by a past drill-through and by a
  memberBalance line (as documented), but with its record of TODAY: a phone and native place the
  receiving branch wrote after the transfer are readable by the sending branch, where node(id:) of
  the member is null and the transfer's own view of it is a copy frozen when sent.
- A cross-tab without a column dimension over an empty scope has no columns at all, where the
  contract says "A single column keyed 'total' when no column dimension was asked for".
- As of a past day a joinedFrom filter reads joinedOn even when it is not reached that day, while
  JOIN_YEAR/PARTY_AGE_BAND of the same table read it "only once reached": a member counted in the
  未填 (not joined yet) JOIN_YEAR row passes "joined on or after 2018-01-01" as of 2016-12-31."""
from __future__ import annotations

import datetime as dt

from db import clock
from tests.conftest import gid
from tests.test_member_lifecycle import UPDATE, ok
from tests.test_statistics_as_of import TABLE, dated  # noqa: F401  (the fixture)
from tests.test_transfers import decide, send

TODAY = clock.today()
FIELDS = "id name phone nativePlace version organization { id }"
PAST_DRILL = """query($input: CrossTabInput!, $row: String!) { crossTab(input: $input) { rowTotals
  members(row: $row, first: 50) { totalCount edges { node { %s } } } } }""" % FIELDS
BALANCE_LINES = """query($o: ID!, $from: Date!, $to: Date!) { memberBalance(organizationId: $o, from: $from, to: $to) {
  decreases { kind count members(first: 10) { totalCount edges { node { %s } } } } } }""" % FIELDS
NODE = """query($id: ID!) { node(id: $id) { id } }"""


async def test_a_member_transferred_out_shows_no_record_written_by_its_new_branch(api, dated):
    """赵刚 (A2) is transferred to B1 (sent 10 days ago, accepted 5 days ago); B's ADMIN then writes
    his phone and native place. For A's accounts he no longer exists (node(id:) null). A's past
    table (20 days ago) and A's balance over the period count and list him (documented), with his
    organization of that day, A2: but also with the phone and native place B wrote after he left."""
    member = dated.members["a2_only"]
    day = lambda n: (TODAY - dt.timedelta(days=n)).isoformat()  # noqa: E731
    sent = ok(await send(api, "a_admin", [member], to=dated.orgs["b1"], date=day(10)), "transferMembers")
    ok(await decide(api, "b_admin", "acceptTransfer", sent["transfers"][0]["id"], date=day(5)), "acceptTransfer")
    ok(await api.as_("b_admin", UPDATE, {"m": gid("Member", member), "f": {"phone": "13900001111", "nativePlace": "乙区写的籍贯"}}),
       "updateMember")
    for who in ("a_viewer", "a_admin"):
        assert (await api.as_(who, NODE, {"id": gid("Member", member)}))["data"]["node"] is None
        drill = await api.as_(who, PAST_DRILL, {"input": {"organizationId": gid("Organization", dated.orgs["a"]),
                                                          "rows": "CHILD_ORGANIZATION", "asOf": day(20)},
                                                "row": gid("Organization", dated.orgs["a2"])})
        assert "errors" not in drill, drill
        listed = {e["node"]["id"]: e["node"] for e in drill["data"]["crossTab"]["members"]["edges"]}
        assert gid("Member", member) in listed  # listed, as documented ...
        seen = listed[gid("Member", member)]
        assert seen["organization"]["id"] == gid("Organization", dated.orgs["a2"])
        # ... but not with what B wrote after he left A's branch.
        assert seen["phone"] != "13900001111" and seen["nativePlace"] != "乙区写的籍贯", (who, seen)
        assert seen["version"] == 0  # read through the transfer's letter (see Member)
        assert drill["data"]["crossTab"]["members"]["totalCount"] == len(listed)
        line = await api.as_(who, BALANCE_LINES, {"o": gid("Organization", dated.orgs["a"]), "from": day(20),
                                                  "to": TODAY.isoformat()})
        assert "errors" not in line, line
        out = {d["kind"]: d for d in line["data"]["memberBalance"]["decreases"]}["TRANSFERRED_OUT"]
        assert out["count"] == 1
        assert out["members"]["totalCount"] == 1 and len(out["members"]["edges"]) == 1, out
        for edge in out["members"]["edges"]:
            assert edge["node"]["phone"] != "13900001111" and edge["node"]["nativePlace"] != "乙区写的籍贯", (who, edge)


async def test_a_table_without_columns_has_the_total_column_even_when_empty(api, dated):
    """B holds no member itself (SELF): the table is empty, but without a column dimension its
    columns are the single 'total' column (合计), whose total is 0."""
    for input_ in ({"organizationId": gid("Organization", dated.orgs["b"]), "scope": "SELF", "rows": "GENDER"},
                   {"organizationId": gid("Organization", dated.orgs["a"]), "rows": "GENDER",
                    "filter": {"categories": ["CANDIDATE"]}},
                   {"organizationId": gid("Organization", dated.orgs["a"]), "rows": "CATEGORY", "asOf": "2000-12-31"}):
        result = await api.as_("a_viewer" if "filter" in input_ or "asOf" in input_ else "root_admin", TABLE,
                               {"input": input_})
        assert "errors" not in result, result
        table = result["data"]["crossTab"]
        assert table["total"] == 0
        assert table["columns"] == [{"key": "total", "label": "合计"}], (input_, table)
        assert table["columnTotals"] == [0], (input_, table)


async def test_a_joined_on_filter_as_of_a_past_day_reads_joined_on_only_once_reached(api, dated):
    """发展 (A2) applied 2015, became a candidate 2017 and joined (PROBATIONARY) on 2018-04-01. As of
    2016-12-31 he had not joined: JOIN_YEAR says 未填 and PARTY_AGE_BAND too. A filter "joinedFrom
    2018-01-01" as of that day must not count him (no one had joined on or after 2018-01-01 then),
    yet the table counts him, in the 未填 JOIN_YEAR row."""
    a = gid("Organization", dated.orgs["a"])
    for member_filter in ({"joinedFrom": "2018-01-01"}, {"joinedFrom": "2018-01-01", "joinedTo": "2018-12-31"}):
        result = await api.as_("a_viewer", TABLE, {"input": {"organizationId": a, "rows": "JOIN_YEAR", "columns": "CATEGORY",
                                                             "asOf": "2016-12-31", "filter": member_filter}})
        assert "errors" not in result, result
        table = result["data"]["crossTab"]
        assert "NONE" not in [v["key"] for v in table["rows"]], (member_filter, table)  # 未填 cannot be joined from 2018
        assert table["total"] == 0, (member_filter, table)
    # joinedTo alone as well (he had not joined by then either), and today the same filter counts him.
    only_to = await api.as_("a_viewer", TABLE, {"input": {"organizationId": a, "rows": "JOIN_YEAR", "asOf": "2016-12-31",
                                                          "filter": {"joinedTo": "2018-12-31"}}})
    assert "errors" not in only_to, only_to
    assert "NONE" not in [v["key"] for v in only_to["data"]["crossTab"]["rows"]], only_to
    today = await api.as_("a_viewer", TABLE, {"input": {"organizationId": a, "rows": "JOIN_YEAR",
                                                        "filter": {"joinedFrom": "2018-01-01", "joinedTo": "2018-12-31"}}})
    assert "errors" not in today, today
    assert "2018" in [v["key"] for v in today["data"]["crossTab"]["rows"]], today


async def test_letters_cost_one_statement_whatever_the_page_lists(api, engine, dated):
    """A past drill page of A1 (as of 2022-06-30) costs the same statements whether none of its
    members has been transferred out of A's branch since, or one, or two, but one: the letters of
    the gone members are read in one statement (db.services.balance.with_letters)."""
    from sqlalchemy import event

    from tests.test_statistics_as_of import transfer_out

    input_ = {"organizationId": gid("Organization", dated.orgs["a"]), "rows": "CHILD_ORGANIZATION",
              "asOf": "2022-06-30"}
    a1 = gid("Organization", dated.orgs["a1"])
    await api.login("a_viewer")

    async def statements() -> tuple[int, int]:
        seen = []

        def count(*_args):
            seen.append(1)

        event.listen(engine.sync_engine, "before_cursor_execute", count)
        try:
            result = await api.as_("a_viewer", PAST_DRILL.replace(FIELDS, "id name version"), {"input": input_, "row": a1})
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", count)
        assert "errors" not in result, result
        members = result["data"]["crossTab"]["members"]
        assert members["totalCount"] == len(members["edges"]) == 5, members
        return len(seen), sum(e["node"]["version"] == 0 for e in members["edges"])

    none, letters = await statements()
    assert letters == 0
    await transfer_out(engine, "转移", dated.orgs["b1"].id, dt.date(2024, 1, 1))
    one, letters = await statements()
    assert letters == 1 and one == none + 1
    await transfer_out(engine, "王芳", dated.orgs["b1"].id, dt.date(2024, 1, 1))
    two, letters = await statements()
    assert letters == 2 and two == one
