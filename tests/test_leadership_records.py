"""Leadership (班子), difficulties (困难党员) and organization records through GraphQL (issue 3):
setLeadershipTerm, appointLeader, endLeaderPosition, addDifficulty, revokeDifficulty, addOrgRecord,
and the Organization fields that read them."""
from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from sqlalchemy import event

from db import clock, models
from db.branch import SYSTEM_ACTOR
from db.engine import make_sessionmaker
from db.services import difficulties as difficulty_service
from db.services import leadership as leadership_service
from db.services import org_records as record_service
from gql.settings import Settings
from tests.conftest import error_codes, gid
from tests.factories import set_member_status, make_member, make_org


@pytest.fixture
def settings() -> Settings:
    """The SQL a query's shape costs, without the response cache in the way (a repeated document
    over changed data costs one statement more there: tests/test_response_cache.py)."""
    return Settings(password_profile="cheapest", response_cache_entries=0)


TOMORROW = (clock.today() + dt.timedelta(days=1)).isoformat()

SET_TERM = """
mutation($input: SetLeadershipTermInput!) {
  setLeadershipTerm(input: $input) {
    organization { id leadership { electionMethod electedOn termEndsOn lastChangedOn } }
    userErrors { field message code }
  }
}"""

POSITION_FIELDS = "id title since until member { id name }"

APPOINT = f"""
mutation($input: AppointLeaderInput!) {{
  appointLeader(input: $input) {{
    position {{ {POSITION_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}"""

END = f"""
mutation($input: EndLeaderPositionInput!) {{
  endLeaderPosition(input: $input) {{
    position {{ {POSITION_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}"""

LEADERSHIP = f"""
query($id: ID!) {{
  organization(id: $id) {{
    leadership {{
      electionMethod electedOn termEndsOn lastChangedOn
      secretary {{ {POSITION_FIELDS} }}
      deputySecretaries {{ {POSITION_FIELDS} }}
      committeeMembers {{ {POSITION_FIELDS} }}
    }}
  }}
}}"""

POSITION_NODE = f"""query($id: ID!) {{ node(id: $id) {{ ... on LeaderPosition {{ {POSITION_FIELDS} }} }} }}"""

DIFFICULTY_FIELDS = "id kind { code label } description recordedOn revokedOn member { name } organization { code }"

ADD_DIFFICULTY = f"""
mutation($input: AddDifficultyInput!) {{
  addDifficulty(input: $input) {{
    difficulty {{ {DIFFICULTY_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}"""

REVOKE_DIFFICULTY = f"""
mutation($input: RevokeDifficultyInput!) {{
  revokeDifficulty(input: $input) {{
    difficulty {{ {DIFFICULTY_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}"""

ORG_DIFFICULTIES = """
query($id: ID!, $scope: Scope!, $includeRevoked: Boolean!) {
  organization(id: $id) {
    difficulties(scope: $scope, includeRevoked: $includeRevoked) {
      totalCount edges { node { id revokedOn member { name } } }
    }
  }
}"""

ADD_RECORD = """
mutation($input: AddOrgRecordInput!) {
  addOrgRecord(input: $input) {
    record { id kind title heldOn content organization { code } }
    userErrors { field message code }
  }
}"""

RECORDS = """
query($id: ID!, $kind: OrgRecordKind, $first: Int, $after: String) {
  organization(id: $id) {
    orgRecords(kind: $kind, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id kind title heldOn } }
    }
  }
}"""


def _payload(result, name):
    assert "errors" not in result, result
    return result["data"][name]


def problems(result, name) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in _payload(result, name)["userErrors"]]


async def set_term(api, username, org, elected="2021-03-01", ends="2026-03-01", method="COMPETITIVE", changed=None):
    data = {"organizationId": gid("Organization", org), "electionMethod": method, "electedOn": elected,
            "termEndsOn": ends}
    if changed:
        data["lastChangedOn"] = changed
    return await api.as_(username, SET_TERM, {"input": data})


async def appoint(api, username, org, member, title="SECRETARY", since="2021-03-01"):
    return await api.as_(username, APPOINT, {"input": {
        "organizationId": gid("Organization", org), "memberId": gid("Member", member), "title": title,
        "since": since}})


