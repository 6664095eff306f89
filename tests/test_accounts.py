"""Account management through the GraphQL endpoint: who may create, update and reset whom,
input rules, forced password change, listing, and `viewer` for every role."""
from __future__ import annotations

from sqlalchemy import func, select

from db import models
from tests.conftest import PROTECTED, is_signed_in, error_codes, gid
from tests.factories import PASSWORD

ACCOUNT_FIELDS = "id username name phone role disabled mustChangePassword organization { code } member { id }"
PAYLOAD = f"account {{ {ACCOUNT_FIELDS} }} userErrors {{ field message code }}"
CREATE = f"mutation($input: CreateAccountInput!) {{ createAccount(input: $input) {{ {PAYLOAD} }} }}"
UPDATE = f"mutation($input: UpdateAccountInput!) {{ updateAccount(input: $input) {{ {PAYLOAD} }} }}"
RESET = f"mutation($input: ResetPasswordInput!) {{ resetPassword(input: $input) {{ {PAYLOAD} }} }}"
LOGIN = """mutation($u: String!, $p: String!) {
  login(input: {username: $u, password: $p}) { token userErrors { field message code } }
}"""
CHANGE_PASSWORD = """mutation($c: String!, $n: String!) {
  changePassword(input: {currentPassword: $c, newPassword: $n}) { ok userErrors { field message code } }
}"""
VIEWER = "{ viewer { id username name role mustChangePassword organization { name } member { id } } }"
HELD_VIEWER = "{ viewer { id username name role mustChangePassword organization { id name } } }"
ACCOUNT_NODE = f"query($id: ID!) {{ node(id: $id) {{ ... on Account {{ {ACCOUNT_FIELDS} }} }} }}"
ACCOUNTS = """query($org: ID, $scope: Scope, $first: Int, $after: String) {
  accounts(organizationId: $org, scope: $scope, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { username } }
  }
}"""
TEMPORARY = "Temp0rary2024"
NEW_PASSWORD = "Neues2Passwort"


def org(world, key: str) -> str:
    return gid("Organization", world.orgs[key])


def account(world, username: str) -> str:
    return gid("Account", world.accounts[username])


def new_account(world, org_key: str, username: str, role: str, **extra) -> dict:
    return {"organizationId": org(world, org_key), "username": username, "password": PASSWORD,
            "name": f"{username} 姓名", "role": role, **extra}


async def mutate(api, actor: str, mutation: str, input: dict) -> dict:
    result = await api.as_(actor, mutation, {"input": input})
    assert "errors" not in result, result
    (payload,) = result["data"].values()
    return payload


def problems(payload: dict) -> list[tuple]:
    assert payload["account"] is None, payload
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


def codes(payload: dict) -> list[str]:
    assert payload["account"] is None, payload
    return [e["code"] for e in payload["userErrors"]]


async def sign_in(api, username: str, password: str = PASSWORD) -> dict:
    result = await api.post(LOGIN, {"u": username, "p": password})
    assert "errors" not in result, result
    return result["data"]["login"]


async def token_of(api, username: str, password: str = PASSWORD) -> str:
    payload = await sign_in(api, username, password)
    assert payload["token"], payload
    return payload["token"]


async def read_account(api, world, username: str) -> dict:
    """The account as root_admin sees it."""
    result = await api.as_("root_admin", ACCOUNT_NODE, {"id": account(world, username)})
    assert "errors" not in result, result
    return result["data"]["node"]


async def account_count(engine) -> int:
    async with engine.connect() as c:
        return (await c.execute(select(func.count()).select_from(models.Account))).scalar_one()






# ------------------------------------------------------------------ createAccount


