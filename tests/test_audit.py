"""The audit trail (操作记录, issue 12), through the GraphQL endpoint on both engines.

- Generated from the schema: every mutation runs once (the scenarios of tests/test_response_cache.py)
  and must leave exactly one entry named after it, with actor, organization, target, time and the
  client's address, and neither a password nor an ID number in clear. A mutation added without
  an entry (or without a scenario) fails here.
- A refused mutation leaves none; a failed sign-in leaves one of its own (loginFailed).
- auditLog: ADMIN only, scoped by the entry's organization, the contract's filters, pages, node.
- Entries cannot be changed or deleted (no mutation; the ORM and Core refuse).
- The command line (bootstrap, check --repair) writes entries as 'cli'.
"""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import delete, func, select, update

from db import models
from db.engine import make_engine, make_sessionmaker
from db.services import audit
from gql.ids import to_global_id
from gql.schema import schema
from tests.conftest import Api, error_codes, gid
from tests.factories import PASSWORD, new_id_number
from tests.test_response_cache import MUTATIONS, SCENARIOS, ok

FULL_ID_NUMBER = re.compile(r"(?<![0-9])\d{17}[0-9X](?![0-9])")
PASSWORDS = (PASSWORD, "Another-Passw0rd-2024", "Tempor4ry-Pass-2024")

LOG = """query($filter: AuditFilter, $first: Int, $after: String) { auditLog(filter: $filter, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { id at action targetType targetId changes actorLabel address
                        actor { username } organization { code name } } } } }"""


async def entries(engine, action: str | None = None) -> list[models.AuditEntry]:
    async with make_sessionmaker(engine)() as session:
        stmt = select(models.AuditEntry).order_by(models.AuditEntry.id)
        if action is not None:
            stmt = stmt.where(models.AuditEntry.action == action)
        return list((await session.execute(stmt)).scalars())


def assert_safe(text: str | None) -> None:
    text = text or ""
    for password in PASSWORDS:
        assert password not in text
    assert not FULL_ID_NUMBER.search(text), text


async def log(api: Api, who: str, filter: dict | None = None, first: int | None = None, after: str | None = None):
    result = await api.as_(who, LOG, {"filter": filter, "first": first, "after": after})
    assert "errors" not in result, result
    return result["data"]["auditLog"]


# ------------------------------------------------------------------ every mutation


def test_every_mutation_is_covered():
    missing = [name for name in MUTATIONS if name not in SCENARIOS]
    assert not missing, f"add a scenario to tests/test_response_cache.py SCENARIOS for: {missing}"


@pytest.mark.parametrize("name", MUTATIONS)
async def test_each_mutation_writes_one_entry(name, engine, world, api):
    if name not in SCENARIOS:
        pytest.fail(f"no scenario for {name}")
    prepare, act, _changed, _unchanged = SCENARIOS[name]
    prepared = await prepare(api, world)
    before = len(await entries(engine, name))
    await act(api, world, prepared)
    written = await entries(engine, name)
    assert len(written) == before + 1, f"{name} wrote {len(written) - before} audit entries"
    entry = written[-1]
    assert entry.actor_account_id is not None, entry.actor_label
    assert entry.organization_id is not None
    assert entry.target_type
    assert entry.address == "127.0.0.1"
    assert abs(entry.at - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=1)
    assert_safe(entry.changes)
    json.loads(entry.changes)


async def test_the_trail_has_no_secrets_after_every_mutation(engine, world, api):
    for name in ("createAccount", "changePassword", "resetPassword", "correctIdNumber", "createMember"):
        prepare, act, *_ = SCENARIOS[name]
        await act(api, world, await prepare(api, world))
    written = await entries(engine)
    for entry in written:
        assert_safe(entry.changes)
    account = next(e for e in written if e.action == "createAccount")
    created = json.loads(account.changes)["objects"][0]
    assert created["type"] == "Account" and created["after"]["password_hash"] == audit.HIDDEN
    corrected = next(e for e in written if e.action == "correctIdNumber")
    assert "*" in corrected.changes


async def test_changes_hold_the_fields_before_and_after(engine, world, api):
    member = world.members["a1_first"]
    await ok(api, "a_operator", "updateMember", "UpdateMemberInput",
             {"memberId": gid("Member", member), "fields": {"phone": "13800000000"}})
    entry = (await entries(engine, "updateMember"))[-1]
    assert (entry.target_type, entry.target_id, entry.organization_id) == ("Member", member.id, world.orgs["a1"].id)
    assert entry.actor_account_id == world.accounts["a_operator"].id
    changed = next(o for o in json.loads(entry.changes)["objects"] if o["type"] == "Member")
    assert changed["op"] == "update"
    assert changed["before"]["phone"] == member.phone and changed["after"]["phone"] == "13800000000"
    assert "id_number" not in changed["after"]  # unchanged fields are not listed