async def appointed(api, username, org, member, title="SECRETARY", since="2021-03-01") -> dict:
    result = _payload(await appoint(api, username, org, member, title, since), "appointLeader")
    assert result["userErrors"] == [], result
    return result["position"]


async def end(api, username, position_id, until):
    return await api.as_(username, END, {"input": {"positionId": position_id, "until": until}})


async def leadership(api, username, org) -> dict:
    result = await api.as_(username, LEADERSHIP, {"id": gid("Organization", org)})
    assert "errors" not in result, result
    return result["data"]["organization"]["leadership"]


async def position_node(api, username, position_id):
    result = await api.as_(username, POSITION_NODE, {"id": position_id})
    assert "errors" not in result, result
    return result["data"]["node"]


async def add_difficulty(api, username, member, kind="1", recorded="2023-01-15", description=None):
    data = {"memberId": gid("Member", member), "kindCode": kind, "recordedOn": recorded}
    if description is not None:
        data["description"] = description
    return await api.as_(username, ADD_DIFFICULTY, {"input": data})


async def added_difficulty(api, username, member, **kwargs) -> dict:
    result = _payload(await add_difficulty(api, username, member, **kwargs), "addDifficulty")
    assert result["userErrors"] == [], result
    return result["difficulty"]


async def revoke_difficulty(api, username, difficulty_id, date):
    return await api.as_(username, REVOKE_DIFFICULTY, {"input": {"difficultyId": difficulty_id, "date": date}})


async def org_difficulties(api, username, org, scope="SELF", include_revoked=False) -> dict:
    result = await api.as_(username, ORG_DIFFICULTIES, {"id": gid("Organization", org), "scope": scope,
                                                        "includeRevoked": include_revoked})
    assert "errors" not in result, result
    return result["data"]["organization"]["difficulties"]


async def add_record(api, username, org, kind="MEETING", title="组织生活会", held="2023-04-01", content=None):
    data = {"organizationId": gid("Organization", org), "kind": kind, "title": title, "heldOn": held}
    if content is not None:
        data["content"] = content
    return await api.as_(username, ADD_RECORD, {"input": data})


async def records(api, username, org, **variables) -> dict:
    result = await api.as_(username, RECORDS, {"id": gid("Organization", org), **variables})
    assert "errors" not in result, result
    return result["data"]["organization"]["orgRecords"]


@contextlib.asynccontextmanager
async def db_session(engine):
    async with make_sessionmaker(engine)() as session, session.begin():
        yield session


# ------------------------------------------------------------------ setLeadershipTerm


async def test_term_dates_are_checked(api, world):
    a1 = world.orgs["a1"]
    for ends in ("2021-03-01", "2020-12-31"):
        assert problems(await set_term(api, "a_operator", a1, elected="2021-03-01", ends=ends),
                        "setLeadershipTerm") == [("INVALID", ["termEndsOn"])], ends
    assert problems(await set_term(api, "a_operator", a1, elected="1999-12-31", ends="2004-12-31"),
                    "setLeadershipTerm") == [("INVALID", ["electedOn"])]
    assert (await leadership(api, "a_viewer", a1))["electedOn"] is None


async def test_term_is_shown_in_leadership(api, world):
    a1 = world.orgs["a1"]
    assert await leadership(api, "a1_viewer", a1) == {
        "electionMethod": None, "electedOn": None, "termEndsOn": None, "lastChangedOn": None,
        "secretary": None, "deputySecretaries": [], "committeeMembers": []}
    result = _payload(await set_term(api, "a_operator", a1, method="NON_COMPETITIVE", elected="2000-01-01",
                                     ends="2026-03-01", changed="2022-07-01"), "setLeadershipTerm")
    assert result["userErrors"] == []
    assert result["organization"]["leadership"] == {
        "electionMethod": "NON_COMPETITIVE", "electedOn": "2000-01-01", "termEndsOn": "2026-03-01",
        "lastChangedOn": "2022-07-01"}
    shown = await leadership(api, "a1_viewer", a1)
    assert (shown["electionMethod"], shown["electedOn"], shown["termEndsOn"], shown["lastChangedOn"]) == (
        "NON_COMPETITIVE", "2000-01-01", "2026-03-01", "2022-07-01")


