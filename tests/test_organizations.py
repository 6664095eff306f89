"""Organizations through GraphQL: creation, updates, and the Organization fields (tree navigation,
descendants paging, member counts, code tables)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from db import models
from db.engine import make_sessionmaker
from tests.conftest import error_codes, gid
from tests.factories import make_member, make_org

CREATE = """
mutation($input: CreateOrganizationInput!) {
  createOrganization(input: $input) {
    organization { id code name shortName type depth requiresApproval address version parent { id code } }
    userErrors { field message code }
  }
}"""

UPDATE = """
mutation($input: UpdateOrganizationInput!) {
  updateOrganization(input: $input) {
    organization { id name shortName type requiresApproval contactPhone address version }
    userErrors { field message code }
  }
}"""

ORG_BY_CODE = """
query($code: String!) {
  organization(code: $code) {
    id code name shortName type depth requiresApproval contactPhone address version
    parent { id code }
    ancestors { code }
    children { id code name depth }
  }
}"""

COUNT_ORGS = """{ organization(code: "001") { descendants(first: 1, filter: {includeRevoked: true}) { totalCount } } }"""


async def org_count(api) -> int:
    result = await api.as_("root_admin", COUNT_ORGS)
    assert "errors" not in result, result
    # The root itself plus all its descendants.
    return result["data"]["organization"]["descendants"]["totalCount"] + 1


async def create(api, username, parent, **fields):
    data = {"parentId": gid("Organization", parent), "name": "中共示范市甲区第九支部委员会",
            "type": "BRANCH", "codeSuffix": "009"}
    data.update(fields)
    result = await api.as_(username, CREATE, {"input": data})
    return result


def payload(result, name="createOrganization"):
    assert "errors" not in result, result
    return result["data"][name]


async def by_code(api, username, code):
    result = await api.as_(username, ORG_BY_CODE, {"code": code})
    assert "errors" not in result, result
    return result["data"]["organization"]


# ------------------------------------------------------------------ createOrganization


async def test_create_appends_suffix_to_parent_code_and_lists_under_parent(api, world):
    before = await org_count(api)
    result = payload(await create(api, "a_admin", world.orgs["a"], codeSuffix="007", shortName="甲九支",
                                  address="示范市甲区一路 1 号"))
    assert result["userErrors"] == []
    org = result["organization"]
    assert org["code"] == world.orgs["a"].code + "007" == "001001007"
    assert org["depth"] == world.orgs["a"].depth + 1 == 2
    assert org["parent"]["id"] == gid("Organization", world.orgs["a"])
    assert org["name"] == "中共示范市甲区第九支部委员会"
    assert org["shortName"] == "甲九支"
    assert org["type"] == "BRANCH"
    assert org["requiresApproval"] is False
    assert org["version"] == 1

    parent = await by_code(api, "a_admin", "001001")
    children = {c["code"]: c for c in parent["children"]}
    assert set(children) == {"001001001", "001001002", "001001007"}
    assert children["001001007"]["id"] == org["id"]
    assert children["001001007"]["depth"] == parent["depth"] + 1
    # Children come in code order.
    assert [c["code"] for c in parent["children"]] == sorted(children)
    assert await org_count(api) == before + 1

    # A grandchild: the code keeps growing by exactly three digits.
    grandchild = payload(await create(api, "root_admin", world.orgs["a1"], name="甲区第一支部第一小组",
                                      type="PROVISIONAL", codeSuffix="000"))
    assert grandchild["userErrors"] == []
    assert grandchild["organization"]["code"] == "001001001000"
    assert grandchild["organization"]["depth"] == 3


async def assert_suffix_rejected(api, world, suffix):
    before = await org_count(api)
    result = payload(await create(api, "a_admin", world.orgs["a"], codeSuffix=suffix))
    assert result["organization"] is None, (suffix, result)
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [("INVALID", ["codeSuffix"])], (suffix, result)
    assert await org_count(api) == before


async def test_create_rejects_suffix_that_is_not_three_digits(api, world):
    for suffix in ("12", "abc", "1234", "", "1a2", " 12", "12 ", "-12", "+12", "1.2"):
        await assert_suffix_rejected(api, world, suffix)


async def test_create_rejects_suffix_that_is_not_ascii_digits(api, world):
    """An organization code is made of the ASCII digits 0-9 only: no full-width or other Unicode
    digits, no trailing newline."""
    before = await org_count(api)
    accepted = []
    for suffix in ("１２３", "١٢٣", "123\n"):
        result = payload(await create(api, "a_admin", world.orgs["a"], codeSuffix=suffix))
        if [(e["code"], e["field"]) for e in result["userErrors"]] != [("INVALID", ["codeSuffix"])]:
            accepted.append((suffix, result["organization"] and result["organization"]["code"]))
    assert accepted == [], f"accepted as code suffixes: {accepted}"
    assert await org_count(api) == before


async def test_create_rejects_suffix_taken_by_a_sibling(api, world):
    before = await org_count(api)
    result = payload(await create(api, "a_admin", world.orgs["a"], codeSuffix="002"))
    assert result["organization"] is None
    assert [e["code"] for e in result["userErrors"]] == ["DUPLICATE"], result
    assert result["userErrors"][0]["field"] == ["codeSuffix"]
    assert await org_count(api) == before
    # The same suffix under another parent is free: B has only 001.
    other = payload(await create(api, "b_admin", world.orgs["b"], codeSuffix="002"))
    assert other["userErrors"] == []
    assert other["organization"]["code"] == "001002002"
    assert await org_count(api) == before + 1


async def test_create_rejects_a_full_name_used_anywhere_in_the_tree(api, world):
    # a_admin cannot even see B1 or the root: names are unique across the whole tree.
    before = await org_count(api)
    for taken in ("b1", "root", "a", "a2"):
        name = world.orgs[taken].name
        for spelled in (name, f"  {name} "):
            result = payload(await create(api, "a_admin", world.orgs["a"], name=spelled, codeSuffix="009"))
            assert result["organization"] is None
            assert [(e["code"], e["field"]) for e in result["userErrors"]] == [("DUPLICATE", ["name"])], result
    assert await org_count(api) == before


async def test_create_rejects_an_empty_name(api, world):
    before = await org_count(api)
    for name in ("", "   ", "\t\n"):
        result = payload(await create(api, "a_admin", world.orgs["a"], name=name))
        assert result["organization"] is None
        assert [(e["code"], e["field"]) for e in result["userErrors"]] == [("INVALID", ["name"])], result
    assert await org_count(api) == before


async def test_create_and_update_reject_overlong_text(api, world):
    """Text longer than the record holds is INVALID on that field, never a crash or a stored value."""
    before = await org_count(api)
    for field, limit in (("name", 200), ("shortName", 100), ("contactPhone", 40), ("address", 300)):
        result = await create(api, "a_admin", world.orgs["a"], **{field: "长" * (limit + 1)})
        assert "errors" not in result, (field, result)
        result = payload(result)
        assert result["organization"] is None, field
        assert [(e["code"], e["field"]) for e in result["userErrors"]] == [("INVALID", [field])], (field, result)
    assert await org_count(api) == before
    a1 = gid("Organization", world.orgs["a1"])
    for field, limit in (("shortName", 100), ("contactPhone", 40), ("address", 300)):
        result = await api.as_("a_admin", UPDATE, {"input": {"organizationId": a1, field: "长" * (limit + 1)}})
        assert "errors" not in result, (field, result)
        assert [(e["code"], e["field"]) for e in result["data"]["updateOrganization"]["userErrors"]] == [
            ("INVALID", [field])], (field, result)
    read = await by_code(api, "a_admin", "001001001")
    assert (read["shortName"], read["contactPhone"], read["address"], read["version"]) == (None, None, None, 1)


async def test_create_reports_every_input_problem_at_once(api, world):
    before = await org_count(api)
    result = payload(await create(api, "a_admin", world.orgs["a"], name="", codeSuffix="x"))
    assert result["organization"] is None
    assert sorted((e["code"], tuple(e["field"])) for e in result["userErrors"]) == [
        ("INVALID", ("codeSuffix",)), ("INVALID", ("name",))]
    assert await org_count(api) == before


async def test_create_outside_the_branch_is_not_found(api, world):
    before = await org_count(api)
    result = payload(await create(api, "a_admin", world.orgs["b"], codeSuffix="009"))
    assert result["organization"] is None
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [("NOT_FOUND", ["parentId"])]
    assert await org_count(api) == before


async def test_create_below_admin_is_forbidden(api, world):
    before = await org_count(api)
    for username in ("a_operator", "a_viewer", "a1_member"):
        result = await create(api, username, world.orgs["a"])
        assert error_codes(result) == ["FORBIDDEN"], (username, result)
        assert result.get("data") is None or result["data"].get("createOrganization") is None
    assert await org_count(api) == before


# ------------------------------------------------------------------ updateOrganization


async def test_update_changes_only_given_fields_and_bumps_version(api, world):
    a1 = gid("Organization", world.orgs["a1"])
    first = payload(await api.as_("a_admin", UPDATE, {"input": {
        "organizationId": a1, "address": "甲区二路 2 号", "contactPhone": "0731-1234567"}}), "updateOrganization")
    assert first["userErrors"] == []
    assert first["organization"]["address"] == "甲区二路 2 号"
    assert first["organization"]["contactPhone"] == "0731-1234567"
    assert first["organization"]["version"] == 2

    second = payload(await api.as_("a_admin", UPDATE, {"input": {
        "organizationId": a1, "expectedVersion": 2, "shortName": "甲一支"}}), "updateOrganization")
    assert second["userErrors"] == []
    org = second["organization"]
    assert org["shortName"] == "甲一支"
    assert org["version"] == 3
    # Untouched fields keep their values.
    assert org["address"] == "甲区二路 2 号"
    assert org["contactPhone"] == "0731-1234567"
    assert org["type"] == "BRANCH"
    assert org["requiresApproval"] is False
    assert org["name"] == world.orgs["a1"].name

    read = await by_code(api, "a_admin", "001001001")
    assert (read["shortName"], read["address"], read["contactPhone"], read["type"], read["version"]) == (
        "甲一支", "甲区二路 2 号", "0731-1234567", "BRANCH", 3)

    third = payload(await api.as_("a_admin", UPDATE, {"input": {
        "organizationId": a1, "type": "JOINT_BRANCH", "requiresApproval": True}}), "updateOrganization")
    assert (third["organization"]["type"], third["organization"]["requiresApproval"],
            third["organization"]["version"], third["organization"]["shortName"]) == ("JOINT_BRANCH", True, 4, "甲一支")


async def test_update_with_stale_version_conflicts_and_changes_nothing(api, world):
    a1 = gid("Organization", world.orgs["a1"])
    ok = payload(await api.as_("a_admin", UPDATE, {"input": {
        "organizationId": a1, "expectedVersion": 1, "address": "旧地址"}}), "updateOrganization")
    assert ok["userErrors"] == [] and ok["organization"]["version"] == 2

    stale = payload(await api.as_("a_admin", UPDATE, {"input": {
        "organizationId": a1, "expectedVersion": 1, "address": "新地址", "shortName": "甲一"}}),
        "updateOrganization")
    assert stale["organization"] is None
    assert [(e["code"], e["field"]) for e in stale["userErrors"]] == [("CONFLICT", ["expectedVersion"])]
    read = await by_code(api, "a_admin", "001001001")
    assert (read["address"], read["shortName"], read["version"]) == ("旧地址", None, 2)


async def test_update_explicit_null_clears_an_optional_field(api, world):
    a1 = gid("Organization", world.orgs["a1"])
    payload(await api.as_("a_admin", UPDATE, {"input": {
        "organizationId": a1, "address": "甲区三路 3 号", "contactPhone": "123"}}), "updateOrganization")
    cleared = payload(await api.as_("a_admin", UPDATE, {"input": {"organizationId": a1, "address": None}}),
                      "updateOrganization")
    assert cleared["userErrors"] == []
    assert cleared["organization"]["address"] is None
    assert cleared["organization"]["contactPhone"] == "123"
    read = await by_code(api, "a_admin", "001001001")
    assert read["address"] is None and read["contactPhone"] == "123"


async def test_update_outside_branch_not_found_and_below_admin_forbidden(api, world):
    b1 = gid("Organization", world.orgs["b1"])
    result = payload(await api.as_("a_admin", UPDATE, {"input": {"organizationId": b1, "address": "x"}}),
                     "updateOrganization")
    assert [e["code"] for e in result["userErrors"]] == ["NOT_FOUND"]
    forbidden = await api.as_("a_operator", UPDATE, {"input": {
        "organizationId": gid("Organization", world.orgs["a1"]), "address": "x"}})
    assert error_codes(forbidden) == ["FORBIDDEN"]
    read = await by_code(api, "root_admin", "001002001")
    assert read["address"] is None and read["version"] == 1
    read = await by_code(api, "root_admin", "001001001")
    assert read["address"] is None and read["version"] == 1


# ------------------------------------------------------------------ Organization fields


async def test_parent_and_ancestors_stop_at_the_top_of_the_branch(api, world):
    root_view = await by_code(api, "root_admin", "001001001")
    assert root_view["parent"]["code"] == "001001"
    assert [a["code"] for a in root_view["ancestors"]] == ["001", "001001"]

    a_view = await by_code(api, "a_admin", "001001001")
    assert a_view["parent"]["code"] == "001001"
    assert [a["code"] for a in a_view["ancestors"]] == ["001001"]

    top = await by_code(api, "a_admin", "001001")
    assert top["parent"] is None
    assert top["ancestors"] == []

    own = await by_code(api, "a1_admin", "001001001")
    assert own["parent"] is None and own["ancestors"] == []

    root = await by_code(api, "root_admin", "001")
    assert root["parent"] is None and root["ancestors"] == [] and root["depth"] == 0
    assert [c["code"] for c in root["children"]] == ["001001", "001002"]

    # Outside the branch: as if it did not exist.
    assert await by_code(api, "a_admin", "001002") is None


async def set_revoked(engine, organization):
    async with make_sessionmaker(engine)() as session, session.begin():
        await session.execute(update(models.Organization).where(models.Organization.id == organization.id)
                              .values(status="REVOKED", revoked_on=dt.date(2020, 1, 1), revoke_reason="合并"))


async def test_children_and_descendants_hide_revoked_unless_asked(api, world, engine):
    await set_revoked(engine, world.orgs["a2"])
    query = """{ organization(code: "001001") {
        plain: children { code status }
        all: children(includeRevoked: true) { code status }
        visible: descendants { totalCount edges { node { code } } }
        everything: descendants(filter: {includeRevoked: true}) { totalCount edges { node { code status } } }
    } }"""
    result = await api.as_("a_admin", query)
    assert "errors" not in result, result
    org = result["data"]["organization"]
    assert [c["code"] for c in org["plain"]] == ["001001001"]
    assert [(c["code"], c["status"]) for c in org["all"]] == [("001001001", "ACTIVE"), ("001001002", "REVOKED")]
    assert [e["node"]["code"] for e in org["visible"]["edges"]] == ["001001001"]
    assert org["visible"]["totalCount"] == 1
    assert sorted(e["node"]["code"] for e in org["everything"]["edges"]) == ["001001001", "001001002"]
    assert org["everything"]["totalCount"] == 2


DESCENDANTS = """
query($filter: OrganizationFilter, $first: Int, $after: String) {
  organization(code: "001") {
    descendants(filter: $filter, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { code name type } }
    }
  }
}"""


async def descendants(api, username="root_admin", **variables):
    result = await api.as_(username, DESCENDANTS, variables)
    assert "errors" not in result, result
    return result["data"]["organization"]["descendants"]


async def test_descendants_filter_by_name_and_type(api, world):
    everything = await descendants(api)
    assert sorted(e["node"]["code"] for e in everything["edges"]) == [
        "001001", "001001001", "001001002", "001002", "001002001"]
    assert everything["totalCount"] == 5

    first_branches = await descendants(api, filter={"nameContains": "第一"})
    assert sorted(e["node"]["code"] for e in first_branches["edges"]) == ["001001001", "001002001"]
    assert first_branches["totalCount"] == 2

    branches = await descendants(api, filter={"types": ["BRANCH"]})
    assert sorted(e["node"]["code"] for e in branches["edges"]) == ["001001001", "001001002", "001002001"]
    assert branches["totalCount"] == 3

    both = await descendants(api, filter={"types": ["BRANCH", "COMMITTEE"], "nameContains": "甲区"})
    assert sorted(e["node"]["code"] for e in both["edges"]) == ["001001", "001001001", "001001002"]

    committees_first = await descendants(api, filter={"types": ["COMMITTEE"], "nameContains": "第一"})
    assert committees_first["edges"] == [] and committees_first["totalCount"] == 0

    # LIKE wildcards in the input are plain characters.
    for wildcard in ("%", "_", "甲%支部"):
        found = await descendants(api, filter={"nameContains": wildcard})
        assert found["edges"] == [] and found["totalCount"] == 0, wildcard

    # Only inside the caller's branch.
    result = await api.as_("a_admin", """{ organization(code: "001001") {
        descendants(filter: {nameContains: "第一"}) { totalCount edges { node { code } } } } }""")
    d = result["data"]["organization"]["descendants"]
    assert [e["node"]["code"] for e in d["edges"]] == ["001001001"] and d["totalCount"] == 1


async def test_descendants_pages_through_everything_once(api, world, engine):
    async with make_sessionmaker(engine)() as session, session.begin():
        a = await session.get(models.Organization, world.orgs["a"].id)
        b = await session.get(models.Organization, world.orgs["b"].id)
        for i in range(1, 12):
            await make_org(session, a if i % 2 else b, f"测试支部{i:02d}", f"{100 + i:03d}", type="BRANCH")
    whole = await descendants(api, first=100)
    assert whole["totalCount"] == 16 and whole["pageInfo"]["hasNextPage"] is False
    expected = [e["node"]["code"] for e in whole["edges"]]
    assert len(expected) == 16 == len(set(expected))

    for size in (1, 5):
        seen, after, pages = [], None, 0
        while True:
            page = await descendants(api, first=size, after=after)
            pages += 1
            assert page["totalCount"] == 16
            assert len(page["edges"]) <= size
            seen += [e["node"]["code"] for e in page["edges"]]
            if page["edges"]:
                assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
            assert pages < 40
        assert seen == expected, size
        assert pages == -(-16 // size)

    # Paging a filtered list.
    filtered = [e["node"]["code"] for e in (await descendants(
        api, filter={"nameContains": "测试支部"}, first=100))["edges"]]
    assert len(filtered) == 11
    seen, after = [], None
    while True:
        page = await descendants(api, filter={"nameContains": "测试支部"}, first=3, after=after)
        assert page["totalCount"] == 11
        seen += [e["node"]["code"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == filtered


async def test_descendants_bad_paging_is_bad_user_input(api, world):
    for variables in ({"first": 0}, {"first": 101}, {"first": -1}, {"after": "not-a-cursor"},
                      {"after": "WzEsMiwzXQ"}, {"after": "W10"}, {"after": "WzFd"}, {"after": "WzIsIi8xLyJd"},
                      {"after": "WzEsWzFdXQ"}, {"after": "!!"}):
        result = await api.as_("root_admin", DESCENDANTS, variables)
        assert error_codes(result) == ["BAD_USER_INPUT"], (variables, result)


async def test_descendants_cursor_with_values_of_the_wrong_type_is_bad_user_input(api, world):
    """A forged cursor whose value does not fit the key (a path) is the client's mistake, never a crash."""
    wrong = []
    for cursor in ("WzEsNV0",  # [1, 5]
                   "WzEseyJkIjoiMjAyMC05OS05OSJ9XQ"):  # [1, {"d": "2020-99-99"}]
        result = await api.as_("root_admin", DESCENDANTS, {"after": cursor})
        if error_codes(result) != ["BAD_USER_INPUT"]:
            wrong.append((cursor, error_codes(result) or "a page"))
    assert wrong == [], wrong


