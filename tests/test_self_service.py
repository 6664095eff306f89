"""Member self-service (issue 12), through the GraphQL endpoint on both engines.

- registerMember (实名注册): a match gives a MEMBER account linked to the member (username = ID
  number; sign-in by the phone too); every mismatch answers identically and takes the same steps
  (one hash, the same statements) whether or not the ID number is on file; one account per member,
  also under overlapping requests; throttled per ID number like sign-in; one per request.
- Change requests: submitted by the member, listed for the member (its own) and for OPERATOR+ of
  the branch, decided once (approval applies the change through the existing services, a
  rejection keeps its reason), one pending per kind per member (also when raced).
"""
from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import event, func, select

from db import clock, models
from db.branch import SYSTEM_ACTOR
from db.services import lifecycle
from db.engine import make_sessionmaker
from tests.conftest import error_codes, gid
from tests.factories import make_account, make_member, new_id_number, set_member_status
from tests.test_races import Race

PASSWORD = "Self-Serv1ce-2024"
PHONE = "13800138000"

REGISTER = """mutation($input: RegisterMemberInput!) { registerMember(input: $input) {
  account { id username role member { id name } } userErrors { code field message } } }"""
LOGIN = """mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) {
  token account { username } userErrors { code message } } }"""


@pytest.fixture
async def people(engine, world):
    """A1: 周强 (ACTIVE, phone PHONE, no account), 吴敏 (LEFT, phone); B1: 郑华 (ACTIVE)."""
    async with make_sessionmaker(engine)() as session, session.begin():
        active = await make_member(session, world.orgs["a1"], name="周强", id_number=new_id_number(), phone=PHONE)
        left = await make_member(session, world.orgs["a1"], name="吴敏", id_number=new_id_number(),
                                 phone="13900139000")
        other = await make_member(session, world.orgs["b1"], name="郑华", id_number=new_id_number(),
                                  phone="13700137000")
    await set_member_status(engine, [left.id], "LEFT")
    return {"active": active, "left": left, "other": other}


@pytest.fixture
def app_hasher(monkeypatch):
    """Records the password hash operations of every request (name of each call, in order)."""
    from gql.auth.passwords import Argon2Hasher

    class Calls:
        calls: list[str] = []

    original_hash, original_verify = Argon2Hasher.hash, Argon2Hasher.verify

    async def hash_(self, password):
        Calls.calls.append("hash")
        return await original_hash(self, password)

    async def verify(self, password_hash, password):
        Calls.calls.append("verify")
        return await original_verify(self, password_hash, password)

    monkeypatch.setattr(Argon2Hasher, "hash", hash_)
    monkeypatch.setattr(Argon2Hasher, "verify", verify)
    return Calls


def register_input(member, **overrides) -> dict:
    data = {"idNumber": member.id_number, "name": member.name, "phone": member.phone, "password": PASSWORD}
    data.update(overrides)
    return data


async def register(api, data) -> dict:
    result = await api.post(REGISTER, {"input": data})
    assert "errors" not in result, result
    return result["data"]["registerMember"]


# ------------------------------------------------------------------ registerMember


async def test_a_matching_member_gets_a_member_account_and_signs_in_by_id_number_or_phone(api, people):
    member = people["active"]
    payload = await register(api, register_input(member, phone=" 138-0013-8000 ", name=" 周强 "))
    assert payload["userErrors"] == []
    account = payload["account"]
    assert account["username"] == member.id_number and account["role"] == "MEMBER"
    assert account["member"] == {"id": gid("Member", member), "name": "周强"}
    for username in (member.id_number, PHONE):
        result = await api.post(LOGIN, {"u": username, "p": PASSWORD})
        assert result["data"]["login"]["token"], result
        token = result["data"]["login"]["token"]
        me = await api.post("{ viewer { role member { id name } organization { name } } }", token=token)
        assert me["data"]["viewer"]["member"]["id"] == gid("Member", member)
        assert me["data"]["viewer"]["role"] == "MEMBER"


