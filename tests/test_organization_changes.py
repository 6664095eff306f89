"""Organization tree changes through GraphQL (issue 3): moveOrganization (变更隶属关系),
revokeOrganization (撤销), renameOrganization, and Organization.history."""
from __future__ import annotations

import datetime as dt


from db import clock
from tests.conftest import gid
from tests.factories import set_member_status, new_id_number

ROOT_NAME = "中共示范市委员会"
A_NAME = "中共示范市甲区委员会"
B_NAME = "中共示范市乙区委员会"
A1_NAME = "中共示范市甲区第一支部委员会"
A2_NAME = "中共示范市甲区第二支部委员会"
B1_NAME = "中共示范市乙区第一支部委员会"

TOMORROW = (clock.today() + dt.timedelta(days=1)).isoformat()

ORG_FIELDS = """
  id code name depth status revokedOn revokeReason version
  parent { code }
  history { kind date before after reason }
"""

MOVE = f"""
mutation($input: MoveOrganizationInput!) {{
  moveOrganization(input: $input) {{
    organization {{ {ORG_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}"""

REVOKE = f"""
mutation($input: RevokeOrganizationInput!) {{
  revokeOrganization(input: $input) {{
    organization {{ {ORG_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}"""

RENAME = f"""
mutation($input: RenameOrganizationInput!) {{
  renameOrganization(input: $input) {{
    organization {{ {ORG_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}"""

BY_CODE = f"""
query($code: String!) {{
  organization(code: $code) {{
    {ORG_FIELDS}
    ancestors {{ code }}
    children {{ code }}
    allChildren: children(includeRevoked: true) {{ code status }}
    members(filter: {{scope: SUBTREE}}) {{ totalCount edges {{ node {{ name organization {{ code }} }} }} }}
  }}
}}"""

BY_ID = f"""query($id: ID!) {{ organization(id: $id) {{ {ORG_FIELDS} }} }}"""


def _payload(result, name):
    assert "errors" not in result, result
    return result["data"][name]


def problems(result, name) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in _payload(result, name)["userErrors"]]


async def move(api, username, org, new_parent, date="2024-05-01", reason="区划调整", **extra):
    data = {"organizationId": gid("Organization", org), "newParentId": gid("Organization", new_parent),
            "date": date, "reason": reason}
    data.update(extra)
    return await api.as_(username, MOVE, {"input": data})


async def revoke(api, username, org, date="2024-06-01", reason="单位撤并"):
    return await api.as_(username, REVOKE, {"input": {
        "organizationId": gid("Organization", org), "date": date, "reason": reason}})


async def rename(api, username, org, name, date="2024-03-01", reason="更名"):
    return await api.as_(username, RENAME, {"input": {
        "organizationId": gid("Organization", org), "name": name, "date": date, "reason": reason}})


async def by_code(api, username, code):
    result = await api.as_(username, BY_CODE, {"code": code})
    assert "errors" not in result, result
    return result["data"]["organization"]


async def by_id(api, username, org):
    result = await api.as_(username, BY_ID, {"id": gid("Organization", org)})
    assert "errors" not in result, result
    return result["data"]["organization"]


async def set_status(engine, members, status):
    await set_member_status(engine, [m.id for m in members], status)


async def member_total_of(api, username, code):
    result = await api.as_(username, """query($code: String!) { organization(code: $code) {
        memberCount(filter: {scope: SUBTREE}) } }""", {"code": code})
    assert "errors" not in result, result
    return result["data"]["organization"]["memberCount"]


# ------------------------------------------------------------------ moveOrganization: who and where


async def test_move_of_the_callers_own_organization_is_not_allowed(api, world):
    a = world.orgs["a"]
    for target in (world.orgs["b"], world.orgs["root"]):
        # Even to a parent the caller cannot see: moving one's own organization is the superior's decision.
        assert problems(await move(api, "a_admin", a, target), "moveOrganization")[0][0] == "NOT_ALLOWED"
    org = await by_id(api, "root_admin", a)
    assert org["code"] == "001001" and org["parent"]["code"] == "001"
    assert [e["kind"] for e in org["history"]] == ["CREATED"]


