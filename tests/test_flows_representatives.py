"""Flows (流动), party representatives (党代表) and volunteers (志愿者), issue 11's second half,
through the GraphQL endpoint on both engines: each mutation's rules and bad input, the branch
(outside it: NOT_FOUND, null, not counted), the dated history (asOf counts see a flow on its
days), the representative summary's query forms against hand-counted answers, and the races
(two flowOuts, two returns, two adds of one seat) run for real."""
from __future__ import annotations

import datetime as dt

from db import clock
from tests.conftest import error_codes, gid
from tests.factories import new_id_number
from tests.test_races import Race

TODAY = clock.today()


def ok(result: dict, field: str) -> dict:
    assert "errors" not in result, result
    value = result["data"][field]
    assert value["userErrors"] == [], value
    return value


def problems(result: dict, field: str) -> list[tuple[str, list | None]]:
    assert "errors" not in result, result
    return [(e["code"], e["field"]) for e in result["data"][field]["userErrors"]]


FLOW = "flow { id destination reason contact since returnedOn status member { id status } }"
FLOW_OUT = """mutation($input: FlowOutInput!) { flowOut(input: $input) { %s userErrors { code field message } } }""" % FLOW
UPDATE_FLOW = """mutation($input: UpdateFlowInput!) { updateFlow(input: $input) { %s userErrors { code field message } } }""" % FLOW
RETURN = """mutation($input: ReturnFromFlowInput!) { returnFromFlow(input: $input) { %s userErrors { code field message } } }""" % FLOW
MEMBER_FLOWS = """query($id: ID!) { member(id: $id) { status flows { id status since returnedOn destination } } }"""
NODE = """query($id: ID!) { node(id: $id) { __typename id } }"""
CROSS = """query($input: CrossTabInput!) { crossTab(input: $input) { rows { key } cells total } }"""
STATUS = """mutation($m: ID!, $k: StatusChangeKind!, $d: Date!) {
  recordStatusChange(input: {memberId: $m, kind: $k, date: $d}) { member { status } userErrors { code field } } }"""


def flow_input(member, **extra) -> dict:
    return {"memberId": member, "destination": "广东省深圳市", "since": "2024-03-01", "reason": "务工",
            "contact": "13800000000", **extra}


# ------------------------------------------------------------------ flows


async def test_flow_out_update_and_return(api, world):
    member = gid("Member", world.members["a1_first"])
    flow = ok(await api.as_("a_operator", FLOW_OUT, {"input": flow_input(member)}), "flowOut")["flow"]
    assert flow["status"] == "OUT" and flow["returnedOn"] is None and flow["since"] == "2024-03-01"
    assert flow["member"] == {"id": member, "status": "FLOWING_OUT"}
    # One open flow per member.
    again = await api.as_("a_operator", FLOW_OUT, {"input": flow_input(member, since="2024-04-01")})
    assert problems(again, "flowOut") == [("CONFLICT", ["memberId"])]
    # Update: a field left out stays, a null reason clears, a null destination stays.
    updated = ok(await api.as_("a_operator", UPDATE_FLOW, {"input": {"flowId": flow["id"], "destination": "上海市",
                                                                    "reason": None}}), "updateFlow")["flow"]
    assert (updated["destination"], updated["reason"], updated["contact"]) == ("上海市", None, "13800000000")
    updated = ok(await api.as_("a_operator", UPDATE_FLOW, {"input": {"flowId": flow["id"], "destination": None,
                                                                    "contact": "13900000000"}}), "updateFlow")["flow"]
    assert (updated["destination"], updated["contact"]) == ("上海市", "13900000000")
    assert problems(await api.as_("a_operator", UPDATE_FLOW, {"input": {"flowId": flow["id"], "destination": " "}}),
                    "updateFlow") == [("INVALID", ["destination"])]
    # Return: not before the flow began, not in the future.
    bad = await api.as_("a_operator", RETURN, {"input": {"flowId": flow["id"], "date": "2024-02-01"}})
    assert ("INVALID", ["date"]) in problems(bad, "returnFromFlow")
    bad = await api.as_("a_operator", RETURN, {"input": {"flowId": flow["id"],
                                                         "date": (TODAY + dt.timedelta(days=1)).isoformat()}})
    assert problems(bad, "returnFromFlow") == [("INVALID", ["date"])]
    back = ok(await api.as_("a_operator", RETURN, {"input": {"flowId": flow["id"], "date": "2024-06-01"}}),
              "returnFromFlow")["flow"]
    assert back["status"] == "RETURNED" and back["returnedOn"] == "2024-06-01"
    assert back["member"]["status"] == "ACTIVE"
    # A returned flow is done.
    assert problems(await api.as_("a_operator", RETURN, {"input": {"flowId": flow["id"], "date": "2024-07-01"}}),
                    "returnFromFlow") == [("CONFLICT", ["flowId"])]
    assert problems(await api.as_("a_operator", UPDATE_FLOW, {"input": {"flowId": flow["id"], "contact": "x"}}),
                    "updateFlow") == [("CONFLICT", ["flowId"])]
    # Away again later: a second flow; Member.flows lists both, oldest first.
    second = ok(await api.as_("a_operator", FLOW_OUT, {"input": flow_input(member, since="2024-08-01")}),
                "flowOut")["flow"]
    data = (await api.as_("a_viewer", MEMBER_FLOWS, {"id": member}))["data"]["member"]
    assert data["status"] == "FLOWING_OUT"
    assert [(f["id"], f["status"]) for f in data["flows"]] == [(flow["id"], "RETURNED"), (second["id"], "OUT")]