async def test_every_mismatch_answers_alike(api, world, people):
    member = people["active"]
    answers = [
        await register(api, register_input(member, idNumber=new_id_number())),  # no such number
        await register(api, register_input(member, name="周弱")),
        await register(api, register_input(member, phone="13800138001")),
        await register(api, register_input(people["left"])),  # not ACTIVE
    ]
    assert all(a["account"] is None for a in answers)
    errors = [a["userErrors"] for a in answers]
    assert errors[0] == errors[1] == errors[2] == errors[3], errors
    assert [e["code"] for e in errors[0]] == ["NOT_FOUND"] and errors[0][0]["field"] is None


async def test_a_miss_and_a_near_miss_take_the_same_steps(api, app_hasher, engine, people):
    """The same hashes and the same statements, whether the ID number is on file or not."""
    member = people["active"]
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_):
        statements.append(statement.split()[0].upper())

    await register(api, register_input(member, idNumber=new_id_number()))  # the app's first request reads its keys
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        steps = []
        for data in (register_input(member, idNumber=new_id_number()), register_input(member, name="周弱")):
            statements.clear()
            app_hasher.calls.clear()
            await register(api, data)
            steps.append((list(app_hasher.calls), list(statements)))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert steps[0] == steps[1], steps
    assert steps[0][0] == ["hash"], steps


async def test_one_account_per_member(api, engine, world, people):
    assert (await register(api, register_input(people["active"])))["userErrors"] == []
    again = await register(api, register_input(people["active"]))
    assert [e["code"] for e in again["userErrors"]] == ["DUPLICATE"]
    # a1_first has had a MEMBER account from the start (created by an administrator).
    first = world.members["a1_first"]
    async with make_sessionmaker(engine)() as session, session.begin():
        await lifecycle.update_member(session, SYSTEM_ACTOR, first.id, None, {"phone": "13500135000"})
    taken = await register(api, {"idNumber": first.id_number, "name": first.name, "phone": "13500135000",
                                 "password": PASSWORD})
    assert [e["code"] for e in taken["userErrors"]] == ["DUPLICATE"]


async def test_overlapping_registrations_of_one_member_make_one_account(api, engine, people):
    race = Race(engine)
    try:
        results = await race.run(*(api.post(REGISTER, {"input": register_input(people["active"])}) for _ in range(4)))
    finally:
        race.remove()
    codes = [[e["code"] for e in r["data"]["registerMember"]["userErrors"]] for r in results]
    assert sorted(codes) == [[], ["DUPLICATE"], ["DUPLICATE"], ["DUPLICATE"]], results
    async with make_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(models.Account)
                                    .where(models.Account.member_id == people["active"].id)) == 1


async def test_registration_is_throttled_per_id_number_alike_for_numbers_on_file_or_not(api, people):
    member, stranger = people["active"], new_id_number()
    for _ in range(5):
        await register(api, register_input(member, name="周弱"))
        await register(api, register_input(member, idNumber=stranger))
    locked = await register(api, register_input(member))  # right this time, but locked
    unknown = await register(api, register_input(member, idNumber=stranger))
    assert locked["account"] is None and locked["userErrors"] == unknown["userErrors"]
    assert [e["code"] for e in locked["userErrors"]] == ["NOT_FOUND"]
    # Another member's number is not affected.
    other = await register(api, register_input(people["other"]))
    assert other["userErrors"] == []


async def test_one_registration_per_request(api, people):
    data = register_input(people["active"])
    result = await api.post("mutation($i: RegisterMemberInput!) { a: registerMember(input: $i) { userErrors { code } } "
                            "b: registerMember(input: $i) { userErrors { code } } }", {"i": data})
    assert error_codes(result) == ["QUERY_TOO_COMPLEX"], result


async def test_malformed_input_is_invalid_before_anything_is_read(api, people):
    payload = await register(api, register_input(people["active"], idNumber="123", password="short"))
    assert {e["field"][0] for e in payload["userErrors"]} == {"idNumber", "password"}