async def test_admin_creates_operator_and_viewer_in_its_branch(api, world):
    for org_key, username, role in [("a", "new_operator", "OPERATOR"), ("a1", "new_viewer", "VIEWER"),
                                     ("a2", "new_operator2", "OPERATOR")]:
        payload = await mutate(api, "a_admin", CREATE, new_account(world, org_key, username, role, phone="13800000000"))
        assert payload["userErrors"] == [], payload
        created = payload["account"]
        assert created["username"] == username and created["role"] == role
        assert created["organization"]["code"] == world.orgs[org_key].code
        assert created["disabled"] is False and created["mustChangePassword"] is False
        assert created["phone"] == "13800000000"
        token = await token_of(api, username)
        viewer = (await api.post(VIEWER, token=token))["data"]["viewer"]
        assert (viewer["id"], viewer["role"]) == (created["id"], role)


async def test_create_account_outside_branch_is_not_found(api, world, engine):
    before = await account_count(engine)
    for actor, org_key in [("a_admin", "b"), ("a_admin", "b1"), ("a_admin", "root"), ("a1_admin", "a"),
                           ("a1_admin", "a2"), ("b_admin", "a1")]:
        payload = await mutate(api, actor, CREATE, new_account(world, org_key, "outsider", "VIEWER"))
        assert problems(payload) == [("NOT_FOUND", ["organizationId"])], (actor, org_key, payload)
    assert await account_count(engine) == before


async def test_only_admins_create_accounts(api, world):
    for actor in ["a_operator", "a_viewer", "a1_member"]:
        result = await api.as_(actor, CREATE, {"input": new_account(world, "a1", "by_" + actor, "VIEWER")})
        assert error_codes(result) == ["FORBIDDEN"], (actor, result)
    result = await api.post(CREATE, {"input": new_account(world, "a1", "anonymous", "VIEWER")})
    assert error_codes(result) == ["UNAUTHENTICATED"]


async def test_admin_accounts_only_strictly_below_own_level(api, world, engine):
    payload = await mutate(api, "a_admin", CREATE, new_account(world, "a1", "a1_admin2", "ADMIN"))
    assert payload["userErrors"] == [] and payload["account"]["role"] == "ADMIN"
    assert await token_of(api, "a1_admin2")

    before = await account_count(engine)
    payload = await mutate(api, "a_admin", CREATE, new_account(world, "a", "a_admin_peer", "ADMIN"))
    assert codes(payload) == ["NOT_ALLOWED"], payload
    payload = await mutate(api, "a1_admin", CREATE, new_account(world, "a1", "a1_admin_peer", "ADMIN"))
    assert codes(payload) == ["NOT_ALLOWED"], payload
    assert await account_count(engine) == before
    assert (await sign_in(api, "a_admin_peer"))["token"] is None


async def test_admin_cannot_manage_foreign_or_peer_admins(api, world):
    # A foreign branch's ADMIN does not exist for a_admin.
    payload = await mutate(api, "a_admin", UPDATE, {"accountId": account(world, "b_admin"), "name": "改名"})
    assert problems(payload) == [("NOT_FOUND", ["accountId"])]
    payload = await mutate(api, "a_admin", RESET, {"accountId": account(world, "b_admin"), "temporaryPassword": TEMPORARY})
    assert problems(payload) == [("NOT_FOUND", ["accountId"])]
    # Nor does the parent's ADMIN.
    payload = await mutate(api, "a1_admin", RESET, {"accountId": account(world, "a_admin"), "temporaryPassword": TEMPORARY})
    assert problems(payload) == [("NOT_FOUND", ["accountId"])]

    # A second ADMIN at A, made by root_admin: a_admin's peer.
    payload = await mutate(api, "root_admin", CREATE, new_account(world, "a", "a_admin2", "ADMIN"))
    assert payload["userErrors"] == [], payload
    peer_id = payload["account"]["id"]
    payload = await mutate(api, "a_admin", UPDATE, {"accountId": peer_id, "name": "改名"})
    assert codes(payload) == ["NOT_ALLOWED"]
    payload = await mutate(api, "a_admin", UPDATE, {"accountId": peer_id, "disabled": True})
    assert codes(payload) == ["NOT_ALLOWED"]
    payload = await mutate(api, "a_admin", RESET, {"accountId": peer_id, "temporaryPassword": TEMPORARY})
    assert codes(payload) == ["NOT_ALLOWED"]
    # Nothing happened to the peer.
    result = await api.as_("root_admin", ACCOUNT_NODE, {"id": peer_id})
    peer = result["data"]["node"]
    assert (peer["name"], peer["disabled"], peer["mustChangePassword"]) == ("a_admin2 姓名", False, False)
    assert await token_of(api, "a_admin2")
    assert (await sign_in(api, "a_admin2", TEMPORARY))["token"] is None

    # An ADMIN strictly below is managed.
    payload = await mutate(api, "a_admin", UPDATE, {"accountId": account(world, "a1_admin"), "name": "甲一管理员"})
    assert payload["userErrors"] == [] and payload["account"]["name"] == "甲一管理员"