async def test_move_below_the_caller_within_its_branch(api, world):
    result = _payload(await move(api, "a_admin", world.orgs["a1"], world.orgs["a2"]), "moveOrganization")
    assert result["userErrors"] == []
    org = result["organization"]
    assert org["code"] == "001001002001"
    assert org["depth"] == 3
    assert org["parent"]["code"] == "001001002"
    a2 = await by_code(api, "a_admin", "001001002")
    assert [c["code"] for c in a2["children"]] == ["001001002001"]
    assert a2["members"]["totalCount"] == 3
    a = await by_code(api, "a_admin", "001001")
    assert [c["code"] for c in a["children"]] == ["001001002"]


async def test_new_parent_outside_the_callers_branch_is_not_found(api, world):
    result = await move(api, "a_admin", world.orgs["a1"], world.orgs["b"])
    assert problems(result, "moveOrganization") == [("NOT_FOUND", ["newParentId"])]
    result = await move(api, "a_admin", world.orgs["b1"], world.orgs["a2"])
    assert problems(result, "moveOrganization") == [("NOT_FOUND", ["organizationId"])]
    assert (await by_id(api, "root_admin", world.orgs["a1"]))["code"] == "001001001"
    assert (await by_id(api, "root_admin", world.orgs["b1"]))["code"] == "001002001"


async def test_no_cycles_under_itself_or_its_own_descendant(api, world):
    a = world.orgs["a"]
    assert problems(await move(api, "root_admin", a, world.orgs["a1"]), "moveOrganization")[0][0] == "NOT_ALLOWED"
    assert problems(await move(api, "root_admin", a, a), "moveOrganization")[0][0] == "NOT_ALLOWED"
    org = await by_id(api, "root_admin", a)
    assert org["code"] == "001001" and org["parent"]["code"] == "001" and org["depth"] == 1
    assert [e["kind"] for e in org["history"]] == ["CREATED"]


async def test_move_to_the_current_parent_is_invalid(api, world):
    result = await move(api, "root_admin", world.orgs["a1"], world.orgs["a"])
    assert [code for code, _ in problems(result, "moveOrganization")] == ["INVALID"]
    assert [e["kind"] for e in (await by_id(api, "root_admin", world.orgs["a1"]))["history"]] == ["CREATED"]


async def test_invalid_move_dates_move_nothing(api, world):
    a1 = world.orgs["a1"]
    for date in ("1999-12-31", TOMORROW):
        result = await move(api, "root_admin", a1, world.orgs["b"], date=date, codeSuffix="009")
        found = problems(result, "moveOrganization")
        # Before both the organization's and the new parent's establishment: one or two findings on `date`.
        assert found and all(p == ("INVALID", ["date"]) for p in found), (date, found)
    org = await by_id(api, "root_admin", a1)
    assert org["code"] == "001001001" and org["parent"]["code"] == "001001"
    assert [e["kind"] for e in org["history"]] == ["CREATED"]
    assert await member_total_of(api, "a_viewer", "001001") == 3
    assert await member_total_of(api, "b_viewer", "001002") == 1



async def test_the_day_is_the_clocks(api, world, monkeypatch):
    """"Not in the future" reads db.clock: with the clock a day on, yesterday's tomorrow is allowed."""
    tomorrow = clock.today() + dt.timedelta(days=1)
    a1 = world.orgs["a1"]
    assert problems(await move(api, "root_admin", a1, world.orgs["b"], date=tomorrow.isoformat(), codeSuffix="009"),
                    "moveOrganization")
    monkeypatch.setattr(clock, "_pinned", tomorrow)
    result = await move(api, "root_admin", a1, world.orgs["b"], date=tomorrow.isoformat(), codeSuffix="009")
    assert not problems(result, "moveOrganization"), result


# ------------------------------------------------------------------ moveOrganization: the subtree follows