async def test_a_phone_shared_by_two_member_accounts_signs_in_neither(api, engine, world, people):
    """Each still signs in by its ID number."""
    async with make_sessionmaker(engine)() as session, session.begin():
        twin = await make_member(session, world.orgs["a1"], name="周刚", id_number=new_id_number(), phone=PHONE)
    assert (await register(api, register_input(people["active"])))["userErrors"] == []
    assert (await register(api, register_input(twin)))["userErrors"] == []
    by_phone = await api.post(LOGIN, {"u": PHONE, "p": PASSWORD})
    assert by_phone["data"]["login"]["token"] is None
    by_number = await api.post(LOGIN, {"u": twin.id_number, "p": PASSWORD})
    assert by_number["data"]["login"]["token"]


# ------------------------------------------------------------------ change requests

REQUEST_PROFILE = """mutation($input: RequestProfileChangeInput!) { requestProfileChange(input: $input) {
  request { id kind status payload member { id } } userErrors { code field message } } }"""
REQUEST_DUES = """mutation($input: RequestDuesInput!) { requestDues(input: $input) {
  request { id kind status payload } userErrors { code field message } } }"""
REQUEST_TRANSFER = """mutation($input: RequestTransferInput!) { requestTransfer(input: $input) {
  request { id kind status payload } userErrors { code field message } } }"""
DECIDE = """mutation($input: DecideChangeRequestInput!) { decideChangeRequest(input: $input) {
  request { id status rejectionReason decidedAt decidedBy { username } } userErrors { code field message } } }"""
LIST = """query($o: ID, $s: [ChangeRequestStatus!]) { changeRequests(organizationId: $o, statuses: $s) {
  totalCount edges { node { id kind status member { id } } } } }"""


async def submit(api, who, document, data) -> dict:
    result = await api.as_(who, document, {"input": data})
    assert "errors" not in result, result
    return next(iter(result["data"].values()))


async def member_row(engine, member_id) -> models.Member:
    async with make_sessionmaker(engine)() as session:
        return (await session.execute(select(models.Member).where(models.Member.id == member_id))).scalar_one()


async def test_a_profile_change_is_applied_exactly_when_approved(api, engine, world):
    me = world.members["a1_first"]
    asked = await submit(api, "a1_member", REQUEST_PROFILE, {"fields": {"phone": "13600136000", "nativePlace": "湖南长沙"}})
    assert asked["userErrors"] == [] and asked["request"]["status"] == "PENDING"
    assert json.loads(asked["request"]["payload"]) == {"nativePlace": "湖南长沙", "phone": "13600136000"}
    assert (await member_row(engine, me.id)).phone is None  # nothing applied yet
    again = await submit(api, "a1_member", REQUEST_PROFILE, {"fields": {"phone": "13600136001"}})
    assert [e["code"] for e in again["userErrors"]] == ["DUPLICATE"]

    decided = await submit(api, "a_operator", DECIDE, {"requestId": asked["request"]["id"], "approve": True})
    assert decided["userErrors"] == [] and decided["request"]["status"] == "APPROVED"
    row = await member_row(engine, me.id)
    assert (row.phone, row.native_place) == ("13600136000", "湖南长沙")
    # The account signs in by the new phone.
    assert (await api.post(LOGIN, {"u": "13600136000", "p": "Passw0rd2024"}))["data"]["login"]["token"]
    twice = await submit(api, "a_operator", DECIDE, {"requestId": asked["request"]["id"], "approve": True})
    assert [e["code"] for e in twice["userErrors"]] == ["CONFLICT"]
    # Decided, a new request of the kind may follow.
    assert (await submit(api, "a1_member", REQUEST_PROFILE, {"fields": {"phone": "13600136001"}}))["userErrors"] == []


async def test_a_member_may_not_ask_to_change_its_name_id_number_or_category(api, world):
    asked = await submit(api, "a1_member", REQUEST_PROFILE,
                         {"fields": {"name": "李大明", "category": "PROBATIONARY", "educationCode": "zz"}})
    assert {(e["code"], e["field"][1]) for e in asked["userErrors"]} == {
        ("NOT_ALLOWED", "name"), ("NOT_ALLOWED", "category"), ("INVALID", "educationCode")}


