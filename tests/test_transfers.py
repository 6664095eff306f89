"""组织关系转接 (issue 11) through the GraphQL endpoint on both engines: the directory, sending one or
many (in the system: PENDING / TRANSFERRING; out of it: COMPLETED / TRANSFERRED_OUT), accepting
(a dated move: counts, the member balance and the history see it on its date; leader positions
end), rejecting, cancelling, the rules and their error codes, letter numbers and the letter, the
list with its filters, and what each side sees before, during and after (db.branch.in_sight)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from db import clock, idnumber, models
from db.engine import make_sessionmaker
from db.services import history
from gql.ids import from_global_id
from gql.settings import Settings
from tests.conftest import error_codes, gid
from tests.factories import make_member, new_id_number
from tests.test_races import ROUNDS, Race, assert_invariants, payload, setup, succeeded

TODAY = clock.today()


@pytest.fixture
def settings() -> Settings:
    """Without the response cache: its token fast path costs a statement more or less depending on
    what was asked before (tests/test_query_count.py does the same); tests/test_response_cache.py
    covers the transfer mutations' data versions."""
    return Settings(password_profile="cheapest", response_cache_entries=0)


def day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


def ok(result: dict, field: str) -> dict:
    assert "errors" not in result, result
    value = result["data"][field]
    assert value["userErrors"] == [], value
    return value


def problems(result: dict, field: str) -> list[tuple[str, list | None]]:
    assert "errors" not in result, result
    return [(e["code"], e["field"]) for e in result["data"][field]["userErrors"]]


TRANSFER_FIELDS = """id status requestedOn decidedOn reason rejectionReason letterNumber validUntil letter
  externalDestination fromOrganization { id } toOrganization { id }
  fromOrganizationRef { id code name path } toOrganizationRef { id code name path }"""
SEND = """mutation($input: TransferMembersInput!) { transferMembers(input: $input) {
  transfers { %s } userErrors { code field message } } }""" % TRANSFER_FIELDS
DECIDE = """mutation($input: DecideTransferInput!) { %s(input: $input) {
  transfer { %s } userErrors { code field message } } }"""
MEMBER = """query($id: ID!) { member(id: $id) { name status category idNumber
  records(first: 10) { totalCount } statusChanges { kind } transfers { id status } } }"""
MEMBER_ORGANIZATION = """query($id: ID!) { member(id: $id) { name organization { id } } }"""
LIST = """query($f: TransferFilter, $after: String) { transfers(filter: $f, first: 2, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { id status letterNumber } } } }"""
COUNT = """query($o: ID!) { organization(id: $o) { memberCount all: memberCount(filter: {scope: SUBTREE}) } }"""
BALANCE = """query($o: ID!, $from: Date!, $to: Date!) { memberBalance(organizationId: $o, from: $from, to: $to) {
  start end increases { kind count } decreases { kind count } } }"""
DIRECTORY = """query($s: String!, $first: Int) { organizationDirectory(search: $s, first: $first) { id code name path } }"""
RECORD = """mutation($m: ID!) { addMemberRecords(input: {memberIds: [$m], kind: ACTIVITY,
  fields: {title: "主题党日", date: "2024-03-01"}}) { records { id } userErrors { code } } }"""
UPDATE = """mutation($m: ID!) { updateMember(input: {memberId: $m, fields: {phone: "13800000000"}}) {
  member { id } userErrors { code field } } }"""
RENAME = """mutation($m: ID!, $name: String!) { updateMember(input: {memberId: $m, fields: {name: $name, phone: "13900000000"}}) { member { id name } userErrors { code field } } }"""
# A transfer's member, every field of it: what a side reads through the letter (db.branch, the letter reach).
THROUGH = """query($f: TransferFilter) { transfers(filter: $f, first: 100) { edges { node { status letter member {
  id name gender birthDate idNumber category affiliation joinedOn status nativePlace phone appliedOn confirmedOn
  reviewNote activistOn candidateOn rejectionReason ethnicity { code } education { code } degree { code }
  jobPosition { code } technicalTitle { code } createdAt updatedAt version
  completeness { percent missing warnings } organization { id } difficulties { id } records(first: 5) { totalCount }
  statusChanges { kind } transfers { id } flows { id } representativeTerms { id } volunteer { id } account { id }
} } } } }"""


async def through(api, who, organization=True, **filter_) -> list[dict]:
    """The members of the transfers `who` lists, every field (no error, whatever the state; but
    `organization`, FORBIDDEN to the receiver while PENDING, only when asked)."""
    query = THROUGH if organization else THROUGH.replace(" organization { id }", "")
    result = await api.as_(who, query, {"f": filter_ or {"scope": "SUBTREE"}})
    assert "errors" not in result, result
    return [edge["node"]["member"] for edge in result["data"]["transfers"]["edges"]]