async def test_admin_cannot_reset_its_own_password(api, world):
    payload = await mutate(api, "a1_admin", RESET, {"accountId": account(world, "a1_admin"), "temporaryPassword": TEMPORARY})
    assert codes(payload) == ["NOT_ALLOWED"]
    assert await token_of(api, "a1_admin")


async def test_root_admin_resets_a_admin_password(api, world):
    payload = await mutate(api, "root_admin", RESET, {"accountId": account(world, "a_admin"), "temporaryPassword": TEMPORARY})
    assert payload["userErrors"] == [], payload
    assert payload["account"]["username"] == "a_admin" and payload["account"]["mustChangePassword"] is True
    assert (await sign_in(api, "a_admin"))["token"] is None
    assert (await sign_in(api, "a_admin", TEMPORARY))["token"]


async def test_reset_password_rejects_a_weak_temporary_password(api, world):
    payload = await mutate(api, "a_admin", RESET, {"accountId": account(world, "a_viewer"), "temporaryPassword": "short"})
    assert problems(payload) == [("INVALID", ["temporaryPassword"])]
    assert await token_of(api, "a_viewer")


async def test_create_account_duplicate_username(api, world, engine):
    before = await account_count(engine)
    for username in ["a_viewer", "b_admin", " a_operator "]:
        payload = await mutate(api, "a_admin", CREATE, new_account(world, "a1", username, "VIEWER"))
        assert problems(payload) == [("DUPLICATE", ["username"])], (username, payload)
    assert await account_count(engine) == before


async def test_create_account_input_rules(api, world, engine):
    before = await account_count(engine)
    for username in ["ab", "has space", "名字中文", "x" * 65, ""]:
        payload = await mutate(api, "a_admin", CREATE, new_account(world, "a1", username, "VIEWER"))
        assert problems(payload) == [("INVALID", ["username"])], (username, payload)
    for password in ["short1a", "abcdefghijk", "12345678901", ""]:
        payload = await mutate(api, "a_admin", CREATE, {**new_account(world, "a1", "weak_pw", "VIEWER"),
                                                        "password": password})
        assert problems(payload) == [("INVALID", ["password"])], (password, payload)
    payload = await mutate(api, "a_admin", CREATE, {**new_account(world, "a1", "no_name", "VIEWER"), "name": "  "})
    assert problems(payload) == [("INVALID", ["name"])]
    # Several problems at once are all reported.
    payload = await mutate(api, "a_admin", CREATE, {**new_account(world, "a1", "a b", "VIEWER"), "password": "x"})
    assert sorted(f[0] for _, f in problems(payload)) == ["password", "username"]
    assert await account_count(engine) == before


