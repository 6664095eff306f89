"""The exact response cache (gql.cache) and the data versions it stands on (db.changes).

- Generated from the schema: every mutation runs once (a scenario below) and must move the data
  version of each reader that can see what it changed, leave a reader of an unrelated branch
  alone, and never fall back to touching the root. A mutation added without a scenario fails.
- Through HTTP on both engines: a repeated query is answered from the cache; each kind of write
  (member, organization, leadership, records, difficulty, account, sign-in) makes the next read
  fresh, also when written by another app instance (another worker process) on the same
  database; another account, role or branch never gets someone else's response; errors and
  mutations are never cached; the cache can be switched off.
"""
from __future__ import annotations

import datetime as dt

import httpx
import pytest

from db import changes, clock
from db.engine import make_sessionmaker
from gql.app import create_app
from gql.schema import schema
from gql.settings import Settings
from tests.conftest import Api, gid
from tests.factories import PASSWORD, new_id_number

ORGS = ("root", "a", "b", "a1", "a2", "b1")


async def versions(engine, world) -> dict[str, int]:
    async with make_sessionmaker(engine)() as session:
        return {name: await changes.branch_version(session, world.orgs[name].path) for name in ORGS}


def member_input(organization, name="新党员", birth=dt.date(1990, 5, 20)) -> dict:
    return {"organizationId": gid("Organization", organization),
            "fields": {"name": name, "idNumber": new_id_number(birth), "category": "FULL",
                       "appliedOn": "2010-03-01", "joinedOn": "2012-07-01", "confirmedOn": "2013-07-01",
                       "ethnicityCode": "01"}}


def mutation(name: str, input_type: str | None, selection: str = "") -> str:
    if input_type is None:
        return f"mutation {{ {name} {{ {selection} userErrors {{ code field message }} }} }}"
    return (f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection} "
            f"userErrors {{ code field message }} }} }}")


async def ok(api: Api, who: str | None, name: str, input_type: str | None, data: dict | None = None,
             selection: str = "", token: str | None = None) -> dict:
    document = mutation(name, input_type, selection)
    variables = {"input": data} if input_type else {}
    if token is not None:
        result = await api.post(document, variables, token)
    else:
        result = await api.as_(who, document, variables)
    assert "errors" not in result, result
    payload = result["data"][name]
    assert payload["userErrors"] == [], payload
    return payload


# Each scenario: (prepare, act, changed, unchanged). `prepare(api, world)` returns what `act`
# needs; `act(api, world, prepared)` runs the mutation once, successfully. `changed` are the
# readers whose version must move, `unchanged` those whose must not.

async def _nothing(api, world):
    return None


async def _login(api, world, _):
    await api.post(mutation("login", "LoginInput", "token"),
                   {"input": {"username": "a1_viewer", "password": PASSWORD}})


async def _logout_prepare(api, world):
    return await api.login("a1_viewer")


async def _logout(api, world, token):
    await ok(api, None, "logout", None, token=token)


async def _change_password(api, world, token):
    await ok(api, None, "changePassword", "ChangePasswordInput",
             {"currentPassword": PASSWORD, "newPassword": "Another-Passw0rd-2024"}, token=token)


async def _create_account(api, world, _):
    await ok(api, "a_admin", "createAccount", "CreateAccountInput",
             {"organizationId": gid("Organization", world.orgs["a1"]), "username": "a1_new",
              "password": "Another-Passw0rd-2024", "name": "新账号", "role": "VIEWER"})


async def _update_account(api, world, _):
    await ok(api, "a_admin", "updateAccount", "UpdateAccountInput",
             {"accountId": gid("Account", world.accounts["a1_viewer"]), "name": "改名"})


async def _reset_password(api, world, _):
    await ok(api, "a_admin", "resetPassword", "ResetPasswordInput",
             {"accountId": gid("Account", world.accounts["a1_viewer"]), "temporaryPassword": "Tempor4ry-Pass-2024"})


async def _create_organization(api, world, _):
    await ok(api, "a_admin", "createOrganization", "CreateOrganizationInput",
             {"parentId": gid("Organization", world.orgs["a1"]), "name": "中共新党小组", "type": "BRANCH",
              "codeSuffix": "009"})