async def test_a_refused_mutation_writes_no_entry(engine, world, api):
    await api.login("a_operator")
    before = await entries(engine)
    result = await api.as_("a_operator", """mutation($input: UpdateMemberInput!) { updateMember(input: $input) {
        userErrors { code } } }""", {"input": {"memberId": gid("Member", world.members["b1_only"]),
                                              "fields": {"phone": "1"}}})
    assert [e["code"] for e in result["data"]["updateMember"]["userErrors"]] == ["NOT_FOUND"]
    after = await entries(engine)
    assert [e.action for e in after[len(before):]] == []


# ------------------------------------------------------------------ sign-ins


LOGIN = "mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { token userErrors { code } } }"


async def test_failed_sign_ins_write_their_own_entries(engine, world, api):
    viewer = world.accounts["a1_viewer"]
    wrong = await api.post(LOGIN, {"u": "a1_viewer", "p": "Wrong-Passw0rd-1"})
    assert wrong["data"]["login"]["token"] is None
    id_number = new_id_number(dt.date(1991, 1, 1))
    await api.post(LOGIN, {"u": id_number, "p": PASSWORD})
    failed = await entries(engine, audit.SIGN_IN_FAILED)
    assert len(failed) == 2
    first, second = failed
    assert (first.target_type, first.target_id, first.organization_id) == ("Account", viewer.id, world.orgs["a1"].id)
    assert first.actor_account_id is None and first.address == "127.0.0.1"
    assert json.loads(first.changes) == {"username": "a1_viewer", "reason": "WRONG_PASSWORD"}
    assert "Wrong-Passw0rd-1" not in first.changes
    assert second.organization_id is None and second.target_id is None
    assert id_number not in second.changes and json.loads(second.changes)["reason"] == "UNKNOWN_OR_LOCKED"

    # The account's branch sees its failures; another branch does not; an unknown name only the root.
    seen = await log(api, "a_admin", {"actions": [audit.SIGN_IN_FAILED]})
    assert seen["totalCount"] == 1
    assert seen["edges"][0]["node"]["targetId"] == gid("Account", viewer)
    assert seen["edges"][0]["node"]["organization"]["code"] == world.orgs["a1"].code
    assert (await log(api, "b_admin", {"actions": [audit.SIGN_IN_FAILED]}))["totalCount"] == 0
    assert (await log(api, "root_admin", {"actions": [audit.SIGN_IN_FAILED]}))["totalCount"] == 2


async def test_a_locked_account_and_a_disabled_one_are_recorded(engine, world, api):
    for _ in range(6):
        await api.post(LOGIN, {"u": "a1_viewer", "p": "Wrong-Passw0rd-1"})
    failed = await entries(engine, audit.SIGN_IN_FAILED)
    assert [json.loads(e.changes)["reason"] for e in failed] == ["WRONG_PASSWORD"] * 5 + ["UNKNOWN_OR_LOCKED"]
    # A locked account is found by its username inside the entry's INSERT.
    assert {(e.target_id, e.organization_id) for e in failed} == {(world.accounts["a1_viewer"].id, world.orgs["a1"].id)}
    await ok(api, "b_admin", "updateAccount", "UpdateAccountInput",
             {"accountId": gid("Account", world.accounts["b_viewer"]), "disabled": True})
    await api.post(LOGIN, {"u": "b_viewer", "p": PASSWORD})
    last = (await entries(engine, audit.SIGN_IN_FAILED))[-1]
    assert json.loads(last.changes)["reason"] == "DISABLED"
    assert last.organization_id == world.orgs["b"].id


async def test_a_successful_sign_in_names_the_account(engine, world, api):
    await api.login("a1_viewer")
    entry = (await entries(engine, "login"))[-1]
    assert entry.actor_account_id == world.accounts["a1_viewer"].id
    assert (entry.target_type, entry.target_id) == ("Account", world.accounts["a1_viewer"].id)
    assert entry.organization_id == world.orgs["a1"].id


# ------------------------------------------------------------------ reading the trail