async def test_a_rejection_keeps_its_reason_and_changes_nothing(api, engine, world):
    asked = await submit(api, "a1_member", REQUEST_PROFILE, {"fields": {"nativePlace": "湖南长沙"}})
    request_id = asked["request"]["id"]
    no_reason = await submit(api, "a_operator", DECIDE, {"requestId": request_id, "approve": False})
    assert [e["code"] for e in no_reason["userErrors"]] == ["INVALID"]
    rejected = await submit(api, "a_operator", DECIDE, {"requestId": request_id, "approve": False, "reason": "籍贯有误"})
    assert rejected["request"]["status"] == "REJECTED" and rejected["request"]["rejectionReason"] == "籍贯有误"
    assert rejected["request"]["decidedBy"] == {"username": "a_operator"}
    assert (await member_row(engine, world.members["a1_first"].id)).native_place is None
    mine = await api.as_("a1_member", "{ changeRequests { edges { node { status rejectionReason decidedBy { id } } } } }")
    # The member reads the reason, not the deciding account (no account but its own).
    assert mine == {"data": {"changeRequests": {"edges": [
        {"node": {"status": "REJECTED", "rejectionReason": "籍贯有误", "decidedBy": None}}]}}}


async def test_approved_dues_become_a_dues_record_of_the_month(api, engine, world):
    asked = await submit(api, "a1_member", REQUEST_DUES, {"monthlyAmount": "25.50"})
    assert asked["userErrors"] == []
    month = clock.today().replace(day=1).isoformat()
    assert json.loads(asked["request"]["payload"]) == {"month": month, "monthlyAmount": "25.50"}
    bad = await submit(api, "a1_admin", DECIDE, {"requestId": asked["request"]["id"], "approve": True})
    assert bad["userErrors"] == []
    records = await api.as_("a1_member", "{ viewer { member { records(kind: DUES) { totalCount edges { node { date amount } } } } } }")
    assert records["data"]["viewer"]["member"]["records"]["edges"] == [{"node": {"date": month, "amount": "25.50"}}]
    zero = await submit(api, "a1_member", REQUEST_DUES, {"monthlyAmount": "0"})
    assert [(e["code"], e["field"]) for e in zero["userErrors"]] == [("INVALID", ["monthlyAmount"])]


async def test_an_approved_transfer_request_becomes_a_pending_transfer(api, world):
    asked = await submit(api, "a1_member", REQUEST_TRANSFER,
                         {"toOrganizationId": gid("Organization", world.orgs["b1"]), "reason": "工作调动"})
    assert asked["userErrors"] == [], asked
    assert json.loads(asked["request"]["payload"])["toOrganizationId"] == gid("Organization", world.orgs["b1"])
    both = await submit(api, "a1_member", REQUEST_TRANSFER, {"externalDestination": "外省某党委",
                                                            "toOrganizationId": gid("Organization", world.orgs["b1"])})
    assert [e["code"] for e in both["userErrors"]] == ["INVALID"]
    decided = await submit(api, "a_operator", DECIDE, {"requestId": asked["request"]["id"], "approve": True})
    assert decided["userErrors"] == [], decided
    assert decided["request"]["status"] == "APPROVED"
    pending = await api.as_("a_operator", LIST, {"s": ["PENDING"]})
    assert pending["data"]["changeRequests"]["edges"] == []
    # The receiver sees a real PENDING transfer of the member; the member is TRANSFERRING.
    incoming = await api.as_("b_admin", """{ transfers(filter: {direction: INCOMING, scope: SUBTREE}) {
        totalCount edges { node { status member { name status } toOrganizationRef { name } } } } }""")
    edges = incoming["data"]["transfers"]["edges"]
    assert [(e["node"]["status"], e["node"]["member"]["status"]) for e in edges] == [("PENDING", "TRANSFERRING")]