def assert_letter_view(seen: dict, member, organization, id_number: str, name: str | None = None) -> None:
    """`seen` is `member` as the letter shows it: the copy frozen when sent, nothing else of it."""
    assert seen["id"] == gid("Member", member)
    assert (seen["name"], seen["idNumber"]) == (name or member.name, id_number)
    assert (seen["gender"], seen["birthDate"], seen["category"]) == (member.gender, member.birth_date.isoformat(), member.category)
    assert seen["status"] == "TRANSFERRING" and seen["version"] == 0
    if "organization" in seen:
        assert seen["organization"] == {"id": gid("Organization", organization)}  # the caller's end
    assert seen["completeness"]["percent"] == 0 and seen["completeness"]["missing"] == []
    for field in ("nativePlace", "phone", "appliedOn", "activistOn", "candidateOn", "confirmedOn", "reviewNote",
                  "rejectionReason", "education", "degree", "jobPosition", "technicalTitle", "volunteer", "account"):
        assert seen[field] is None, field
    for field in ("difficulties", "statusChanges", "transfers", "flows", "representativeTerms"):
        assert seen[field] == [], field
    assert seen["records"] == {"totalCount": 0}


async def send(api, who, members, to=None, external=None, date=None, reason="工作调动"):
    data = {"memberIds": [gid("Member", m) if not isinstance(m, str) else m for m in members],
            "date": date or TODAY.isoformat(), "reason": reason}
    if to is not None:
        data["toOrganizationId"] = gid("Organization", to)
    if external is not None:
        data["externalDestination"] = external
    return await api.as_(who, SEND, {"input": data})


async def decide(api, who, action, transfer_id, date=None, reason=None):
    data = {"transferId": transfer_id, "date": date or TODAY.isoformat()}
    if reason is not None:
        data["reason"] = reason
    return await api.as_(who, DECIDE % (action, TRANSFER_FIELDS), {"input": data})


async def member_of(api, who, member):
    result = await api.as_(who, MEMBER, {"id": gid("Member", member)})
    assert "errors" not in result, result
    return result["data"]["member"]


async def counts(api, organization, who="root_admin"):
    result = await api.as_(who, COUNT, {"o": gid("Organization", organization)})
    assert "errors" not in result, result
    o = result["data"]["organization"]
    return o["memberCount"], o["all"]


async def listed(api, who, **filter_):
    result = await api.as_(who, LIST.replace("first: 2", "first: 100"), {"f": filter_ or None})
    assert "errors" not in result, result
    return result["data"]["transfers"]


# ------------------------------------------------------------------ the directory


async def test_the_directory_names_organizations_anywhere_and_nothing_more(api, world):
    found = (await api.as_("a_operator", DIRECTORY, {"s": "乙区第一"}))["data"]["organizationDirectory"]
    assert found == [{"id": gid("Organization", world.orgs["b1"]), "code": world.orgs["b1"].code,
                      "name": world.orgs["b1"].name,
                      "path": ["中共示范市委员会", "中共示范市乙区委员会", "中共示范市乙区第一支部委员会"]}]
    by_code = (await api.as_("a_operator", DIRECTORY, {"s": world.orgs["b1"].code}))["data"]["organizationDirectory"]
    assert [o["name"] for o in by_code] == [world.orgs["b1"].name]
    assert len((await api.as_("a_operator", DIRECTORY, {"s": "中共", "first": 3}))["data"]["organizationDirectory"]) == 3
    assert error_codes(await api.as_("a_operator", DIRECTORY, {"s": "乙"})) == ["BAD_USER_INPUT"]
    assert error_codes(await api.as_("a_operator", DIRECTORY, {"s": "中共", "first": 21})) == ["BAD_USER_INPUT"]
    assert error_codes(await api.as_("a_viewer", DIRECTORY, {"s": "乙区"})) == ["FORBIDDEN"]
    assert error_codes(await api.as_("a1_member", DIRECTORY, {"s": "乙区"})) == ["FORBIDDEN"]
    # A ref names an organization; the organization itself stays out of reach.
    result = await api.as_("a_operator", "query($id: ID!) { node(id: $id) { id } }", {"id": found[0]["id"]})
    assert result["data"]["node"] is None


# ------------------------------------------------------------------ across branches, start to end