async def test_member_account_rules(api, world, engine):
    before = await account_count(engine)
    # MEMBER without a member record.
    payload = await mutate(api, "a_admin", CREATE, new_account(world, "a1", "m_none", "MEMBER"))
    assert problems(payload) == [("INVALID", ["memberId"])]
    # The member is in A1, the account would be at A2 (or at A).
    second = gid("Member", world.members["a1_second"])
    for org_key in ["a2", "a"]:
        payload = await mutate(api, "a_admin", CREATE, new_account(world, org_key, "m_elsewhere", "MEMBER", memberId=second))
        assert codes(payload) == ["INVALID"], payload
    # A member outside the branch does not exist.
    payload = await mutate(api, "a_admin", CREATE, new_account(
        world, "a1", "m_foreign", "MEMBER", memberId=gid("Member", world.members["b1_only"])))
    assert codes(payload) == ["NOT_FOUND"], payload
    # a1_first already has an account (a1_member).
    payload = await mutate(api, "a_admin", CREATE, new_account(
        world, "a1", "m_again", "MEMBER", memberId=gid("Member", world.members["a1_first"])))
    assert problems(payload) == [("DUPLICATE", ["memberId"])]
    assert await account_count(engine) == before

    payload = await mutate(api, "a_admin", CREATE, new_account(world, "a1", "a1_member2", "MEMBER", memberId=second))
    assert payload["userErrors"] == [], payload
    assert payload["account"]["member"] == {"id": second}
    token = await token_of(api, "a1_member2")
    result = await api.post("{ viewer { role member { id name } } }", token=token)
    assert result == {"data": {"viewer": {"role": "MEMBER", "member": {"id": second, "name": "王芳"}}}}


# ------------------------------------------------------------------ resetPassword: forced change


async def test_reset_password_forces_a_change_at_next_sign_in(api, world):
    old_token = await token_of(api, "a_operator")
    payload = await mutate(api, "a_admin", RESET, {"accountId": account(world, "a_operator"), "temporaryPassword": TEMPORARY})
    assert payload["userErrors"] == [] and payload["account"]["mustChangePassword"] is True
    # The existing token is revoked, the old password no longer works.
    assert error_codes(await api.post(PROTECTED, token=old_token)) == ["UNAUTHENTICATED"]
    assert (await sign_in(api, "a_operator"))["token"] is None

    token = await token_of(api, "a_operator", TEMPORARY)
    # Held at the forced change, the account reads itself (VIEWER's organization { code } is not
    # among what it may read: see test_held_account_reads_nothing_but_itself).
    viewer = (await api.post(HELD_VIEWER, token=token))["data"]["viewer"]
    assert viewer["username"] == "a_operator" and viewer["mustChangePassword"] is True
    for query in ['{ organization(code: "001001") { name } }', "{ members(first: 5) { totalCount } }"]:
        assert error_codes(await api.post(query, token=token)) == ["FORBIDDEN"], query
    create_member = """mutation { createMember(input: {organizationId: "%s", fields: {name: "某某"}}) {
      member { id } userErrors { code } } }""" % org(world, "a1")
    assert error_codes(await api.post(create_member, token=token)) == ["FORBIDDEN"]

    # A failed change leaves the restriction in place.
    result = await api.post(CHANGE_PASSWORD, {"c": TEMPORARY, "n": "weak"}, token=token)
    assert result["data"]["changePassword"]["ok"] is False
    assert error_codes(await api.post(PROTECTED, token=token)) == ["FORBIDDEN"]

    result = await api.post(CHANGE_PASSWORD, {"c": TEMPORARY, "n": NEW_PASSWORD}, token=token)
    assert result["data"]["changePassword"] == {"ok": True, "userErrors": []}, result
    assert (await sign_in(api, "a_operator", TEMPORARY))["token"] is None
    token = await token_of(api, "a_operator", NEW_PASSWORD)
    assert (await api.post(VIEWER, token=token))["data"]["viewer"]["mustChangePassword"] is False
    result = await api.post('{ organization(code: "001001") { name } }', token=token)
    assert result == {"data": {"organization": {"name": "中共示范市甲区委员会"}}}


async def test_must_change_password_blocks_node_lookups(api, world):
    await mutate(api, "a_admin", RESET, {"accountId": account(world, "a_operator"), "temporaryPassword": TEMPORARY})
    token = await token_of(api, "a_operator", TEMPORARY)
    query = "query($id: ID!) { node(id: $id) { ... on Organization { name } } }"
    result = await api.post(query, {"id": org(world, "a1")}, token=token)
    assert error_codes(result) == ["FORBIDDEN"], result
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Member { name idNumber } } }"
    result = await api.post(query, {"ids": [gid("Member", world.members["a1_first"])]}, token=token)
    assert error_codes(result) == ["FORBIDDEN"], result