async def test_who_sees_and_decides_which_requests(api, engine, world):
    """The member: its own; OPERATOR+ of the branch: the branch's; another branch: nothing (and
    NOT_FOUND when deciding); a VIEWER and a MEMBER may not list or decide."""
    async with make_sessionmaker(engine)() as session, session.begin():
        await make_account(session, world.orgs["a1"], "a1_second_member", "MEMBER", member=world.members["a1_second"])
    mine = await submit(api, "a1_member", REQUEST_DUES, {"monthlyAmount": "10"})
    theirs = await submit(api, "a1_second_member", REQUEST_DUES, {"monthlyAmount": "20"})
    mine_id, theirs_id = mine["request"]["id"], theirs["request"]["id"]

    own = (await api.as_("a1_member", LIST))["data"]["changeRequests"]
    assert own["totalCount"] == 1 and [e["node"]["id"] for e in own["edges"]] == [mine_id]
    branch = (await api.as_("a_operator", LIST))["data"]["changeRequests"]
    assert branch["totalCount"] == 2 and {e["node"]["id"] for e in branch["edges"]} == {mine_id, theirs_id}
    scoped = (await api.as_("a_operator", LIST, {"o": gid("Organization", world.orgs["a2"])}))["data"]["changeRequests"]
    assert scoped["totalCount"] == 0
    foreign = (await api.as_("b_admin", LIST))["data"]["changeRequests"]
    assert foreign == {"totalCount": 0, "edges": []}
    assert (await api.as_("b_admin", "query($id: ID!) { node(id: $id) { id } }", {"id": mine_id}))["data"]["node"] is None
    assert (await api.as_("a1_member", "query($id: ID!) { node(id: $id) { id } }", {"id": theirs_id}))["data"]["node"] is None
    assert (await api.as_("a1_member", "query($id: ID!) { node(id: $id) { id } }", {"id": mine_id}))["data"]["node"]

    outside = await submit(api, "b_admin", DECIDE, {"requestId": mine_id, "approve": True})
    assert [e["code"] for e in outside["userErrors"]] == ["NOT_FOUND"]
    for who in ("a1_viewer", "a1_member"):
        assert error_codes(await api.as_(who, DECIDE, {"input": {"requestId": mine_id, "approve": True}})) == ["FORBIDDEN"]
    assert error_codes(await api.as_("a1_viewer", LIST)) == ["FORBIDDEN"]
    staff = await submit(api, "a_operator", REQUEST_DUES, {"monthlyAmount": "10"})
    assert [e["code"] for e in staff["userErrors"]] == ["NOT_ALLOWED"]


async def test_overlapping_requests_of_one_kind_leave_one_pending(api, engine, world):
    token = await api.login("a1_member")
    race = Race(engine)
    try:
        results = await race.run(*(api.post(REQUEST_DUES, {"input": {"monthlyAmount": f"{10 + i}"}}, token)
                                   for i in range(3)))
    finally:
        race.remove()
    codes = sorted([e["code"] for e in r["data"]["requestDues"]["userErrors"]] for r in results)
    assert codes == [[], ["DUPLICATE"], ["DUPLICATE"]], results
    async with make_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(models.ChangeRequest)) == 1


async def test_overlapping_approvals_apply_once(api, engine, world):
    asked = await submit(api, "a1_member", REQUEST_DUES, {"monthlyAmount": "30"})
    token_a, token_b = await api.login("a_operator"), await api.login("a1_admin")
    race = Race(engine)
    try:
        results = await race.run(*(api.post(DECIDE, {"input": {"requestId": asked["request"]["id"], "approve": True}}, t)
                                   for t in (token_a, token_b)))
    finally:
        race.remove()
    codes = sorted([e["code"] for e in r["data"]["decideChangeRequest"]["userErrors"]] for r in results)
    assert codes == [[], ["CONFLICT"]], results
    async with make_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(models.MemberRecord)
                                    .where(models.MemberRecord.kind == "DUES")) == 1