async def test_a_transfer_across_branches_before_during_and_after(api, world, engine):
    """A1 → B1: the sender sends, the receiver reads the transfer and the member (masked as for its
    role, records included) and nothing else of A, accepts; counts move on the decision date."""
    moving, stays = world.members["a1_first"], world.members["a1_second"]
    ok(await api.as_("a_admin", RECORD, {"m": gid("Member", moving)}), "addMemberRecords")
    # Before: B sees nothing of the member.
    assert await member_of(api, "b_admin", moving) is None
    assert (await listed(api, "b_admin"))["totalCount"] == 0
    before_a, before_b = await counts(api, world.orgs["a"]), await counts(api, world.orgs["b"])

    [t] = ok(await send(api, "a_admin", [moving], to=world.orgs["b1"], date=day(-10)), "transferMembers")["transfers"]
    assert t["status"] == "PENDING" and t["requestedOn"] == day(-10) and t["decidedOn"] is None
    assert t["validUntil"] == day(80)  # 90 days, the default
    assert t["toOrganization"] is None and t["fromOrganization"] == {"id": gid("Organization", world.orgs["a1"])}
    assert t["toOrganizationRef"]["name"] == world.orgs["b1"].name
    assert t["toOrganizationRef"]["path"][-2:] == ["中共示范市乙区委员会", world.orgs["b1"].name]
    assert t["letterNumber"] == f"转〔{(TODAY - dt.timedelta(days=10)).year}〕000001号"
    for text in (moving.name, moving.id_number, "正式党员", world.orgs["a1"].name, world.orgs["b1"].name,
                 day(-10), day(80), t["letterNumber"], "工作调动"):
        assert text in t["letter"], (text, t["letter"])

    # During: the member counts at the sender only, TRANSFERRING.
    assert await counts(api, world.orgs["a"]) == before_a
    assert await counts(api, world.orgs["b"]) == before_b
    assert (await member_of(api, "a_admin", moving))["status"] == "TRANSFERRING"
    # The receiver reads the member (records too), masked for a VIEWER, but not its organization.
    seen = await member_of(api, "b_admin", moving)
    assert seen["name"] == moving.name and seen["idNumber"] == moving.id_number
    assert seen["records"]["totalCount"] == 1 and [x["status"] for x in seen["transfers"]] == ["PENDING"]
    masked = await member_of(api, "b_viewer", moving)
    assert masked["idNumber"] == idnumber.mask(moving.id_number)
    result = await api.as_("b_admin", MEMBER_ORGANIZATION, {"id": gid("Member", moving)})
    assert error_codes(result) == ["FORBIDDEN"]
    # Nothing else of A: its other member, its organization, its lists.
    assert await member_of(api, "b_admin", stays) is None
    assert (await api.as_("b_admin", "query($id: ID!) { node(id: $id) { id } }",
                          {"id": gid("Organization", world.orgs["a1"])}))["data"]["node"] is None
    incoming = await api.as_("b_viewer", """{ transfers(filter: {direction: INCOMING, scope: SUBTREE}) { totalCount
      edges { node { fromOrganization { id } fromOrganizationRef { name } toOrganization { id } letter
      member { name idNumber } } } } }""")
    assert "errors" not in incoming, incoming
    node = incoming["data"]["transfers"]["edges"][0]["node"]
    assert node["fromOrganization"] is None and node["fromOrganizationRef"]["name"] == world.orgs["a1"].name
    assert node["toOrganization"] == {"id": gid("Organization", world.orgs["b1"])}
    assert node["member"]["idNumber"] == idnumber.mask(moving.id_number)
    assert moving.id_number not in node["letter"] and idnumber.mask(moving.id_number) in node["letter"]
    # The receiver may not change the member before accepting it.
    assert problems(await api.as_("b_admin", UPDATE, {"m": gid("Member", moving)}), "updateMember")[0][0] == "NOT_FOUND"
    # B's member list and counts do not hold it.
    assert (await api.as_("b_admin", """query($o: ID!) { organization(id: $o) { members(first: 50) { totalCount } } }""",
                          {"o": gid("Organization", world.orgs["b1"])}))["data"]["organization"]["members"]["totalCount"] == 1

    accepted = ok(await decide(api, "b_admin", "acceptTransfer", t["id"], date=day(-5)), "acceptTransfer")["transfer"]
    assert accepted["status"] == "ACCEPTED" and accepted["decidedOn"] == day(-5)
    assert accepted["fromOrganization"] is None and accepted["toOrganization"] is not None

    # After: the receiver holds the member; the sender reads its transfer but no longer the member.
    assert await counts(api, world.orgs["a"]) == (before_a[0], before_a[1] - 1)
    assert await counts(api, world.orgs["b1"]) == (2, 2)
    mine = await member_of(api, "b_admin", moving)
    assert mine["status"] == "ACTIVE" and mine["records"]["totalCount"] == 1
    assert (await api.as_("b_admin", MEMBER_ORGANIZATION, {"id": gid("Member", moving)}))["data"]["member"][
        "organization"] == {"id": gid("Organization", world.orgs["b1"])}
    assert await member_of(api, "a_admin", moving) is None
    outgoing = await api.as_("a_admin", """{ transfers(filter: {direction: OUTGOING, scope: SUBTREE}) {
      edges { node { status toOrganization { id } toOrganizationRef { name } letterNumber } } } }""")
    assert outgoing["data"]["transfers"]["edges"] == [{"node": {
        "status": "ACCEPTED", "toOrganization": None, "toOrganizationRef": {"name": world.orgs["b1"].name},
        "letterNumber": t["letterNumber"]}}]
    # ... but the transfer's member, as the letter shows it (ID number masked as for the role).
    [frozen] = await through(api, "a_admin")
    assert_letter_view(frozen, moving, world.orgs["a1"], moving.id_number)
    [frozen] = await through(api, "a_viewer")
    assert_letter_view(frozen, moving, world.orgs["a1"], idnumber.mask(moving.id_number))
    # The receiver's later edits are its own: the sender's letter does not follow them.
    renamed = ok(await api.as_("b_admin", RENAME, {"m": gid("Member", moving), "name": "改名后"}), "updateMember")
    assert renamed["member"]["name"] == "改名后"
    [frozen] = await through(api, "a_admin")
    assert_letter_view(frozen, moving, world.orgs["a1"], moving.id_number)
    assert "改名后" not in str(frozen) and "13900000000" not in str(frozen)
    letter = (await api.as_("a_admin", """{ transfers(filter: {scope: SUBTREE}) { edges { node { letter } } } }"""))
    assert moving.name in letter["data"]["transfers"]["edges"][0]["node"]["letter"]
    assert "改名后" not in letter["data"]["transfers"]["edges"][0]["node"]["letter"]
    [own] = await through(api, "b_admin")
    assert (own["name"], own["phone"], own["status"], own["category"]) == ("改名后", "13900000000", "ACTIVE", "FULL")
    # Nothing else of the member through the letter: not by id, not in a list.
    assert await member_of(api, "a_admin", moving) is None

    # The history: at the sender until the day before the decision, at the receiver from it.
    pk = moving.id
    async with make_sessionmaker(engine)() as session:
        def state(offset):
            return history.state_as_of(TODAY + dt.timedelta(days=offset))
        at_6 = {r.member_id: r for r in await session.execute(state(-6))}[pk]
        at_5 = {r.member_id: r for r in await session.execute(state(-5))}[pk]
        at_10 = {r.member_id: r for r in await session.execute(state(-10))}[pk]
    assert (at_10.organization_id, at_10.status) == (world.orgs["a1"].id, "TRANSFERRING")
    assert (at_6.organization_id, at_6.status) == (world.orgs["a1"].id, "TRANSFERRING")
    assert (at_5.organization_id, at_5.status) == (world.orgs["b1"].id, "ACTIVE")
    # The member balance sees the move on its date, and only there.
    quiet = (await api.as_("root_admin", BALANCE, {"o": gid("Organization", world.orgs["a"]),
                                                   "from": day(-10), "to": day(-6)}))["data"]["memberBalance"]
    assert quiet["increases"] == [] or all(line["count"] == 0 for line in quiet["increases"])
    assert all(line["count"] == 0 for line in quiet["decreases"])
    out = (await api.as_("root_admin", BALANCE, {"o": gid("Organization", world.orgs["a"]),
                                                 "from": day(-5), "to": day(-5)}))["data"]["memberBalance"]
    assert {line["kind"]: line["count"] for line in out["decreases"] if line["count"]} == {"TRANSFERRED_OUT": 1}
    into = (await api.as_("root_admin", BALANCE, {"o": gid("Organization", world.orgs["b"]),
                                                  "from": day(-5), "to": day(-5)}))["data"]["memberBalance"]
    assert {line["kind"]: line["count"] for line in into["increases"] if line["count"]} == {"TRANSFERRED_IN": 1}
    # Whole-tree balance: a move inside the scope is no line.
    root = (await api.as_("root_admin", BALANCE, {"o": gid("Organization", world.orgs["root"]),
                                                  "from": day(-10), "to": day(0)}))["data"]["memberBalance"]
    assert root["start"] == root["end"]


