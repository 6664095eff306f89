"""Review of the past-date shortcuts (member.last_fact_on, the tree probe of statistics.past_day): histories built through
the API whose crossTab(asOf) and memberBalance must be the same with the shortcuts on and off
(db.services.history.READ_ROWS, db.services.statistics.READ_TODAYS_TREE), both engines."""
from __future__ import annotations

import datetime as dt

import pytest

from db.services import history
from db.services import statistics as statistics_service
from gql.ids import from_global_id
from tests.conftest import gid
from tests.test_member_balance import BALANCE
from tests.test_member_lifecycle import UPDATE, create, ok
from tests.test_statistics_as_of import TABLE, dated  # noqa: F401  (the fixture)

DRILL = """query($input: CrossTabInput!, $row: String!) { crossTab(input: $input) {
  members(row: $row, first: 100) { totalCount edges { node { name } } } } }"""


async def both_ways(api, monkeypatch, who, query, variables):
    """The answer with the shortcuts on, and with them off (the plain history)."""
    fast = await api.as_(who, query, variables)
    with monkeypatch.context() as m:
        m.setattr(history, "READ_ROWS", False)
        m.setattr(statistics_service, "READ_TODAYS_TREE", False)
        plain = await api.as_(who, query, variables)
    assert "errors" not in fast and "errors" not in plain, (fast, plain)
    return fast["data"], plain["data"]


async def assert_same_cross_tab(api, monkeypatch, who, **input_):
    fast, plain = await both_ways(api, monkeypatch, who, TABLE, {"input": input_})
    assert fast == plain, input_
    t = fast["crossTab"]
    for row in t["rows"]:
        fast, plain = await both_ways(api, monkeypatch, who, DRILL, {"input": input_, "row": row["key"]})
        assert fast == plain, (input_, row)


async def assert_same_balance(api, monkeypatch, who, organization, start, end, scope="SUBTREE"):
    fast, plain = await both_ways(api, monkeypatch, who, BALANCE, {
        "o": gid("Organization", organization), "scope": scope, "from": str(start), "to": str(end)})
    assert fast == plain, (start, end)
    return fast["memberBalance"]


async def test_a_development_date_corrected_later_is_a_fact_after_the_day(api, world, monkeypatch):
    """updateMember moves a category step's date (db.services.lifecycle._move_category_steps): the
    step is dirty, not new. Entered 2014 as FULL (joined 2012), the joining corrected to 2018: on
    2016-12-31 the member was an applicant (the history), not FULL (its member row)."""
    a1 = world.orgs["a1"]
    member = await create(api, "a_admin", a1, name="更正", since="2014-01-01", appliedOn="2011-03-01",
                          joinedOn="2012-07-01", confirmedOn="2013-07-01")
    ok(await api.as_("a_admin", UPDATE, {"m": member, "f": {"joinedOn": "2018-07-01", "confirmedOn": "2019-07-01"}}),
       "updateMember")
    scope = gid("Organization", world.orgs["a"])
    await assert_same_cross_tab(api, monkeypatch, "a_viewer", organizationId=scope, rows="CATEGORY",
                                asOf="2016-12-31")
    await assert_same_balance(api, monkeypatch, "a_viewer", world.orgs["a"], dt.date(2017, 1, 1), dt.date(2020, 12, 31))


async def test_a_development_date_corrected_earlier_lowers_the_latest_fact(api, world, monkeypatch):
    """The latest fact was the confirmation (2013-07-01); corrected to 2013-06-01 (with the joining),
    member.last_fact_on follows it down (the invariant "last_fact", checked at teardown)."""
    a1 = world.orgs["a1"]
    member = await create(api, "a_admin", a1, name="提前", since="2010-01-01", appliedOn="2011-03-01",
                          joinedOn="2012-07-01", confirmedOn="2013-07-01")
    ok(await api.as_("a_admin", UPDATE, {"m": member, "f": {"joinedOn": "2012-06-01", "confirmedOn": "2013-06-01"}}),
       "updateMember")
    await assert_same_cross_tab(api, monkeypatch, "a_viewer", organizationId=gid("Organization", world.orgs["a"]),
                                rows="CATEGORY", asOf="2013-06-15")


async def test_a_rejected_entry_corrected_earlier_lowers_the_latest_fact(api, world, monkeypatch):
    """resubmitMember rewrites a rejected entry's category steps (a Core DELETE, then new steps):
    the deleted latest step's date must not stay in member.last_fact_on (teardown invariant)."""
    from tests.test_member_lifecycle import REQUIRE, RESUBMIT, REVIEW
    a1 = world.orgs["a1"]
    ok(await api.as_("root_admin", REQUIRE, {"o": gid("Organization", a1)}), "updateOrganization")
    entry = await create(api, "a1_admin", a1, name="重交", since="2020-01-01", appliedOn="2021-03-01",
                         joinedOn="2022-07-01", confirmedOn="2023-07-01")
    ok(await api.as_("a_operator", REVIEW % "rejectMembers", {"ids": [entry], "r": "日期有误"}), "rejectMembers")
    ok(await api.as_("a1_admin", RESUBMIT, {"m": entry, "f": {"joinedOn": "2021-07-01", "confirmedOn": "2022-07-01"}}),
       "resubmitMember")
    ok(await api.as_("a_operator", REVIEW % "approveMembers", {"ids": [entry]}), "approveMembers")
    await assert_same_cross_tab(api, monkeypatch, "a_viewer", organizationId=gid("Organization", world.orgs["a"]),
                                rows="CATEGORY", asOf="2023-01-01")


async def test_an_organization_moved_out_and_back_and_the_scope_moved(api, dated, monkeypatch):
    """A2 moved from A to B on 2024-03-01 and back on 2024-09-01; A itself moved under B on
    2024-10-01: every day around the moves, from A, B and the root, both ways alike."""
    from tests.test_member_balance import MOVE
    a, a2, b, root = (dated.orgs[n] for n in ("a", "a2", "b", "root"))
    for org, parent, day, suffix in ((a2, b, "2024-03-01", "091"), (a2, a, "2024-09-01", "092"),
                                     (a, b, "2024-10-01", "093")):
        moved = await api.as_("root_admin", MOVE, {"input": {"organizationId": gid("Organization", org),
                                                             "newParentId": gid("Organization", parent), "date": day,
                                                             "codeSuffix": suffix}})
        assert "errors" not in moved and moved["data"]["moveOrganization"]["userErrors"] == [], moved
    for scope in (a, b, root):
        for day in ("2023-12-31", "2024-02-29", "2024-03-01", "2024-05-31", "2024-09-01", "2024-09-30",
                    "2024-10-01"):
            await assert_same_cross_tab(api, monkeypatch, "root_admin", organizationId=gid("Organization", scope),
                                        rows="CHILD_ORGANIZATION", asOf=day)
        for start, end in ((dt.date(2024, 1, 1), dt.date(2024, 12, 31)), (dt.date(2024, 4, 1), dt.date(2024, 9, 30)),
                           (dt.date(2024, 9, 2), dt.date(2024, 10, 1))):
            await assert_same_balance(api, monkeypatch, "root_admin", scope, start, end)