async def test_flow_out_bad_input_and_rules(api, world):
    member = gid("Member", world.members["a1_first"])
    bad = await api.as_("a_operator", FLOW_OUT, {"input": flow_input(member, destination="  ",
                                                                     since=(TODAY + dt.timedelta(days=1)).isoformat())})
    assert sorted(problems(bad, "flowOut")) == [("INVALID", ["destination"]), ("INVALID", ["since"])]
    # Not before the member's latest dated fact (joined 2010, confirmed 2011).
    bad = await api.as_("a_operator", FLOW_OUT, {"input": flow_input(member, since="2009-01-01")})
    assert problems(bad, "flowOut") == [("INVALID", ["since"])]
    bad = await api.as_("a_operator", FLOW_OUT, {"input": flow_input(member, reason="x" * 2001)})
    assert problems(bad, "flowOut") == [("INVALID", ["reason"])]
    # Only an ACTIVE member: one who has left cannot flow out.
    other = gid("Member", world.members["a1_second"])
    ok(await api.as_("a_admin", STATUS, {"m": other, "k": "DEATH", "d": "2024-01-01"}), "recordStatusChange")
    assert problems(await api.as_("a_operator", FLOW_OUT, {"input": flow_input(other)}),
                    "flowOut") == [("NOT_ALLOWED", ["memberId"])]
    # A VIEWER may not write.
    assert error_codes(await api.as_("a_viewer", FLOW_OUT, {"input": flow_input(member)})) == ["FORBIDDEN"]


async def test_a_member_who_leaves_while_away_ends_the_flow(api, world):
    member = gid("Member", world.members["a1_first"])
    flow = ok(await api.as_("a_operator", FLOW_OUT, {"input": flow_input(member)}), "flowOut")["flow"]
    ok(await api.as_("a_admin", STATUS, {"m": member, "k": "DEATH", "d": "2024-05-01"}), "recordStatusChange")
    data = (await api.as_("a_viewer", MEMBER_FLOWS, {"id": member}))["data"]["member"]
    assert data["status"] == "LEFT"
    assert data["flows"] == [{"id": flow["id"], "status": "RETURNED", "since": "2024-03-01",
                              "returnedOn": "2024-05-01", "destination": "广东省深圳市"}]