async def test_term_ends_before_lists_the_organizations_due_for_election(api, world):
    for org, ends in (("a1", "2026-03-01"), ("a2", "2027-06-30"), ("b1", "2026-03-01"), ("b", "2028-01-01")):
        assert _payload(await set_term(api, "root_admin", world.orgs[org], ends=ends),
                        "setLeadershipTerm")["userErrors"] == []
    query = """query($d: Date!) { organization(code: "001") { descendants(filter: {termEndsBefore: $d}) {
        totalCount edges { node { code leadership { termEndsOn } } } } } }"""

    async def due(username, day, code="001"):
        result = await api.as_(username, query.replace('"001"', f'"{code}"'), {"d": day})
        assert "errors" not in result, result
        connection = result["data"]["organization"]["descendants"]
        codes = [e["node"]["code"] for e in connection["edges"]]
        assert connection["totalCount"] == len(codes)
        return codes

    assert await due("root_admin", "2026-02-28") == []
    assert await due("root_admin", "2026-03-01") == ["001001001", "001002001"]
    assert await due("root_admin", "2027-06-30") == ["001001001", "001001002", "001002001"]
    # A has no term at all and never shows up.
    assert await due("root_admin", "2099-12-31") == ["001001001", "001001002", "001002", "001002001"]
    assert await due("a_viewer", "2026-03-01", code="001001") == ["001001001"]


# ------------------------------------------------------------------ appointLeader


async def test_a_new_secretary_ends_the_current_one_on_its_since(api, world):
    a1 = world.orgs["a1"]
    first = await appointed(api, "a_operator", a1, world.members["a1_first"], "SECRETARY", "2021-03-01")
    assert first["until"] is None and first["member"]["name"] == "李明"
    assert (await leadership(api, "a1_viewer", a1))["secretary"]["id"] == first["id"]
    second = await appointed(api, "a_operator", a1, world.members["a1_second"], "SECRETARY", "2023-05-01")
    shown = await leadership(api, "a1_viewer", a1)
    assert shown["secretary"]["id"] == second["id"]
    assert shown["secretary"]["member"]["name"] == "王芳" and shown["secretary"]["until"] is None
    old = await position_node(api, "a1_viewer", first["id"])
    assert old == {**first, "until": "2023-05-01"}
    assert shown["lastChangedOn"] == "2023-05-01"


async def test_deputies_and_committee_members_are_any_number(api, world):
    a1 = world.orgs["a1"]
    members = [world.members["a1_first"], world.members["a1_second"]]
    deputies = [await appointed(api, "a_operator", a1, m, "DEPUTY_SECRETARY", "2022-01-01") for m in members]
    committee = [await appointed(api, "a_operator", a1, m, "COMMITTEE_MEMBER", "2022-01-01") for m in members]
    secretary = await appointed(api, "a_operator", a1, members[0], "SECRETARY", "2022-01-01")
    shown = await leadership(api, "a1_viewer", a1)
    assert shown["secretary"]["id"] == secretary["id"]
    assert sorted(p["id"] for p in shown["deputySecretaries"]) == sorted(p["id"] for p in deputies)
    assert sorted(p["id"] for p in shown["committeeMembers"]) == sorted(p["id"] for p in committee)
    assert {p["title"] for p in shown["deputySecretaries"]} == {"DEPUTY_SECRETARY"}
    assert {p["title"] for p in shown["committeeMembers"]} == {"COMMITTEE_MEMBER"}
    for p in deputies + committee:
        assert (await position_node(api, "a_viewer", p["id"]))["until"] is None