async def _update_organization(api, world, _):
    await ok(api, "a_admin", "updateOrganization", "UpdateOrganizationInput",
             {"organizationId": gid("Organization", world.orgs["a1"]), "address": "新地址"})


async def _create_member(api, world, _):
    await ok(api, "a_operator", "createMember", "CreateMemberInput", member_input(world.orgs["a1"]))


async def _rename_organization(api, world, _):
    await ok(api, "root_admin", "renameOrganization", "RenameOrganizationInput",
             {"organizationId": gid("Organization", world.orgs["a"]), "name": "中共示范市丙区委员会",
              "date": "2024-01-01"})


async def _move_organization(api, world, _):
    await ok(api, "root_admin", "moveOrganization", "MoveOrganizationInput",
             {"organizationId": gid("Organization", world.orgs["a2"]),
              "newParentId": gid("Organization", world.orgs["b"]), "date": "2024-05-01", "reason": "区划调整"})


async def _revoke_prepare(api, world):
    payload = await ok(api, "a_admin", "createOrganization", "CreateOrganizationInput",
                       {"parentId": gid("Organization", world.orgs["a1"]), "name": "中共待撤销党小组",
                        "type": "BRANCH", "codeSuffix": "008", "establishedOn": "2020-01-01"},
                       "organization { id }")
    return payload["organization"]["id"]


async def _revoke_organization(api, world, organization_id):
    await ok(api, "a_admin", "revokeOrganization", "RevokeOrganizationInput",
             {"organizationId": organization_id, "date": "2024-06-01", "reason": "单位撤并"})


async def _set_leadership_term(api, world, _):
    await ok(api, "a_admin", "setLeadershipTerm", "SetLeadershipTermInput",
             {"organizationId": gid("Organization", world.orgs["a1"]), "electionMethod": "COMPETITIVE",
              "electedOn": "2023-01-01", "termEndsOn": "2026-01-01"})


async def _appoint(api, world, _=None):
    payload = await ok(api, "a_admin", "appointLeader", "AppointLeaderInput",
                       {"organizationId": gid("Organization", world.orgs["a1"]),
                        "memberId": gid("Member", world.members["a1_first"]), "title": "SECRETARY",
                        "since": "2023-01-01"}, "position { id }")
    return payload["position"]["id"]


async def _appoint_prepare(api, world):
    return await _appoint(api, world)


async def _end_position(api, world, position_id):
    await ok(api, "a_admin", "endLeaderPosition", "EndLeaderPositionInput",
             {"positionId": position_id, "until": "2024-01-01"})


async def _add_org_record(api, world, _):
    await ok(api, "a_operator", "addOrgRecord", "AddOrgRecordInput",
             {"organizationId": gid("Organization", world.orgs["a1"]), "kind": "MEETING", "title": "组织生活会",
              "heldOn": "2024-04-01"})


async def _add_difficulty(api, world, _=None):
    payload = await ok(api, "a_operator", "addDifficulty", "AddDifficultyInput",
                       {"memberId": gid("Member", world.members["a1_first"]), "kindCode": "1",
                        "recordedOn": "2023-01-15"}, "difficulty { id }")
    return payload["difficulty"]["id"]


async def _difficulty_prepare(api, world):
    return await _add_difficulty(api, world)


async def _revoke_difficulty(api, world, difficulty_id):
    await ok(api, "a_operator", "revokeDifficulty", "RevokeDifficultyInput",
             {"difficultyId": difficulty_id, "date": "2024-01-01"})


async def _create_in_a1(api, world, **fields) -> str:
    data = member_input(world.orgs["a1"], name=fields.pop("name", "新党员"))
    affiliation = fields.pop("affiliation", None)
    data["fields"].update(fields)
    data["fields"] = {k: v for k, v in data["fields"].items() if v is not None}
    if affiliation:
        data["affiliation"] = affiliation
    payload = await ok(api, "a1_admin", "createMember", "CreateMemberInput", data, "member { id }")
    return payload["member"]["id"]