async def test_audit_log_is_scoped_filtered_and_paged(engine, world, api):
    await ok(api, "a_operator", "updateMember", "UpdateMemberInput",
             {"memberId": gid("Member", world.members["a1_first"]), "fields": {"phone": "13800000001"}})
    await ok(api, "a_operator", "updateMember", "UpdateMemberInput",
             {"memberId": gid("Member", world.members["a2_only"]), "fields": {"phone": "13800000002"}})
    await ok(api, "b_admin", "updateMember", "UpdateMemberInput",
             {"memberId": gid("Member", world.members["b1_only"]), "fields": {"phone": "13800000003"}})
    updates = {"actions": ["updateMember"]}

    mine = await log(api, "a_admin", updates)
    assert mine["totalCount"] == 2
    nodes = [e["node"] for e in mine["edges"]]
    assert [n["targetId"] for n in nodes] == [gid("Member", world.members["a2_only"]),
                                              gid("Member", world.members["a1_first"])]  # newest first
    assert all(n["actor"]["username"] == "a_operator" and n["targetType"] == "Member" for n in nodes)
    assert nodes[0]["address"] == "127.0.0.1" and nodes[0]["actorLabel"] is None
    assert_safe("".join(n["changes"] for n in nodes))

    assert (await log(api, "b_admin", updates))["totalCount"] == 1
    assert (await log(api, "a1_admin", updates))["totalCount"] == 1
    assert (await log(api, "root_admin", updates))["totalCount"] == 3
    for who in ("a_operator", "a_viewer", "a1_member"):
        result = await api.as_(who, LOG, {"filter": updates})
        assert error_codes(result) == ["FORBIDDEN"], (who, result)

    # Filters of the contract.
    a1 = gid("Organization", world.orgs["a1"])
    assert (await log(api, "a_admin", {**updates, "organizationId": a1}))["totalCount"] == 1
    assert (await log(api, "a_admin", {**updates, "organizationId": gid("Organization", world.orgs["a"]),
                                       "scope": "SELF"}))["totalCount"] == 0
    assert (await log(api, "a_admin", {**updates, "organizationId": gid("Organization", world.orgs["b1"])})
            )["totalCount"] == 0  # outside the branch: nothing
    assert (await log(api, "a_admin", {**updates, "actorId": gid("Account", world.accounts["a_operator"])})
            )["totalCount"] == 2
    assert (await log(api, "root_admin", {**updates, "actorId": gid("Account", world.accounts["b_admin"])})
            )["totalCount"] == 1
    assert (await log(api, "a_admin", {"targetId": gid("Member", world.members["a1_first"])}))["totalCount"] == 1
    assert (await log(api, "a_admin", {"targetId": "not-an-id"}))["totalCount"] == 0
    now = dt.datetime.now(dt.timezone.utc)
    assert (await log(api, "a_admin", {**updates, "since": (now - dt.timedelta(minutes=5)).isoformat()})
            )["totalCount"] == 2
    assert (await log(api, "a_admin", {**updates, "until": (now - dt.timedelta(minutes=5)).isoformat()})
            )["totalCount"] == 0

    # Pages.
    first = await log(api, "a_admin", updates, first=1)
    assert first["pageInfo"]["hasNextPage"] and len(first["edges"]) == 1
    second = await log(api, "a_admin", updates, first=1, after=first["pageInfo"]["endCursor"])
    assert [e["node"]["id"] for e in first["edges"] + second["edges"]] == [n["id"] for n in nodes]

    # node(id): in the branch or not at all.
    entry_id = nodes[0]["id"]
    query = "query($id: ID!) { node(id: $id) { ... on AuditEntry { action } } }"
    assert (await api.as_("a_admin", query, {"id": entry_id}))["data"]["node"] == {"action": "updateMember"}
    assert (await api.as_("b_admin", query, {"id": entry_id}))["data"]["node"] is None
    assert error_codes(await api.as_("a_viewer", query, {"id": entry_id})) == ["FORBIDDEN"]


async def test_audit_log_is_never_answered_from_the_cache(engine, world, api):
    first = await log(api, "root_admin", {"actions": [audit.SIGN_IN_FAILED]})
    await api.post(LOGIN, {"u": "nobody-here", "p": "Wrong-Passw0rd-1"})  # moves no data version
    again = await log(api, "root_admin", {"actions": [audit.SIGN_IN_FAILED]})
    assert again["totalCount"] == first["totalCount"] + 1


# ------------------------------------------------------------------ append-only


def test_no_mutation_changes_or_deletes_entries():
    names = schema._schema.mutation_type.fields
    assert not [n for n in names if "audit" in n.lower()]