async def test_flows_outside_the_branch_do_not_exist(api, world):
    member = gid("Member", world.members["a1_first"])
    assert problems(await api.as_("b_admin", FLOW_OUT, {"input": flow_input(member)}),
                    "flowOut") == [("NOT_FOUND", ["memberId"])]
    flow = ok(await api.as_("a_operator", FLOW_OUT, {"input": flow_input(member)}), "flowOut")["flow"]
    assert problems(await api.as_("b_admin", UPDATE_FLOW, {"input": {"flowId": flow["id"], "contact": "x"}}),
                    "updateFlow") == [("NOT_FOUND", ["flowId"])]
    assert problems(await api.as_("b_admin", RETURN, {"input": {"flowId": flow["id"], "date": "2024-06-01"}}),
                    "returnFromFlow") == [("NOT_FOUND", ["flowId"])]
    # Another type's id: NOT_FOUND; a malformed one: INVALID.
    assert problems(await api.as_("a_operator", RETURN, {"input": {"flowId": member, "date": "2024-06-01"}}),
                    "returnFromFlow") == [("NOT_FOUND", ["flowId"])]
    assert problems(await api.as_("a_operator", RETURN, {"input": {"flowId": "nonsense", "date": "2024-06-01"}}),
                    "returnFromFlow") == [("INVALID", ["flowId"])]
    assert (await api.as_("b_admin", NODE, {"id": flow["id"]}))["data"]["node"] is None
    assert (await api.as_("a_viewer", NODE, {"id": flow["id"]}))["data"]["node"] == \
        {"__typename": "Flow", "id": flow["id"]}
    # The member sees its own flow, through its record and by id.
    own = await api.as_("a1_member", """{ viewer { member { flows { id status } } } }""")
    assert own["data"]["viewer"]["member"]["flows"] == [{"id": flow["id"], "status": "OUT"}]
    assert (await api.as_("a1_member", NODE, {"id": flow["id"]}))["data"]["node"]["id"] == flow["id"]
    # A colleague's flow is not the member's.
    other = ok(await api.as_("a_operator", FLOW_OUT, {"input": flow_input(gid("Member", world.members["a1_second"]))}),
               "flowOut")["flow"]
    assert (await api.as_("a1_member", NODE, {"id": other["id"]}))["data"]["node"] is None


async def test_flows_are_dated_facts_that_as_of_counts_see(api, world):
    member = gid("Member", world.members["a1_first"])
    flow = ok(await api.as_("a_operator", FLOW_OUT, {"input": flow_input(member, since="2024-03-01")}),
              "flowOut")["flow"]
    ok(await api.as_("a_operator", RETURN, {"input": {"flowId": flow["id"], "date": "2024-06-01"}}), "returnFromFlow")
    a1 = gid("Organization", world.orgs["a1"])

    async def statuses(day: str) -> dict[str, int]:
        result = await api.as_("a_viewer", CROSS, {"input": {"organizationId": a1, "rows": "STATUS", "asOf": day}})
        assert "errors" not in result, result
        t = result["data"]["crossTab"]
        return {row["key"]: line[0] for row, line in zip(t["rows"], t["cells"]) if line[0]}

    assert await statuses("2024-02-29") == {"ACTIVE": 2}
    assert await statuses("2024-03-01") == {"ACTIVE": 1, "FLOWING_OUT": 1}
    assert await statuses("2024-05-31") == {"ACTIVE": 1, "FLOWING_OUT": 1}
    assert await statuses("2024-06-01") == {"ACTIVE": 2}
    # Still counted as a member of A1 while away: the total never changes.
    for day in ("2024-02-29", "2024-04-01", "2024-07-01"):
        assert sum((await statuses(day)).values()) == 2


async def test_two_flow_outs_at_once_one_wins_and_two_returns_at_once_one_wins(api, world, engine):
    race = Race(engine)
    try:
        token = await api.login("a_operator")
        member = gid("Member", world.members["a1_first"])
        for n in range(3):
            results = await race.run(*(api.post(FLOW_OUT, {"input": flow_input(
                member, since=f"2024-0{2 * n + 2}-0{i + 1}")}, token) for i in range(2)))
            outcomes = sorted(tuple(problems(r, "flowOut")) for r in results)
            assert outcomes == [(), (("CONFLICT", ["memberId"]),)], results
            flow_id = next(r["data"]["flowOut"]["flow"]["id"] for r in results if r["data"]["flowOut"]["flow"])
            results = await race.run(*(api.post(RETURN, {"input": {"flowId": flow_id, "date": f"2024-0{2 * n + 3}-01"}},
                                                token) for _ in range(2)))
            outcomes = sorted(tuple(problems(r, "returnFromFlow")) for r in results)
            assert outcomes == [(), (("CONFLICT", ["flowId"]),)], results
            data = (await api.as_("a_viewer", MEMBER_FLOWS, {"id": member}))["data"]["member"]
            assert data["status"] == "ACTIVE" and len(data["flows"]) == n + 1
            assert all(f["status"] == "RETURNED" for f in data["flows"])
    finally:
        race.remove()


