"""Role boundaries of every root field (MEMBER < VIEWER < OPERATOR < ADMIN).

Signed out → UNAUTHENTICATED; a role below the field's @auth(requires:) → FORBIDDEN, unless
allowSelf admits a MEMBER to its own record; at or above → no error. Public fields (node, nodes,
viewer, codes, login, registerMember) carry no @auth, every other root field does, every Node
type carries a type-level @auth, and the guard refuses a root field that declares nothing.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import strawberry

from gql.auth.directives import Auth, Role, auth
from gql.auth import guard
from gql.auth.guard import AuthGuard
from gql.auth.viewer import Viewer
from gql.schema import schema as app_schema
from tests.conftest import error_codes, gid
from tests.factories import PASSWORD, new_id_number

ROLES = ["MEMBER", "VIEWER", "OPERATOR", "ADMIN"]
RANK = {r: i for i, r in enumerate(ROLES)}
CALLER = {"MEMBER": "a1_member", "VIEWER": "a_viewer", "OPERATOR": "a_operator", "ADMIN": "a_admin"}
PUBLIC = {"node", "nodes", "viewer", "codes", "login", "registerMember"}
CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "contract" / "schema.graphql"


def operations(world, role: str):
    """(field, required role, allowSelf, document, variables, check of the field's value when allowed).

    Every target is reachable by each caller (A1 is a1_member's own organization and lies under A),
    so an allowed call must answer without any error. logout runs last: it ends the session."""
    tag = role.lower()
    a1, a = gid("Organization", world.orgs["a1"]), gid("Organization", world.orgs["a"])
    me = gid("Member", world.members["a1_first"])
    a1_viewer = gid("Account", world.accounts["a1_viewer"])

    def no_user_errors(value):
        assert value["userErrors"] == [], value
        return True

    return [
        # name: all a MEMBER reads of its organization (gql.auth.guard.MEMBER_CONTEXT_FIELDS).
        ("organization", "VIEWER", True, "query($id: ID) { organization(id: $id) { name } }", {"id": a1},
         lambda v: v == {"name": world.orgs["a1"].name}),
        ("member", "VIEWER", True, "query($id: ID) { member(id: $id) { id } }", {"id": me},
         lambda v: v == {"id": me}),
        ("members", "VIEWER", False, "{ members { totalCount } }", {},
         lambda v: v["totalCount"] >= 2),
        ("accounts", "ADMIN", False, "{ accounts { totalCount } }", {},
         lambda v: v["totalCount"] >= 3),
        ("createAccount", "ADMIN", False, """mutation($org: ID!, $u: String!) { createAccount(input: {
            organizationId: $org, username: $u, password: "Passw0rd2025", name: "新账户", role: VIEWER}) {
            account { username } userErrors { code field message } } }""",
         {"org": a1, "u": f"made_by_{tag}"}, no_user_errors),
        ("updateAccount", "ADMIN", False, """mutation($id: ID!) { updateAccount(input: {accountId: $id,
            phone: "13800000000"}) { account { phone } userErrors { code field message } } }""",
         {"id": a1_viewer}, no_user_errors),
        ("resetPassword", "ADMIN", False, """mutation($id: ID!) { resetPassword(input: {accountId: $id,
            temporaryPassword: "Temp0rary2025"}) { account { mustChangePassword } userErrors { code field message } } }""",
         {"id": a1_viewer}, no_user_errors),
        ("createOrganization", "ADMIN", False, """mutation($id: ID!, $name: String!) { createOrganization(input: {
            parentId: $id, name: $name, type: BRANCH, codeSuffix: "009"}) {
            organization { code } userErrors { code field message } } }""",
         {"id": a, "name": f"中共示范市甲区第九支部委员会（{tag}）"}, no_user_errors),
        ("updateOrganization", "ADMIN", False, """mutation($id: ID!) { updateOrganization(input: {
            organizationId: $id, contactPhone: "010-12345678"}) {
            organization { contactPhone } userErrors { code field message } } }""",
         {"id": a1}, no_user_errors),
        ("createMember", "OPERATOR", False, """mutation($id: ID!, $n: String!) { createMember(input: {
            organizationId: $id, fields: {name: "新党员", idNumber: $n, category: FULL, appliedOn: "2008-03-01",
            joinedOn: "2010-07-01", confirmedOn: "2011-07-01"}}) { member { id } userErrors { code field message } } }""",
         {"id": gid("Organization", world.orgs["a2"]), "n": new_id_number()}, no_user_errors),
        # A wrong current password: the field is reached and answers a user error, nothing changes.
        ("changePassword", "MEMBER", False, """mutation { changePassword(input: {currentPassword: "Wr0ngPassword",
            newPassword: "NewPassw0rd2025"}) { ok userErrors { code field } } }""", {},
         lambda v: v == {"ok": False, "userErrors": [{"code": "INVALID", "field": ["currentPassword"]}]}),
        ("logout", "MEMBER", False, "mutation { logout { ok userErrors { code } } }", {},
         lambda v: v == {"ok": True, "userErrors": []}),
    ]


def test_the_table_covers_every_auth_root_field_of_the_schema():
    """The table above must name every @auth root field the task lists, with its rule."""
    expected = {
        "organization": ("VIEWER", True), "member": ("VIEWER", True), "members": ("VIEWER", False),
        "accounts": ("ADMIN", False), "logout": ("MEMBER", False), "changePassword": ("MEMBER", False),
        "createAccount": ("ADMIN", False), "updateAccount": ("ADMIN", False), "resetPassword": ("ADMIN", False),
        "createOrganization": ("ADMIN", False), "updateOrganization": ("ADMIN", False),
        "createMember": ("OPERATOR", False),
    }
    served = {}
    for root in (app_schema._schema.query_type, app_schema._schema.mutation_type):
        for name, field in root.fields.items():
            found = _auth_directives(field.extensions["strawberry-definition"])
            if found:
                served[name] = (found[0].requires.value, found[0].allow_self)
    for name, rule in expected.items():
        assert served.get(name) == rule, name


@pytest.mark.parametrize("role", ROLES)
async def test_each_auth_root_field_at_each_role(api, world, role):
    caller = CALLER[role]
    for field, requires, allow_self, document, variables, check in operations(world, role):
        result = await api.as_(caller, document, variables)
        allowed = RANK[role] >= RANK[requires] or (allow_self and role == "MEMBER")
        if allowed:
            assert "errors" not in result, (field, role, result)
            assert check(result["data"][field]), (field, role, result)
        else:
            assert error_codes(result) == ["FORBIDDEN"], (field, role, result)
            assert (result.get("data") or {}).get(field) is None, (field, role, result)

    # The refused mutations wrote nothing.
    data = (await api.as_("root_admin", """query($n: String) {
        accounts(first: 100) { edges { node { username } } }
        newOrg: organization(code: $n) { name }
        a1: organization(code: "%s") { contactPhone }
    }""" % world.orgs["a1"].code, {"n": world.orgs["a"].code + "009"}))["data"]
    usernames = {e["node"]["username"] for e in data["accounts"]["edges"]}
    assert (f"made_by_{role.lower()}" in usernames) == (role == "ADMIN")
    assert (data["newOrg"] is not None) == (role == "ADMIN")
    assert (data["a1"]["contactPhone"] is not None) == (role == "ADMIN")

    # logout ran last and ended the session: the same token is now signed out.
    result = await api.as_(caller, "{ organization(code: \"%s\") { code } }" % world.orgs["a1"].code)
    assert error_codes(result) == ["UNAUTHENTICATED"]


async def test_every_auth_root_field_is_unauthenticated_when_signed_out(api, world):
    for field, *_rest in operations(world, "ADMIN"):
        document, variables = _rest[2], _rest[3]
        result = await api.post(document, variables)
        assert error_codes(result) == ["UNAUTHENTICATED"], (field, result)
        assert (result.get("data") or {}).get(field) is None, (field, result)
    for document in ("query($id: ID!) { node(id: $id) { id } }", "query($id: ID!) { nodes(ids: [$id]) { id } }"):
        result = await api.post(document, {"id": gid("Organization", world.orgs["a1"])})
        assert error_codes(result) == ["UNAUTHENTICATED"], result
    # Nothing was written.
    data = (await api.as_("root_admin", "{ accounts(first: 100) { edges { node { username } } } }"))["data"]
    assert "made_by_admin" not in {e["node"]["username"] for e in data["accounts"]["edges"]}


async def test_public_fields_signed_out(api, world):
    result = await api.post("{ viewer { username } }")
    assert result == {"data": {"viewer": None}}

    result = await api.post("{ codes(table: ETHNICITY) { code label } }")
    assert "errors" not in result, result
    assert {"code": "01", "label": "汉族"} in result["data"]["codes"]

    result = await api.post("""mutation { login(input: {username: "a_admin", password: "Wr0ngPassword"}) {
        token account { id } userErrors { code } } }""")
    assert "errors" not in result, result
    assert result["data"]["login"]["token"] is None and result["data"]["login"]["account"] is None
    assert [e["code"] for e in result["data"]["login"]["userErrors"]] == ["INVALID"]

    result = await api.post("""mutation($p: String!) { login(input: {username: "a1_member", password: $p}) {
        token account { username } userErrors { code } } }""", {"p": PASSWORD})
    assert "errors" not in result, result
    assert result["data"]["login"]["token"] and result["data"]["login"]["account"] == {"username": "a1_member"}

    if "registerMember" in app_schema._schema.mutation_type.fields:
        # No record matches: a user error at most, never UNAUTHENTICATED or FORBIDDEN.
        result = await api.post("""mutation { registerMember(input: {idNumber: "11010519491231002X", name: "无此人",
            phone: "13900000000", password: "Passw0rd2025"}) { account { id } userErrors { code } } }""")
        assert not {"UNAUTHENTICATED", "FORBIDDEN"} & set(error_codes(result)), result


@pytest.mark.parametrize("role", ROLES)
async def test_public_fields_at_each_role(api, world, role):
    caller = CALLER[role]
    own = gid("Organization", world.orgs["a1"])
    result = await api.as_(caller, """query($id: ID!) { viewer { username role } node(id: $id) { id }
        nodes(ids: [$id]) { id } codes(table: EDUCATION) { code } }""", {"id": own})
    assert "errors" not in result, result
    data = result["data"]
    assert data["viewer"] == {"username": caller, "role": role}
    assert data["node"] == {"id": own} and data["nodes"] == [{"id": own}]
    assert data["codes"]


@pytest.mark.parametrize("role", ["MEMBER", "VIEWER", "OPERATOR"])
async def test_below_admin_no_account_but_ones_own(api, world, role):
    """Account is @auth(requires: ADMIN, allowSelf: true): below ADMIN only one's own account shows;
    another account of the branch is never returned (null, or at most a FORBIDDEN error)."""
    caller = CALLER[role]
    own = gid("Account", world.accounts[caller])
    other = gid("Account", world.accounts["a1_viewer"])
    result = await api.as_(caller, """query($own: ID!, $other: ID!, $m: ID) {
        own: node(id: $own) { ... on Account { username } }
        other: node(id: $other) { ... on Account { username } }
        nodes(ids: [$own, $other]) { id }
        member(id: $m) { account { username } }
    }""", {"own": own, "other": other, "m": gid("Member", world.members["a1_first"])})
    assert set(error_codes(result)) <= {"FORBIDDEN"}, result
    data = result["data"]
    assert data["own"] == {"username": caller}
    assert data["other"] is None
    assert data["nodes"] == [{"id": own}, None]
    # a1_first's account is a1_member's: visible to a1_member itself only.
    expected = {"account": {"username": "a1_member"}} if role == "MEMBER" else {"account": None}
    assert data["member"] == expected


# ------------------------------------------------------------------ the schema's declarations


def _auth_directives(definition) -> list[Auth]:
    return [d for d in (getattr(definition, "directives", None) or ()) if isinstance(d, Auth)]


def test_every_root_field_but_the_public_ones_carries_auth():
    for root in (app_schema._schema.query_type, app_schema._schema.mutation_type):
        without = set()
        for name, field in root.fields.items():
            found = _auth_directives(field.extensions["strawberry-definition"])
            assert len(found) <= 1, (root.name, name)
            if not found:
                without.add(name)
            else:
                assert isinstance(found[0].requires, Role), (root.name, name)
        assert without == PUBLIC & set(root.fields), (root.name, without)


def test_every_node_type_carries_a_type_level_auth():
    node_types = [t for t in app_schema._schema.type_map.values()
                  if any(i.name == "Node" for i in getattr(t, "interfaces", None) or ())]
    assert {t.name for t in node_types} >= {"Organization", "Member", "Account"}
    for t in node_types:
        found = _auth_directives(t.extensions["strawberry-definition"])
        assert len(found) == 1, t.name


def test_auth_rules_match_the_contract():
    """Every root field and Node type the contract marks with @auth carries the same rule here, and
    what the contract leaves public is public here."""
    if not CONTRACT.exists():
        pytest.skip(f"contract not found at {CONTRACT}")
    from graphql import build_schema, get_directive_values

    contract = build_schema(CONTRACT.read_text(encoding="utf-8"))
    directive = contract.get_directive("auth")

    def rule(node) -> tuple[str, bool] | None:
        values = get_directive_values(directive, node) if node is not None else None
        return (values["requires"], values["allowSelf"]) if values else None

    def served_rule(definition) -> tuple[str, bool] | None:
        found = _auth_directives(definition)
        return (found[0].requires.value, found[0].allow_self) if found else None

    for contract_root, served_root in ((contract.query_type, app_schema._schema.query_type),
                                       (contract.mutation_type, app_schema._schema.mutation_type)):
        for name, field in contract_root.fields.items():
            if name not in served_root.fields:
                continue  # not implemented yet; the contract checker reports it
            expected = rule(field.ast_node)
            got = served_rule(served_root.fields[name].extensions["strawberry-definition"])
            assert got == expected, f"{contract_root.name}.{name}: served {got}, contract {expected}"
    for name, t in contract.type_map.items():
        if getattr(t, "interfaces", None) and name in app_schema._schema.type_map:
            expected = rule(t.ast_node)
            got = served_rule(app_schema._schema.type_map[name].extensions["strawberry-definition"])
            assert got == expected, f"{name}: served {got}, contract {expected}"


# ------------------------------------------------------------------ the guard itself, in isolation


class _Context:
    def __init__(self, viewer):
        self.viewer = viewer


_ADMIN = Viewer(account_id=1, role="ADMIN", organization_id=1, organization_path="/1/", member_id=None,
                must_change_password=False)


def _probe_schema(root_name: str, installed: bool = False):
    """A separate schema with its own new types (never the app's: strawberry#3823), guarded as the
    served schema is (`guard.install`) or by the AuthGuard extension."""
    calls = []

    @strawberry.type(name=root_name)
    class ProbeQuery:
        @strawberry.field
        def undeclared_probe(self) -> str:
            calls.append("undeclared")
            return "leaked"

        @strawberry.field(directives=[auth(Role.ADMIN)])
        def declared_probe(self) -> str:
            calls.append("declared")
            return "fine"

    if installed:
        probe = strawberry.Schema(query=ProbeQuery)
        guard.install(probe._schema)
        return probe, calls
    return strawberry.Schema(query=ProbeQuery, extensions=[AuthGuard]), calls


@pytest.mark.parametrize("installed", [False, True], ids=["extension", "installed"])
@pytest.mark.parametrize("viewer", [None, _ADMIN], ids=["signed-out", "admin"])
def test_guard_refuses_a_root_field_without_auth(viewer, installed):
    probe, calls = _probe_schema("Query", installed)
    result = probe.execute_sync("{ undeclaredProbe }", context_value=_Context(viewer))
    assert result.errors, result
    assert result.data is None
    assert [e.extensions.get("code") for e in result.errors] == ["FORBIDDEN"]
    assert calls == []  # refused before the resolver ran

    # The declared field of the same schema works for ADMIN and asks a signed-out caller to sign in.
    result = probe.execute_sync("{ declaredProbe }", context_value=_Context(viewer))
    if viewer is None:
        assert [e.extensions.get("code") for e in result.errors] == ["UNAUTHENTICATED"]
        assert calls == []
    else:
        assert result.errors is None and result.data == {"declaredProbe": "fine"}


def test_served_schema_guards_every_field_that_has_a_rule():
    """The served schema checks @auth in the resolvers (gql.auth.guard.install): every field whose
    rule is not public has the check in front of its resolver, with that rule, and no other
    field pays for one; no resolve hook (per-request middleware) is left."""
    served = app_schema._schema
    checked = public = 0
    for type_ in served.type_map.values():
        if type(type_).__name__ != "GraphQLObjectType" or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            rule = guard.rule_in(served, type_, name)
            attached = getattr(field.resolve, "dangjian_rule", None)
            if rule is guard.PUBLIC:
                assert attached is None, f"{type_.name}.{name}"
                public += 1
            else:
                assert attached is rule, f"{type_.name}.{name}: {attached} instead of {rule}"
                checked += 1
    assert checked > 200 and public > 100
    assert not any(getattr(e, "resolve", None) is not None and isinstance(e, type) and e._implements_resolve()
                   for e in app_schema.extensions)
    root_public = {n for t in (served.query_type, served.mutation_type) for n in t.fields
                   if guard.rule_in(served, t, n) is guard.PUBLIC}
    assert root_public == PUBLIC


@pytest.mark.parametrize("installed", [False, True], ids=["extension", "installed"])
def test_guard_denies_by_default_whatever_the_root_type_is_called(installed):
    """Deny by default must not hang on the root type being named "Query"."""
    probe, calls = _probe_schema("ProbeRoot", installed)
    result = probe.execute_sync("{ undeclaredProbe }", context_value=_Context(None))
    assert result.errors, result.data
    assert calls == []