async def test_held_account_reads_nothing_but_itself(api, world):
    """Held at a forced password change, an account reads its own Account and its organization's
    id and name; no count, no list, no cursor of its branch (it could page the members' cursors
    and count them before)."""
    await mutate(api, "a_admin", RESET, {"accountId": account(world, "a_operator"), "temporaryPassword": TEMPORARY})
    token = await token_of(api, "a_operator", TEMPORARY)
    result = await api.post(HELD_VIEWER, token=token)
    assert "errors" not in result, result
    assert result["data"]["viewer"]["organization"] == {"id": org(world, "a"), "name": world.orgs["a"].name}
    for selection in ["members { totalCount }", "members { edges { cursor } }", "memberCount",
                      "memberCount(filter: {scope: SUBTREE})", "descendants { totalCount }", "children { id }",
                      "code", "history { kind }", "orgRecords { totalCount }", "difficulties { totalCount }",
                      "leadership { secretary { id } }", "parent { id }"]:
        result = await api.post("{ viewer { organization { %s } } }" % selection, token=token)
        assert error_codes(result) == ["FORBIDDEN"], (selection, result)
        viewer = (result.get("data") or {}).get("viewer")
        assert viewer is None or set(viewer["organization"].values()) == {None}, (selection, result)
    # A held MEMBER account does not read its member record either.
    await mutate(api, "a1_admin", RESET, {"accountId": account(world, "a1_member"), "temporaryPassword": TEMPORARY})
    token = await token_of(api, "a1_member", TEMPORARY)
    result = await api.post("{ viewer { username member { id } } }", token=token)
    assert error_codes(result) == ["FORBIDDEN"], result


async def test_must_change_password_blocks_reads_through_viewer(api, world):
    """viewer itself stays readable, but not the branch behind it."""
    await mutate(api, "a_admin", RESET, {"accountId": account(world, "a_operator"), "temporaryPassword": TEMPORARY})
    token = await token_of(api, "a_operator", TEMPORARY)
    result = await api.post("{ viewer { username mustChangePassword } }", token=token)
    assert result == {"data": {"viewer": {"username": "a_operator", "mustChangePassword": True}}}
    query = "{ viewer { organization { children { members(first: 5) { edges { node { name idNumber } } } } } } }"
    result = await api.post(query, token=token)
    assert "FORBIDDEN" in error_codes(result), result


# ------------------------------------------------------------------ updateAccount


async def test_disabling_an_account_revokes_tokens_and_blocks_sign_in(api, world):
    token = await token_of(api, "a1_viewer")
    payload = await mutate(api, "a_admin", UPDATE, {"accountId": account(world, "a1_viewer"), "disabled": True})
    assert payload["userErrors"] == [] and payload["account"]["disabled"] is True
    assert error_codes(await api.post(PROTECTED, token=token)) == ["UNAUTHENTICATED"]
    denied = await sign_in(api, "a1_viewer")
    wrong = await sign_in(api, "a1_viewer", "Wrong0password")
    assert denied["token"] is None and denied["userErrors"] == wrong["userErrors"] != []

    payload = await mutate(api, "a_admin", UPDATE, {"accountId": account(world, "a1_viewer"), "disabled": False})
    assert payload["userErrors"] == [] and payload["account"]["disabled"] is False
    # The revoked token stays revoked; a new sign-in works.
    assert error_codes(await api.post(PROTECTED, token=token)) == ["UNAUTHENTICATED"]
    assert await is_signed_in(api, await token_of(api, "a1_viewer"))