# ------------------------------------------------------------------ representatives

SEAT = "representativeTerm { id level term category delegation terminatedOn terminationReason member { id } }"
ADD = """mutation($input: AddRepresentativeTermInput!) { addRepresentativeTerm(input: $input) {
  %s userErrors { code field message } } }""" % SEAT
TERMINATE = """mutation($input: TerminateRepresentativeInput!) { terminateRepresentative(input: $input) {
  %s userErrors { code field message } } }""" % SEAT
SUMMARY = """query($q: RepresentativeQuery!) { representatives(query: $q) {
  count total percent members(first: 50) { totalCount edges { node { name } } } } }"""
CREATE = """mutation($input: CreateMemberInput!) { createMember(input: $input) { member { id } userErrors { code field } } }"""


async def seat(api, member: str, level: str, term: int, who: str = "a_operator", **extra) -> str:
    data = ok(await api.as_(who, ADD, {"input": {"memberId": member, "level": level, "term": term, **extra}}),
              "addRepresentativeTerm")
    return data["representativeTerm"]["id"]


async def new_member(api, world, org: str, name: str, who: str = "root_admin", **fields) -> str:
    data = {"name": name, "idNumber": new_id_number(dt.date(1980, 1, 1)), "category": "FULL",
            "appliedOn": "2000-03-01", "joinedOn": "2002-07-01", "confirmedOn": "2003-07-01", **fields}
    data = {k: v for k, v in data.items() if v is not None}
    result = await api.as_(who, CREATE, {"input": {"organizationId": gid("Organization", world.orgs[org]),
                                                   "fields": data}})
    return ok(result, "createMember")["member"]["id"]


async def test_add_and_terminate_a_seat(api, world):
    member = gid("Member", world.members["a1_first"])
    added = ok(await api.as_("a_operator", ADD, {"input": {"memberId": member, "level": "CITY", "term": 12,
                                                          "category": "基层党员", "delegation": "甲区代表团"}}),
               "addRepresentativeTerm")["representativeTerm"]
    assert (added["level"], added["term"], added["category"], added["delegation"], added["terminatedOn"]) == \
        ("CITY", 12, "基层党员", "甲区代表团", None)
    # One seat per member per level and term.
    assert problems(await api.as_("a_operator", ADD, {"input": {"memberId": member, "level": "CITY", "term": 12}}),
                    "addRepresentativeTerm") == [("DUPLICATE", ["term"])]
    await seat(api, member, "CITY", 11)
    await seat(api, member, "PROVINCIAL", 12)
    # Bad input.
    assert problems(await api.as_("a_operator", ADD, {"input": {"memberId": member, "level": "CITY", "term": 0}}),
                    "addRepresentativeTerm") == [("INVALID", ["term"])]
    # Only FULL members on the roll.
    applicant = await new_member(api, world, "a1", "申请人", category="APPLICANT", joinedOn=None, confirmedOn=None)
    assert problems(await api.as_("a_operator", ADD, {"input": {"memberId": applicant, "level": "CITY", "term": 12}}),
                    "addRepresentativeTerm") == [("NOT_ALLOWED", ["memberId"])]
    # Terminate: a reason is required, once, not in the future.
    assert problems(await api.as_("a_operator", TERMINATE, {"input": {"termId": added["id"], "date": "2024-05-01",
                                                                     "reason": " "}}),
                    "terminateRepresentative") == [("INVALID", ["reason"])]
    done = ok(await api.as_("a_operator", TERMINATE, {"input": {"termId": added["id"], "date": "2024-05-01",
                                                               "reason": "调离本地"}}),
              "terminateRepresentative")["representativeTerm"]
    assert (done["terminatedOn"], done["terminationReason"]) == ("2024-05-01", "调离本地")
    assert problems(await api.as_("a_operator", TERMINATE, {"input": {"termId": added["id"], "date": "2024-06-01",
                                                                     "reason": "再次"}}),
                    "terminateRepresentative") == [("CONFLICT", ["termId"])]
    # Member.representativeTerms: national first, then by term.
    seats = (await api.as_("a_viewer", """query($id: ID!) { member(id: $id) { representativeTerms {
        level term terminatedOn } } }""", {"id": member}))["data"]["member"]["representativeTerms"]
    assert seats == [{"level": "PROVINCIAL", "term": 12, "terminatedOn": None},
                     {"level": "CITY", "term": 11, "terminatedOn": None},
                     {"level": "CITY", "term": 12, "terminatedOn": "2024-05-01"}]
    # Outside the branch: NOT_FOUND, null.
    assert problems(await api.as_("b_admin", ADD, {"input": {"memberId": member, "level": "CITY", "term": 13}}),
                    "addRepresentativeTerm") == [("NOT_FOUND", ["memberId"])]
    assert problems(await api.as_("b_admin", TERMINATE, {"input": {"termId": added["id"], "date": "2024-05-01",
                                                                  "reason": "x"}}),
                    "terminateRepresentative") == [("NOT_FOUND", ["termId"])]
    assert (await api.as_("b_viewer", NODE, {"id": added["id"]}))["data"]["node"] is None
    assert (await api.as_("a1_member", NODE, {"id": added["id"]}))["data"]["node"]["id"] == added["id"]
    assert error_codes(await api.as_("a_viewer", ADD, {"input": {"memberId": member, "level": "CITY",
                                                                 "term": 13}})) == ["FORBIDDEN"]