async def _update_member(api, world, _):
    await ok(api, "a_operator", "updateMember", "UpdateMemberInput",
             {"memberId": gid("Member", world.members["a1_first"]), "fields": {"phone": "13800000000"}})


async def _correct_id_number(api, world, _):
    await ok(api, "a_admin", "correctIdNumber", "CorrectIdNumberInput",
             {"memberId": gid("Member", world.members["a1_first"]),
              "newIdNumber": new_id_number(dt.date(1986, 2, 3)), "reason": "录入错误"})


async def _pending_prepare(api, world):
    await ok(api, "a_admin", "updateOrganization", "UpdateOrganizationInput",
             {"organizationId": gid("Organization", world.orgs["a1"]), "requiresApproval": True})
    return await _create_in_a1(api, world, name="待审党员")


async def _approve(api, world, member_id):
    await ok(api, "a_admin", "approveMembers", "ReviewMembersInput", {"memberIds": [member_id]})


async def _reject(api, world, member_id):
    await ok(api, "a_admin", "rejectMembers", "ReviewMembersInput", {"memberIds": [member_id], "reason": "材料不全"})


async def _rejected_prepare(api, world):
    member_id = await _pending_prepare(api, world)
    await _reject(api, world, member_id)
    await api.login("a1_admin")
    return member_id


async def _resubmit(api, world, member_id):
    await ok(api, "a1_admin", "resubmitMember", "ResubmitMemberInput", {"memberId": member_id})


async def _delete_rejected(api, world, member_id):
    await ok(api, "a1_admin", "deleteRejectedMembers", "DeleteRejectedMembersInput", {"memberIds": [member_id]})


async def _applicant_prepare(api, world):
    return await _create_in_a1(api, world, name="申请人", category="APPLICANT", appliedOn="2019-01-01",
                               joinedOn=None, confirmedOn=None)


async def _promote(api, world, member_id):
    await ok(api, "a_admin", "promoteMember", "PromoteMemberInput",
             {"memberId": member_id, "to": "ACTIVIST", "date": "2019-06-01"})


async def _inflow_prepare(api, world):
    return await _create_in_a1(api, world, name="流入党员", affiliation="INFLOW")


async def _convert(api, world, member_id):
    await ok(api, "a_admin", "convertInflowToDirect", "ConvertInflowInput", {"memberId": member_id})


async def _record_status_change(api, world, _):
    await ok(api, "a_admin", "recordStatusChange", "RecordStatusChangeInput",
             {"memberId": gid("Member", world.members["a1_second"]), "kind": "DEATH", "date": "2024-06-01"})


async def _add_records(api, world, _=None):
    payload = await ok(api, "a_operator", "addMemberRecords", "AddMemberRecordsInput",
                       {"memberIds": [gid("Member", world.members["a1_first"])], "kind": "DUES",
                        "fields": {"date": "2024-03-15", "amount": "12.50"}}, "records { id }")
    return payload["records"][0]["id"]


async def _records_prepare(api, world):
    return await _add_records(api, world)


async def _update_record(api, world, record_id):
    await ok(api, "a_operator", "updateMemberRecord", "UpdateMemberRecordInput",
             {"recordId": record_id, "fields": {"date": "2024-04-15", "amount": "13.00"}})


async def _delete_records(api, world, record_id):
    await ok(api, "a_operator", "deleteMemberRecords", "DeleteMemberRecordsInput", {"recordIds": [record_id]})


async def _save_stat_definition(api, world, _=None):
    payload = await ok(api, "a1_viewer", "saveStatDefinition", "SaveStatDefinitionInput",
                       {"name": "一支部性别", "crossTab": {"organizationId": gid("Organization", world.orgs["a1"]),
                                                       "rows": "GENDER"}}, "definition { id }")
    return payload["definition"]["id"]


async def _stat_definition_prepare(api, world):
    return await _save_stat_definition(api, world)


async def _delete_stat_definition(api, world, definition_id):
    await ok(api, "a1_viewer", "deleteStatDefinition", "DeleteStatDefinitionInput", {"definitionId": definition_id})