async def test_entries_cannot_be_changed_or_deleted(engine, world, api):
    await api.login("a1_viewer")
    async with make_sessionmaker(engine)() as session:
        entry = (await session.execute(select(models.AuditEntry))).scalars().first()
        entry.action = "forged"
        with pytest.raises(audit.AuditImmutable):
            await session.flush()
        await session.rollback()
        entry = (await session.execute(select(models.AuditEntry))).scalars().first()
        await session.delete(entry)
        with pytest.raises(audit.AuditImmutable):
            await session.flush()
        await session.rollback()
        with pytest.raises(audit.AuditImmutable):
            await session.execute(update(models.AuditEntry).values(action="forged"))
        with pytest.raises(audit.AuditImmutable):
            await session.execute(delete(models.AuditEntry))
        await session.rollback()
    assert [e.action for e in await entries(engine)] == ["login"]


# ------------------------------------------------------------------ record() and the command line


async def test_record_masks_and_hides(engine, world):
    member = world.members["a1_first"]
    async with make_sessionmaker(engine)() as session, session.begin():
        await audit.record(session, actor="import", action="importMembers", target=("Member", member.id),
                           changes={"id_number": member.id_number, "note": f"见 {member.id_number}",
                                    "password": "Secret-2024x", "token": "abc"}, address="10.0.0.1")
    entry = (await entries(engine, "importMembers"))[0]
    assert entry.organization_id == world.orgs["a1"].id and entry.actor_label == "import"
    changes = json.loads(entry.changes)
    assert member.id_number not in entry.changes and changes["id_number"].count("*") == 13
    assert changes["password"] == changes["token"] == audit.HIDDEN
    assert "Secret-2024x" not in entry.changes


async def test_cli_writes_are_audited(tmp_path):
    from tests.test_cli import cli

    url = f"sqlite+aiosqlite:///{tmp_path}/prod.db"
    result = cli(url, "bootstrap", "--root-name", "中共测试省委员会", "--root-code", "001", "--admin", "chief",
                 password="Chief2024pass")
    assert result.returncode == 0, result.stderr
    result = cli(url, "check", "--repair")
    assert result.returncode == 0, result.stdout + result.stderr
    engine = make_engine(url)
    try:
        written = await entries(engine)
    finally:
        await engine.dispose()
    assert [(e.action, e.actor_label, e.actor_account_id) for e in written] == [("bootstrap", "cli", None)]
    entry = written[0]
    assert entry.target_type == "Organization" and entry.organization_id == entry.target_id
    objects = json.loads(entry.changes)["objects"]
    assert {o["type"] for o in objects} >= {"Organization", "Account"}
    assert_safe(entry.changes)
    assert "Chief2024pass" not in entry.changes


async def test_a_repair_is_audited(tmp_path):
    from tests.test_cli import cli

    url = f"sqlite+aiosqlite:///{tmp_path}/prod.db"
    assert cli(url, "bootstrap", "--root-name", "中共测试省委员会", "--root-code", "001", "--admin", "chief",
               password="Chief2024pass").returncode == 0
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:  # break a rollup behind the services' back
            await connection.execute(update(models.Organization).values(direct_member_count=7))
        result = cli(url, "check", "--repair")
        assert result.returncode == 0, result.stdout + result.stderr
        written = await entries(engine, "repair")
        assert len(written) == 1 and written[0].actor_label == "cli"
        assert json.loads(written[0].changes)["violations"]
    finally:
        await engine.dispose()


async def test_the_demo_loader_is_audited(tmp_path):
    from tests.test_cli import cli

    url = f"sqlite+aiosqlite:///{tmp_path}/demo.db"
    result = cli(url, "demo", "--orgs", "6", "--members", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    engine = make_engine(url)
    try:
        written = await entries(engine)
    finally:
        await engine.dispose()
    assert [(e.action, e.actor_label) for e in written] == [("demo", "cli"), ("demoAccounts", "cli")]
    assert json.loads(written[0].changes)["members"] == 30
    assert written[0].organization_id == written[0].target_id
    assert written[1].target_type == "Account" and written[1].organization_id is not None
    assert_safe(written[1].changes)
    assert "Dangjian2024" not in written[1].changes


async def test_a_batch_names_its_type_and_its_members_organization(engine, world, api):
    ids = [gid("Member", world.members["a1_first"]), gid("Member", world.members["a1_second"])]
    await ok(api, "a_operator", "addMemberRecords", "AddMemberRecordsInput",
             {"memberIds": ids, "kind": "DUES", "fields": {"date": "2024-03-15", "amount": "12.50"}}, "records { id }")
    entry = (await entries(engine, "addMemberRecords"))[-1]
    assert (entry.target_type, entry.target_id) == ("MemberRecord", None)
    assert entry.organization_id == world.orgs["a1"].id  # not the actor's (a)