async def test_rejected_and_cancelled_transfers_give_the_member_back(api, world):
    moving = world.members["a1_first"]
    [t] = ok(await send(api, "a_admin", [moving], to=world.orgs["b1"]), "transferMembers")["transfers"]
    # The receiver must give a reason; the sender cannot accept or reject, the receiver cannot cancel.
    assert problems(await decide(api, "b_admin", "rejectTransfer", t["id"]), "rejectTransfer") == [("INVALID", ["reason"])]
    assert problems(await decide(api, "a_admin", "acceptTransfer", t["id"]), "acceptTransfer")[0][0] == "NOT_ALLOWED"
    assert problems(await decide(api, "b_admin", "cancelTransfer", t["id"]), "cancelTransfer")[0][0] == "NOT_ALLOWED"
    assert error_codes(await decide(api, "a_viewer", "cancelTransfer", t["id"])) == ["FORBIDDEN"]
    rejected = ok(await decide(api, "b_admin", "rejectTransfer", t["id"], reason="材料不全"), "rejectTransfer")["transfer"]
    assert rejected["status"] == "REJECTED" and rejected["rejectionReason"] == "材料不全"
    assert (await member_of(api, "a_admin", moving))["status"] == "ACTIVE"
    # The receiver lost sight of the member; it still reads the transfer it rejected.
    assert await member_of(api, "b_admin", moving) is None
    assert [n["node"]["status"] for n in (await listed(api, "b_admin", scope="SUBTREE", direction="INCOMING"))["edges"]] \
        == ["REJECTED"]
    gone = await api.as_("b_admin", """query($id: ID!) { node(id: $id) { ... on Transfer { member { name idNumber } } } }""",
                         {"id": t["id"]})
    assert gone == {"data": {"node": {"member": {"name": moving.name, "idNumber": moving.id_number}}}}
    [frozen] = await through(api, "b_admin", scope="SUBTREE", direction="INCOMING")
    assert_letter_view(frozen, moving, world.orgs["b1"], moving.id_number)
    # The sender's later edits stay the sender's.
    ok(await api.as_("a_admin", RENAME, {"m": gid("Member", moving), "name": "改名后"}), "updateMember")
    [frozen] = await through(api, "b_viewer", scope="SUBTREE", direction="INCOMING")
    assert_letter_view(frozen, moving, world.orgs["b1"], idnumber.mask(moving.id_number))
    assert "改名后" not in str(frozen)
    # Deciding again: CONFLICT.
    assert problems(await decide(api, "b_admin", "acceptTransfer", t["id"]), "acceptTransfer")[0][0] == "CONFLICT"
    assert problems(await decide(api, "a_admin", "cancelTransfer", t["id"]), "cancelTransfer")[0][0] == "CONFLICT"

    [again] = ok(await send(api, "a_admin", [moving], to=world.orgs["b1"]), "transferMembers")["transfers"]
    assert (await member_of(api, "b_admin", moving))["status"] == "TRANSFERRING"
    cancelled = ok(await decide(api, "a_admin", "cancelTransfer", again["id"]), "cancelTransfer")["transfer"]
    assert cancelled["status"] == "CANCELLED"
    assert await member_of(api, "b_admin", moving) is None
    # Each letter as it was sent: the second after the sender's rename, the first before it.
    assert [(m["name"], m["category"], m["status"]) for m in await through(api, "b_admin")] == [
        ("改名后", "FULL", "TRANSFERRING"), (moving.name, "FULL", "TRANSFERRING")]
    assert (await member_of(api, "a_admin", moving))["status"] == "ACTIVE"
    assert problems(await decide(api, "b_admin", "acceptTransfer", again["id"]), "acceptTransfer")[0][0] == "CONFLICT"
    # A transfer outside both branches does not exist for the caller.
    assert problems(await decide(api, "b_admin", "acceptTransfer", gid("Member", moving)), "acceptTransfer")[0][0] \
        == "NOT_FOUND"