async def _transfer(api, world, _=None):
    payload = await ok(api, "a_admin", "transferMembers", "TransferMembersInput",
                       {"memberIds": [gid("Member", world.members["a1_first"])],
                        "toOrganizationId": gid("Organization", world.orgs["b1"]),
                        "date": clock.today().isoformat()}, "transfers { id }")
    return payload["transfers"][0]["id"]


async def _transfer_prepare(api, world):
    return await _transfer(api, world)


def _decide_transfer(name: str, who: str, reason: str | None = None):
    async def act(api, world, transfer_id):
        data = {"transferId": transfer_id, "date": clock.today().isoformat()}
        if reason:
            data["reason"] = reason
        await ok(api, who, name, "DecideTransferInput", data)
    return act


async def _flow_out(api, world, _=None):
    payload = await ok(api, "a_operator", "flowOut", "FlowOutInput",
                       {"memberId": gid("Member", world.members["a1_first"]), "destination": "广东省深圳市",
                        "since": "2024-03-01"}, "flow { id }")
    return payload["flow"]["id"]


async def _flow_prepare(api, world):
    return await _flow_out(api, world)


async def _update_flow(api, world, flow_id):
    await ok(api, "a_operator", "updateFlow", "UpdateFlowInput", {"flowId": flow_id, "contact": "13800000000"})


async def _return_from_flow(api, world, flow_id):
    await ok(api, "a_operator", "returnFromFlow", "ReturnFromFlowInput", {"flowId": flow_id, "date": "2024-06-01"})


async def _add_representative_term(api, world, _=None):
    payload = await ok(api, "a_operator", "addRepresentativeTerm", "AddRepresentativeTermInput",
                       {"memberId": gid("Member", world.members["a1_first"]), "level": "CITY", "term": 12},
                       "representativeTerm { id }")
    return payload["representativeTerm"]["id"]


async def _representative_prepare(api, world):
    return await _add_representative_term(api, world)


async def _terminate_representative(api, world, term_id):
    await ok(api, "a_operator", "terminateRepresentative", "TerminateRepresentativeInput",
             {"termId": term_id, "date": "2024-05-01", "reason": "调离本地"})


async def _set_volunteer(api, world, _):
    await ok(api, "a_operator", "setVolunteer", "SetVolunteerInput",
             {"memberId": gid("Member", world.members["a1_first"]), "category": "社区服务"})


A1_CHAIN = ({"root", "a", "a1"}, {"b", "b1", "a2"})


# ------------------------------------------------ issue 12: self-service

async def _register_prepare(api, world):
    await ok(api, "a_operator", "updateMember", "UpdateMemberInput",
             {"memberId": gid("Member", world.members["a1_second"]), "fields": {"phone": "13800138000"}})


async def _register_member(api, world, _):
    """a1_second (no account yet) claims one: its account lands in A1."""
    member = world.members["a1_second"]
    await ok(api, None, "registerMember", "RegisterMemberInput",
             {"idNumber": member.id_number, "name": member.name, "phone": "13800138000",
              "password": "Another-Passw0rd-2024"}, "account { id }")


async def _request_dues(api, world, _=None):
    payload = await ok(api, "a1_member", "requestDues", "RequestDuesInput", {"monthlyAmount": "12.50"},
                       "request { id }")
    return payload["request"]["id"]


async def _request_profile_change(api, world, _):
    await ok(api, "a1_member", "requestProfileChange", "RequestProfileChangeInput",
             {"fields": {"nativePlace": "湖南长沙"}})


async def _request_transfer(api, world, _):
    await ok(api, "a1_member", "requestTransfer", "RequestTransferInput",
             {"externalDestination": "外省某党委", "reason": "工作调动"})


async def _dues_request_prepare(api, world):
    return await _request_dues(api, world)


async def _decide_change_request(api, world, request_id):
    await ok(api, "a_operator", "decideChangeRequest", "DecideChangeRequestInput",
             {"requestId": request_id, "approve": True})