async def test_whole_subtree_and_its_members_move_with_the_organization(api, world):
    assert await member_total_of(api, "b_viewer", "001002") == 1
    result = _payload(await move(api, "root_admin", world.orgs["a"], world.orgs["b"], codeSuffix="005",
                                 date="2024-05-01", reason="区划调整"), "moveOrganization")
    assert result["userErrors"] == []
    assert result["organization"]["code"] == "001002005"
    assert result["organization"]["depth"] == 2
    assert result["organization"]["parent"]["code"] == "001002"

    # The new parent's branch reaches the moved organizations and their members.
    a = await by_code(api, "b_viewer", "001002005")
    assert a is not None and a["name"] == A_NAME and a["depth"] == 2
    assert a["ancestors"] == [{"code": "001002"}]
    assert [c["code"] for c in a["children"]] == ["001002005001", "001002005002"]
    assert a["members"]["totalCount"] == 3
    assert {e["node"]["organization"]["code"] for e in a["members"]["edges"]} == {"001002005001", "001002005002"}
    a1 = await by_code(api, "b_viewer", "001002005001")
    assert a1["name"] == A1_NAME and a1["depth"] == 3 and a1["members"]["totalCount"] == 2
    assert a1["ancestors"] == [{"code": "001002"}, {"code": "001002005"}]
    a2 = await by_code(api, "b_viewer", "001002005002")
    assert a2["name"] == A2_NAME and a2["depth"] == 3 and a2["members"]["totalCount"] == 1
    assert await member_total_of(api, "b_viewer", "001002") == 4
    result = await api.as_("b_viewer", """query($id: ID!) { member(id: $id) { name organization { code } } }""",
                           {"id": gid("Member", world.members["a1_first"])})
    assert result["data"]["member"] == {"name": "李明", "organization": {"code": "001002005001"}}

    # The moved branch still sees itself (its accounts moved with it), and nothing of B's own.
    for username in ("a_admin", "a_viewer", "a_operator"):
        result = await api.as_(username, "{ viewer { organization { code name depth parent { code } } } }")
        assert result["data"]["viewer"]["organization"] == {
            "code": "001002005", "name": A_NAME, "depth": 2, "parent": None}, username
    assert (await by_code(api, "a_viewer", "001002005"))["members"]["totalCount"] == 3
    assert await by_code(api, "a_viewer", "001002") is None
    assert await by_code(api, "a_viewer", "001002001") is None
    a1_own = await by_code(api, "a1_viewer", "001002005001")
    assert a1_own["name"] == A1_NAME and a1_own["members"]["totalCount"] == 2

    # Old codes are gone; the root sees everything at its new place.
    assert await by_code(api, "root_admin", "001001") is None
    assert await by_code(api, "root_admin", "001001001") is None
    root = await api.as_("root_admin", """{ organization(code: "001") {
        children { code } memberCount(filter: {scope: SUBTREE})
        descendants { totalCount edges { node { code depth } } } } }""")
    root = root["data"]["organization"]
    assert [c["code"] for c in root["children"]] == ["001002"]
    assert root["memberCount"] == 4
    assert root["descendants"]["totalCount"] == 5
    assert {(n["node"]["code"], n["node"]["depth"]) for n in root["descendants"]["edges"]} == {
        ("001002", 1), ("001002001", 2), ("001002005", 2), ("001002005001", 3), ("001002005002", 3)}

    # The move is in A's history; its children keep their own.
    history = (await by_id(api, "root_admin", world.orgs["a"]))["history"]
    assert [e["kind"] for e in history] == ["CREATED", "MOVED"]
    assert history[1] == {"kind": "MOVED", "date": "2024-05-01", "before": ROOT_NAME, "after": B_NAME,
                          "reason": "区划调整"}


async def test_branch_that_loses_an_organization_no_longer_reaches_it(api, world):
    a1 = world.orgs["a1"]
    result = _payload(await move(api, "root_admin", a1, world.orgs["b"], codeSuffix="003", date="2023-09-01",
                                 reason="隶属调整"), "moveOrganization")
    assert result["userErrors"] == []
    assert result["organization"]["code"] == "001002003"
    assert result["organization"]["depth"] == 2

    assert await by_id(api, "a_viewer", a1) is None
    assert await by_code(api, "a_viewer", "001002003") is None
    assert await member_total_of(api, "a_viewer", "001001") == 1
    result = await api.as_("a_viewer", """query($id: ID!) { member(id: $id) { name } }""",
                           {"id": gid("Member", world.members["a1_first"])})
    assert result["data"]["member"] is None
    assert [c["code"] for c in (await by_code(api, "a_viewer", "001001"))["children"]] == ["001001002"]

    assert (await by_code(api, "b_viewer", "001002003"))["members"]["totalCount"] == 2
    assert await member_total_of(api, "b_viewer", "001002") == 3
    own = await by_code(api, "a1_viewer", "001002003")
    assert own["name"] == A1_NAME and own["members"]["totalCount"] == 2
    # The move's parents are named only to those whose branch holds them: A1's own staff see
    # neither A (where it came from) nor B (above it); B's see B; the root sees both.
    assert own["history"][-1] == {"kind": "MOVED", "date": "2023-09-01", "before": None, "after": None,
                                  "reason": "隶属调整"}
    assert (await by_code(api, "b_viewer", "001002003"))["history"][-1] == {
        "kind": "MOVED", "date": "2023-09-01", "before": None, "after": B_NAME, "reason": "隶属调整"}
    assert (await by_code(api, "root_admin", "001002003"))["history"][-1] == {
        "kind": "MOVED", "date": "2023-09-01", "before": A_NAME, "after": B_NAME, "reason": "隶属调整"}