async def test_member_count_self_versus_subtree(api, world):
    query = """{ organization(code: "001") {
        self: memberCount
        selfExplicit: memberCount(filter: {scope: SELF})
        subtree: memberCount(filter: {scope: SUBTREE})
        women: memberCount(filter: {scope: SUBTREE, genders: [FEMALE]})
        children {
          code self: memberCount(filter: {scope: SELF}) subtree: memberCount(filter: {scope: SUBTREE})
          subtreeList: members(filter: {scope: SUBTREE}) { totalCount edges { node { name } } }
          children { code self: memberCount subtree: memberCount(filter: {scope: SUBTREE}) }
        }
    } }"""
    result = await api.as_("root_admin", query)
    assert "errors" not in result, result
    root = result["data"]["organization"]
    assert (root["self"], root["selfExplicit"], root["subtree"], root["women"]) == (0, 0, 4, 2)
    a, b = root["children"]
    assert (a["code"], a["self"], a["subtree"]) == ("001001", 0, 3)
    assert (b["code"], b["self"], b["subtree"]) == ("001002", 0, 1)
    assert a["subtreeList"]["totalCount"] == 3
    assert sorted(e["node"]["name"] for e in a["subtreeList"]["edges"]) == sorted(["李明", "王芳", "赵刚"])
    assert [e["node"]["name"] for e in b["subtreeList"]["edges"]] == ["陈静"]
    assert [(c["code"], c["self"], c["subtree"]) for c in a["children"]] == [
        ("001001001", 2, 2), ("001001002", 1, 1)]
    assert [(c["code"], c["self"], c["subtree"]) for c in b["children"]] == [("001002001", 1, 1)]


