"""memberBalance (党员增减, issue 9) through the GraphQL endpoint on both engines: the lines of a
history built through the API (entered with `since`, admitted, recorded, moved between
organizations, died, suspended and restored, withdrawn) land in the documented kinds; start +
increases − decreases = end for every scope and period, consecutive periods chain, each line's
members totalCount equals its count; the end equals crossTab of the party members as of `to`;
bad periods are client errors, a foreign scope NOT_FOUND."""
from __future__ import annotations

import datetime as dt

from db import clock
from tests.conftest import error_codes, gid
from tests.test_member_lifecycle import STATUS, ok
from tests.test_statistics import tree  # noqa: F401  (the fixture)
from tests.test_statistics_as_of import dated  # noqa: F401  (the fixture)

TODAY = clock.today()
BALANCE = """query($o: ID!, $scope: Scope!, $from: Date!, $to: Date!) {
  memberBalance(organizationId: $o, scope: $scope, from: $from, to: $to) {
    from to start end
    increases { kind label count members(first: 100) { totalCount edges { node { name } } } }
    decreases { kind label count members(first: 100) { totalCount edges { node { name } } } } } }"""
CROSS_TAB = """query($input: CrossTabInput!) { crossTab(input: $input) { total } }"""


async def balance(api, who, organization, start, end, scope="SUBTREE") -> dict:
    result = await api.as_(who, BALANCE, {"o": gid("Organization", organization), "scope": scope,
                                          "from": str(start), "to": str(end)})
    assert "errors" not in result, result
    b = result["data"]["memberBalance"]
    increases = sum(line["count"] for line in b["increases"])
    decreases = sum(line["count"] for line in b["decreases"])
    assert b["start"] + increases - decreases == b["end"], b
    for line in b["increases"] + b["decreases"]:
        assert line["members"]["totalCount"] == line["count"] == len(line["members"]["edges"]), line
    assert [line["kind"] for line in b["increases"]] == ["ADMITTED", "RECORDED", "TRANSFERRED_IN", "RESTORED"]
    assert [line["kind"] for line in b["decreases"]] == ["DIED", "LEFT_PARTY", "SUSPENDED", "TRANSFERRED_OUT"]
    return b


def moves(b: dict) -> dict[str, set[str]]:
    return {line["kind"]: {e["node"]["name"] for e in line["members"]["edges"]}
            for line in b["increases"] + b["decreases"] if line["count"]}


def year(y: int) -> tuple[dt.date, dt.date]:
    return dt.date(y, 1, 1), dt.date(y, 12, 31)


async def test_the_lines_of_a_dated_history(api, dated):
    a, a1, a2 = (dated.orgs[n] for n in ("a", "a1", "a2"))
    ok(await api.as_("a_admin", STATUS, {"m": gid("Member", dated.members["a1_second"]), "k": "SUSPENDED",
                                         "d": "2025-03-01"}), "recordStatusChange")
    ok(await api.as_("a_admin", STATUS, {"m": gid("Member", dated.members["a1_second"]), "k": "RESTORED",
                                         "d": "2025-09-01"}), "recordStatusChange")
    ok(await api.as_("a_admin", STATUS, {"m": gid("Member", dated.members["a1_first"]), "k": "WITHDRAWAL",
                                         "d": "2025-10-10"}), "recordStatusChange")
    expected = {  # year: (start, {kind: names}, end) over A (SUBTREE)
        2010: (0, {"ADMITTED": {"李明", "王芳", "赵刚"}}, 3),
        2014: (3, {"RECORDED": {"逝者"}}, 4),
        2015: (4, {}, 4),  # 发展 entered as an applicant: not a party member yet
        2016: (4, {"RECORDED": {"转移"}}, 5),
        2018: (5, {"ADMITTED": {"发展"}}, 6),
        2022: (6, {"RECORDED": {"补录"}}, 7),
        2023: (7, {}, 7),  # 转移 moved from A1 to A2: inside the scope
        2024: (7, {"DIED": {"逝者"}}, 6),
        2025: (6, {"LEFT_PARTY": {"李明"}}, 5),  # 王芳 suspended and restored within the year
    }
    for y, (start, lines, end) in expected.items():
        b = await balance(api, "a_viewer", a, *year(y))
        assert (b["start"], moves(b), b["end"]) == (start, lines, end), y
    half = await balance(api, "a_viewer", a, dt.date(2025, 1, 1), dt.date(2025, 6, 30))
    assert moves(half) == {"SUSPENDED": {"王芳"}} and half["end"] == 5
    second = await balance(api, "a_viewer", a, dt.date(2025, 7, 1), dt.date(2025, 12, 31))
    assert moves(second) == {"RESTORED": {"王芳"}, "LEFT_PARTY": {"李明"}} and second["start"] == 5
    # The transfer of 2023 over each organization alone, and over A1's subtree.
    assert moves(await balance(api, "a_viewer", a1, *year(2023), scope="SELF")) == {"TRANSFERRED_OUT": {"转移"}}
    assert moves(await balance(api, "a_viewer", a2, *year(2023), scope="SELF")) == {"TRANSFERRED_IN": {"转移"}}
    assert moves(await balance(api, "a_viewer", a1, *year(2023))) == {"TRANSFERRED_OUT": {"转移"}}
    # A day's period: the death's day.
    day = await balance(api, "a_viewer", a1, dt.date(2024, 6, 1), dt.date(2024, 6, 1))
    assert (day["start"], moves(day), day["end"]) == (4, {"DIED": {"逝者"}}, 3)  # 李明 王芳 逝者 补录