async def representatives_world(api, world) -> dict[str, str]:
    """In A: 甲一 (PROVINCIAL 12, CITY 11, CITY 12), 甲二 (CITY 12), 甲三 (COUNTY 10, terminated),
    甲四 (no seat), 甲五 (CITY 12; has left the party). In B: 乙一 (CITY 12)."""
    ids = {"甲一": gid("Member", world.members["a1_first"]), "甲二": gid("Member", world.members["a2_only"]),
           "甲三": gid("Member", world.members["a1_second"]), "乙一": gid("Member", world.members["b1_only"])}
    ids["甲五"] = await new_member(api, world, "a2", "甲五")
    for level, term in (("PROVINCIAL", 12), ("CITY", 11), ("CITY", 12)):
        await seat(api, ids["甲一"], level, term)
    await seat(api, ids["甲二"], "CITY", 12)
    county = await seat(api, ids["甲三"], "COUNTY", 10)
    ok(await api.as_("a_operator", TERMINATE, {"input": {"termId": county, "date": "2024-01-01", "reason": "辞职"}}),
       "terminateRepresentative")
    await seat(api, ids["甲五"], "CITY", 12)
    ok(await api.as_("a_admin", STATUS, {"m": ids["甲五"], "k": "DEATH", "d": "2024-02-01"}), "recordStatusChange")
    await seat(api, ids["乙一"], "CITY", 12, who="b_admin")
    return ids


async def summary(api, who: str, **query) -> dict:
    result = await api.as_(who, SUMMARY, {"q": query})
    assert "errors" not in result, result
    data = result["data"]["representatives"]
    names = sorted(e["node"]["name"] for e in data["members"]["edges"])
    assert data["members"]["totalCount"] == data["count"] == len(names)
    return {"count": data["count"], "total": data["total"], "percent": data["percent"], "names": names}