async def test_role_change_above_own_level_is_not_allowed(api, world):
    # ADMIN at the admin's own level: not allowed.
    payload = await mutate(api, "a_admin", UPDATE, {"accountId": account(world, "a_operator"), "role": "ADMIN"})
    assert codes(payload) == ["NOT_ALLOWED"]
    payload = await mutate(api, "a1_admin", UPDATE, {"accountId": account(world, "a1_viewer"), "role": "ADMIN"})
    assert codes(payload) == ["NOT_ALLOWED"]
    # Moving a lower ADMIN up to the admin's own level: not allowed either.
    payload = await mutate(api, "a_admin", UPDATE, {"accountId": account(world, "a1_admin"), "organizationId": org(world, "a")})
    assert codes(payload) == ["NOT_ALLOWED"]
    # MEMBER needs a member record.
    payload = await mutate(api, "a_admin", UPDATE, {"accountId": account(world, "a_viewer"), "role": "MEMBER"})
    assert codes(payload) == ["INVALID"]
    assert (await read_account(api, world, "a_operator"))["role"] == "OPERATOR"
    assert (await read_account(api, world, "a1_viewer"))["role"] == "VIEWER"
    assert (await read_account(api, world, "a1_admin"))["organization"]["code"] == world.orgs["a1"].code
    assert (await read_account(api, world, "a_viewer"))["role"] == "VIEWER"

    # Strictly below, and roles at or below one's own: allowed.
    payload = await mutate(api, "a_admin", UPDATE, {"accountId": account(world, "a1_viewer"), "role": "ADMIN"})
    assert payload["userErrors"] == [] and payload["account"]["role"] == "ADMIN"
    payload = await mutate(api, "a_admin", UPDATE, {"accountId": account(world, "a_viewer"), "role": "OPERATOR"})
    assert payload["userErrors"] == [] and payload["account"]["role"] == "OPERATOR"
    token = await token_of(api, "a_viewer")
    assert (await api.post(VIEWER, token=token))["data"]["viewer"]["role"] == "OPERATOR"


async def test_update_outside_branch_is_not_found(api, world):
    payload = await mutate(api, "a_admin", UPDATE, {"accountId": account(world, "b_viewer"), "name": "改名"})
    assert problems(payload) == [("NOT_FOUND", ["accountId"])]
    payload = await mutate(api, "a_admin", UPDATE, {"accountId": account(world, "a_viewer"), "organizationId": org(world, "b")})
    assert problems(payload) == [("NOT_FOUND", ["organizationId"])]
    assert (await read_account(api, world, "b_viewer"))["name"] == "b_viewer"
    assert (await read_account(api, world, "a_viewer"))["organization"]["code"] == world.orgs["a"].code


async def test_name_change_persists(api, world):
    payload = await mutate(api, "a_admin", UPDATE, {"accountId": account(world, "a_operator"),
                                                    "name": "  新名字  ", "phone": "13912345678"})
    assert payload["userErrors"] == [], payload
    stored = await read_account(api, world, "a_operator")
    assert (stored["name"], stored["phone"]) == ("新名字", "13912345678")
    token = await token_of(api, "a_operator")
    assert (await api.post(VIEWER, token=token))["data"]["viewer"]["name"] == "新名字"
    # Moving within the branch persists as well.
    payload = await mutate(api, "a_admin", UPDATE, {"accountId": account(world, "a_operator"), "organizationId": org(world, "a2")})
    assert payload["userErrors"] == [] and payload["account"]["organization"]["code"] == world.orgs["a2"].code
    assert (await read_account(api, world, "a_operator"))["organization"]["code"] == world.orgs["a2"].code


async def test_failed_update_writes_nothing(api, world):
    token = await token_of(api, "a_operator")
    original = await read_account(api, world, "a_operator")
    attempts = [
        ({"name": "不该保存", "phone": "1", "role": "ADMIN"}, "NOT_ALLOWED"),
        ({"name": "不该保存", "disabled": True, "role": "MEMBER"}, "INVALID"),
        ({"name": "不该保存", "disabled": True, "organizationId": org(world, "b")}, "NOT_FOUND"),
        ({"name": "   "}, "INVALID"),
    ]
    for changes, code in attempts:
        payload = await mutate(api, "a_admin", UPDATE, {"accountId": account(world, "a_operator"), **changes})
        assert codes(payload) == [code], (changes, payload)
        assert await read_account(api, world, "a_operator") == original, changes
    assert await is_signed_in(api, token)


