"""A member's life after entry, through GraphQL on both engines (issue 8): the dated history and
state as of past days, party status changes (党籍异动), development (promoteMember), updates with
expectedVersion, ID number corrections, approval (待审), and inflow conversion."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from db import clock, idnumber, models
from db.engine import make_sessionmaker
from db.services import history
from db.services.members import DEFAULT_STATUSES
from db.tree import HEALTHY, invariant_violations, repair_rollups
from gql.ids import from_global_id
from tests.conftest import error_codes, gid
from tests.factories import make_member, new_id_number
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


CREATE = """mutation($input: CreateMemberInput!) { createMember(input: $input) {
  member { id status category version affiliation } userErrors { code field message } } }"""
PROMOTE = """mutation($m: ID!, $to: MemberCategory!, $d: Date!) { promoteMember(input: {memberId: $m, to: $to, date: $d}) {
  member { category appliedOn activistOn candidateOn joinedOn confirmedOn version } userErrors { code field message } } }"""
STATUS = """mutation($m: ID!, $k: StatusChangeKind!, $d: Date!, $r: String) {
  recordStatusChange(input: {memberId: $m, kind: $k, date: $d, reason: $r}) {
    statusChange { id kind date reason member { id } } member { status } userErrors { code field message } } }"""
UPDATE = """mutation($m: ID!, $v: Int, $f: MemberFields!) { updateMember(input: {memberId: $m, expectedVersion: $v, fields: $f}) {
  member { name phone version nativePlace completeness { percent } } userErrors { code field message } } }"""
COUNTS = """query($o: ID!) { organization(id: $o) { own: memberCount all: memberCount(filter: {scope: SUBTREE})
  members(first: 100) { edges { node { name } } } } }"""
MEMBER = """query($id: ID!) { member(id: $id) { name status category rejectionReason idNumber birthDate gender
  affiliation version statusChanges { kind date reason } } }"""


async def create(api, username, organization, **fields) -> str:
    data = {"name": "新党员", "idNumber": new_id_number(dt.date(1990, 5, 20)), "category": "FULL",
            "appliedOn": "2010-03-01", "joinedOn": "2012-07-01", "confirmedOn": "2013-07-01"}
    since = fields.pop("since", None)
    affiliation = fields.pop("affiliation", "DIRECT")
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    input_ = {"organizationId": gid("Organization", organization), "fields": data, "affiliation": affiliation}
    if since:
        input_["since"] = since
    return ok(await api.as_(username, CREATE, {"input": input_}), "createMember")["member"]["id"]


async def counts(api, organization, username="root_admin"):
    result = await api.as_(username, COUNTS, {"o": gid("Organization", organization)})
    assert "errors" not in result, result
    o = result["data"]["organization"]
    return o["own"], o["all"], {e["node"]["name"] for e in o["members"]["edges"]}


async def state_on(engine, day: dt.date) -> dict[int, tuple]:
    async with make_sessionmaker(engine)() as session:
        return {row.member_id: (row.organization_id, row.category, row.status)
                for row in await session.execute(history.state_as_of(day))}


# ------------------------------------------------------------------ the dated history


async def test_state_as_of_past_days_is_rebuilt_from_the_history(api, world, engine):
    """A member entered as an applicant, developed step by step to a full member, and then a death
    recorded later with an earlier date: at each past day the history answers what was true then;
    today it agrees with the member row; past answers before the back-dated death are unchanged."""
    a1 = world.orgs["a1"]
    member_id = await create(api, "a_admin", a1, name="历史", category="APPLICANT", appliedOn="2015-01-10",
                             joinedOn=None, confirmedOn=None)
    pk = from_global_id(member_id)[1]
    for to, day in (("ACTIVIST", "2016-02-01"), ("CANDIDATE", "2017-03-01"), ("PROBATIONARY", "2018-04-01"),
                    ("FULL", "2019-04-01")):
        ok(await api.as_("a_admin", PROMOTE, {"m": member_id, "to": to, "d": day}), "promoteMember")
    before_death = await state_on(engine, dt.date(2021, 5, 4))
    ok(await api.as_("a_admin", STATUS, {"m": member_id, "k": "DEATH", "d": "2021-05-05", "r": "病故"}),
       "recordStatusChange")
    expected = {
        dt.date(2015, 1, 9): None,
        dt.date(2015, 1, 10): (a1.id, "APPLICANT", "ACTIVE"),
        dt.date(2016, 1, 31): (a1.id, "APPLICANT", "ACTIVE"),
        dt.date(2016, 2, 1): (a1.id, "ACTIVIST", "ACTIVE"),
        dt.date(2017, 3, 1): (a1.id, "CANDIDATE", "ACTIVE"),
        dt.date(2018, 3, 31): (a1.id, "CANDIDATE", "ACTIVE"),
        dt.date(2018, 4, 1): (a1.id, "PROBATIONARY", "ACTIVE"),
        dt.date(2019, 3, 31): (a1.id, "PROBATIONARY", "ACTIVE"),
        dt.date(2019, 4, 1): (a1.id, "FULL", "ACTIVE"),
        dt.date(2021, 5, 4): (a1.id, "FULL", "ACTIVE"),
        dt.date(2021, 5, 5): (a1.id, "FULL", "LEFT"),
        TODAY: (a1.id, "FULL", "LEFT"),
    }
    for day, state in expected.items():
        assert (await state_on(engine, day)).get(pk) == state, day
    assert (await state_on(engine, dt.date(2021, 5, 4))) == before_death
    # Every member's answer for today is its row (the invariant), and the world's members, entered
    # with joinedOn 2010-07-01 and confirmedOn 2011-07-01, were probationary in between.
    async with make_sessionmaker(engine)() as session:
        rows = {m.id: (m.organization_id, m.category, m.status) for m in await session.scalars(select(models.Member))}
    assert await state_on(engine, TODAY) == rows
    first = world.members["a1_first"]
    assert (await state_on(engine, dt.date(2011, 1, 1)))[first.id] == (a1.id, "PROBATIONARY", "ACTIVE")
    assert first.id not in await state_on(engine, dt.date(2010, 6, 30))
    # Counted members of A1 at the end of a past day, from the facts alone.
    counted = [s for s in (await state_on(engine, dt.date(2020, 1, 1))).values()
               if s[0] == a1.id and s[2] in DEFAULT_STATUSES]
    assert len(counted) == 3


async def test_the_history_invariant_catches_and_repairs_a_column_out_of_step(world, engine):
    member = world.members["a2_only"]
    async with make_sessionmaker(engine)() as session, session.begin():
        await session.execute(update(models.Member).where(models.Member.id == member.id).values(category="ACTIVIST"))
    async with make_sessionmaker(engine)() as session:
        assert (await invariant_violations(session))["history"] == 1
    async with make_sessionmaker(engine)() as session, session.begin():
        await repair_rollups(session)
    async with make_sessionmaker(engine)() as session:
        assert await invariant_violations(session) == HEALTHY
        assert (await session.scalar(select(models.Member.category).where(models.Member.id == member.id))) == "FULL"


# ------------------------------------------------------------------ party status (党籍异动)

APPOINT = """mutation($o: ID!, $m: ID!) { appointLeader(input: {organizationId: $o, memberId: $m, title: SECRETARY,
  since: "2020-01-01"}) { position { id } userErrors { code message } } }"""
POSITIONS = """query($o: ID!) { organization(id: $o) { leadership { secretary { member { name } } } } }"""


async def test_a_member_who_left_keeps_the_record_drops_out_of_lists_and_counts_and_positions_end(api, world, engine):
    a1, member = world.orgs["a1"], world.members["a1_first"]
    ok(await api.as_("a_admin", APPOINT, {"o": gid("Organization", a1), "m": gid("Member", member)}), "appointLeader")
    own, subtree, names = await counts(api, a1)
    a_own, a_subtree, _ = await counts(api, world.orgs["a"])
    assert (own, subtree) == (2, 2) and "李明" in names
    day = (TODAY - dt.timedelta(days=30)).isoformat()  # recorded today, effective a month ago
    result = ok(await api.as_("a_operator", STATUS, {"m": gid("Member", member), "k": "DEATH", "d": day, "r": "病故"}),
                "recordStatusChange")
    assert result["member"] == {"status": "LEFT"}
    assert result["statusChange"]["kind"] == "DEATH" and result["statusChange"]["date"] == day
    own, subtree, names = await counts(api, a1)
    assert (own, subtree) == (1, 1) and "李明" not in names
    assert (await counts(api, world.orgs["a"]))[1] == a_subtree - 1
    data = (await api.as_("root_admin", MEMBER, {"id": gid("Member", member)}))["data"]["member"]
    assert data["status"] == "LEFT" and data["statusChanges"] == [{"kind": "DEATH", "date": day, "reason": "病故"}]
    listed = await api.as_("root_admin", """{ members(filter: {statuses: [LEFT]}) { edges { node { name } } } }""")
    assert [e["node"]["name"] for e in listed["data"]["members"]["edges"]] == ["李明"]
    leadership = (await api.as_("root_admin", POSITIONS, {"o": gid("Organization", a1)}))["data"]
    assert leadership["organization"]["leadership"]["secretary"] is None
    async with make_sessionmaker(engine)() as session:
        until = await session.scalar(select(models.LeaderPosition.until).where(
            models.LeaderPosition.member_id == member.id))
    assert until == dt.date.fromisoformat(day)
    # No further change to a member who left; the same death twice is refused.
    assert problems(await api.as_("a_operator", STATUS, {"m": gid("Member", member), "k": "DEATH", "d": day}),
                    "recordStatusChange") == [("NOT_ALLOWED", ["memberId"])]


async def test_status_change_rules(api, world):
    member = gid("Member", world.members["a1_second"])  # FULL, placed 2010-07-01

    async def change(kind, day, who="a_operator"):
        return problems(await api.as_(who, STATUS, {"m": member, "k": kind, "d": day}), "recordStatusChange")

    assert await change("RESTORED", "2020-01-01") == [("NOT_ALLOWED", ["kind"])]
    assert await change("PROBATION_EXTENDED", "2020-01-01") == [("NOT_ALLOWED", ["kind"])]
    assert await change("PROBATION_CANCELLED", "2020-01-01") == [("NOT_ALLOWED", ["kind"])]
    assert await change("DEATH", (TODAY + dt.timedelta(days=1)).isoformat()) == [("INVALID", ["date"])]
    assert await change("DEATH", "2009-01-01") == [("INVALID", ["date"])]  # before the member's latest fact
    assert await change("SUSPENDED", "2020-01-01") == []
    assert await change("SUSPENDED", "2020-02-01") == [("NOT_ALLOWED", ["kind"])]
    assert await change("RESTORED", "2020-03-01") == []
    # A VIEWER may not; a foreign member does not exist for the caller.
    result = await api.as_("a_viewer", STATUS, {"m": member, "k": "SUSPENDED", "d": "2020-04-01"})
    assert error_codes(result) == ["FORBIDDEN"]
    result = await api.as_("b_admin", STATUS, {"m": member, "k": "SUSPENDED", "d": "2020-04-01"})
    assert problems(result, "recordStatusChange") == [("NOT_FOUND", ["memberId"])]


async def test_a_status_change_may_not_precede_a_suspension_record(api, world):
    """A 党籍异动 record is a fact of the history: a change dated before the member's SUSPENDED
    record is refused (before 2026-12 only steps and placement starts counted, so a RESTORED
    dated before the suspension was accepted and the member stayed suspended)."""
    member = gid("Member", world.members["a1_second"])  # FULL, placed 2010-07-01

    async def change(kind, day):
        return problems(await api.as_("a_operator", STATUS, {"m": member, "k": kind, "d": day}), "recordStatusChange")

    assert await change("SUSPENDED", "2021-06-01") == []
    assert await change("RESTORED", "2021-03-01") == [("INVALID", ["date"])]
    assert await change("DEATH", "2021-05-31") == [("INVALID", ["date"])]
    assert await change("RESTORED", "2021-06-01") == []  # the same day is not before it
    assert await change("SUSPENDED", "2021-07-01") == []  # restored: it may be suspended again


async def test_probation_extension_and_confirmation(api, world):
    joined = TODAY - dt.timedelta(days=200)
    member = await create(api, "a_admin", world.orgs["a2"], category="PROBATIONARY", appliedOn="2010-01-01",
                          joinedOn=joined.isoformat(), confirmedOn=None)
    too_early = (joined + dt.timedelta(days=100)).isoformat()
    assert problems(await api.as_("a_admin", PROMOTE, {"m": member, "to": "FULL", "d": too_early}),
                    "promoteMember") == [("INVALID", ["date"])]
    ok(await api.as_("a_admin", STATUS, {"m": member, "k": "PROBATION_EXTENDED", "d": TODAY.isoformat(),
                                         "r": "延长预备期一年"}), "recordStatusChange")
    assert problems(await api.as_("a_admin", STATUS, {"m": member, "k": "PROBATION_EXTENDED",
                                                      "d": TODAY.isoformat()}), "recordStatusChange") == \
        [("NOT_ALLOWED", ["kind"])]
    # A probationary member whose probation is cancelled leaves the party.
    result = ok(await api.as_("a_admin", STATUS, {"m": member, "k": "PROBATION_CANCELLED", "d": TODAY.isoformat()}),
                "recordStatusChange")
    assert result["member"]["status"] == "LEFT"


# ------------------------------------------------------------------ development (发展)


async def test_promote_one_step_at_a_time_with_its_date(api, world):
    member = await create(api, "a_admin", world.orgs["a1"], category="APPLICANT", appliedOn="2019-01-01",
                          joinedOn=None, confirmedOn=None)

    async def promote(to, day):
        return await api.as_("a_admin", PROMOTE, {"m": member, "to": to, "d": day})

    assert problems(await promote("CANDIDATE", "2019-06-01"), "promoteMember") == [("NOT_ALLOWED", ["to"])]
    assert problems(await promote("APPLICANT", "2019-06-01"), "promoteMember") == [("NOT_ALLOWED", ["to"])]
    assert problems(await promote("ACTIVIST", "2018-06-01"), "promoteMember") == [("INVALID", ["date"])]
    assert problems(await promote("ACTIVIST", (TODAY + dt.timedelta(days=2)).isoformat()), "promoteMember") == \
        [("INVALID", ["date"])]
    assert ok(await promote("ACTIVIST", "2019-06-01"), "promoteMember")["member"]["activistOn"] == "2019-06-01"
    ok(await promote("CANDIDATE", "2020-06-01"), "promoteMember")
    assert ok(await promote("PROBATIONARY", "2021-06-01"), "promoteMember")["member"]["joinedOn"] == "2021-06-01"
    # The probation year: not before 2022-06-01.
    assert problems(await promote("FULL", "2022-05-31"), "promoteMember") == [("INVALID", ["date"])]
    member_data = ok(await promote("FULL", "2022-06-01"), "promoteMember")["member"]
    assert member_data["category"] == "FULL" and member_data["confirmedOn"] == "2022-06-01"
    assert problems(await promote("FULL", "2023-06-01"), "promoteMember") == [("NOT_ALLOWED", ["to"])]
    assert error_codes(await api.as_("a_viewer", PROMOTE, {"m": member, "to": "FULL", "d": "2023-01-01"})) == \
        ["FORBIDDEN"]


async def test_admission_age_rule_on_promotion(api, world):
    birth = dt.date(TODAY.year - 19, 1, 1) + dt.timedelta(days=400)  # 17 a year ago, 18 now
    number = idnumber.make("110105", birth, 11)
    member = await create(api, "a_admin", world.orgs["a1"], idNumber=number, category="CANDIDATE",
                          appliedOn=(birth + dt.timedelta(days=365 * 17)).isoformat(), joinedOn=None,
                          confirmedOn=None)
    at_17 = (birth + dt.timedelta(days=365 * 17 + 200)).isoformat()
    at_18 = TODAY.isoformat()
    assert problems(await api.as_("a_admin", PROMOTE, {"m": member, "to": "PROBATIONARY", "d": at_17}),
                    "promoteMember") == [("INVALID", ["date"])]
    assert problems(await api.as_("a_admin", PROMOTE, {"m": member, "to": "PROBATIONARY", "d": at_18}),
                    "promoteMember") == [("INVALID", ["date"])]  # 18: a review note first
    ok(await api.as_("a_admin", UPDATE, {"m": member, "f": {"reviewNote": "经党委人工审核同意"}}), "updateMember")
    ok(await api.as_("a_admin", PROMOTE, {"m": member, "to": "PROBATIONARY", "d": at_18}), "promoteMember")


# ------------------------------------------------------------------ updateMember, correctIdNumber


async def test_update_member_with_expected_version(api, world):
    member = gid("Member", world.members["a1_first"])
    result = ok(await api.as_("a_operator", UPDATE, {"m": member, "v": 1, "f": {"phone": "13800000001",
                                                                               "nativePlace": "湖南长沙"}}),
                "updateMember")
    assert result["member"]["phone"] == "13800000001" and result["member"]["version"] == 2
    # ethnicity, native place, phone, applied, joined, confirmed: 6 of a full member's 10 fields.
    assert result["member"]["completeness"]["percent"] == 60
    # The stale version: CONFLICT, nothing written.
    assert problems(await api.as_("a_operator", UPDATE, {"m": member, "v": 1, "f": {"phone": "1"}}),
                    "updateMember") == [("CONFLICT", ["expectedVersion"])]
    # Every problem at once; the ID number and the category are not changed here.
    result = await api.as_("a_operator", UPDATE, {"m": member, "v": 2, "f": {
        "idNumber": new_id_number(), "category": "ACTIVIST", "educationCode": "nope",
        "joinedOn": (TODAY + dt.timedelta(days=1)).isoformat(), "name": ""}})
    assert sorted(problems(result, "updateMember")) == sorted([
        ("NOT_ALLOWED", ["fields", "idNumber"]), ("NOT_ALLOWED", ["fields", "category"]),
        ("INVALID", ["fields", "educationCode"]), ("INVALID", ["fields", "joinedOn"]),
        ("INVALID", ["fields", "confirmedOn"]), ("INVALID", ["fields", "name"])]), result
    data = (await api.as_("root_admin", MEMBER, {"id": member}))["data"]["member"]
    assert data["version"] == 2 and data["name"] == "李明"
    # Without expectedVersion the update applies to what is there.
    assert ok(await api.as_("a_operator", UPDATE, {"m": member, "f": {"name": "李明明"}}),
              "updateMember")["member"]["version"] == 3
    # A date of a step the member has reached moves in the history too (a correction).
    ok(await api.as_("a_operator", UPDATE, {"m": member, "f": {"joinedOn": "2010-06-01"}}), "updateMember")


async def test_two_updates_at_once_one_conflicts(api, world, engine):
    """Two updates of one member with the same expectedVersion, on two connections at once: one
    wins, the other gets CONFLICT (row lock, then the version check; compare-and-set behind it)."""
    race = Race(engine)
    try:
        token = await api.login("a_operator")
        member = gid("Member", world.members["a2_only"])
        for n in range(5):
            version = (await api.as_("root_admin", MEMBER, {"id": member}))["data"]["member"]["version"]
            results = await race.run(*(api.post(UPDATE, {"m": member, "v": version, "f": {"phone": f"1380000{n}{i}"}},
                                                token) for i in range(2)))
            outcomes = sorted(tuple(problems(r, "updateMember")) for r in results)
            assert outcomes == [(), (("CONFLICT", ["expectedVersion"]),)], results
            data = (await api.as_("root_admin", MEMBER, {"id": member}))["data"]["member"]
            assert data["version"] == version + 1
    finally:
        race.remove()


CORRECT = """mutation($m: ID!, $n: String!, $r: String!) { correctIdNumber(input: {memberId: $m, newIdNumber: $n, reason: $r}) {
  member { idNumber birthDate gender version } userErrors { code field message } } }"""


async def test_correct_id_number_admin_only_reason_kept(api, world, engine):
    member = world.members["a1_second"]
    number = idnumber.make("430102", dt.date(1986, 2, 3), 12)  # even sequence: female
    assert error_codes(await api.as_("a_operator", CORRECT, {"m": gid("Member", member), "n": number, "r": "录入错误"})) \
        == ["FORBIDDEN"]
    assert sorted(problems(await api.as_("a_admin", CORRECT, {"m": gid("Member", member), "n": "123", "r": " "}),
                           "correctIdNumber")) == [("INVALID", ["newIdNumber"]), ("INVALID", ["reason"])]
    taken = world.members["a1_first"].id_number
    assert problems(await api.as_("a_admin", CORRECT, {"m": gid("Member", member), "n": taken, "r": "录入错误"}),
                    "correctIdNumber") == [("DUPLICATE", ["newIdNumber"])]
    result = ok(await api.as_("a_admin", CORRECT, {"m": gid("Member", member), "n": number, "r": "录入错误"}),
                "correctIdNumber")
    assert result["member"]["idNumber"] == number
    assert result["member"]["birthDate"] == "1986-02-03" and result["member"]["gender"] == "FEMALE"
    async with make_sessionmaker(engine)() as session:
        kept = (await session.scalars(select(models.MemberCorrection))).one()
    assert (kept.old_value, kept.new_value, kept.reason, kept.account_id) == (
        member.id_number, number, "录入错误", world.accounts["a_admin"].id)


# ------------------------------------------------------------------ approval (待审)

REQUIRE = """mutation($o: ID!) { updateOrganization(input: {organizationId: $o, requiresApproval: true}) {
  organization { requiresApproval } userErrors { code message } } }"""
PENDING = """query($o: ID) { pendingApprovals(organizationId: $o) { totalCount edges { node { id name status } } } }"""
REVIEW = """mutation($ids: [ID!]!, $r: String) { %s(input: {memberIds: $ids, reason: $r}) {
  members { id status rejectionReason } userErrors { code field message } } }"""
RESUBMIT = """mutation($m: ID!, $f: MemberFields) { resubmitMember(input: {memberId: $m, fields: $f}) {
  member { status name rejectionReason } userErrors { code field message } } }"""
DELETE = """mutation($ids: [ID!]!) { deleteRejectedMembers(input: {memberIds: $ids}) { ok userErrors { code field message } } }"""


async def test_approval_flow(api, world, engine):
    a1 = world.orgs["a1"]
    ok(await api.as_("root_admin", REQUIRE, {"o": gid("Organization", a1)}), "updateOrganization")
    before = await counts(api, a1)
    first = await create(api, "a1_admin", a1, name="待审甲")
    second = await create(api, "a1_admin", a1, name="待审乙")
    # Pending entries are counted nowhere, listed nowhere by default.
    assert await counts(api, a1) == before
    # The submitting organization sees them (in its branch) but does not decide them.
    assert (await api.as_("a1_admin", PENDING, {}))["data"]["pendingApprovals"]["totalCount"] == 0
    assert problems(await api.as_("a1_admin", REVIEW % "approveMembers", {"ids": [first]}), "approveMembers") == \
        [("NOT_ALLOWED", ["memberIds", "0"])]
    # The parent's OPERATOR sees them waiting; the root's ADMIN too (any strict ancestor).
    pending = (await api.as_("a_operator", PENDING, {}))["data"]["pendingApprovals"]
    assert pending["totalCount"] == 2 and {e["node"]["name"] for e in pending["edges"]} == {"待审甲", "待审乙"}
    assert (await api.as_("root_admin", PENDING, {"o": gid("Organization", a1)}))["data"]["pendingApprovals"][
        "totalCount"] == 2
    assert (await api.as_("b_admin", PENDING, {}))["data"]["pendingApprovals"]["totalCount"] == 0
    assert error_codes(await api.as_("a_viewer", PENDING, {})) == ["FORBIDDEN"]
    # Rejecting needs a reason; a batch with a foreign id fails whole, naming the index.
    assert problems(await api.as_("a_operator", REVIEW % "rejectMembers", {"ids": [first]}), "rejectMembers") == \
        [("INVALID", ["reason"])]
    foreign = gid("Member", world.members["b1_only"])
    assert problems(await api.as_("a_operator", REVIEW % "approveMembers", {"ids": [first, foreign]}),
                    "approveMembers") == [("NOT_FOUND", ["memberIds", "1"])]
    assert (await api.as_("a_operator", PENDING, {}))["data"]["pendingApprovals"]["totalCount"] == 2
    # Reject one with a reason: the submitter sees why.
    result = ok(await api.as_("a_operator", REVIEW % "rejectMembers", {"ids": [second], "r": "入党日期有误"}),
                "rejectMembers")
    assert result["members"] == [{"id": second, "status": "REJECTED", "rejectionReason": "入党日期有误"}]
    seen = (await api.as_("a1_admin", MEMBER, {"id": second}))["data"]["member"]
    assert (seen["status"], seen["rejectionReason"]) == ("REJECTED", "入党日期有误")
    assert await counts(api, a1) == before
    # Deciding an entry no longer pending: CONFLICT, and the whole batch writes nothing.
    assert problems(await api.as_("a_operator", REVIEW % "approveMembers", {"ids": [first, second]}),
                    "approveMembers") == [("CONFLICT", ["memberIds", "1"])]
    # Approve the first: an ACTIVE member of A1, counted.
    result = ok(await api.as_("a_operator", REVIEW % "approveMembers", {"ids": [first]}), "approveMembers")
    assert result["members"][0]["status"] == "ACTIVE"
    own, subtree, names = await counts(api, a1)
    assert (own, subtree) == (before[0] + 1, before[1] + 1) and "待审甲" in names
    # Resubmit the rejected one, corrected: pending again.
    assert problems(await api.as_("a1_admin", RESUBMIT, {"m": first}), "resubmitMember") == [("CONFLICT", ["memberId"])]
    result = ok(await api.as_("a1_admin", RESUBMIT, {"m": second, "f": {"name": "待审乙（已更正）"}}), "resubmitMember")
    assert result["member"] == {"status": "PENDING_APPROVAL", "name": "待审乙（已更正）", "rejectionReason": None}
    assert (await api.as_("a_operator", PENDING, {}))["data"]["pendingApprovals"]["totalCount"] == 1
    # Only REJECTED entries can be deleted; then they are gone.
    assert problems(await api.as_("a1_admin", DELETE, {"ids": [second]}), "deleteRejectedMembers") == \
        [("CONFLICT", ["memberIds", "0"])]
    ok(await api.as_("a_operator", REVIEW % "rejectMembers", {"ids": [second], "r": "仍有误"}), "rejectMembers")
    assert (await api.as_("a1_admin", DELETE, {"ids": [second]}))["data"]["deleteRejectedMembers"] == \
        {"ok": True, "userErrors": []}
    assert (await api.as_("root_admin", MEMBER, {"id": second}))["data"]["member"] is None
    # In the history the approved member was ACTIVE from its placement start.
    pk = from_global_id(first)[1]
    assert (await state_on(engine, dt.date(2012, 7, 1)))[pk] == (a1.id, "PROBATIONARY", "ACTIVE")


async def test_two_approvals_of_one_entry_at_once(api, world, engine):
    a1 = world.orgs["a1"]
    ok(await api.as_("root_admin", REQUIRE, {"o": gid("Organization", a1)}), "updateOrganization")
    race = Race(engine)
    try:
        for n in range(3):
            entry = await create(api, "a1_admin", a1, name=f"并发待审{n}")
            token_a, token_root = await api.login("a_operator"), await api.login("root_admin")
            results = await race.run(api.post(REVIEW % "approveMembers", {"ids": [entry]}, token_a),
                                     api.post(REVIEW % "rejectMembers", {"ids": [entry], "r": "重复"}, token_root))
            outcomes = sorted(tuple(problems(r, f)) for r, f in zip(results, ("approveMembers", "rejectMembers")))
            assert outcomes == [(), (("CONFLICT", ["memberIds", "0"]),)], results
    finally:
        race.remove()


# ------------------------------------------------------------------ inflow (流入党员)

CONVERT = """mutation($m: ID!) { convertInflowToDirect(input: {memberId: $m}) { member { affiliation }
  userErrors { code field message } } }"""


async def test_inflow_member_converted_to_direct(api, world):
    member = await create(api, "a_admin", world.orgs["a2"], affiliation="INFLOW", name="流入党员")
    assert (await api.as_("root_admin", MEMBER, {"id": member}))["data"]["member"]["affiliation"] == "INFLOW"
    assert ok(await api.as_("a_operator", CONVERT, {"m": member}), "convertInflowToDirect")["member"] == \
        {"affiliation": "DIRECT"}
    assert problems(await api.as_("a_operator", CONVERT, {"m": member}), "convertInflowToDirect") == \
        [("CONFLICT", ["memberId"])]
    assert problems(await api.as_("b_admin", CONVERT, {"m": member}), "convertInflowToDirect") == \
        [("NOT_FOUND", ["memberId"])]


async def test_create_reports_every_rule_at_once(api, world):
    """The one validation: GB 11643, dates in order and not in the future, the probation year, codes."""
    number = new_id_number()  # one number: two calls may give two numbers, and a valid "bad" one
    bad_check = number[:-1] + ("0" if number[-1] != "0" else "1")
    input_ = {"organizationId": gid("Organization", world.orgs["a1"]), "fields": {
        "name": "校验", "idNumber": bad_check, "category": "FULL", "ethnicityCode": "99x",
        "appliedOn": "2012-01-01", "joinedOn": "2011-07-01", "confirmedOn": "2011-12-01"}}
    result = await api.as_("a_admin", CREATE, {"input": input_})
    fields = sorted(f[-1] for _c, f in problems(result, "createMember"))
    assert "idNumber" in fields and "ethnicityCode" in fields and "joinedOn" in fields, result
    input_["fields"].update(idNumber=new_id_number(), ethnicityCode="01", appliedOn="2010-01-01")
    result = await api.as_("a_admin", CREATE, {"input": input_})
    assert problems(result, "createMember") == [("INVALID", ["fields", "confirmedOn"])]  # the probation year


@pytest.mark.parametrize("kind", ["DEATH", "EXPULSION"])
async def test_leaving_member_of_a_subtree_is_counted_out_of_every_ancestor(api, world, engine, kind):
    async with make_sessionmaker(engine)() as session, session.begin():
        a2 = await session.get(models.Organization, world.orgs["a2"].id)
        member = await make_member(session, a2, name="离开")
    root_before = (await counts(api, world.orgs["root"]))[1]
    ok(await api.as_("root_admin", STATUS, {"m": gid("Member", member), "k": kind, "d": TODAY.isoformat()}),
       "recordStatusChange")
    assert (await counts(api, world.orgs["root"]))[1] == root_before - 1


async def test_a_rejected_entry_is_corrected_whole_when_resubmitted(api, world, engine):
    """Category, dates and ID number of a rejected entry may all be corrected on resubmission (it
    never was a member); its category steps follow, so the history agrees once it is approved."""
    a1 = world.orgs["a1"]
    ok(await api.as_("root_admin", REQUIRE, {"o": gid("Organization", a1)}), "updateOrganization")
    entry = await create(api, "a1_admin", a1, name="更正", category="FULL")
    ok(await api.as_("a_operator", REVIEW % "rejectMembers", {"ids": [entry], "r": "应为预备党员"}), "rejectMembers")
    number = new_id_number(dt.date(1992, 3, 4))
    joined = (TODAY - dt.timedelta(days=100)).isoformat()
    result = ok(await api.as_("a1_admin", RESUBMIT, {"m": entry, "f": {
        "category": "PROBATIONARY", "joinedOn": joined, "confirmedOn": None, "idNumber": number}}), "resubmitMember")
    assert result["member"]["status"] == "PENDING_APPROVAL"
    ok(await api.as_("a_operator", REVIEW % "approveMembers", {"ids": [entry]}), "approveMembers")
    data = (await api.as_("root_admin", MEMBER, {"id": entry}))["data"]["member"]
    assert (data["category"], data["idNumber"], data["birthDate"]) == (
        "PROBATIONARY", number, idnumber.parse(number)[1].isoformat())
    pk = from_global_id(entry)[1]
    assert (await state_on(engine, TODAY))[pk] == (a1.id, "PROBATIONARY", "ACTIVE")
    # updateMember keeps the ID number and the category out of reach.
    assert sorted(problems(await api.as_("a_admin", UPDATE, {"m": entry, "f": {"idNumber": new_id_number(),
                                                                               "category": "FULL"}}),
                           "updateMember")) == [("NOT_ALLOWED", ["fields", "category"]),
                                                ("NOT_ALLOWED", ["fields", "idNumber"])]


async def test_the_migration_backfills_history_and_completeness_as_the_services_write_them(api, world, engine):
    """Migration 0010's statements (frozen copies) rebuild, from the member columns alone, steps whose
    answer for today is each member's row, and the completeness the services store."""
    import importlib.util
    from pathlib import Path

    from sqlalchemy import delete, text

    path = Path(__file__).resolve().parent.parent / "db/migrations/versions/0010_member_history_records.py"
    spec = importlib.util.spec_from_file_location("migration_0010", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    await create(api, "a_admin", world.orgs["a1"], name="申请人", category="APPLICANT", joinedOn=None, confirmedOn=None,
                 appliedOn=None, since="2020-02-02")
    await create(api, "a_admin", world.orgs["a1"], name="积极分子", category="ACTIVIST", joinedOn=None,
                 confirmedOn=None, appliedOn="2019-01-01", activistOn="2019-06-01")
    ok(await api.as_("a_admin", STATUS, {"m": gid("Member", world.members["a2_only"]), "k": "EXPULSION",
                                         "d": TODAY.isoformat()}), "recordStatusChange")
    async with make_sessionmaker(engine)() as session:
        stored = dict((await session.execute(select(models.Member.id, models.Member.completeness))).all())
    async with make_sessionmaker(engine)() as session, session.begin():
        await session.execute(delete(models.MemberCategoryStep))
        await session.execute(delete(models.MemberStatusStep))
        await session.execute(update(models.Member).values(completeness=0))
        for statement in [*migration.backfill_sql(), migration.completeness_sql()]:
            await session.execute(text(statement))
        # The state periods from that history, as migration 0021 computes them after 0010's.
        await history.rebuild_periods(session)
    async with make_sessionmaker(engine)() as session:
        assert await invariant_violations(session) == HEALTHY
        assert dict((await session.execute(select(models.Member.id, models.Member.completeness))).all()) == stored
    assert migration.backfill_sql() == history.backfill_sql()


async def test_an_extended_probation_is_confirmed_within_its_limit(api, world):
    """Without an extension a confirmation may come late; with one (延长预备期, at most a year) it
    must come within two years of joining, and not before the first year is over."""
    extended = await create(api, "a_admin", world.orgs["a2"], category="PROBATIONARY", appliedOn="2016-01-01",
                            joinedOn="2018-01-01", confirmedOn=None)
    plain = await create(api, "a_admin", world.orgs["a2"], category="PROBATIONARY", appliedOn="2016-01-01",
                         joinedOn="2018-01-01", confirmedOn=None)
    assert problems(await api.as_("a_admin", STATUS, {"m": extended, "k": "PROBATION_EXTENDED", "d": "2019-02-01"}),
                    "recordStatusChange") == [("INVALID", ["date"])]  # after the probation year
    ok(await api.as_("a_admin", STATUS, {"m": extended, "k": "PROBATION_EXTENDED", "d": "2018-12-01"}),
       "recordStatusChange")
    assert problems(await api.as_("a_admin", PROMOTE, {"m": extended, "to": "FULL", "d": "2020-06-01"}),
                    "promoteMember") == [("INVALID", ["date"])]
    ok(await api.as_("a_admin", PROMOTE, {"m": extended, "to": "FULL", "d": "2019-12-01"}), "promoteMember")
    ok(await api.as_("a_admin", PROMOTE, {"m": plain, "to": "FULL", "d": "2020-06-01"}), "promoteMember")


async def test_pending_and_rejected_entries_hold_no_leader_position(api, world):
    a1 = world.orgs["a1"]
    ok(await api.as_("root_admin", REQUIRE, {"o": gid("Organization", a1)}), "updateOrganization")
    entry = await create(api, "a1_admin", a1, name="待审班子")
    result = await api.as_("a_admin", APPOINT, {"o": gid("Organization", a1), "m": entry})
    assert [e["code"] for e in result["data"]["appointLeader"]["userErrors"]] == ["NOT_ALLOWED"]
    ok(await api.as_("a_operator", REVIEW % "rejectMembers", {"ids": [entry], "r": "不符合条件"}), "rejectMembers")
    result = await api.as_("a_admin", APPOINT, {"o": gid("Organization", a1), "m": entry})
    assert [e["code"] for e in result["data"]["appointLeader"]["userErrors"]] == ["NOT_ALLOWED"]
    # Nor do they take status changes or development steps.
    assert problems(await api.as_("a_admin", STATUS, {"m": entry, "k": "DEATH", "d": TODAY.isoformat()}),
                    "recordStatusChange") == [("NOT_ALLOWED", ["memberId"])]


@pytest.mark.parametrize("what", ["recordStatusChange", "promoteMember"])
async def test_two_changes_of_one_member_at_once(api, world, engine, what):
    """Two deaths of one member, or two promotions to the same next step, at once on two
    connections: one applies, the other is refused under the member's row lock; the member is
    counted out (or promoted) once, and the history agrees (teardown invariant)."""
    race = Race(engine)
    try:
        token = await api.login("a_operator")
        for n in range(3):
            async with make_sessionmaker(engine)() as session, session.begin():
                a2 = await session.get(models.Organization, world.orgs["a2"].id)
                member = await make_member(session, a2, name=f"并发{n}", category="CANDIDATE", joined_on=None,
                                           confirmed_on=None, candidate_on=dt.date(2020, 1, 1))
            before = (await counts(api, world.orgs["a"]))[1]
            if what == "recordStatusChange":
                calls = [api.post(STATUS, {"m": gid("Member", member), "k": kind, "d": TODAY.isoformat()}, token)
                         for kind in ("DEATH", "EXPULSION")]
            else:
                calls = [api.post(PROMOTE, {"m": gid("Member", member), "to": "PROBATIONARY", "d": day}, token)
                         for day in ("2021-01-01", "2021-02-01")]
            results = await race.run(*calls)
            outcomes = sorted(tuple(problems(r, what)) for r in results)
            assert outcomes[0] == () and len(outcomes[1]) == 1 and outcomes[1][0][0] == "NOT_ALLOWED", results
            after = (await counts(api, world.orgs["a"]))[1]
            assert after == (before - 1 if what == "recordStatusChange" else before)
    finally:
        race.remove()


COMPLETENESS = """query($id: ID!) { member(id: $id) { completeness { percent missing warnings } } }"""


async def test_completeness_follows_the_category_and_the_probation_rules(api, world):
    applicant = await create(api, "a_admin", world.orgs["a1"], category="APPLICANT", joinedOn=None, confirmedOn=None,
                             appliedOn="2020-01-01", nativePlace="湖南长沙", phone="13800000000", educationCode="21",
                             jobPositionCode=None, ethnicityCode="01")
    data = (await api.as_("a_viewer", COMPLETENESS, {"id": applicant}))["data"]["member"]["completeness"]
    assert data == {"percent": 83, "missing": ["jobPosition"], "warnings": []}
    ok(await api.as_("a_admin", PROMOTE, {"m": applicant, "to": "ACTIVIST", "d": "2020-06-01"}), "promoteMember")
    data = (await api.as_("a_viewer", COMPLETENESS, {"id": applicant}))["data"]["member"]["completeness"]
    assert data["percent"] == 85 and data["missing"] == ["jobPosition"]  # 6 of 7
    probationary = await create(api, "a_admin", world.orgs["a1"], category="PROBATIONARY", appliedOn="2016-01-01",
                                joinedOn="2018-01-01", confirmedOn=None)
    warnings = lambda r: r["data"]["member"]["completeness"]["warnings"]  # noqa: E731
    assert warnings(await api.as_("a_viewer", COMPLETENESS, {"id": probationary})) == ["预备期已超过一年，应及时讨论转正"]
    ok(await api.as_("a_admin", STATUS, {"m": probationary, "k": "PROBATION_EXTENDED", "d": "2018-12-01"}),
       "recordStatusChange")
    assert warnings(await api.as_("a_viewer", COMPLETENESS, {"id": probationary})) == [
        "延长的预备期已满，应及时讨论转正或取消预备党员资格"]


async def test_a_member_outside_the_branch_does_not_exist_for_any_of_these_mutations(api, world):
    """B's ADMIN, on A's member: NOT_FOUND at memberId for each single-member mutation, nothing written."""
    member = gid("Member", world.members["a1_first"])
    calls = {
        "updateMember": (UPDATE, {"m": member, "f": {"phone": "1"}}),
        "correctIdNumber": (CORRECT, {"m": member, "n": new_id_number(), "r": "更正"}),
        "promoteMember": (PROMOTE, {"m": member, "to": "FULL", "d": "2020-01-01"}),
        "recordStatusChange": (STATUS, {"m": member, "k": "DEATH", "d": TODAY.isoformat()}),
        "resubmitMember": (RESUBMIT, {"m": member}),
        "convertInflowToDirect": (CONVERT, {"m": member}),
    }
    for field, (document, variables) in calls.items():
        assert problems(await api.as_("b_admin", document, variables), field) == [("NOT_FOUND", ["memberId"])], field
    for field in ("approveMembers", "rejectMembers"):
        assert problems(await api.as_("b_admin", REVIEW % field, {"ids": [member], "r": "x"}), field) == \
            [("NOT_FOUND", ["memberIds", "0"])]
    assert problems(await api.as_("b_admin", DELETE, {"ids": [member]}), "deleteRejectedMembers") == \
        [("NOT_FOUND", ["memberIds", "0"])]
    data = (await api.as_("root_admin", MEMBER, {"id": member}))["data"]["member"]
    assert data["version"] == 1 and data["status"] == "ACTIVE" and data["statusChanges"] == []


async def test_pending_approvals_page_by_page(api, world):
    a1, a2 = world.orgs["a1"], world.orgs["a2"]
    for organization in (a1, a2):
        ok(await api.as_("root_admin", REQUIRE, {"o": gid("Organization", organization)}), "updateOrganization")
    made = {await create(api, "a_admin", organization, name=f"分页{i}") for i, organization in enumerate((a1, a1, a2))}
    page = """query($after: String) { pendingApprovals(first: 2, after: $after) { totalCount
      pageInfo { hasNextPage endCursor } edges { node { id } } } }"""
    first = (await api.as_("a_operator", page, {}))["data"]["pendingApprovals"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"] and len(first["edges"]) == 2
    second = (await api.as_("a_operator", page, {"after": first["pageInfo"]["endCursor"]}))["data"]["pendingApprovals"]
    assert not second["pageInfo"]["hasNextPage"]
    assert {e["node"]["id"] for e in first["edges"] + second["edges"]} == made