async def test_suffix_taken_under_the_new_parent_is_duplicate_unless_a_free_one_is_given(api, world):
    a1, b = world.orgs["a1"], world.orgs["b"]
    # A1's suffix 001 is B1's under B.
    assert problems(await move(api, "root_admin", a1, b), "moveOrganization") == [("DUPLICATE", ["codeSuffix"])]
    assert problems(await move(api, "root_admin", a1, b, codeSuffix="001"),
                    "moveOrganization") == [("DUPLICATE", ["codeSuffix"])]
    for bad in ("12", "1234", "abc", "0a1", ""):
        assert problems(await move(api, "root_admin", a1, b, codeSuffix=bad),
                        "moveOrganization") == [("INVALID", ["codeSuffix"])], bad
    assert (await by_id(api, "root_admin", a1))["code"] == "001001001"
    result = _payload(await move(api, "root_admin", a1, b, codeSuffix="002"), "moveOrganization")
    assert result["userErrors"] == [] and result["organization"]["code"] == "001002002"


async def test_suffix_is_kept_when_free_and_descendant_codes_take_the_new_prefix(api, world):
    # A2 (suffix 002) under B, where 002 is free; then A (with A1) under B as 009.
    result = _payload(await move(api, "root_admin", world.orgs["a2"], world.orgs["b"]), "moveOrganization")
    assert result["userErrors"] == [] and result["organization"]["code"] == "001002002"
    result = _payload(await move(api, "root_admin", world.orgs["a"], world.orgs["b1"], codeSuffix="009"),
                      "moveOrganization")
    assert result["userErrors"] == []
    assert result["organization"]["code"] == "001002001009" and result["organization"]["depth"] == 3
    a1 = await by_id(api, "root_admin", world.orgs["a1"])
    assert a1["code"] == "001002001009001" and a1["depth"] == 4
    assert (await by_code(api, "b_viewer", "001002001009001"))["members"]["totalCount"] == 2


# ------------------------------------------------------------------ revokeOrganization


async def test_organization_cannot_revoke_itself(api, world, engine):
    a1 = world.orgs["a1"]
    await set_status(engine, [world.members["a1_first"], world.members["a1_second"]], "LEFT")
    assert problems(await revoke(api, "a1_admin", a1), "revokeOrganization")[0][0] == "NOT_ALLOWED"
    assert (await by_id(api, "root_admin", a1))["status"] == "ACTIVE"
    result = _payload(await revoke(api, "a_admin", a1), "revokeOrganization")
    assert result["userErrors"] == []
    assert result["organization"]["status"] == "REVOKED"


async def test_revoke_is_refused_while_a_member_remains_in_any_other_status(api, world, engine):
    a2, member = world.orgs["a2"], world.members["a2_only"]
    for status in ("ACTIVE", "FLOWING_OUT", "TRANSFERRING", "PENDING_APPROVAL", "REJECTED"):
        await set_status(engine, [member], status)
        assert problems(await revoke(api, "a_admin", a2), "revokeOrganization") == [
            ("NOT_ALLOWED", ["organizationId"])], status
    assert (await by_id(api, "a_admin", a2))["status"] == "ACTIVE"
    await set_status(engine, [member], "TRANSFERRED_OUT")
    assert _payload(await revoke(api, "a_admin", a2), "revokeOrganization")["userErrors"] == []
    await set_status(engine, [world.members["b1_only"]], "LEFT")
    assert _payload(await revoke(api, "b_admin", world.orgs["b1"]), "revokeOrganization")["userErrors"] == []


