"""Branch isolation (本级及下级): an account reaches its own organization and its descendants,
and nothing else. Anything outside the branch behaves as if it did not exist: reads give null or
leave it out of lists, mutations answer a NOT_FOUND user error with a null subject and write
nothing. A MEMBER account reaches only its own member record and its own organization.

World (tests/factories.py):

    root ─┬─ A ─┬─ A1 (a1_first, a1_second; accounts a1_admin, a1_viewer, a1_member)
          │     └─ A2 (a2_only)
          └─ B ─── B1 (b1_only)
    accounts: root_admin @root; a_admin, a_operator, a_viewer @A; b_admin, b_viewer @B
"""
from __future__ import annotations

import pytest

from tests.conftest import error_codes, gid
from tests.factories import PASSWORD, new_id_number

CHILDREN = {"root": ["a", "b"], "a": ["a1", "a2"], "b": ["b1"], "a1": [], "a2": [], "b1": []}
MEMBERS_AT = {"root": [], "a": [], "b": [], "a1": ["a1_first", "a1_second"], "a2": ["a2_only"], "b1": ["b1_only"]}
ACCOUNTS_AT = {"root": ["root_admin"], "a": ["a_admin", "a_operator", "a_viewer"],
               "a1": ["a1_admin", "a1_viewer", "a1_member"], "a2": [], "b": ["b_admin", "b_viewer"], "b1": []}
ROLE_OF = {"root_admin": "ADMIN", "a_admin": "ADMIN", "a_operator": "OPERATOR", "a_viewer": "VIEWER",
           "a1_admin": "ADMIN", "a1_viewer": "VIEWER", "b_admin": "ADMIN", "b_viewer": "VIEWER",
           "a1_member": "MEMBER"}


def subtree(org: str) -> list[str]:
    """The organization and all its descendants, in tree (code) order."""
    out = [org]
    for child in CHILDREN[org]:
        out += subtree(child)
    return out


def members_under(org: str) -> list[str]:
    return [m for o in subtree(org) for m in MEMBERS_AT[o]]


def accounts_under(org: str) -> list[str]:
    return [a for o in subtree(org) for a in ACCOUNTS_AT[o]]


def data_of(result: dict) -> dict:
    assert "errors" not in result, result
    return result["data"]


def org_id(world, key: str) -> str:
    return gid("Organization", world.orgs[key])


def member_id(world, key: str) -> str:
    return gid("Member", world.members[key])


def account_id(world, key: str) -> str:
    return gid("Account", world.accounts[key])


# (caller, top of its branch, organizations, members and accounts outside its branch)
BRANCH_CASES = [
    ("a_admin", "a", ["root", "b", "b1"], ["b1_only"], ["root_admin", "b_admin", "b_viewer"]),
    ("a_operator", "a", ["root", "b", "b1"], ["b1_only"], ["root_admin", "b_admin"]),
    ("a_viewer", "a", ["root", "b", "b1"], ["b1_only"], ["root_admin", "b_viewer"]),
    ("b_admin", "b", ["root", "a", "a1", "a2"], ["a1_first", "a1_second", "a2_only"],
     ["root_admin", "a_admin", "a1_member"]),
    ("b_viewer", "b", ["root", "a", "a1", "a2"], ["a1_first", "a2_only"], ["a_admin"]),
    # Below A: the parent A and the sibling A2 are as foreign as branch B.
    ("a1_admin", "a1", ["root", "a", "a2", "b", "b1"], ["a2_only", "b1_only"], ["a_admin", "a_viewer", "b_admin"]),
    ("a1_viewer", "a1", ["root", "a", "a2", "b1"], ["a2_only", "b1_only"], ["a_admin"]),
]


@pytest.mark.parametrize("caller,top,foreign_orgs,foreign_members,foreign_accounts", BRANCH_CASES,
                         ids=[c[0] for c in BRANCH_CASES])