async def test_representative_summary_query_forms(api, world):
    await representatives_world(api, world)
    a = gid("Organization", world.orgs["a"])
    world_names = {"李明": "甲一", "赵刚": "甲二", "王芳": "甲三"}

    async def ask(who="a_viewer", **query):
        answer = await summary(api, who, organizationId=query.pop("organizationId", a), **query)
        answer["names"] = [world_names.get(n, n) for n in answer["names"]]
        return answer

    # Every representative in scope (the one who left and the terminated seat are not counted).
    assert await ask() == {"count": 2, "total": 2, "percent": 100.0, "names": ["甲一", "甲二"]}
    # Level overlap (allOf two levels), level–term linkage.
    assert await ask(allOf=[{"level": "PROVINCIAL"}, {"level": "CITY", "term": 12}]) == \
        {"count": 1, "total": 2, "percent": 50.0, "names": ["甲一"]}
    # Term cross: both the 11th and the 12th city congress.
    assert (await ask(allOf=[{"level": "CITY", "term": 11}, {"level": "CITY", "term": 12}]))["names"] == ["甲一"]
    # Exclusion.
    assert (await ask(allOf=[{"level": "CITY"}], noneOf=[{"level": "PROVINCIAL"}]))["names"] == ["甲二"]
    assert (await ask(noneOf=[{"level": "CITY", "term": 11}]))["names"] == ["甲二"]
    # Multi-term and multi-level.
    assert (await ask(minTerms=2))["names"] == ["甲一"]
    assert (await ask(minTerms=3, minLevels=2))["names"] == ["甲一"]
    assert (await ask(minTerms=4))["count"] == 0
    assert (await ask(minLevels=2))["names"] == ["甲一"]
    # Terminated seats count when asked for.
    assert await ask(includeTerminated=True, allOf=[{"level": "COUNTY"}]) == \
        {"count": 1, "total": 3, "percent": 33.33, "names": ["甲三"]}
    assert (await ask(allOf=[{"level": "COUNTY"}]))["count"] == 0
    # Scope: SELF of A holds no member; A1 alone; the root sees B's as well.
    assert await ask(scope="SELF") == {"count": 0, "total": 0, "percent": 0.0, "names": []}
    assert (await ask(organizationId=gid("Organization", world.orgs["a1"])))["names"] == ["甲一"]
    root = gid("Organization", world.orgs["root"])
    assert (await ask("root_admin", organizationId=root, allOf=[{"level": "CITY", "term": 12}]))["count"] == 3
    # Outside the branch: nothing, not even a total.
    assert await ask("b_viewer") == {"count": 0, "total": 0, "percent": 0.0, "names": []}
    assert await ask(organizationId=gid("Organization", world.orgs["b"])) == \
        {"count": 0, "total": 0, "percent": 0.0, "names": []}
    assert await ask("a_viewer", organizationId=root) == {"count": 0, "total": 0, "percent": 0.0, "names": []}
    # A MEMBER asking: its own record only.
    assert error_codes(await api.as_("a1_member", SUMMARY, {"q": {"organizationId": a}})) == ["FORBIDDEN"]
    # Bad input is a client error.
    for bad in ({"minTerms": -1}, {"allOf": [{"level": "CITY", "term": 0}]}, {"noneOf": [{"level": "CITY"}] * 51}):
        result = await api.as_("a_viewer", SUMMARY, {"q": {"organizationId": a, **bad}})
        assert error_codes(result) == ["BAD_USER_INPUT"], result


async def test_two_adds_of_one_seat_at_once_one_is_duplicate(api, world, engine):
    race = Race(engine)
    try:
        token = await api.login("a_operator")
        member = gid("Member", world.members["a1_first"])
        for term in range(1, 4):
            results = await race.run(*(api.post(ADD, {"input": {"memberId": member, "level": "COUNTY", "term": term}},
                                                token) for _ in range(2)))
            outcomes = sorted(tuple(code for code, _ in problems(r, "addRepresentativeTerm")) for r in results)
            assert outcomes == [(), ("DUPLICATE",)], results
        seats = (await api.as_("a_viewer", """query($id: ID!) { member(id: $id) { representativeTerms { term } } }""",
                               {"id": member}))["data"]["member"]["representativeTerms"]
        assert [s["term"] for s in seats] == [1, 2, 3]
    finally:
        race.remove()


# ------------------------------------------------------------------ volunteers

SET = """mutation($input: SetVolunteerInput!) { setVolunteer(input: $input) {
  volunteer { id category serviceTime serviceIntent member { id } } userErrors { code field message } } }"""
VOLUNTEERS = """query($f: VolunteerFilter!, $first: Int, $after: String) { volunteers(filter: $f, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { category member { name } } } } }"""


async def volunteers(api, who, first=50, **filter_) -> tuple[int, list[str]]:
    result = await api.as_(who, VOLUNTEERS, {"f": filter_, "first": first})
    assert "errors" not in result, result
    data = result["data"]["volunteers"]
    return data["totalCount"], [e["node"]["member"]["name"] for e in data["edges"]]