async def test_revoke_is_refused_while_an_active_child_or_a_member_anywhere_below_remains(api, world, engine):
    a = world.orgs["a"]
    everyone_in_a = [world.members["a1_first"], world.members["a1_second"], world.members["a2_only"]]
    await set_status(engine, everyone_in_a, "LEFT")
    # No member left, but A1 and A2 are still active.
    assert problems(await revoke(api, "root_admin", a), "revokeOrganization") == [("NOT_ALLOWED", ["organizationId"])]
    assert _payload(await revoke(api, "a_admin", world.orgs["a1"]), "revokeOrganization")["userErrors"] == []
    assert problems(await revoke(api, "root_admin", a), "revokeOrganization") == [("NOT_ALLOWED", ["organizationId"])]
    assert _payload(await revoke(api, "a_admin", world.orgs["a2"]), "revokeOrganization")["userErrors"] == []
    # Every child revoked, but a member below is back in the rolls (deeper than A's own members).
    await set_status(engine, [world.members["a1_first"]], "FLOWING_OUT")
    assert problems(await revoke(api, "root_admin", a), "revokeOrganization") == [("NOT_ALLOWED", ["organizationId"])]
    await set_status(engine, [world.members["a1_first"]], "LEFT")
    result = _payload(await revoke(api, "root_admin", a), "revokeOrganization")
    assert result["userErrors"] == [] and result["organization"]["status"] == "REVOKED"


async def test_revoked_organization_keeps_its_record_and_leaves_the_active_tree(api, world, engine):
    a, a2 = world.orgs["a"], world.orgs["a2"]
    added = await api.as_("a_operator", """mutation($id: ID!) { addOrgRecord(input: {organizationId: $id,
        kind: MEETING, title: "组织生活会", heldOn: "2023-04-01"}) { userErrors { code } } }""",
                          {"id": gid("Organization", a2)})
    assert added["data"]["addOrgRecord"]["userErrors"] == []
    await set_status(engine, [world.members["a2_only"]], "TRANSFERRED_OUT")
    result = _payload(await revoke(api, "a_admin", a2, date="2024-06-01", reason="  单位撤并  "), "revokeOrganization")
    assert result["userErrors"] == []
    org = result["organization"]
    assert org["status"] == "REVOKED"
    assert org["revokedOn"] == "2024-06-01"
    assert org["revokeReason"] == "单位撤并"
    assert [e["kind"] for e in org["history"]] == ["CREATED", "REVOKED"]
    assert org["history"][0]["date"] == "2000-01-01"
    assert org["history"][1]["date"] == "2024-06-01" and org["history"][1]["reason"] == "单位撤并"

    # Still readable, with its records.
    result = await api.as_("a_viewer", """query($id: ID!) { organization(id: $id) { status
        orgRecords { totalCount edges { node { title } } } } }""", {"id": gid("Organization", a2)})
    assert result["data"]["organization"]["status"] == "REVOKED"
    assert result["data"]["organization"]["orgRecords"]["totalCount"] == 1

    # children and descendants leave it out unless asked.
    parent = await by_code(api, "a_viewer", "001001")
    assert [c["code"] for c in parent["children"]] == ["001001001"]
    assert parent["allChildren"] == [{"code": "001001001", "status": "ACTIVE"},
                                     {"code": "001001002", "status": "REVOKED"}]
    result = await api.as_("root_admin", """{ organization(code: "001") {
        active: descendants { totalCount edges { node { code } } }
        all: descendants(filter: {includeRevoked: true}) { totalCount edges { node { code } } } } }""")
    root = result["data"]["organization"]
    assert "001001002" not in [e["node"]["code"] for e in root["active"]["edges"]]
    assert root["active"]["totalCount"] == 4
    assert "001001002" in [e["node"]["code"] for e in root["all"]["edges"]]
    assert root["all"]["totalCount"] == 5
    assert parent["id"] == gid("Organization", a)

    # No new members, no new child organizations.
    result = await api.as_("a_operator", """mutation($input: CreateMemberInput!) { createMember(input: $input) {
        member { id } userErrors { code field } } }""", {"input": {
        "organizationId": gid("Organization", a2), "fields": {
            "name": "孙强", "idNumber": new_id_number(), "category": "FULL", "joinedOn": "2010-07-01",
            "confirmedOn": "2011-07-01"}}})
    assert result["data"]["createMember"]["member"] is None
    assert [e["code"] for e in result["data"]["createMember"]["userErrors"]] == ["NOT_ALLOWED"]
    result = await api.as_("a_admin", """mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) {
        organization { id } userErrors { code field } } }""", {"input": {
        "parentId": gid("Organization", a2), "name": "中共示范市甲区第二支部第一小组", "type": "BRANCH",
        "codeSuffix": "001"}})
    assert result["data"]["createOrganization"]["organization"] is None
    assert [e["code"] for e in result["data"]["createOrganization"]["userErrors"]] == ["NOT_ALLOWED"]