# ------------------------------------------------------------------ accounts()

A_BRANCH = {"a_admin", "a_operator", "a_viewer", "a1_admin", "a1_viewer", "a1_member"}


async def test_accounts_lists_the_branch(api, world):
    async def usernames(actor, **variables):
        result = await api.as_(actor, ACCOUNTS, {"first": 100, **variables})
        assert "errors" not in result, result
        connection = result["data"]["accounts"]
        names = [e["node"]["username"] for e in connection["edges"]]
        assert len(names) == len(set(names))
        return set(names), connection["totalCount"]

    assert await usernames("a_admin", org=org(world, "a"), scope="SUBTREE") == (A_BRANCH, 6)
    assert await usernames("a_admin", org=org(world, "a"), scope="SELF") == ({"a_admin", "a_operator", "a_viewer"}, 3)
    assert await usernames("a_admin", org=org(world, "a1"), scope="SELF") == ({"a1_admin", "a1_viewer", "a1_member"}, 3)
    assert await usernames("a_admin", org=org(world, "a2"), scope="SUBTREE") == (set(), 0)
    assert await usernames("a_admin") == (A_BRANCH, 6)
    # Outside the branch: nothing.
    assert await usernames("a_admin", org=org(world, "b"), scope="SUBTREE") == (set(), 0)
    assert await usernames("a_admin", org=org(world, "root"), scope="SUBTREE") == (set(), 0)
    assert await usernames("a1_admin") == ({"a1_admin", "a1_viewer", "a1_member"}, 3)
    assert await usernames("b_admin") == ({"b_admin", "b_viewer"}, 2)
    everyone, total = await usernames("root_admin", org=org(world, "root"), scope="SUBTREE")
    assert everyone == set(world.accounts) and total == 9


async def test_accounts_pages(api, world):
    seen, after = [], None
    while True:
        result = await api.as_("a_admin", ACCOUNTS, {"first": 4, "after": after})
        assert "errors" not in result, result
        connection = result["data"]["accounts"]
        assert connection["totalCount"] == 6
        seen += [e["node"]["username"] for e in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert len(seen) == 6 and set(seen) == A_BRANCH


async def test_accounts_requires_admin_and_a_sane_page_size(api, world):
    for actor in ["a_viewer", "a_operator", "a1_member"]:
        assert error_codes(await api.as_(actor, ACCOUNTS, {})) == ["FORBIDDEN"], actor
    assert error_codes(await api.post(ACCOUNTS, {})) == ["UNAUTHENTICATED"]
    for first in [101, 0, -1]:
        result = await api.as_("a_admin", ACCOUNTS, {"first": first})
        assert error_codes(result) == ["BAD_USER_INPUT"], (first, result)
    result = await api.as_("a_admin", ACCOUNTS, {"first": 100})
    assert "errors" not in result


# ------------------------------------------------------------------ viewer


async def test_viewer_for_every_role(api, world):
    for username, role, org_key in [("a1_member", "MEMBER", "a1"), ("a_viewer", "VIEWER", "a"),
                                    ("a1_viewer", "VIEWER", "a1"), ("a_operator", "OPERATOR", "a"),
                                    ("a_admin", "ADMIN", "a"), ("root_admin", "ADMIN", "root")]:
        result = await api.as_(username, VIEWER)
        assert "errors" not in result, (username, result)
        member = {"id": gid("Member", world.members["a1_first"])} if role == "MEMBER" else None
        assert result["data"]["viewer"] == {
            "id": account(world, username), "username": username, "name": username, "role": role,
            "mustChangePassword": False, "organization": {"name": world.orgs[org_key].name}, "member": member,
        }, username
    assert await api.post(VIEWER) == {"data": {"viewer": None}}