async def test_the_rules_of_sending(api, world, engine):
    first, second = world.members["a1_first"], world.members["a1_second"]
    # Not to its own organization; exactly one destination; not in the future.
    assert problems(await send(api, "a_admin", [first], to=world.orgs["a1"]), "transferMembers") == \
        [("INVALID", ["memberIds", "0"])]
    assert problems(await send(api, "a_admin", [first]), "transferMembers")[0] == ("INVALID", ["toOrganizationId"])
    assert problems(await send(api, "a_admin", [first], to=world.orgs["b1"], external="外省"), "transferMembers")[0][0] \
        == "INVALID"
    assert ("INVALID", ["date"]) in problems(await send(api, "a_admin", [first], to=world.orgs["b1"], date=day(1)),
                                             "transferMembers")
    # Someone else's member: NOT_FOUND; a VIEWER may not send.
    assert problems(await send(api, "b_admin", [first], to=world.orgs["a2"]), "transferMembers") == \
        [("NOT_FOUND", ["memberIds", "0"])]
    assert error_codes(await send(api, "a_viewer", [first], to=world.orgs["b1"])) == ["FORBIDDEN"]
    # A batch is all or nothing: one member already pending fails the whole batch.
    ok(await send(api, "a_admin", [first], to=world.orgs["b1"]), "transferMembers")
    assert problems(await send(api, "a_admin", [second, first], to=world.orgs["a2"]), "transferMembers") == \
        [("CONFLICT", ["memberIds", "1"])]
    assert (await member_of(api, "a_admin", second))["status"] == "ACTIVE"
    assert (await listed(api, "a_admin", scope="SUBTREE"))["totalCount"] == 1
    # Only ACTIVE members: one who left cannot be transferred.
    ok(await api.as_("a_admin", """mutation($m: ID!) { recordStatusChange(input: {memberId: $m, kind: DEATH,
      date: "2024-01-01"}) { userErrors { code } } }""", {"m": gid("Member", second)}), "recordStatusChange")
    assert problems(await send(api, "a_admin", [second], to=world.orgs["a2"]), "transferMembers") == \
        [("NOT_ALLOWED", ["memberIds", "0"])]


async def test_a_batch_gets_consecutive_letter_numbers_and_external_transfers_complete_at_once(api, world, engine):
    async with make_sessionmaker(engine)() as session, session.begin():
        extra = [await make_member(session, world.orgs["a2"], name=f"批量{i}", id_number=new_id_number())
                 for i in range(3)]
    before = await counts(api, world.orgs["a2"])
    sent = ok(await send(api, "a_operator", extra, to=world.orgs["b1"]), "transferMembers")["transfers"]
    year = TODAY.year
    assert [t["letterNumber"] for t in sent] == [f"转〔{year}〕{n:06d}号" for n in (1, 2, 3)]
    out = ok(await send(api, "a_operator", [world.members["a2_only"]], external="中共某省某市某支部委员会",
                        reason="户籍迁出"), "transferMembers")["transfers"][0]
    assert out["status"] == "COMPLETED" and out["decidedOn"] == TODAY.isoformat()
    assert out["toOrganizationRef"] is None and out["externalDestination"] == "中共某省某市某支部委员会"
    assert out["letterNumber"] == f"转〔{year}〕000004号" and "中共某省某市某支部委员会" in out["letter"]
    assert (await member_of(api, "a_admin", world.members["a2_only"]))["status"] == "TRANSFERRED_OUT"
    # Out of the system: the sender keeps the member (TRANSFERRED_OUT), read in full through the transfer.
    [whole] = [m for m in await through(api, "a_viewer", statuses=["COMPLETED"], scope="SUBTREE")]
    assert whole["status"] == "TRANSFERRED_OUT" and whole["version"] > 0
    assert whole["idNumber"] == idnumber.mask(world.members["a2_only"].id_number)
    # TRANSFERRED_OUT leaves the counts; the three TRANSFERRING still count here.
    assert await counts(api, world.orgs["a2"]) == (before[0] - 1, before[1] - 1)