async def test_only_active_direct_admitted_members_of_that_organization_hold_positions(api, world, engine):
    a1 = world.orgs["a1"]
    async with db_session(engine) as session:
        inflow = await make_member(session, a1, name="周流入", affiliation="INFLOW")
        activist = await make_member(session, a1, name="吴积极", category="ACTIVIST", activist_on=dt.date(2020, 1, 1),
                                     joined_on=None, confirmed_on=None)
        candidate = await make_member(session, a1, name="郑发展", category="CANDIDATE", activist_on=dt.date(2020, 1, 1),
                                      candidate_on=dt.date(2021, 1, 1), joined_on=None, confirmed_on=None)
        flowing = await make_member(session, a1, name="冯流出")
        left = await make_member(session, a1, name="褚离开")
        probationary = await make_member(session, a1, name="卫预备", category="PROBATIONARY",
                                         joined_on=dt.date(2025, 12, 1), confirmed_on=None)
    await set_member_status(engine, [flowing.id], "FLOWING_OUT")
    await set_member_status(engine, [left.id], "LEFT")
    ineligible = {"member of another organization": world.members["a2_only"], "INFLOW": inflow,
                  "ACTIVIST": activist, "CANDIDATE": candidate, "FLOWING_OUT": flowing, "LEFT": left}
    for why, member in ineligible.items():
        for title in ("SECRETARY", "DEPUTY_SECRETARY", "COMMITTEE_MEMBER"):
            result = await appoint(api, "a_operator", a1, member, title, "2022-01-01")
            assert problems(result, "appointLeader") == [("NOT_ALLOWED", ["memberId"])], (why, title)
    shown = await leadership(api, "a_viewer", a1)
    assert shown["secretary"] is None and shown["deputySecretaries"] == [] and shown["committeeMembers"] == []
    for title in ("SECRETARY", "DEPUTY_SECRETARY", "COMMITTEE_MEMBER"):
        position = await appointed(api, "a_operator", a1, probationary, title, "2025-12-15")
        assert position["member"]["name"] == "卫预备"
    # The member of A2 may lead A2.
    await appointed(api, "a_operator", world.orgs["a2"], world.members["a2_only"], "SECRETARY", "2022-01-01")


async def test_appointment_dates_and_duplicates(api, world):
    a1, member = world.orgs["a1"], world.members["a1_first"]
    assert problems(await appoint(api, "a_operator", a1, member, "SECRETARY", "1999-12-31"),
                    "appointLeader") == [("INVALID", ["since"])]
    assert problems(await appoint(api, "a_operator", a1, member, "SECRETARY", TOMORROW),
                    "appointLeader") == [("INVALID", ["since"])]
    secretary = await appointed(api, "a_operator", a1, member, "SECRETARY", "2021-03-01")
    deputy = await appointed(api, "a_operator", a1, world.members["a1_second"], "DEPUTY_SECRETARY", "2021-03-01")
    assert problems(await appoint(api, "a_operator", a1, member, "SECRETARY", "2023-01-01"),
                    "appointLeader") == [("DUPLICATE", ["memberId"])]
    assert problems(await appoint(api, "a_operator", a1, world.members["a1_second"], "DEPUTY_SECRETARY",
                                  "2023-01-01"), "appointLeader") == [("DUPLICATE", ["memberId"])]
    shown = await leadership(api, "a_viewer", a1)
    assert shown["secretary"]["id"] == secretary["id"] and shown["secretary"]["until"] is None
    assert [p["id"] for p in shown["deputySecretaries"]] == [deputy["id"]]
    # Once the position has ended the same member may be appointed again.
    assert _payload(await end(api, "a_operator", deputy["id"], "2022-12-31"), "endLeaderPosition")["userErrors"] == []
    again = await appointed(api, "a_operator", a1, world.members["a1_second"], "DEPUTY_SECRETARY", "2024-01-01")
    assert [p["id"] for p in (await leadership(api, "a_viewer", a1))["deputySecretaries"]] == [again["id"]]


async def test_appointment_outside_the_branch_is_not_found_and_viewers_are_forbidden(api, world):
    result = await appoint(api, "a_operator", world.orgs["a1"], world.members["b1_only"])
    assert problems(result, "appointLeader") == [("NOT_FOUND", ["memberId"])]
    result = await appoint(api, "a_operator", world.orgs["b1"], world.members["b1_only"])
    assert problems(result, "appointLeader")[0] == ("NOT_FOUND", ["organizationId"])
    result = await appoint(api, "a_viewer", world.orgs["a1"], world.members["a1_first"])
    assert error_codes(result) == ["FORBIDDEN"]
    assert not (result.get("data") or {}).get("appointLeader")
    result = await set_term(api, "a1_viewer", world.orgs["a1"])
    assert error_codes(result) == ["FORBIDDEN"]
    assert (await leadership(api, "b_viewer", world.orgs["b1"]))["secretary"] is None
    assert (await leadership(api, "a_viewer", world.orgs["a1"]))["secretary"] is None


