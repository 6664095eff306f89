"""子信息集 through GraphQL on both engines: batch entry (all or nothing, list-index field names),
the kind-specific rules, updates and deletes, Member.records(kind:) pages, 查询未录入
(membersWithoutRecord), and flat statement counts for records and status changes of many members."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from db import clock, models
from db.engine import make_sessionmaker
from gql.settings import Settings
from tests.conftest import error_codes, gid
from tests.test_member_lifecycle import STATUS, ok, problems
from tests.test_query_count import describe, grow, run


@pytest.fixture
def settings() -> Settings:
    """Statement counts without the response cache in the way (tests/test_query_count.py)."""
    return Settings(password_profile="cheapest", response_cache_entries=0)


ADD = """mutation($ids: [ID!]!, $k: MemberRecordKind!, $f: MemberRecordFields!) {
  addMemberRecords(input: {memberIds: $ids, kind: $k, fields: $f}) {
    records { id kind date amount code { code label } approvedBy result title member { name } }
    userErrors { code field message } } }"""
RECORDS = """query($id: ID!, $k: MemberRecordKind, $first: Int, $after: String) { member(id: $id) {
  records(kind: $k, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
    edges { node { id kind date title amount } } } } }"""
UPDATE = """mutation($r: ID!, $f: MemberRecordFields!) { updateMemberRecord(input: {recordId: $r, fields: $f}) {
  records { id title date } userErrors { code field message } } }"""
DELETE = """mutation($ids: [ID!]!) { deleteMemberRecords(input: {recordIds: $ids}) { ok userErrors { code field message } } }"""
WITHOUT = """query($o: ID!, $k: MemberRecordKind!, $s: Date!, $scope: Scope) {
  membersWithoutRecord(organizationId: $o, kind: $k, since: $s, scope: $scope) { totalCount edges { node { name } } } }"""


def ids(world, *names):
    return [gid("Member", world.members[n]) for n in names]


async def record_count(engine) -> int:
    async with make_sessionmaker(engine)() as session:
        return await session.scalar(select(func.count()).select_from(models.MemberRecord))


async def test_batch_entry_all_or_nothing(api, world, engine):
    members = ids(world, "a1_first", "a1_second", "a2_only")
    dues = {"date": "2024-03-15", "amount": "12.50"}
    result = ok(await api.as_("a_operator", ADD, {"ids": members, "k": "DUES", "f": dues}), "addMemberRecords")
    assert [r["date"] for r in result["records"]] == ["2024-03-01"] * 3  # the month's first day
    assert {r["member"]["name"] for r in result["records"]} == {"李明", "王芳", "赵刚"}
    assert result["records"][0]["amount"] == "12.50"
    # One foreign id (B1's member) fails the whole batch, named by its index; nothing written.
    foreign = ids(world, "a1_first", "a2_only", "b1_only")
    assert problems(await api.as_("a_operator", ADD, {"ids": foreign, "k": "DUES", "f": dues}),
                    "addMemberRecords") == [("NOT_FOUND", ["memberIds", "2"])]
    malformed = members[:1] + ["not-an-id", gid("Organization", world.orgs["a1"])]
    assert problems(await api.as_("a_operator", ADD, {"ids": malformed, "k": "DUES", "f": dues}),
                    "addMemberRecords") == [("INVALID", ["memberIds", "1"]), ("NOT_FOUND", ["memberIds", "2"])]
    assert problems(await api.as_("a_operator", ADD, {"ids": members[:1] * 2, "k": "DUES", "f": dues}),
                    "addMemberRecords") == [("INVALID", ["memberIds", "1"])]
    assert await record_count(engine) == 3
    assert error_codes(await api.as_("a_viewer", ADD, {"ids": members, "k": "DUES", "f": dues})) == ["FORBIDDEN"]


async def test_kind_specific_fields(api, world):
    member = ids(world, "a1_first")
    future = (clock.today() + dt.timedelta(days=40)).isoformat()
    cases = [
        ("DUES", {"date": "2024-03-01"}, [("INVALID", ["fields", "amount"])]),
        ("DUES", {"date": "2024-03-01", "amount": "0"}, [("INVALID", ["fields", "amount"])]),
        ("DUES", {"date": "2024-03-01", "amount": "1.005"}, [("INVALID", ["fields", "amount"])]),
        ("REWARD", {"date": "2024-03-01"}, [("INVALID", ["fields", "code"]), ("INVALID", ["fields", "approvedBy"])]),
        ("PUNISHMENT", {"date": "2024-03-01", "code": "99", "approvedBy": "区纪委"}, [("INVALID", ["fields", "code"])]),
        ("EVALUATION", {"date": "2024-03-01", "result": "很好"}, [("INVALID", ["fields", "result"])]),
        ("ACTIVITY", {"date": future, "amount": "3"}, [("INVALID", ["fields", "date"]), ("INVALID", ["fields", "amount"])]),
        ("ABROAD", {"date": "2024-03-01", "until": "2024-02-01"}, [("INVALID", ["fields", "until"])]),
    ]
    for kind, fields, expected in cases:
        result = await api.as_("a_operator", ADD, {"ids": member, "k": kind, "f": fields})
        assert problems(result, "addMemberRecords") == expected, (kind, fields, result)
    reward = ok(await api.as_("a_operator", ADD, {"ids": member, "k": "REWARD", "f": {
        "date": "2024-07-01", "code": "51", "approvedBy": "区委", "title": "优秀共产党员"}}), "addMemberRecords")
    assert reward["records"][0]["code"] == {"code": "51", "label": "优秀共产党员"}
    ok(await api.as_("a_operator", ADD, {"ids": member, "k": "EVALUATION", "f": {"date": "2024-12-01",
                                                                                "result": "优秀"}}), "addMemberRecords")


async def test_records_pages_update_and_delete(api, world):
    member = gid("Member", world.members["a1_first"])
    made = []
    for month in range(1, 6):
        result = ok(await api.as_("a_operator", ADD, {"ids": [member], "k": "DUES",
                                                      "f": {"date": f"2024-0{month}-01", "amount": "10"}}),
                    "addMemberRecords")
        made.append(result["records"][0]["id"])
    ok(await api.as_("a_operator", ADD, {"ids": [member], "k": "ACTIVITY", "f": {"date": "2024-02-10",
                                                                                "title": "主题党日"}}),
       "addMemberRecords")
    page = (await api.as_("a_viewer", RECORDS, {"id": member, "k": "DUES", "first": 2}))["data"]["member"]["records"]
    assert page["totalCount"] == 5 and [e["node"]["date"] for e in page["edges"]] == ["2024-05-01", "2024-04-01"]
    rest = (await api.as_("a_viewer", RECORDS, {"id": member, "k": "DUES", "first": 10,
                                                "after": page["pageInfo"]["endCursor"]}))["data"]["member"]["records"]
    assert [e["node"]["date"] for e in rest["edges"]] == ["2024-03-01", "2024-02-01", "2024-01-01"]
    everything = (await api.as_("a_viewer", RECORDS, {"id": member}))["data"]["member"]["records"]
    assert everything["totalCount"] == 6
    # The member's own account reads its records; another branch does not see them.
    own = (await api.as_("a1_member", RECORDS, {"id": member}))["data"]["member"]["records"]
    assert own["totalCount"] == 6
    assert (await api.as_("b_viewer", RECORDS, {"id": member}))["data"]["member"] is None
    # Update: the whole fields, checked for the kind.
    assert problems(await api.as_("a_operator", UPDATE, {"r": made[0], "f": {"date": "2024-01-01"}}),
                    "updateMemberRecord") == [("INVALID", ["fields", "amount"])]
    updated = ok(await api.as_("a_operator", UPDATE, {"r": made[0], "f": {"date": "2024-01-20", "amount": "20",
                                                                          "title": "补交"}}), "updateMemberRecord")
    assert updated["records"] == [{"id": made[0], "title": "补交", "date": "2024-01-01"}]
    assert problems(await api.as_("b_admin", UPDATE, {"r": made[0], "f": {"date": "2024-01-20", "amount": "20"}}),
                    "updateMemberRecord") == [("NOT_FOUND", ["recordId"])]
    # Delete many at once, all or nothing.
    assert problems(await api.as_("b_admin", DELETE, {"ids": made[:2]}), "deleteMemberRecords") == \
        [("NOT_FOUND", ["recordIds", "0"]), ("NOT_FOUND", ["recordIds", "1"])]
    assert (await api.as_("a_operator", DELETE, {"ids": made[:2]}))["data"]["deleteMemberRecords"] == \
        {"ok": True, "userErrors": []}
    left = (await api.as_("a_viewer", RECORDS, {"id": member, "k": "DUES"}))["data"]["member"]["records"]
    assert left["totalCount"] == 3
    node = await api.as_("a_viewer", "query($id: ID!) { node(id: $id) { ... on MemberRecord { kind } } }",
                         {"id": made[2]})
    assert node["data"]["node"] == {"kind": "DUES"}


async def test_members_without_record(api, world):
    a, a1 = gid("Organization", world.orgs["a"]), gid("Organization", world.orgs["a1"])
    ok(await api.as_("a_operator", ADD, {"ids": ids(world, "a1_first"), "k": "DUES",
                                         "f": {"date": "2024-03-01", "amount": "10"}}), "addMemberRecords")
    ok(await api.as_("a_operator", ADD, {"ids": ids(world, "a2_only"), "k": "DUES",
                                         "f": {"date": "2023-03-01", "amount": "10"}}), "addMemberRecords")

    async def without(organization, since, scope=None):
        result = await api.as_("a_operator", WITHOUT, {"o": organization, "k": "DUES", "s": since, "scope": scope})
        assert "errors" not in result, result
        data = result["data"]["membersWithoutRecord"]
        assert data["totalCount"] == len(data["edges"])
        return {e["node"]["name"] for e in data["edges"]}

    assert await without(a1, "2024-01-01") == {"王芳"}
    assert await without(a, "2024-01-01", "SUBTREE") == {"王芳", "赵刚"}
    assert await without(a, "2023-01-01", "SUBTREE") == {"王芳"}
    assert await without(a, "2023-01-01") == set()  # A itself has no members
    # A member who left is no longer expected to pay.
    ok(await api.as_("a_operator", STATUS, {"m": gid("Member", world.members["a1_second"]), "k": "WITHDRAWAL",
                                            "d": clock.today().isoformat()}), "recordStatusChange")
    assert await without(a1, "2024-01-01") == set()
    foreign = gid("Organization", world.orgs["b1"])
    assert await without(foreign, "2024-01-01") == set()
    assert error_codes(await api.as_("a_viewer", WITHOUT, {"o": a1, "k": "DUES", "s": "2024-01-01"})) == ["FORBIDDEN"]


NESTED = """{ members(first: 50) { edges { node {
  name records(first: 3) { totalCount edges { node { kind date } } } statusChanges { kind date } } } } }"""


async def test_records_and_status_changes_of_many_members_cost_a_flat_number_of_statements(api, world, engine):
    token = await api.login("root_admin")
    _small, small = await run(api, engine, token, NESTED)
    await grow(engine, world, branches=3, members_each=5)
    async with make_sessionmaker(engine)() as session:
        member_ids = list(await session.scalars(select(models.Member.id)))
    ok(await api.as_("root_admin", ADD, {"ids": [gid("Member", type("M", (), {"id": i})) for i in member_ids],
                                         "k": "ACTIVITY", "f": {"date": "2024-05-04", "title": "青年节"}}),
       "addMemberRecords")
    large_data, large = await run(api, engine, token, NESTED)
    nodes = [e["node"] for e in large_data["members"]["edges"]]
    assert len(nodes) == len(member_ids) and all(n["records"]["totalCount"] == 1 for n in nodes)
    assert len(large) == len(small), f"{describe(small)}\n---\n{describe(large)}"