async def test_overdue_statuses_and_paging(api, world, engine):
    async with make_sessionmaker(engine)() as session, session.begin():
        extra = [await make_member(session, world.orgs["a1"], name=f"口袋{i}", id_number=new_id_number())
                 for i in range(3)]
    [old] = ok(await send(api, "a_admin", [extra[0]], to=world.orgs["b1"], date=day(-100)), "transferMembers")["transfers"]
    [new] = ok(await send(api, "a_admin", [extra[1]], to=world.orgs["b1"], date=day(-1)), "transferMembers")["transfers"]
    [gone] = ok(await send(api, "a_admin", [extra[2]], to=world.orgs["a2"], date=day(-1)), "transferMembers")["transfers"]
    assert old["validUntil"] == day(-10)
    overdue = await listed(api, "a_admin", scope="SUBTREE", overdue=True)
    assert [e["node"]["id"] for e in overdue["edges"]] == [old["id"]]
    ok(await decide(api, "a_admin", "acceptTransfer", gone["id"]), "acceptTransfer")
    assert [e["node"]["id"] for e in (await listed(api, "a_admin", scope="SUBTREE", statuses=["ACCEPTED"]))["edges"]] \
        == [gone["id"]]
    # SELF at A holds none (A1 sent them); at A1 OUTGOING all three; INCOMING at A2 one.
    assert (await listed(api, "a_admin"))["totalCount"] == 0
    a1 = gid("Organization", world.orgs["a1"])
    assert (await listed(api, "a_admin", organizationId=a1, direction="OUTGOING"))["totalCount"] == 3
    assert (await listed(api, "a_admin", organizationId=gid("Organization", world.orgs["a2"]),
                         direction="INCOMING"))["totalCount"] == 1
    # A foreign anchor is an empty list, not an error.
    assert (await listed(api, "a_admin", organizationId=gid("Organization", world.orgs["b"])))["totalCount"] == 0
    # B sees the two addressed to it, never the one inside A.
    b_list = await listed(api, "b_viewer", scope="SUBTREE")
    assert {e["node"]["id"] for e in b_list["edges"]} == {old["id"], new["id"]}
    # Keyset pages, newest first.
    first = (await api.as_("a_admin", LIST, {"f": {"organizationId": a1}}))["data"]["transfers"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    rest = (await api.as_("a_admin", LIST, {"f": {"organizationId": a1}, "after": first["pageInfo"]["endCursor"]}))
    ids = [e["node"]["id"] for e in first["edges"] + rest["data"]["transfers"]["edges"]]
    assert ids == sorted(ids, key=lambda i: -from_global_id(i)[1]) and len(ids) == 3
    # node() finds a transfer for either side, nobody else.
    node = "query($id: ID!) { node(id: $id) { ... on Transfer { id status } } }"
    assert (await api.as_("b_viewer", node, {"id": old["id"]}))["data"]["node"]["status"] == "PENDING"
    assert (await api.as_("b_viewer", node, {"id": gone["id"]}))["data"]["node"] is None


async def test_a_leader_position_ends_on_the_acceptance_date(api, world, engine):
    moving = world.members["a1_second"]
    ok(await api.as_("a_admin", """mutation($o: ID!, $m: ID!) { appointLeader(input: {organizationId: $o, memberId: $m,
      title: SECRETARY, since: "2020-01-01"}) { userErrors { code } } }""",
                      {"o": gid("Organization", world.orgs["a1"]), "m": gid("Member", moving)}), "appointLeader")
    [t] = ok(await send(api, "a_admin", [moving], to=world.orgs["b1"], date=day(-3)), "transferMembers")["transfers"]
    ok(await decide(api, "b_admin", "acceptTransfer", t["id"], date=day(-2)), "acceptTransfer")
    async with make_sessionmaker(engine)() as session:
        p = models.LeaderPosition
        until = (await session.execute(select(p.until).where(p.member_id == moving.id))).scalar_one()
    assert until == TODAY - dt.timedelta(days=2)


async def test_a_member_account_reads_its_own_transfers(api, world):
    ok(await send(api, "a_admin", [world.members["a1_first"]], to=world.orgs["b1"]), "transferMembers")
    ok(await send(api, "a_admin", [world.members["a1_second"]], to=world.orgs["b1"]), "transferMembers")
    result = await api.as_("a1_member", """{ viewer { member { transfers { status letterNumber
      toOrganizationRef { name } } } } }""")
    assert "errors" not in result, result
    mine = result["data"]["viewer"]["member"]["transfers"]
    assert [t["status"] for t in mine] == ["PENDING"]
    assert error_codes(await api.as_("a1_member", "{ transfers { totalCount } }")) == ["FORBIDDEN"]
    # Accepted: the member's account goes along; it reads itself in its new organization.
    ok(await decide(api, "b_admin", "acceptTransfer", (await listed(api, "b_admin", scope="SUBTREE"))["edges"][-1]["node"]["id"]),
       "acceptTransfer")
    result = await api.as_("a1_member", "{ viewer { organization { id } member { status organization { id } } } }")
    assert "errors" not in result, result
    b1 = {"id": gid("Organization", world.orgs["b1"])}
    assert result["data"]["viewer"] == {"organization": b1, "member": {"status": "ACTIVE", "organization": b1}}
    accounts = await api.as_("b_admin", "{ accounts(scope: SUBTREE) { edges { node { username } } } }")
    assert "a1_member" in {e["node"]["username"] for e in accounts["data"]["accounts"]["edges"]}


# ------------------------------------------------------------------ races


@pytest.fixture
def race(engine):
    race = Race(engine)
    yield race
    race.remove()


@pytest.mark.parametrize("rival", ["acceptTransfer", "cancelTransfer", "rejectTransfer"])
async def test_race_one_decision_wins(api, world, engine, race, rival):
    """Two receivers accept one transfer at once (B's admin and the root's), or the sender cancels
    (or another receiver rejects) while the receiver accepts: exactly one wins, the other gets
    CONFLICT, and the member is counted once."""
    b_token, root_token, a_token = (await api.login("b_admin"), await api.login("root_admin"),
                                    await api.login("a_admin"))
    rival_token = a_token if rival == "cancelTransfer" else root_token
    for n in range(ROUNDS // 2):
        async def build(session):
            return await make_member(session, world.orgs["a1"], name=f"竞态{n}", id_number=new_id_number())
        member = await setup(engine, build)
        [t] = ok(await send(api, "a_admin", [member], to=world.orgs["b1"]), "transferMembers")["transfers"]
        accept = DECIDE % ("acceptTransfer", "id status")
        other = DECIDE % (rival, "id status")
        data = {"transferId": t["id"], "date": TODAY.isoformat(), "reason": "竞态"}
        results = await race.run(api.post(accept, {"input": data}, b_token),
                                 api.post(other, {"input": data}, rival_token))
        outcomes = [succeeded(results[0], "acceptTransfer"), succeeded(results[1], rival)]
        assert outcomes.count(True) == 1, results
        loser = results[outcomes.index(False)]
        field = "acceptTransfer" if outcomes[0] is False else rival
        assert [e["code"] for e in payload(loser, field)["userErrors"]] == ["CONFLICT"], loser
        await assert_invariants(engine)
    assert race.met >= 0


async def test_race_two_batches_of_one_member(api, world, engine, race):
    """The same member sent twice at once (to B1 and to A2): one transfer, one letter number each
    round, the other batch CONFLICT (row lock on the member; unique partial index behind it)."""
    token = await api.login("a_admin")
    for n in range(ROUNDS // 2):
        async def build(session):
            return await make_member(session, world.orgs["a1"], name=f"双发{n}", id_number=new_id_number())
        member = await setup(engine, build)
        mutation = SEND.replace(TRANSFER_FIELDS, "id letterNumber")
        results = await race.run(*(
            api.post(mutation, {"input": {"memberIds": [gid("Member", member)], "date": TODAY.isoformat(),
                                          "toOrganizationId": gid("Organization", to)}}, token)
            for to in (world.orgs["b1"], world.orgs["a2"])))
        outcomes = [succeeded(r, "transferMembers") for r in results]
        assert outcomes.count(True) == 1, results
        await assert_invariants(engine)
    async with make_sessionmaker(engine)() as session:
        t = models.Transfer
        seqs = list(await session.scalars(select(t.letter_seq).order_by(t.letter_seq)))
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) == ROUNDS // 2


# ------------------------------------------------------------------ isolation, both directions

CROSS_TAB = """query($o: ID!, $asOf: Date) { crossTab(input: {organizationId: $o, rows: GENDER, asOf: $asOf}) { total } }"""
RECORD_NODE = "query($id: ID!) { node(id: $id) { ... on MemberRecord { id member { name } } } }"


async def total(api, who, organization, as_of=None):
    result = await api.as_(who, CROSS_TAB, {"o": gid("Organization", organization), "asOf": as_of})
    assert "errors" not in result, result
    return result["data"]["crossTab"]["total"]


@pytest.mark.parametrize("direction", ["a1_to_b1", "b1_to_a2"])
@pytest.mark.parametrize("outcome", ["acceptTransfer", "rejectTransfer", "cancelTransfer"])
async def test_what_each_side_sees_before_during_and_after(api, world, direction, outcome):
    """For a transfer each way between the two districts and each way it ends: the sender's and the
    receiver's viewers read the member, its record (by id) and the transfer exactly while they
    should; a bystander (A2's or B's other branch) never; crossTab as of each day counts the
    member once, at the sender until the acceptance date."""
    if direction == "a1_to_b1":
        member, sender, receiver = world.members["a1_first"], world.orgs["a1"], world.orgs["b1"]
        send_as, receive_as, sender_viewer, receiver_viewer = "a_admin", "b_admin", "a_viewer", "b_viewer"
        sender_top, receiver_top = world.orgs["a"], world.orgs["b"]
    else:
        member, sender, receiver = world.members["b1_only"], world.orgs["b1"], world.orgs["a2"]
        send_as, receive_as, sender_viewer, receiver_viewer = "b_admin", "a_admin", "b_viewer", "a_viewer"
        sender_top, receiver_top = world.orgs["b"], world.orgs["a"]
    [record] = ok(await api.as_(send_as, RECORD, {"m": gid("Member", member)}), "addMemberRecords")["records"]
    bystander = "a1_viewer"  # A1's own viewer: neither end in the second direction, the sender in the first

    async def sight(who):
        """(reads the member by id, reads its record by id, transfers listed, how the listed
        transfer's member is read: "record", "letter" or None without a transfer)."""
        seen = await member_of(api, who, member)
        by_id = (await api.as_(who, RECORD_NODE, {"id": record["id"]}))["data"]["node"]
        transfers = (await listed(api, who, scope="SUBTREE"))["totalCount"]
        through_transfer = await through(api, who, organization=False)
        how = None
        if through_transfer:
            [m] = through_transfer
            assert m["idNumber"] == idnumber.mask(member.id_number)  # the viewers: masked either way
            if m["version"] == 0:
                [m] = await through(api, who)
                end = sender if who == sender_viewer else receiver
                assert_letter_view(m, member, end, idnumber.mask(member.id_number))
                how = "letter"
            else:
                assert m["records"]["totalCount"] == 1
                how = "record"
        return seen is not None, by_id is not None, transfers, how

    start = [await total(api, "root_admin", o) for o in (sender_top, receiver_top)]
    assert await sight(sender_viewer) == (True, True, 0, None)
    assert await sight(receiver_viewer) == (False, False, 0, None)

    [t] = ok(await send(api, send_as, [member], to=receiver, date=day(-4)), "transferMembers")["transfers"]
    assert await sight(sender_viewer) == (True, True, 1, "record")
    assert await sight(receiver_viewer) == (True, True, 1, "record")
    if direction == "b1_to_a2":
        assert await sight(bystander) == (False, False, 0, None)
    assert [await total(api, "root_admin", o) for o in (sender_top, receiver_top)] == start

    reason = "材料不全" if outcome == "rejectTransfer" else None
    who = send_as if outcome == "cancelTransfer" else receive_as
    ok(await decide(api, who, outcome, t["id"], date=day(-2), reason=reason), outcome)
    if outcome == "acceptTransfer":
        assert await sight(sender_viewer) == (False, False, 1, "letter")
        assert await sight(receiver_viewer) == (True, True, 1, "record")
        moved = [start[0] - 1, start[1] + 1]
        assert [await total(api, "root_admin", o) for o in (sender_top, receiver_top)] == moved
        assert [await total(api, "root_admin", o, day(-3)) for o in (sender_top, receiver_top)] == start
        assert [await total(api, "root_admin", o, day(-2)) for o in (sender_top, receiver_top)] == moved
    else:
        assert await sight(sender_viewer) == (True, True, 1, "record")
        assert await sight(receiver_viewer) == (False, False, 1, "letter")
        assert [await total(api, "root_admin", o) for o in (sender_top, receiver_top)] == start
    if direction == "b1_to_a2":
        assert await sight(bystander) == (False, False, 0, None)
    # The side that holds the member edits it; the other side's letter does not follow.
    holder, holder_viewer, other = ((receive_as, receiver_viewer, sender_viewer) if outcome == "acceptTransfer"
                                    else (send_as, sender_viewer, receiver_viewer))
    ok(await api.as_(holder, RENAME, {"m": gid("Member", member), "name": "改名后"}), "updateMember")
    assert [m["name"] for m in await through(api, holder_viewer)] == ["改名后"]
    [frozen] = await through(api, other)
    assert frozen["name"] == member.name and frozen["phone"] is None and frozen["version"] == 0


# ------------------------------------------------------------------ statements per request


async def test_a_transfer_list_costs_the_same_statements_for_2_or_12_transfers(api, world, engine, settings):
    """No N+1: the list, its refs (and their ancestors' names), the members (one batch), the
    organizations (one batch) and the count, whatever the number of transfers."""
    from tests.test_query_count import counting

    query = """{ transfers(filter: {scope: SUBTREE}, first: 50) { totalCount edges { node { letterNumber letter
      fromOrganizationRef { path } toOrganizationRef { path } fromOrganization { name } toOrganization { name }
      member { name records(first: 1) { totalCount } } } } } }"""
    token = await api.login("b_viewer")

    async def cost(n):
        async with make_sessionmaker(engine)() as session, session.begin():
            extra = [await make_member(session, world.orgs["a2"], name=f"计数{n}-{i}", id_number=new_id_number())
                     for i in range(n)]
        ok(await send(api, "a_admin", extra, to=world.orgs["b1"]), "transferMembers")
        with counting(engine) as statements:
            result = await api.post(query, None, token)
        assert "errors" not in result, result
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        return result["data"]["transfers"]["totalCount"], len(selects)

    few, many = await cost(2), await cost(10)
    assert (few[0], many[0]) == (2, 12)
    assert few[1] == many[1], (few, many)


# ------------------------------------------------------------------ the letter reach and the guard


def test_every_member_field_has_an_answer_through_the_letter():
    """The guard lists what a Member read through a transfer's letter answers (deny by default):
    today every field, each from the frozen copy or null / empty / documented (Member.from_letter).
    A new Member field fails here until it gets an answer that holds nothing of the current record
    (and a line in THROUGH above)."""
    from gql.auth.guard import LETTER_MEMBER_FIELDS
    from gql.schema import schema

    fields = set(schema._schema.type_map["Member"].fields)
    assert LETTER_MEMBER_FIELDS == fields
    asked = {word.split("(")[0] for word in THROUGH.split("member {", 1)[1].split()}
    assert fields <= asked


async def test_the_guard_denies_a_member_field_not_listed_for_the_letter(api, world, monkeypatch):
    from gql.auth import guard

    moving = world.members["a1_first"]
    [t] = ok(await send(api, "a_admin", [moving], to=world.orgs["b1"]), "transferMembers")["transfers"]
    ok(await decide(api, "b_admin", "acceptTransfer", t["id"]), "acceptTransfer")
    query = """query($id: ID!) { node(id: $id) { ... on Transfer { member { name phone } } } }"""
    assert (await api.as_("a_admin", query, {"id": t["id"]}))["data"]["node"]["member"] == {"name": moving.name, "phone": None}
    monkeypatch.setattr(guard, "LETTER_MEMBER_FIELDS", guard.LETTER_MEMBER_FIELDS - {"phone"})
    assert error_codes(await api.as_("a_admin", query, {"id": t["id"]})) == ["FORBIDDEN"]
    # The receiver reads its member in full: the list does not apply to it.
    assert (await api.as_("b_admin", query, {"id": t["id"]}))["data"]["node"]["member"]["name"] == moving.name