async def test_bad_periods_and_foreign_scopes(api, dated):
    a = gid("Organization", dated.orgs["a"])
    for start, end in (("2024-12-31", "2024-01-01"), ("2024-01-01", (TODAY + dt.timedelta(days=1)).isoformat())):
        result = await api.as_("a_viewer", BALANCE, {"o": a, "scope": "SUBTREE", "from": start, "to": end})
        assert error_codes(result) == ["BAD_USER_INPUT"], result
        assert result["data"] is None
    for who, org in (("a1_viewer", "a"), ("b_viewer", "a1"), ("a1_member", "a1")):
        result = await api.as_(who, BALANCE, {"o": gid("Organization", dated.orgs[org]), "scope": "SUBTREE",
                                              "from": "2020-01-01", "to": "2020-12-31"})
        assert error_codes(result) in (["NOT_FOUND"], ["FORBIDDEN"]), (who, result)
        assert result["data"] is None


async def test_identity_and_chaining_on_generated_data(api, tree):  # noqa: F811
    """Yearly and half-yearly periods over the generated tree, both scopes: each balances, each
    starts where the previous ended, and each end is crossTab's count of party members then."""
    cuts = [dt.date(2000, 1, 1), dt.date(2010, 7, 1), dt.date(2015, 1, 1), dt.date(2015, 1, 2),
            dt.date(2020, 1, 1), dt.date(2023, 7, 1), TODAY, TODAY + dt.timedelta(days=1)]
    for name in ("root", "a", "a1"):
        for scope in ("SUBTREE", "SELF"):
            previous_end = None
            for start, next_start in zip(cuts, cuts[1:]):
                end = next_start - dt.timedelta(days=1)
                b = await balance(api, "root_admin", tree.orgs[name], start, end, scope)
                if previous_end is not None:
                    assert b["start"] == previous_end, (name, scope, start)
                previous_end = b["end"]
                counted = await api.as_("root_admin", CROSS_TAB, {"input": {
                    "organizationId": gid("Organization", tree.orgs[name]), "scope": scope, "rows": "GENDER",
                    "filter": {"categories": ["PROBATIONARY", "FULL"]}, "asOf": end.isoformat()}})
                assert counted["data"]["crossTab"]["total"] == b["end"], (name, scope, end)


MOVE = """mutation($input: MoveOrganizationInput!) { moveOrganization(input: $input) {
  organization { id } userErrors { field message code } } }"""


async def test_an_organization_moved_carries_its_members(api, dated):
    """A2 (赵刚, 发展, 转移) moved from A to B on 2024-03-01: out of A's subtree, into B's, on that day;
    A2 itself (SELF) sees no change. Periods before the move are unchanged."""
    a, a2, b = (dated.orgs[n] for n in ("a", "a2", "b"))
    before = await balance(api, "root_admin", a, *year(2023))
    moved = await api.as_("root_admin", MOVE, {"input": {"organizationId": gid("Organization", a2),
                                                         "newParentId": gid("Organization", b), "date": "2024-03-01"}})
    assert "errors" not in moved and moved["data"]["moveOrganization"]["userErrors"] == [], moved
    assert await balance(api, "root_admin", a, *year(2023)) == before
    out = await balance(api, "root_admin", a, *year(2024))
    assert (out["start"], moves(out), out["end"]) == (7, {"DIED": {"逝者"}, "TRANSFERRED_OUT": {"赵刚", "发展", "转移"}}, 3)
    into = await balance(api, "root_admin", b, *year(2024))
    assert moves(into) == {"TRANSFERRED_IN": {"赵刚", "发展", "转移"}} and into["end"] == into["start"] + 3
    day = await balance(api, "root_admin", a, dt.date(2024, 3, 1), dt.date(2024, 3, 1))
    assert moves(day) == {"TRANSFERRED_OUT": {"赵刚", "发展", "转移"}}
    assert moves(await balance(api, "root_admin", a, dt.date(2024, 2, 29), dt.date(2024, 2, 29))) == {}
    assert moves(await balance(api, "root_admin", a2, *year(2024), scope="SELF")) == {}
    assert (await balance(api, "root_admin", a, *year(2025)))["start"] == 3