async def test_set_volunteer_and_list_by_filter(api, world):
    first, second = gid("Member", world.members["a1_first"]), gid("Member", world.members["a1_second"])
    a2_only, b1_only = gid("Member", world.members["a2_only"]), gid("Member", world.members["b1_only"])
    made = ok(await api.as_("a_operator", SET, {"input": {"memberId": first, "category": "社区服务",
                                                         "serviceTime": "周末", "serviceIntent": "关爱老人"}}),
              "setVolunteer")["volunteer"]
    # Set again: the same record, replaced.
    again = ok(await api.as_("a_operator", SET, {"input": {"memberId": first, "category": "社区服务",
                                                          "serviceTime": "周末上午"}}), "setVolunteer")["volunteer"]
    assert again["id"] == made["id"] and again["serviceIntent"] is None and again["serviceTime"] == "周末上午"
    ok(await api.as_("a_operator", SET, {"input": {"memberId": second, "category": "文明宣传", "serviceTime": "工作日晚上",
                                                  "serviceIntent": "理论宣讲"}}), "setVolunteer")
    ok(await api.as_("a_operator", SET, {"input": {"memberId": a2_only, "category": "社区服务",
                                                  "serviceIntent": "关爱老人与儿童"}}), "setVolunteer")
    ok(await api.as_("b_admin", SET, {"input": {"memberId": b1_only, "category": "社区服务"}}), "setVolunteer")
    assert problems(await api.as_("a_operator", SET, {"input": {"memberId": first, "category": " "}}),
                    "setVolunteer") == [("INVALID", ["category"])]
    assert problems(await api.as_("b_admin", SET, {"input": {"memberId": first, "category": "x"}}),
                    "setVolunteer") == [("NOT_FOUND", ["memberId"])]
    a, a1 = gid("Organization", world.orgs["a"]), gid("Organization", world.orgs["a1"])
    assert await volunteers(api, "a_viewer", organizationId=a1) == (2, ["李明", "王芳"])
    assert await volunteers(api, "a_viewer", organizationId=a) == (0, [])  # SELF by default
    assert await volunteers(api, "a_viewer", organizationId=a, scope="SUBTREE") == (3, ["李明", "王芳", "赵刚"])
    assert await volunteers(api, "a_viewer", organizationId=a, scope="SUBTREE", category="社区服务") == \
        (2, ["李明", "赵刚"])
    assert await volunteers(api, "a_viewer", organizationId=a, scope="SUBTREE", serviceTime="周末") == (1, ["李明"])
    assert await volunteers(api, "a_viewer", organizationId=a, scope="SUBTREE", serviceIntent="老人") == (1, ["赵刚"])
    assert await volunteers(api, "a_viewer", organizationId=a, scope="SUBTREE", serviceIntent="%") == (0, [])
    root = gid("Organization", world.orgs["root"])
    assert (await volunteers(api, "root_admin", organizationId=root, scope="SUBTREE"))[0] == 4
    # Outside the branch: none.
    assert await volunteers(api, "b_viewer", organizationId=a1) == (0, [])
    assert await volunteers(api, "a_viewer", organizationId=root, scope="SUBTREE") == (0, [])
    # Paging: keyset, in tree order.
    result = await api.as_("a_viewer", VOLUNTEERS, {"f": {"organizationId": a, "scope": "SUBTREE"}, "first": 2})
    page = result["data"]["volunteers"]
    assert page["pageInfo"]["hasNextPage"] and len(page["edges"]) == 2
    rest = (await api.as_("a_viewer", VOLUNTEERS, {"f": {"organizationId": a, "scope": "SUBTREE"}, "first": 2,
                                                   "after": page["pageInfo"]["endCursor"]}))["data"]["volunteers"]
    assert [e["node"]["member"]["name"] for e in rest["edges"]] == ["赵刚"]
    # Member.volunteer, and the member's own.
    own = await api.as_("a1_member", """{ viewer { member { volunteer { id category } } } }""")
    assert own["data"]["viewer"]["member"]["volunteer"] == {"id": made["id"], "category": "社区服务"}
    assert (await api.as_("b_viewer", NODE, {"id": made["id"]}))["data"]["node"] is None