# A transfer from A1 to B1: readers of both ends (the sender's and the receiver's chains) see it.
A1_TO_B1 = ({"root", "a", "a1", "b", "b1"}, {"a2"})
SCENARIOS = {
    "login": (_nothing, _login, *A1_CHAIN),
    "logout": (_logout_prepare, _logout, *A1_CHAIN),
    "changePassword": (_logout_prepare, _change_password, *A1_CHAIN),
    "createAccount": (_nothing, _create_account, *A1_CHAIN),
    "updateAccount": (_nothing, _update_account, *A1_CHAIN),
    "resetPassword": (_nothing, _reset_password, *A1_CHAIN),
    "createOrganization": (_nothing, _create_organization, *A1_CHAIN),
    "updateOrganization": (_nothing, _update_organization, *A1_CHAIN),
    "createMember": (_nothing, _create_member, *A1_CHAIN),
    # Readers below an organization see nothing of it but their own path, code and depth: a rename
    # moves the versions of the organization and above only (a move reaches below: next).
    "renameOrganization": (_nothing, _rename_organization, {"root", "a"}, {"a1", "a2", "b", "b1"}),
    # Both chains and the moved subtree; not the sibling that stayed.
    "moveOrganization": (_nothing, _move_organization, {"root", "a", "a2", "b"}, {"a1", "b1"}),
    "revokeOrganization": (_revoke_prepare, _revoke_organization, *A1_CHAIN),
    "setLeadershipTerm": (_nothing, _set_leadership_term, *A1_CHAIN),
    "appointLeader": (_nothing, _appoint, *A1_CHAIN),
    "endLeaderPosition": (_appoint_prepare, _end_position, *A1_CHAIN),
    "addOrgRecord": (_nothing, _add_org_record, *A1_CHAIN),
    "addDifficulty": (_nothing, _add_difficulty, *A1_CHAIN),
    "revokeDifficulty": (_difficulty_prepare, _revoke_difficulty, *A1_CHAIN),
    "updateMember": (_nothing, _update_member, *A1_CHAIN),
    "correctIdNumber": (_nothing, _correct_id_number, *A1_CHAIN),
    "approveMembers": (_pending_prepare, _approve, *A1_CHAIN),
    "rejectMembers": (_pending_prepare, _reject, *A1_CHAIN),
    "resubmitMember": (_rejected_prepare, _resubmit, *A1_CHAIN),
    "deleteRejectedMembers": (_rejected_prepare, _delete_rejected, *A1_CHAIN),
    "promoteMember": (_applicant_prepare, _promote, *A1_CHAIN),
    "convertInflowToDirect": (_inflow_prepare, _convert, *A1_CHAIN),
    "recordStatusChange": (_nothing, _record_status_change, *A1_CHAIN),
    "addMemberRecords": (_nothing, _add_records, *A1_CHAIN),
    "updateMemberRecord": (_records_prepare, _update_record, *A1_CHAIN),
    "deleteMemberRecords": (_records_prepare, _delete_records, *A1_CHAIN),
    # A saved table belongs to its organization (A1 here, the owner's own): the readers of A1's
    # chain see it in statDefinitions.
    "saveStatDefinition": (_nothing, _save_stat_definition, *A1_CHAIN),
    "deleteStatDefinition": (_stat_definition_prepare, _delete_stat_definition, *A1_CHAIN),
    # A MEMBER's requests hang from its member (A1): A1's readers list them (changeRequests).
    "registerMember": (_register_prepare, _register_member, *A1_CHAIN),
    "requestProfileChange": (_nothing, _request_profile_change, *A1_CHAIN),
    "requestDues": (_nothing, _request_dues, *A1_CHAIN),
    "requestTransfer": (_nothing, _request_transfer, *A1_CHAIN),
    "decideChangeRequest": (_dues_request_prepare, _decide_change_request, *A1_CHAIN),
    "transferMembers": (_nothing, _transfer, *A1_TO_B1),
    "acceptTransfer": (_transfer_prepare, _decide_transfer("acceptTransfer", "b_admin"), *A1_TO_B1),
    "rejectTransfer": (_transfer_prepare, _decide_transfer("rejectTransfer", "b_admin", "材料不全"), *A1_TO_B1),
    "cancelTransfer": (_transfer_prepare, _decide_transfer("cancelTransfer", "a_admin"), *A1_TO_B1),
    "flowOut": (_nothing, _flow_out, *A1_CHAIN),
    "updateFlow": (_flow_prepare, _update_flow, *A1_CHAIN),
    "returnFromFlow": (_flow_prepare, _return_from_flow, *A1_CHAIN),
    "addRepresentativeTerm": (_nothing, _add_representative_term, *A1_CHAIN),
    "terminateRepresentative": (_representative_prepare, _terminate_representative, *A1_CHAIN),
    "setVolunteer": (_nothing, _set_volunteer, *A1_CHAIN),
}