# ------------------------------------------------------------------ endLeaderPosition


async def test_ending_a_position_keeps_it_in_the_record(api, world):
    a1 = world.orgs["a1"]
    secretary = await appointed(api, "a_operator", a1, world.members["a1_first"], "SECRETARY", "2021-03-01")
    member = await appointed(api, "a_operator", a1, world.members["a1_second"], "COMMITTEE_MEMBER", "2021-03-01")
    assert problems(await end(api, "a_operator", secretary["id"], "2021-02-28"),
                    "endLeaderPosition") == [("INVALID", ["until"])]
    assert (await position_node(api, "a_viewer", secretary["id"]))["until"] is None

    ended = _payload(await end(api, "a_operator", secretary["id"], "2024-04-30"), "endLeaderPosition")
    assert ended["userErrors"] == []
    assert ended["position"]["until"] == "2024-04-30"
    ended = _payload(await end(api, "a_operator", member["id"], "2021-03-01"), "endLeaderPosition")
    assert ended["userErrors"] == [] and ended["position"]["until"] == "2021-03-01"

    shown = await leadership(api, "a1_viewer", a1)
    assert shown["secretary"] is None and shown["committeeMembers"] == []
    assert await position_node(api, "a1_viewer", secretary["id"]) == {**secretary, "until": "2024-04-30"}
    assert await position_node(api, "a1_viewer", member["id"]) == {**member, "until": "2021-03-01"}

    result = await end(api, "a_operator", secretary["id"], "2024-05-31")
    assert problems(result, "endLeaderPosition") == [("CONFLICT", ["positionId"])]
    assert (await position_node(api, "a1_viewer", secretary["id"]))["until"] == "2024-04-30"
    # Outside the caller's branch it does not exist.
    assert problems(await end(api, "b_admin", member["id"], "2024-05-31"),
                    "endLeaderPosition") == [("NOT_FOUND", ["positionId"])]
    assert await position_node(api, "b_viewer", secretary["id"]) is None


# ------------------------------------------------------------------ difficulties


async def test_difficulty_member_must_be_in_the_callers_branch_and_kind_known(api, world):
    result = await add_difficulty(api, "a_operator", world.members["b1_only"])
    assert problems(result, "addDifficulty") == [("NOT_FOUND", ["memberId"])]
    for kind in ("8", "99", ""):
        assert problems(await add_difficulty(api, "a_operator", world.members["a1_first"], kind=kind),
                        "addDifficulty") == [("INVALID", ["kindCode"])], kind
    assert (await org_difficulties(api, "root_admin", world.orgs["root"], "SUBTREE", True))["totalCount"] == 0
    added = await added_difficulty(api, "a_operator", world.members["a1_first"], kind="2",
                                   description="  住院治疗  ", recorded="2023-01-15")
    assert added["kind"] == {"code": "2", "label": "患重大疾病"}
    assert added["description"] == "住院治疗"
    assert added["recordedOn"] == "2023-01-15" and added["revokedOn"] is None
    assert added["member"] == {"name": "李明"} and added["organization"] == {"code": "001001001"}