async def test_revoke_needs_a_reason_and_happens_once(api, world, engine):
    a2 = world.orgs["a2"]
    await set_status(engine, [world.members["a2_only"]], "LEFT")
    for reason in ("", "   "):
        assert problems(await revoke(api, "a_admin", a2, reason=reason), "revokeOrganization") == [
            ("INVALID", ["reason"])]
    for date in ("1999-12-31", TOMORROW):
        assert problems(await revoke(api, "a_admin", a2, date=date), "revokeOrganization") == [
            ("INVALID", ["date"])], date
    assert (await by_id(api, "a_admin", a2))["status"] == "ACTIVE"
    assert _payload(await revoke(api, "a_admin", a2), "revokeOrganization")["userErrors"] == []
    assert problems(await revoke(api, "a_admin", a2, date="2024-07-01"), "revokeOrganization")[0][0] == "NOT_ALLOWED"
    org = await by_id(api, "a_admin", a2)
    assert org["revokedOn"] == "2024-06-01"
    assert [e["kind"] for e in org["history"]] == ["CREATED", "REVOKED"]


# ------------------------------------------------------------------ renameOrganization and history


async def test_rename_keeps_the_full_name_unique(api, world):
    a1 = world.orgs["a1"]
    assert problems(await rename(api, "a_admin", a1, B1_NAME), "renameOrganization") == [("DUPLICATE", ["name"])]
    assert problems(await rename(api, "root_admin", a1, A_NAME), "renameOrganization") == [("DUPLICATE", ["name"])]
    org = await by_id(api, "a_admin", a1)
    assert org["name"] == A1_NAME
    assert [e["kind"] for e in org["history"]] == ["CREATED"]


async def test_rename_keeps_the_old_name_in_history(api, world):
    a1 = world.orgs["a1"]
    new_name = "中共示范市甲区机关第一支部委员会"
    result = _payload(await rename(api, "a_admin", a1, new_name, date="2022-03-01", reason="机构改革"),
                      "renameOrganization")
    assert result["userErrors"] == []
    assert result["organization"]["name"] == new_name
    assert result["organization"]["code"] == "001001001"
    history = (await by_code(api, "a1_viewer", "001001001"))["history"]
    assert history == [
        {"kind": "CREATED", "date": "2000-01-01", "before": None, "after": A1_NAME, "reason": None},
        {"kind": "RENAMED", "date": "2022-03-01", "before": A1_NAME, "after": new_name, "reason": "机构改革"},
    ]
    # The old name no longer names an organization.
    result = await api.as_("root_admin", """query($n: String!) { organization(code: "001") {
        descendants(filter: {nameContains: $n}) { edges { node { code name } } } } }""", {"n": "甲区第一支部"})
    assert result["data"]["organization"]["descendants"]["edges"] == []


async def test_rename_date_must_not_precede_establishment_nor_be_in_the_future(api, world):
    a1 = world.orgs["a1"]
    for date in ("1999-12-31", TOMORROW):
        assert problems(await rename(api, "a_admin", a1, "中共示范市甲区新支部委员会", date=date),
                        "renameOrganization") == [("INVALID", ["date"])], date
    assert (await by_id(api, "a_admin", a1))["name"] == A1_NAME


async def test_history_is_oldest_first_and_starts_with_created(api, world):
    a1 = world.orgs["a1"]
    first, second = "中共示范市甲区机关第一支部委员会", "中共示范市乙区机关第一支部委员会"
    assert _payload(await rename(api, "root_admin", a1, first, date="2021-01-10", reason="机构改革"),
                    "renameOrganization")["userErrors"] == []
    assert _payload(await rename(api, "root_admin", a1, second, date="2024-02-20", reason="随隶属调整更名"),
                    "renameOrganization")["userErrors"] == []
    # Entered last, but it happened between the two renames.
    assert _payload(await move(api, "root_admin", a1, world.orgs["b"], codeSuffix="004", date="2023-06-30",
                               reason="隶属调整"), "moveOrganization")["userErrors"] == []
    history = (await by_id(api, "root_admin", a1))["history"]
    assert [(e["kind"], e["date"]) for e in history] == [
        ("CREATED", "2000-01-01"), ("RENAMED", "2021-01-10"), ("MOVED", "2023-06-30"), ("RENAMED", "2024-02-20")]
    assert history[1]["before"] == A1_NAME and history[1]["after"] == first
    assert history[2]["before"] == A_NAME and history[2]["after"] == B_NAME
    assert history[3]["before"] == first and history[3]["after"] == second
    assert history[3]["reason"] == "随隶属调整更名"