MUTATIONS = sorted(schema._schema.mutation_type.fields)


def test_every_mutation_has_a_scenario():
    missing = [name for name in MUTATIONS if name not in SCENARIOS]
    assert not missing, f"add a data-version scenario to tests/test_response_cache.py for: {missing}"


@pytest.mark.parametrize("name", MUTATIONS)
async def test_each_mutation_moves_exactly_the_versions_of_its_readers(name, engine, world, api):
    if name not in SCENARIOS:
        pytest.fail(f"no scenario for {name}")
    prepare, act, changed, unchanged = SCENARIOS[name]
    prepared = await prepare(api, world)
    for who in ("a_admin", "a_operator", "root_admin", "a1_admin"):  # sign-ins touch their accounts' organizations
        await api.login(who)
    before = await versions(engine, world)
    fallbacks = len(changes.fallbacks)
    await act(api, world, prepared)
    after = await versions(engine, world)
    assert len(changes.fallbacks) == fallbacks, f"{name} fell back to touching the root: {changes.fallbacks[-1:]}"
    assert {n for n in ORGS if after[n] != before[n]} == changed, (before, after)
    assert all(after[n] == before[n] for n in unchanged)
    assert all(after[n] >= before[n] for n in ORGS)


# ------------------------------------------------------------------ through HTTP

DASHBOARD = """query($code: String!) { organization(code: $code) {
  name address memberCount(filter: {scope: SUBTREE}) children { name }
  leadership { electedOn } orgRecords(first: 5) { totalCount }
  difficulties(scope: SUBTREE, first: 5) { totalCount }
  members(first: 10, filter: {scope: SUBTREE}) { totalCount edges { node { name idNumber } } }
} }"""


def app_cache(app):
    return app.state.response_cache


def served(cache) -> int:
    """Responses answered from the cache, in front of the view or inside it."""
    return cache.hits + cache.fast_hits


@pytest.fixture
async def app(engine, settings):
    return create_app(engine, settings)