async def test_member_count_of_a_deeper_tree(api, world, engine):
    async with make_sessionmaker(engine)() as session, session.begin():
        a1 = await session.get(models.Organization, world.orgs["a1"].id)
        group = await make_org(session, a1, "甲一支第一党小组", "001", type="PROVISIONAL")
        for name in ("组员甲", "组员乙", "组员丙"):
            await make_member(session, group, name=name)
    result = await api.as_("a_admin", """{ organization(code: "001001") {
        memberCount(filter: {scope: SUBTREE})
        children { code memberCount(filter: {scope: SUBTREE}) self: memberCount } } }""")
    assert "errors" not in result, result
    org = result["data"]["organization"]
    assert org["memberCount"] == 6
    assert [(c["code"], c["memberCount"], c["self"]) for c in org["children"]] == [
        ("001001001", 5, 2), ("001001002", 1, 1)]


async def test_code_tables(api, world):
    query = """{ ethnicity: codes(table: ETHNICITY) { code label } education: codes(table: EDUCATION) { code label } }"""
    for username in (None, "a_viewer"):  # codes are public
        result = await api.as_(username, query)
        assert "errors" not in result, result
        ethnicity = result["data"]["ethnicity"]
        assert len(ethnicity) >= 56
        assert {"code": "01", "label": "汉族"} in ethnicity
        assert len({e["code"] for e in ethnicity}) == len(ethnicity)
        education = result["data"]["education"]
        assert education and all(e["code"] and e["label"] for e in education)