async def test_difficulties_by_scope_revocation_and_member_lists(api, world):
    a, a1 = world.orgs["a"], world.orgs["a1"]
    first = await added_difficulty(api, "a_operator", world.members["a1_first"], kind="2", recorded="2023-01-15")
    second = await added_difficulty(api, "a_operator", world.members["a2_only"], kind="1", recorded="2023-02-01")
    await added_difficulty(api, "b_admin", world.members["b1_only"], kind="3", recorded="2023-02-01")

    assert (await org_difficulties(api, "a_viewer", a, "SELF"))["totalCount"] == 0
    subtree = await org_difficulties(api, "a_viewer", a, "SUBTREE")
    assert subtree["totalCount"] == 2
    assert {e["node"]["id"] for e in subtree["edges"]} == {first["id"], second["id"]}
    own = await org_difficulties(api, "a_viewer", a1, "SELF")
    assert [e["node"]["id"] for e in own["edges"]] == [first["id"]] and own["totalCount"] == 1

    assert problems(await revoke_difficulty(api, "a_operator", first["id"], "2023-01-14"),
                    "revokeDifficulty") == [("INVALID", ["date"])]
    assert problems(await revoke_difficulty(api, "b_admin", first["id"], "2024-01-01"),
                    "revokeDifficulty") == [("NOT_FOUND", ["difficultyId"])]
    revoked = _payload(await revoke_difficulty(api, "a_operator", first["id"], "2024-01-01"), "revokeDifficulty")
    assert revoked["userErrors"] == []
    assert revoked["difficulty"]["id"] == first["id"] and revoked["difficulty"]["revokedOn"] == "2024-01-01"
    assert problems(await revoke_difficulty(api, "a_operator", first["id"], "2024-02-01"),
                    "revokeDifficulty") == [("CONFLICT", ["difficultyId"])]

    subtree = await org_difficulties(api, "a_viewer", a, "SUBTREE")
    assert [e["node"]["id"] for e in subtree["edges"]] == [second["id"]] and subtree["totalCount"] == 1
    assert (await org_difficulties(api, "a_viewer", a1, "SELF"))["totalCount"] == 0
    everything = await org_difficulties(api, "a_viewer", a, "SUBTREE", include_revoked=True)
    assert everything["totalCount"] == 2
    assert {e["node"]["id"]: e["node"]["revokedOn"] for e in everything["edges"]} == {
        first["id"]: "2024-01-01", second["id"]: None}
    assert (await org_difficulties(api, "a_viewer", a1, "SELF", include_revoked=True))["totalCount"] == 1

    result = await api.as_("a_viewer", f"""query($id: ID!) {{ member(id: $id) {{
        difficulties {{ {DIFFICULTY_FIELDS} }} }} }}""", {"id": gid("Member", world.members["a1_first"])})
    assert "errors" not in result, result
    listed = result["data"]["member"]["difficulties"]
    assert [d["id"] for d in listed] == [first["id"]] and listed[0]["revokedOn"] == "2024-01-01"
    result = await api.as_("a_viewer", """query($id: ID!) { node(id: $id) { ... on Difficulty { revokedOn } } }""",
                           {"id": first["id"]})
    assert result["data"]["node"] == {"revokedOn": "2024-01-01"}
    # B's difficulty stays in B.
    assert (await org_difficulties(api, "root_admin", world.orgs["root"], "SUBTREE"))["totalCount"] == 2
    assert (await org_difficulties(api, "b_viewer", world.orgs["b"], "SUBTREE"))["totalCount"] == 1


async def test_a_member_account_sees_only_its_own_difficulties(api, world):
    own = await added_difficulty(api, "a_operator", world.members["a1_first"], kind="1", recorded="2023-01-15")
    other = await added_difficulty(api, "a_operator", world.members["a1_second"], kind="4", recorded="2023-01-20")
    result = await api.as_("a1_member", """query($id: ID!) { member(id: $id) { name difficulties { id kind { code } } } }""",
                           {"id": gid("Member", world.members["a1_first"])})
    assert "errors" not in result, result
    assert result["data"]["member"] == {"name": "李明", "difficulties": [{"id": own["id"], "kind": {"code": "1"}}]}
    # Not through its organization: a MEMBER reads the name of it only (gql.auth.guard.MEMBER_CONTEXT_FIELDS).
    result = await api.as_("a1_member", """query($id: ID!) { organization(id: $id) {
        difficulties(includeRevoked: true) { totalCount edges { node { id member { name } } } } } }""",
                           {"id": gid("Organization", world.orgs["a1"])})
    assert error_codes(result) == ["FORBIDDEN"], result
    result = await api.as_("a1_member", """query($id: ID!) { node(id: $id) { id } }""", {"id": other["id"]})
    assert (result.get("data") or {}).get("node") is None
    # The branch's staff see both.
    assert (await org_difficulties(api, "a1_viewer", world.orgs["a1"]))["totalCount"] == 2