LINE = """query($o: ID!, $from: Date!, $to: Date!) { memberBalance(organizationId: $o, from: $from, to: $to) {
  start end decreases { kind count members(first: 10) { totalCount edges { node { id name } } } } } }"""


async def test_members_moved_out_of_the_callers_branch_are_counted_not_listed(api, dated):
    """A2 moved under B: A's viewer sees A's 2024 balance with its 3 transfers out counted, and none
    of them listed (they are outside its branch now); the root's ADMIN sees them listed."""
    a, a2, b = (dated.orgs[n] for n in ("a", "a2", "b"))
    moved = await api.as_("root_admin", MOVE, {"input": {"organizationId": gid("Organization", a2),
                                                         "newParentId": gid("Organization", b), "date": "2024-03-01"}})
    assert moved["data"]["moveOrganization"]["userErrors"] == []
    variables = {"o": gid("Organization", a), "from": "2024-01-01", "to": "2024-12-31"}
    seen = await api.as_("a_viewer", LINE, variables)
    assert "errors" not in seen, seen
    out = {line["kind"]: line for line in seen["data"]["memberBalance"]["decreases"]}["TRANSFERRED_OUT"]
    assert out["count"] == 3 and out["members"] == {"totalCount": 0, "edges": []}
    root = await api.as_("root_admin", LINE, variables)
    out = {line["kind"]: line for line in root["data"]["memberBalance"]["decreases"]}["TRANSFERRED_OUT"]
    assert out["count"] == out["members"]["totalCount"] == 3


LINE_ORGS = """query($o: ID!, $from: Date!, $to: Date!) { memberBalance(organizationId: $o, from: $from, to: $to) {
  decreases { kind count members(first: 10) { totalCount edges { node { name organization { name } } } } } } }"""


async def test_a_member_transferred_out_of_the_branch_is_listed_with_its_organization_then(api, engine, dated):
    """转移 placed in B1 from 2024-01-01 (out of A's branch): A's 2024 balance lists it among the
    transfers out to A's viewer as to the root's ADMIN, with organization A2 (where it was counted at
    the start of 2024), not B1; totalCount equals the count."""
    from tests.test_statistics_as_of import transfer_out

    await transfer_out(engine, "转移", dated.orgs["b1"].id, dt.date(2024, 1, 1))
    variables = {"o": gid("Organization", dated.orgs["a"]), "from": "2024-01-01", "to": "2024-12-31"}
    for who in ("a_viewer", "root_admin"):
        result = await api.as_(who, LINE_ORGS, variables)
        assert "errors" not in result, result
        out = {line["kind"]: line for line in result["data"]["memberBalance"]["decreases"]}["TRANSFERRED_OUT"]
        listed = {e["node"]["name"]: e["node"]["organization"]["name"] for e in out["members"]["edges"]}
        assert out["count"] == out["members"]["totalCount"] == len(listed), (who, out)
        assert listed.get("转移") == dated.orgs["a2"].name, (who, listed)


async def test_one_request_builds_the_classification_and_reads_the_probes_once(api, dated, monkeypatch):
    """A balance that lists every line's members (8 lines, a page and a count each) builds its
    classification once and probes the period (same_tree) and the caller's branch then (_held) once
    per request, not once per line; the next request builds afresh (its own read transaction), and
    answers the same. As a VIEWER of A (the branch probes run) and over the root (they do not)."""
    from db.services import balance as balance_service

    calls: list[str] = []
    for name in ("classified", "past_period", "held_then"):
        original = getattr(balance_service, name)

        def counting(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(balance_service, name, counting)
    for who, organization in (("a_viewer", dated.orgs["a"]), ("root_admin", dated.orgs["root"])):
        answers = []
        for _ in range(2):
            calls.clear()
            answers.append(await balance(api, who, organization, *year(2024)))
            # held_then: the day before `from` and `to`, once each.
            assert sorted(calls) == ["classified", "held_then", "held_then", "past_period"], (who, calls)
        assert answers[0] == answers[1]