@pytest.fixture
async def http(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


@pytest.fixture
def cached_api(http) -> Api:
    return Api(http)


async def dashboard(api: Api, who: str, code: str) -> dict:
    result = await api.as_(who, DASHBOARD, {"code": code})
    assert "errors" not in result, result
    return result["data"]["organization"]


async def test_a_repeated_query_is_answered_from_the_cache(engine, world, app, cached_api):
    cache = app_cache(app)
    first = await dashboard(cached_api, "a_viewer", world.orgs["a"].code)
    hits = served(cache)
    again = await dashboard(cached_api, "a_viewer", world.orgs["a"].code)
    assert again == first
    assert served(cache) == hits + 1
    # The third time the token is known at this version too: answered in front of the view.
    fast = cache.fast_hits
    assert await dashboard(cached_api, "a_viewer", world.orgs["a"].code) == first
    assert cache.fast_hits == fast + 1


async def test_each_kind_of_write_makes_the_next_read_fresh(engine, world, app, cached_api):
    api, code = cached_api, world.orgs["a"].code
    cache = app_cache(app)
    seen = await dashboard(api, "a_viewer", code)

    async def fresh() -> dict:
        nonlocal seen
        misses = cache.misses
        now = await dashboard(api, "a_viewer", code)
        assert cache.misses == misses + 1, "the read after a write was answered from the cache"
        assert now != seen
        seen = now
        return now

    await _create_member(api, world, None)
    assert (await fresh())["memberCount"] == 4
    await ok(api, "a_admin", "updateOrganization", "UpdateOrganizationInput",
             {"organizationId": gid("Organization", world.orgs["a"]), "address": "新地址"})
    assert (await fresh())["address"] == "新地址"
    await _create_organization(api, world, None)
    await ok(api, "a_admin", "createOrganization", "CreateOrganizationInput",
             {"parentId": gid("Organization", world.orgs["a"]), "name": "中共新支部", "type": "BRANCH",
              "codeSuffix": "007"})
    assert "中共新支部" in [c["name"] for c in (await fresh())["children"]]
    await ok(api, "a_admin", "setLeadershipTerm", "SetLeadershipTermInput",
             {"organizationId": gid("Organization", world.orgs["a"]), "electionMethod": "COMPETITIVE",
              "electedOn": "2023-01-01", "termEndsOn": "2026-01-01"})
    assert (await fresh())["leadership"]["electedOn"] == "2023-01-01"
    await ok(api, "a_operator", "addOrgRecord", "AddOrgRecordInput",
             {"organizationId": gid("Organization", world.orgs["a"]), "kind": "MEETING", "title": "会",
              "heldOn": "2024-04-01"})
    assert (await fresh())["orgRecords"]["totalCount"] == 1
    await ok(api, "a_operator", "addDifficulty", "AddDifficultyInput",
             {"memberId": gid("Member", world.members["a1_first"]), "kindCode": "1", "recordedOn": "2023-01-15"})
    assert (await fresh())["difficulties"]["totalCount"] == 1
    await _move_organization(api, world, None)  # a2 leaves a for b
    assert (await fresh())["memberCount"] == 3


async def test_a_write_in_another_branch_keeps_the_cached_response(engine, world, app, cached_api):
    cache = app_cache(app)
    await dashboard(cached_api, "a_viewer", world.orgs["a"].code)
    await ok(cached_api, "b_admin", "createMember", "CreateMemberInput", member_input(world.orgs["b1"]))
    hits = served(cache)
    await dashboard(cached_api, "a_viewer", world.orgs["a"].code)
    assert served(cache) == hits + 1


async def test_a_write_through_another_worker_is_seen(engine, world, settings, app, cached_api):
    """Two app instances on one database stand for two worker processes: each has its own cache,
    the version lives in the database."""
    before = await dashboard(cached_api, "a_viewer", world.orgs["a"].code)
    other = create_app(engine, settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://test") as client:
        await ok(Api(client), "a_operator", "createMember", "CreateMemberInput", member_input(world.orgs["a2"]))
    after = await dashboard(cached_api, "a_viewer", world.orgs["a"].code)
    assert after["memberCount"] == before["memberCount"] + 1


async def test_a_write_outside_the_api_through_a_session_is_seen(engine, world, app, cached_api):
    """Services called from the command line (import, repair) write through a Session too."""
    from db.services import members as member_service
    from tests.factories import set_member_status

    before = await dashboard(cached_api, "a_viewer", world.orgs["a"].code)
    await set_member_status(engine, [world.members["a2_only"].id], "LEFT")
    after = await dashboard(cached_api, "a_viewer", world.orgs["a"].code)
    assert after["memberCount"] == before["memberCount"] - 1
    assert member_service  # imported for the service path the factory uses


async def test_accounts_and_roles_never_share_a_response(engine, world, app, cached_api):
    code = world.orgs["a"].code
    full = await dashboard(cached_api, "a_admin", code)
    masked = await dashboard(cached_api, "a_viewer", code)
    full_numbers = {e["node"]["idNumber"] for e in full["members"]["edges"]}
    masked_numbers = {e["node"]["idNumber"] for e in masked["members"]["edges"]}
    assert full_numbers and not full_numbers & masked_numbers
    # A role change takes effect at the next request, cache or not.
    await ok(cached_api, "a_admin", "updateAccount", "UpdateAccountInput",
             {"accountId": gid("Account", world.accounts["a_viewer"]), "role": "OPERATOR"})
    now_full = await dashboard(cached_api, "a_viewer", code)
    assert {e["node"]["idNumber"] for e in now_full["members"]["edges"]} == full_numbers
    # Another branch's account asking the same document gets its own answer (nothing).
    result = await cached_api.as_("b_viewer", DASHBOARD, {"code": code})
    assert result["data"]["organization"] is None


async def test_a_disabled_account_gets_nothing_from_the_cache(engine, world, app, cached_api):
    await dashboard(cached_api, "a_viewer", world.orgs["a"].code)
    token = await cached_api.login("a_viewer")
    await ok(cached_api, "a_admin", "updateAccount", "UpdateAccountInput",
             {"accountId": gid("Account", world.accounts["a_viewer"]), "disabled": True})
    result = await cached_api.post(DASHBOARD, {"code": world.orgs["a"].code}, token)
    assert result["data"] is None or result["data"]["organization"] is None


async def test_errors_and_mutations_are_not_cached(engine, world, app, cached_api):
    cache = app_cache(app)
    size = len(cache)
    forbidden = '{ accounts(first: 5) { totalCount } }'
    first = await cached_api.as_("a_viewer", forbidden)
    assert first.get("errors")
    await cached_api.as_("a_viewer", forbidden)
    await _create_member(cached_api, world, None)
    await _create_member(cached_api, world, None)
    assert len(cache) == size


async def test_the_cache_can_be_switched_off(engine, world):
    app = create_app(engine, Settings(password_profile="cheapest", response_cache_entries=0))
    assert app.state.response_cache is None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        api = Api(client)
        first = await dashboard(api, "a_viewer", world.orgs["a"].code)
        assert await dashboard(api, "a_viewer", world.orgs["a"].code) == first


async def test_versions_survive_a_fold_unchanged(engine, world, api):
    """Folding the marks into the counters changes no version (no spurious miss, no repeat)."""
    from db.services.members import fold_member_counts
    from db.session import begin_write

    await _create_member(api, world, None)
    before = await versions(engine, world)
    async with make_sessionmaker(engine)() as session:
        await begin_write(session)
        await fold_member_counts(session)
        await session.commit()
    assert await versions(engine, world) == before


async def test_a_signed_out_token_is_refused_after_fast_hits(engine, world, app, cached_api):
    code = world.orgs["a"].code
    token = await cached_api.login("a_viewer")
    for _ in range(3):
        await cached_api.post(DASHBOARD, {"code": code}, token)
    assert app_cache(app).fast_hits >= 1
    await ok(cached_api, None, "logout", None, token=token)
    result = await cached_api.post(DASHBOARD, {"code": code}, token)
    assert [e["extensions"]["code"] for e in result.get("errors") or []] == ["UNAUTHENTICATED"], result


async def test_an_expired_token_is_refused_after_fast_hits(engine, world):
    import asyncio

    app = create_app(engine, Settings(password_profile="cheapest", token_ttl_seconds=2))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        api = Api(client)
        token = await api.login("a_viewer")
        for _ in range(3):
            result = await api.post(DASHBOARD, {"code": world.orgs["a"].code}, token)
            assert "errors" not in result
        assert app.state.response_cache.fast_hits >= 1
        await asyncio.sleep(2.2)
        result = await api.post(DASHBOARD, {"code": world.orgs["a"].code}, token)
        assert [e["extensions"]["code"] for e in result.get("errors") or []] == ["UNAUTHENTICATED"], result


async def test_a_fast_hit_costs_one_statement(engine, world, app, cached_api):
    """Token check, account and version in one SELECT (on SQLite inside a BEGIN the engine emits)."""
    from tests.test_query_count import counting

    code = world.orgs["a"].code
    token = await cached_api.login("a_viewer")
    for _ in range(2):
        await cached_api.post(DASHBOARD, {"code": code}, token)
    fast = app_cache(app).fast_hits
    with counting(engine) as statements:
        result = await cached_api.post(DASHBOARD, {"code": code}, token)
    assert "errors" not in result
    assert app_cache(app).fast_hits == fast + 1
    assert [s.split()[0] for s in statements if s.strip() != "BEGIN"] == ["SELECT"], statements