# ------------------------------------------------------------------ organization records


async def test_org_record_needs_a_title_and_a_date_after_establishment(api, world):
    a1 = world.orgs["a1"]
    for title in ("", "   "):
        assert problems(await add_record(api, "a_operator", a1, title=title),
                        "addOrgRecord") == [("INVALID", ["title"])], repr(title)
    assert problems(await add_record(api, "a_operator", a1, held="1999-12-31"),
                    "addOrgRecord") == [("INVALID", ["heldOn"])]
    assert problems(await add_record(api, "b_admin", a1), "addOrgRecord") == [("NOT_FOUND", ["organizationId"])]
    assert error_codes(await add_record(api, "a_viewer", a1)) == ["FORBIDDEN"]
    assert (await records(api, "a_viewer", a1))["totalCount"] == 0
    result = _payload(await add_record(api, "a_operator", a1, kind="PUNISHMENT", title=" 通报批评 ",
                                       held="2000-01-01", content="违反组织生活制度"), "addOrgRecord")
    assert result["userErrors"] == []
    assert result["record"] == {"id": result["record"]["id"], "kind": "PUNISHMENT", "title": "通报批评",
                                "heldOn": "2000-01-01", "content": "违反组织生活制度",
                                "organization": {"code": "001001001"}}


async def test_org_records_filter_by_kind_newest_first_and_page(api, world):
    a1 = world.orgs["a1"]
    entries = [("MEETING", "2022年第一季度组织生活会", "2022-01-10"), ("EVALUATION", "2022年度民主评议", "2022-03-01"),
               ("MEETING", "2023年专题组织生活会", "2023-06-01"), ("DISCLOSURE", "党务公开第3期", "2021-05-05"),
               ("MEETING", "2024年民主生活会", "2024-02-02"), ("SPECIAL_ACTIVITY", "主题党日", "2023-06-01"),
               ("MEETING", "2023年第二次组织生活会", "2023-06-01")]
    for kind, title, held in entries:
        assert _payload(await add_record(api, "a_operator", a1, kind, title, held), "addOrgRecord")["userErrors"] == []
    await add_record(api, "a_operator", world.orgs["a2"], "MEETING", "第二支部组织生活会", "2024-03-01")

    everything = await records(api, "a1_viewer", a1)
    assert everything["totalCount"] == 7
    dates = [e["node"]["heldOn"] for e in everything["edges"]]
    assert dates == sorted(dates, reverse=True)
    assert sorted(e["node"]["title"] for e in everything["edges"]) == sorted(t for _, t, _ in entries)

    meetings = await records(api, "a1_viewer", a1, kind="MEETING")
    assert meetings["totalCount"] == 4
    assert {e["node"]["kind"] for e in meetings["edges"]} == {"MEETING"}
    assert [e["node"]["heldOn"] for e in meetings["edges"]] == ["2024-02-02", "2023-06-01", "2023-06-01", "2022-01-10"]
    evaluation = await records(api, "a1_viewer", a1, kind="EVALUATION")
    assert evaluation["totalCount"] == 1 and evaluation["edges"][0]["node"]["title"] == "2022年度民主评议"

    # Paging walks the same order, each record once, ties on the date included.
    for kind, expected in ((None, everything), ("MEETING", meetings)):
        seen, after = [], None
        while True:
            page = await records(api, "a1_viewer", a1, kind=kind, first=2, after=after)
            assert page["totalCount"] == expected["totalCount"]
            assert len(page["edges"]) <= 2
            seen += [e["node"]["id"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
            after = page["pageInfo"]["endCursor"]
        assert seen == [e["node"]["id"] for e in expected["edges"]], kind


# ------------------------------------------------------------------ statement count of a nested query


NESTED = """
{ organization(code: "001") { descendants(first: 100) { edges { node {
    code
    history { kind date }
    leadership { electionMethod termEndsOn
      secretary { since member { name } }
      deputySecretaries { since member { name } }
      committeeMembers { since member { name } } }
    difficulties(scope: SUBTREE, first: 10) { edges { node { kind { label } recordedOn member { name } } } }
    orgRecords(first: 10) { edges { node { kind title heldOn } } }
} } } } }"""

NESTED_WITH_COUNTS = NESTED.replace("difficulties(scope: SUBTREE, first: 10) {",
                                    "difficulties(scope: SUBTREE, first: 10) { totalCount") \
                           .replace("orgRecords(first: 10) {", "orgRecords(first: 10) { totalCount")


async def _give_records(session, org, member):
    await leadership_service.set_term(session, SYSTEM_ACTOR, org.id, "COMPETITIVE", dt.date(2021, 3, 1),
                                      dt.date(2026, 3, 1), None)
    await leadership_service.appoint(session, SYSTEM_ACTOR, org.id, member.id, "SECRETARY", dt.date(2021, 3, 1))
    await leadership_service.appoint(session, SYSTEM_ACTOR, org.id, member.id, "COMMITTEE_MEMBER", dt.date(2021, 3, 1))
    for kind in ("1", "2"):
        await difficulty_service.add(session, SYSTEM_ACTOR, member.id, kind, None, dt.date(2023, 1, 1))
    for kind, held in (("MEETING", dt.date(2023, 1, 1)), ("DISCLOSURE", dt.date(2023, 2, 1))):
        await record_service.add(session, SYSTEM_ACTOR, org.id, kind, f"{kind} {held}", held, None)


async def _statements(api, engine, query) -> tuple[int, dict]:
    await api.login("root_admin")
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        result = await api.as_("root_admin", query)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert "errors" not in result, result
    return len(statements), result["data"]


async def _grow(engine, world):
    """From 2 organizations carrying records to 6, and 5 descendants of the root to 9."""
    async with db_session(engine) as session:
        a, b = await session.get(models.Organization, world.orgs["a"].id), \
            await session.get(models.Organization, world.orgs["b"].id)
        new = [await make_org(session, a, "中共示范市甲区第三支部委员会", "003", type="BRANCH"),
               await make_org(session, a, "中共示范市甲区第四支部委员会", "004", type="BRANCH"),
               await make_org(session, b, "中共示范市乙区第二支部委员会", "002", type="BRANCH"),
               await make_org(session, b, "中共示范市乙区第三支部委员会", "003", type="BRANCH")]
        for org in new:
            await _give_records(session, org, await make_member(session, org, name="新书记"))


async def _seed_two(engine, world):
    async with db_session(engine) as session:
        for org, member in (("a1", "a1_first"), ("b1", "b1_only")):
            await _give_records(session, await session.get(models.Organization, world.orgs[org].id),
                                await session.get(models.Member, world.members[member].id))


async def test_nested_query_costs_the_same_with_more_organizations_carrying_records(api, world, engine):
    await _seed_two(engine, world)
    few, data = await _statements(api, engine, NESTED)
    nodes = [e["node"] for e in data["organization"]["descendants"]["edges"]]
    assert len(nodes) == 5
    assert sum(1 for n in nodes if n["orgRecords"]["edges"]) == 2
    assert sum(1 for n in nodes if n["leadership"]["secretary"]) == 2
    await _grow(engine, world)
    many, data = await _statements(api, engine, NESTED)
    nodes = [e["node"] for e in data["organization"]["descendants"]["edges"]]
    assert len(nodes) == 9
    assert sum(1 for n in nodes if n["orgRecords"]["edges"]) == 6
    assert sum(1 for n in nodes if n["leadership"]["committeeMembers"]) == 6
    assert sum(1 for n in nodes if len(n["difficulties"]["edges"]) == 2) == 6  # the branches
    assert few == many, (few, many)


async def test_nested_total_counts_cost_the_same_with_more_organizations(api, world, engine):
    await _seed_two(engine, world)
    few, _ = await _statements(api, engine, NESTED_WITH_COUNTS)
    await _grow(engine, world)
    many, data = await _statements(api, engine, NESTED_WITH_COUNTS)
    totals = {e["node"]["code"]: e["node"]["orgRecords"]["totalCount"]
              for e in data["organization"]["descendants"]["edges"]}
    assert sum(totals.values()) == 12
    assert few == many, (few, many)