async def test_lookups_outside_the_branch_are_null(api, world, caller, top, foreign_orgs, foreign_members,
                                                   foreign_accounts):
    own_member = members_under(top)[0]
    foreign_ids = ([org_id(world, o) for o in foreign_orgs] + [member_id(world, m) for m in foreign_members]
                   + [account_id(world, a) for a in foreign_accounts])

    # node(id:) one alias per foreign id, and the own organization and member for contrast.
    aliases = " ".join(f'f{i}: node(id: "{i_d}") {{ id }}' for i, i_d in enumerate(foreign_ids))
    own = f'ownOrg: node(id: "{org_id(world, top)}") {{ id }} ownMember: node(id: "{member_id(world, own_member)}") {{ id }}'
    data = data_of(await api.as_(caller, f"{{ {aliases} {own} }}"))
    assert {k: v for k, v in data.items() if k.startswith("f")} == {f"f{i}": None for i in range(len(foreign_ids))}
    assert data["ownOrg"] == {"id": org_id(world, top)}
    assert data["ownMember"] == {"id": member_id(world, own_member)}

    # nodes(ids:): foreign ids are null entries in place, own ones resolve.
    mixed = [org_id(world, top)] + foreign_ids + [member_id(world, own_member)]
    data = data_of(await api.as_(caller, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": mixed}))
    assert data["nodes"] == [{"id": mixed[0]}] + [None] * len(foreign_ids) + [{"id": mixed[-1]}]

    # organization(id:) and organization(code:).
    for org in foreign_orgs:
        data = data_of(await api.as_(
            caller, "query($id: ID, $code: String) { byId: organization(id: $id) { name } "
                    "byCode: organization(code: $code) { name } }",
            {"id": org_id(world, org), "code": world.orgs[org].code}))
        assert data == {"byId": None, "byCode": None}, org
    data = data_of(await api.as_(
        caller, "query($id: ID, $code: String) { byId: organization(id: $id) { code } byCode: organization(code: $code) { code } }",
        {"id": org_id(world, top), "code": world.orgs[top].code}))
    assert data == {"byId": {"code": world.orgs[top].code}, "byCode": {"code": world.orgs[top].code}}

    # member(id:) and member(idNumber:); a VIEWER, who sees ID numbers masked, may not look
    # members up by one at all (the same refusal for a member in or outside its branch).
    if caller.endswith("viewer"):
        for member in foreign_members + [own_member]:
            result = await api.as_(caller, "query($n: String) { member(idNumber: $n) { id } }",
                                   {"n": world.members[member].id_number})
            assert error_codes(result) == ["FORBIDDEN"] and result["data"] == {"member": None}, (member, result)
        for member in foreign_members + [own_member]:
            data = data_of(await api.as_(caller, "query($id: ID) { byId: member(id: $id) { id } }",
                                         {"id": member_id(world, member)}))
            assert data == {"byId": {"id": member_id(world, member)} if member == own_member else None}, member
        return
    for member in foreign_members + [own_member]:
        data = data_of(await api.as_(
            caller, "query($id: ID, $n: String) { byId: member(id: $id) { id } byNumber: member(idNumber: $n) { id } }",
            {"id": member_id(world, member), "n": world.members[member].id_number}))
        if member == own_member:
            assert data == {"byId": {"id": member_id(world, member)}, "byNumber": {"id": member_id(world, member)}}
        else:
            assert data == {"byId": None, "byNumber": None}, member


@pytest.mark.parametrize("caller,top,foreign_orgs,foreign_members,foreign_accounts", BRANCH_CASES,
                         ids=[c[0] for c in BRANCH_CASES])
async def test_tree_and_lists_stop_at_the_branch(api, world, caller, top, foreign_orgs, foreign_members,
                                                 foreign_accounts):
    ids = {org_id(world, o): o for o in world.orgs}
    mids = {member_id(world, m): m for m in world.members}
    data = data_of(await api.as_(caller, """query($id: ID) { organization(id: $id) {
        parent { id } ancestors { id }
        children { id parent { id } ancestors { id } children { id } }
        descendants(first: 100) { totalCount edges { node { id } } }
        members(filter: {scope: SUBTREE}, first: 100) { totalCount edges { node { id } } }
        memberCount(filter: {scope: SUBTREE})
        self: memberCount
    } }""", {"id": org_id(world, top)}))
    org = data["organization"]
    # Nothing above the top of the branch: no parent, no ancestors.
    assert org["parent"] is None
    assert org["ancestors"] == []
    assert [ids[c["id"]] for c in org["children"]] == CHILDREN[top]
    for child in org["children"]:
        assert child["parent"] == {"id": org_id(world, top)}
        assert child["ancestors"] == [{"id": org_id(world, top)}]
        assert [ids[c["id"]] for c in child["children"]] == CHILDREN[ids[child["id"]]]
    assert [ids[e["node"]["id"]] for e in org["descendants"]["edges"]] == subtree(top)[1:]
    assert org["descendants"]["totalCount"] == len(subtree(top)) - 1
    assert sorted(mids[e["node"]["id"]] for e in org["members"]["edges"]) == sorted(members_under(top))
    assert org["members"]["totalCount"] == len(members_under(top))
    assert org["memberCount"] == len(members_under(top))
    assert org["self"] == len(MEMBERS_AT[top])

    # Query.members without organizationId: the whole branch, nothing more.
    data = data_of(await api.as_(caller, "{ members(first: 100) { totalCount edges { node { id } } } }"))
    assert sorted(mids[e["node"]["id"]] for e in data["members"]["edges"]) == sorted(members_under(top))
    assert data["members"]["totalCount"] == len(members_under(top))

    # Query.members with a foreign organizationId: empty, and the count does not leak either.
    for org in foreign_orgs:
        data = data_of(await api.as_(
            caller, """query($id: ID) { self: members(organizationId: $id) { totalCount edges { node { id } } }
                       tree: members(organizationId: $id, filter: {scope: SUBTREE}) { totalCount edges { node { id } } } }""",
            {"id": org_id(world, org)}))
        assert data == {"self": {"totalCount": 0, "edges": []}, "tree": {"totalCount": 0, "edges": []}}, org

    # Filtering the branch by a foreign member's ID number finds nothing (a VIEWER may not filter
    # by ID number at all: the same FORBIDDEN for every number).
    for member in foreign_members:
        result = await api.as_(caller, "query($n: String) { members(filter: {idNumber: $n}) { totalCount edges { node { id } } } }",
                               {"n": world.members[member].id_number})
        if ROLE_OF[caller] == "VIEWER":
            assert error_codes(result) == ["FORBIDDEN"], result
        else:
            assert data_of(result)["members"] == {"totalCount": 0, "edges": []}, member

    if ROLE_OF[caller] != "ADMIN":
        return
    aids = {account_id(world, a): a for a in world.accounts}
    data = data_of(await api.as_(caller, "{ accounts(first: 100) { totalCount edges { node { id } } } }"))
    assert sorted(aids[e["node"]["id"]] for e in data["accounts"]["edges"]) == sorted(accounts_under(top))
    assert data["accounts"]["totalCount"] == len(accounts_under(top))
    for org in foreign_orgs:
        data = data_of(await api.as_(
            caller, """query($id: ID) { tree: accounts(organizationId: $id) { totalCount edges { node { id } } }
                       self: accounts(organizationId: $id, scope: SELF) { totalCount edges { node { id } } } }""",
            {"id": org_id(world, org)}))
        assert data == {"tree": {"totalCount": 0, "edges": []}, "self": {"totalCount": 0, "edges": []}}, org


async def test_parent_and_ancestors_are_cut_at_the_top_of_the_callers_branch(api, world):
    query = """query($id: ID) { organization(id: $id) { parent { code } ancestors { code } } }"""
    code = {k: o.code for k, o in world.orgs.items()}
    expectations = [
        ("a_admin", "a", None, []),
        ("a_admin", "a1", code["a"], [code["a"]]),
        ("a_viewer", "a1", code["a"], [code["a"]]),
        ("a1_viewer", "a1", None, []),
        ("b_viewer", "b1", code["b"], [code["b"]]),
        ("root_admin", "a", code["root"], [code["root"]]),
        ("root_admin", "a1", code["a"], [code["root"], code["a"]]),
    ]
    for caller, org, parent, ancestors in expectations:
        data = data_of(await api.as_(caller, query, {"id": org_id(world, org)}))
        got = data["organization"]
        assert got["parent"] == (parent and {"code": parent}), (caller, org)
        assert got["ancestors"] == [{"code": c} for c in ancestors], (caller, org)
    # A MEMBER reads its organization's name only (gql.auth.guard.MEMBER_CONTEXT_FIELDS).
    result = await api.as_("a1_member", query, {"id": org_id(world, "a1")})
    assert error_codes(result) == ["FORBIDDEN", "FORBIDDEN"], result


async def test_root_admin_sees_both_branches(api, world):
    data = data_of(await api.as_("root_admin", """query($a: ID!, $b: ID!, $b1: ID!, $m: ID!, $acc: ID!, $n: String) {
        a: organization(id: $a) { code parent { code } }
        b: organization(id: $b) { code children { code } memberCount(filter: {scope: SUBTREE}) }
        byCode: organization(code: "%s") { code }
        member: member(id: $m) { id }
        byNumber: member(idNumber: $n) { id }
        node: node(id: $b1) { id }
        nodes: nodes(ids: [$a, $b, $m, $acc]) { id }
        members(first: 100) { totalCount }
        underB: members(organizationId: $b, filter: {scope: SUBTREE}) { totalCount }
        accounts(organizationId: $b) { totalCount }
        allAccounts: accounts(first: 100) { totalCount }
    }""" % world.orgs["b1"].code, {
        "a": org_id(world, "a"), "b": org_id(world, "b"), "b1": org_id(world, "b1"),
        "m": member_id(world, "b1_only"), "acc": account_id(world, "b_admin"),
        "n": world.members["a2_only"].id_number}))
    assert data["a"] == {"code": world.orgs["a"].code, "parent": {"code": world.orgs["root"].code}}
    assert data["b"] == {"code": world.orgs["b"].code, "children": [{"code": world.orgs["b1"].code}], "memberCount": 1}
    assert data["byCode"] == {"code": world.orgs["b1"].code}
    assert data["member"] == {"id": member_id(world, "b1_only")}
    assert data["byNumber"] == {"id": member_id(world, "a2_only")}
    assert data["node"] == {"id": org_id(world, "b1")}
    assert [n["id"] for n in data["nodes"]] == [org_id(world, "a"), org_id(world, "b"),
                                               member_id(world, "b1_only"), account_id(world, "b_admin")]
    assert data["members"]["totalCount"] == len(world.members)
    assert data["underB"]["totalCount"] == 1
    assert data["accounts"]["totalCount"] == len(accounts_under("b"))
    assert data["allAccounts"]["totalCount"] == len(world.accounts)


async def test_member_account_reaches_only_itself_and_its_organization(api, world):
    me, other = world.members["a1_first"], world.members["a1_second"]
    data = data_of(await api.as_("a1_member", """query($me: ID!, $other: ID!, $n: String, $myN: String,
                                                        $a1: ID!, $a: ID!, $a2: ID, $b: ID!) {
        me: member(id: $me) { id name organization { name } }
        meByNumber: member(idNumber: $myN) { id }
        other: member(id: $other) { id }
        otherByNumber: member(idNumber: $n) { id }
        own: organization(id: $a1) { id name }
        ownByCode: organization(code: "%s") { name }
        parentOrg: organization(id: $a) { name }
        parentByCode: organization(code: "%s") { name }
        sibling: organization(id: $a2) { name }
        foreign: organization(id: $b) { name }
        nodes(ids: [$me, $other, $a1, $a, $b]) { id }
    }""" % (world.orgs["a1"].code, world.orgs["a"].code), {
        "me": gid("Member", me), "other": gid("Member", other), "n": other.id_number, "myN": me.id_number,
        "a1": org_id(world, "a1"), "a": org_id(world, "a"), "a2": org_id(world, "a2"), "b": org_id(world, "b")}))
    a1_name = world.orgs["a1"].name
    assert data["me"] == {"id": gid("Member", me), "name": me.name, "organization": {"name": a1_name}}
    assert data["meByNumber"] == {"id": gid("Member", me)}
    assert data["other"] is None and data["otherByNumber"] is None
    assert data["own"] == {"id": org_id(world, "a1"), "name": a1_name}
    assert data["ownByCode"] == {"name": a1_name}
    assert data["parentOrg"] is None and data["parentByCode"] is None
    assert data["sibling"] is None and data["foreign"] is None
    assert data["nodes"] == [{"id": gid("Member", me)}, None, {"id": org_id(world, "a1")}, None, None]
    # Of its own organization nothing but the name: no code, no tree, no list, no count.
    for selection in ("code", "parent { id }", "ancestors { id }", "children { id }", "address",
                      "members(first: 100) { totalCount }", "memberCount", "leadership { electedOn }"):
        result = await api.as_("a1_member", "query($a1: ID!) { organization(id: $a1) { %s } }" % selection,
                               {"a1": org_id(world, "a1")})
        assert error_codes(result) == ["FORBIDDEN"], (selection, result)

    # Lists across the branch are not for a MEMBER account.
    result = await api.as_("a1_member", "{ members { totalCount } }")
    assert error_codes(result) == ["FORBIDDEN"]
    assert result.get("data") is None
    result = await api.as_("a1_member", "query($id: ID) { members(organizationId: $id) { totalCount } }",
                           {"id": org_id(world, "a1")})
    assert error_codes(result) == ["FORBIDDEN"]


# ------------------------------------------------------------------------------- mutations

SNAPSHOT = """query($parent: ID, $updated: ID, $memberOrg: ID, $accountOrg: ID, $account: ID!, $code: String, $n: String) {
    parent: organization(id: $parent) { children { code name } descendants { totalCount } }
    newOrg: organization(code: $code) { id }
    updated: organization(id: $updated) { contactPhone address version }
    memberOrg: organization(id: $memberOrg) { memberCount members(first: 100) { edges { node { id } } } }
    newMember: member(idNumber: $n) { id }
    accounts(organizationId: $accountOrg, scope: SELF, first: 100) { totalCount edges { node { username } } }
    account: node(id: $account) { ... on Account { name role disabled mustChangePassword organization { code } } }
}"""

# (caller, parent for createOrganization, organization to update, organization to enter a member
#  into, organization to create an account in, account to update and reset)
MUTATION_CASES = [
    ("a_admin", "b", "b", "b1", "b", "b_admin"),
    ("b_admin", "a1", "a", "a2", "a", "a_viewer"),
    # Up and sideways from A1: the parent A and the sibling A2 are outside a1_admin's branch.
    ("a1_admin", "a", "a", "a2", "a2", "a_viewer"),
]


@pytest.mark.parametrize("caller,parent,updated,member_org,account_org,account", MUTATION_CASES,
                         ids=[c[0] for c in MUTATION_CASES])
async def test_mutations_on_foreign_ids_are_not_found_and_write_nothing(
        api, world, caller, parent, updated, member_org, account_org, account):
    id_number = new_id_number()
    suffix = "099"
    snapshot_vars = {"parent": org_id(world, parent), "updated": org_id(world, updated),
                     "memberOrg": org_id(world, member_org), "accountOrg": org_id(world, account_org),
                     "account": account_id(world, account), "code": world.orgs[parent].code + suffix, "n": id_number}
    before = data_of(await api.as_("root_admin", SNAPSHOT, snapshot_vars))

    mutations = [
        ("createOrganization", "organization", """mutation($id: ID!) { createOrganization(input: {
            parentId: $id, name: "越权新建的党支部", type: BRANCH, codeSuffix: "%s"}) {
            organization { id } userErrors { code field message } } }""" % suffix, org_id(world, parent)),
        ("updateOrganization", "organization", """mutation($id: ID!) { updateOrganization(input: {
            organizationId: $id, contactPhone: "010-66668888", address: "越权地址"}) {
            organization { id } userErrors { code field message } } }""", org_id(world, updated)),
        ("createMember", "member", """mutation($id: ID!) { createMember(input: {organizationId: $id, fields: {
            name: "越权党员", idNumber: "%s", category: FULL, appliedOn: "2008-03-01", joinedOn: "2010-07-01",
            confirmedOn: "2011-07-01"}}) { member { id } userErrors { code field message } } }""" % id_number,
         org_id(world, member_org)),
        ("createAccount", "account", """mutation($id: ID!) { createAccount(input: {organizationId: $id,
            username: "intruder_made", password: "Passw0rd2025", name: "越权账户", role: VIEWER}) {
            account { id } userErrors { code field message } } }""", org_id(world, account_org)),
        ("updateAccount", "account", """mutation($id: ID!) { updateAccount(input: {accountId: $id,
            name: "被越权改名", disabled: true}) { account { id } userErrors { code field message } } }""",
         account_id(world, account)),
        ("resetPassword", "account", """mutation($id: ID!) { resetPassword(input: {accountId: $id,
            temporaryPassword: "Temp0rary2025"}) { account { id } userErrors { code field message } } }""",
         account_id(world, account)),
    ]
    for name, subject, mutation, target in mutations:
        result = await api.as_(caller, mutation, {"id": target})
        payload = data_of(result)[name]
        assert payload[subject] is None, (name, payload)
        assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"], (name, payload)

    after = data_of(await api.as_("root_admin", SNAPSHOT, snapshot_vars))
    assert after == before
    assert after["newOrg"] is None and after["newMember"] is None
    # The victim account still signs in with its own password.
    login = await api.post("mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { token } }",
                           {"u": account, "p": PASSWORD})
    assert data_of(login)["login"]["token"]

    # Control: the very same inputs succeed for an account whose branch holds the targets, so the
    # refusals above were about the branch and nothing else.
    for name, subject, mutation, target in mutations:
        payload = data_of(await api.as_("root_admin", mutation, {"id": target}))[name]
        assert payload["userErrors"] == [] and payload[subject] is not None, (name, payload)
    changed = data_of(await api.as_("root_admin", SNAPSHOT, snapshot_vars))
    assert changed["newOrg"] is not None and changed["newMember"] is not None
    assert changed["account"]["disabled"] is True and changed["account"]["mustChangePassword"] is True


async def test_foreign_ids_nested_in_mutation_inputs_are_not_found(api, world):
    """Ids that point outside the branch from inside an otherwise own-branch input."""
    snapshot_vars = {"parent": org_id(world, "a"), "updated": org_id(world, "a"), "memberOrg": org_id(world, "b1"),
                     "accountOrg": org_id(world, "a1"), "account": account_id(world, "a_viewer"),
                     "code": "none", "n": "none"}
    before = data_of(await api.as_("root_admin", SNAPSHOT, snapshot_vars))

    # Moving an own account into branch B.
    payload = data_of(await api.as_("a_admin", """mutation($acc: ID!, $org: ID!) { updateAccount(input: {
        accountId: $acc, organizationId: $org}) { account { id } userErrors { code field } } }""",
        {"acc": account_id(world, "a_viewer"), "org": org_id(world, "b")}))["updateAccount"]
    assert payload["account"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]

    # A MEMBER account in A1 for a member of B1.
    payload = data_of(await api.as_("a_admin", """mutation($org: ID!, $m: ID!) { createAccount(input: {
        organizationId: $org, username: "stolen_member", password: "Passw0rd2025", name: "冒领", role: MEMBER,
        memberId: $m}) { account { id } userErrors { code field } } }""",
        {"org": org_id(world, "a1"), "m": member_id(world, "b1_only")}))["createAccount"]
    assert payload["account"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]

    # An OPERATOR entering a member into another branch.
    payload = data_of(await api.as_("a_operator", """mutation($id: ID!) { createMember(input: {organizationId: $id,
        fields: {name: "越权党员", idNumber: "%s", category: FULL, appliedOn: "2008-03-01", joinedOn: "2010-07-01",
        confirmedOn: "2011-07-01"}}) { member { id } userErrors { code } } }""" % new_id_number(),
        {"id": org_id(world, "b1")}))["createMember"]
    assert payload == {"member": None, "userErrors": [{"code": "NOT_FOUND"}]}

    assert data_of(await api.as_("root_admin", SNAPSHOT, snapshot_vars)) == before
    data = data_of(await api.as_("root_admin", """{ accounts(first: 100) { edges { node { username } } } }"""))
    assert "stolen_member" not in {e["node"]["username"] for e in data["accounts"]["edges"]}


async def test_cursors_carried_over_from_another_branch_do_not_widen_a_list(api, world):
    """A cursor taken from root_admin's lists, replayed by accounts of B, still pages only B."""
    data = data_of(await api.as_("root_admin", """query($root: ID) {
        members(first: 1) { edges { cursor } }
        accounts(first: 1) { edges { cursor } }
        organization(id: $root) { descendants(first: 1) { edges { cursor } } }
    }""", {"root": org_id(world, "root")}))
    member_cursor = data["members"]["edges"][0]["cursor"]
    account_cursor = data["accounts"]["edges"][0]["cursor"]
    org_cursor = data["organization"]["descendants"]["edges"][0]["cursor"]
    mids = {member_id(world, m): m for m in world.members}
    for caller in ("b_admin", "b_viewer"):
        result = await api.as_(caller, """query($m: String, $o: String, $b: ID) {
            members(first: 100, after: $m) { edges { node { id } } }
            organization(id: $b) { descendants(first: 100, after: $o) { edges { node { code } } } }
        }""", {"m": member_cursor, "o": org_cursor, "b": org_id(world, "b")})
        data = data_of(result)
        assert [mids[e["node"]["id"]] for e in data["members"]["edges"]] == ["b1_only"], caller
        assert [e["node"]["code"] for e in data["organization"]["descendants"]["edges"]] == [world.orgs["b1"].code]
    aids = {account_id(world, a): a for a in world.accounts}
    data = data_of(await api.as_("b_admin", "query($c: String) { accounts(first: 100, after: $c) { edges { node { id } } } }",
                                 {"c": account_cursor}))
    assert sorted(aids[e["node"]["id"]] for e in data["accounts"]["edges"]) == ["b_admin", "b_viewer"]
