"""Signing in through the GraphQL endpoint: bearer tokens, lockout, logout, password change,
rehash on login, ID-number masking by role, disabled accounts."""
from __future__ import annotations

import datetime as dt

import argon2
from sqlalchemy import select, update

from db import models
from tests.conftest import PROTECTED, is_signed_in, error_codes, gid
from tests.factories import PASSWORD

LOGIN = """mutation($u: String!, $p: String!) {
  login(input: {username: $u, password: $p}) {
    token expiresAt account { username role } userErrors { field message code }
  }
}"""
VIEWER = "{ viewer { id username role mustChangePassword } }"
LOGOUT = "mutation { logout { ok userErrors { field message code } } }"
CHANGE_PASSWORD = """mutation($c: String!, $n: String!) {
  changePassword(input: {currentPassword: $c, newPassword: $n}) { ok userErrors { field message code } }
}"""
NEW_PASSWORD = "Neues2Passwort"


async def login(api, username: str, password: str = PASSWORD) -> dict:
    """A fresh sign-in (never the Api's cached token); the login payload."""
    result = await api.post(LOGIN, {"u": username, "p": password})
    assert "errors" not in result, result
    return result["data"]["login"]


async def token_of(api, username: str, password: str = PASSWORD) -> str:
    payload = await login(api, username, password)
    assert payload["token"], payload
    return payload["token"]


def failure(payload: dict) -> tuple:
    """What a failed sign-in answers, for comparing two failures."""
    assert payload["token"] is None and payload["expiresAt"] is None and payload["account"] is None, payload
    assert payload["userErrors"], payload
    return tuple((e["code"], e["message"], tuple(e["field"] or ())) for e in payload["userErrors"])


async def set_account(engine, username: str, **values) -> None:
    async with engine.begin() as c:
        await c.execute(update(models.Account).where(models.Account.username == username).values(**values))


async def account_column(engine, username: str, column):
    async with engine.connect() as c:
        return (await c.execute(select(column).where(models.Account.username == username))).scalar_one()




# ------------------------------------------------------------------ tokens


async def test_login_returns_opaque_token_that_works_as_bearer(api, world):
    before = dt.datetime.now(dt.timezone.utc)
    payload = await login(api, "a_admin")
    assert payload["userErrors"] == []
    token = payload["token"]
    assert isinstance(token, str) and len(token) >= 32
    assert "a_admin" not in token and "Account" not in token
    expires = dt.datetime.fromisoformat(payload["expiresAt"].replace("Z", "+00:00"))
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.timezone.utc)
    assert before < expires <= before + dt.timedelta(days=31)
    assert payload["account"] == {"username": "a_admin", "role": "ADMIN"}

    result = await api.post(VIEWER, token=token)
    assert result["data"]["viewer"] == {"id": gid("Account", world.accounts["a_admin"]), "username": "a_admin",
                                        "role": "ADMIN", "mustChangePassword": False}
    result = await api.post('{ organization(code: "001001") { name } }', token=token)
    assert result == {"data": {"organization": {"name": "中共示范市甲区委员会"}}}

    # Every sign-in gets its own token.
    assert await token_of(api, "a_admin") != token


async def test_missing_or_garbage_token_is_unauthenticated(api, world):
    assert error_codes(await api.post(PROTECTED)) == ["UNAUTHENTICATED"]
    assert error_codes(await api.post(PROTECTED, token="garbage")) == ["UNAUTHENTICATED"]
    token = await token_of(api, "a_admin")
    assert error_codes(await api.post(PROTECTED, token=token + "x")) == ["UNAUTHENTICATED"]
    response = await api.http.post("/graphql", json={"query": PROTECTED}, headers={"Authorization": token})
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]
    # viewer is public: null when the token is not a live one.
    assert (await api.post(VIEWER, token="garbage"))["data"] == {"viewer": None}
    assert (await api.post(VIEWER))["data"] == {"viewer": None}


async def test_expired_token_is_unauthenticated(api, world, engine):
    token = await token_of(api, "a_operator")
    assert await is_signed_in(api, token)
    async with engine.begin() as c:
        await c.execute(update(models.AccessToken)
                        .where(models.AccessToken.account_id == world.accounts["a_operator"].id)
                        .values(expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)))
    assert error_codes(await api.post(PROTECTED, token=token)) == ["UNAUTHENTICATED"]
    assert (await api.post(VIEWER, token=token))["data"] == {"viewer": None}
    # A fresh sign-in works again.
    assert await is_signed_in(api, await token_of(api, "a_operator"))


async def test_token_is_stored_only_as_a_hash(api, world, engine):
    token = await token_of(api, "a_viewer")
    async with engine.connect() as c:
        rows = (await c.execute(select(models.AccessToken.__table__))).mappings().all()
    mine = [r for r in rows if r["account_id"] == world.accounts["a_viewer"].id]
    assert len(mine) == 1
    for row in rows:
        for value in row.values():
            assert token not in str(value)
    assert mine[0]["token_hash"] != token


# ------------------------------------------------------------------ failures and lockout


async def test_wrong_password_and_unknown_username_answer_alike(api, world):
    wrong = failure(await login(api, "a_admin", "Wrong0password"))
    unknown = failure(await login(api, "no_such_user", "Wrong0password"))
    unknown_right_password = failure(await login(api, "no_such_user", PASSWORD))
    assert wrong == unknown == unknown_right_password
    assert all(code == "INVALID" for code, _, _ in wrong)


async def test_five_wrong_passwords_lock_the_account_for_15_minutes(api, world, engine):
    wrong = failure(await login(api, "a_viewer", "Wrong0password"))
    # Four failures do not lock, and a success resets the count.
    for _ in range(3):
        await login(api, "a_viewer", "Wrong0password")
    assert (await login(api, "a_viewer"))["token"]
    for _ in range(4):
        failure(await login(api, "a_viewer", "Wrong0password"))
    assert (await login(api, "a_viewer"))["token"]

    for _ in range(5):
        assert failure(await login(api, "a_viewer", "Wrong0password")) == wrong
    # The 6th attempt, with the right password, fails with the same answer.
    assert failure(await login(api, "a_viewer")) == wrong
    locked_until = await account_column(engine, "a_viewer", models.Account.locked_until)
    remaining = locked_until - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(minutes=14) < remaining <= dt.timedelta(minutes=15, seconds=5)
    # Other accounts are not affected.
    assert (await login(api, "a_operator"))["token"]

    await set_account(engine, "a_viewer", locked_until=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1))
    payload = await login(api, "a_viewer")
    assert payload["token"] and payload["userErrors"] == []
    assert await is_signed_in(api, payload["token"])


async def test_disabled_account_cannot_sign_in(api, world, engine):
    wrong = failure(await login(api, "b_viewer", "Wrong0password"))
    token = await token_of(api, "b_viewer")
    await set_account(engine, "b_viewer", disabled=True)
    assert failure(await login(api, "b_viewer")) == wrong
    # A token taken before the account was disabled does not sign it in either.
    assert error_codes(await api.post(PROTECTED, token=token)) == ["UNAUTHENTICATED"]
    await set_account(engine, "b_viewer", disabled=False)
    assert (await login(api, "b_viewer"))["token"]


# ------------------------------------------------------------------ logout and password change


async def test_logout_revokes_the_accounts_tokens(api, world):
    first = await token_of(api, "a1_admin")
    second = await token_of(api, "a1_admin")
    other = await token_of(api, "a1_viewer")
    result = await api.post(LOGOUT, token=first)
    assert result["data"]["logout"] == {"ok": True, "userErrors": []}
    assert error_codes(await api.post(PROTECTED, token=first)) == ["UNAUTHENTICATED"]
    assert error_codes(await api.post(PROTECTED, token=second)) == ["UNAUTHENTICATED"]
    assert await is_signed_in(api, other)
    # Signed out, logout itself is refused.
    assert error_codes(await api.post(LOGOUT)) == ["UNAUTHENTICATED"]
    # Signing in again works.
    assert await is_signed_in(api, await token_of(api, "a1_admin"))


async def test_change_password_revokes_tokens_and_switches_password(api, world):
    token = await token_of(api, "a_operator")
    other = await token_of(api, "a_operator")
    result = await api.post(CHANGE_PASSWORD, {"c": PASSWORD, "n": NEW_PASSWORD}, token=token)
    assert result["data"]["changePassword"] == {"ok": True, "userErrors": []}, result
    assert error_codes(await api.post(PROTECTED, token=token)) == ["UNAUTHENTICATED"]
    assert error_codes(await api.post(PROTECTED, token=other)) == ["UNAUTHENTICATED"]
    failure(await login(api, "a_operator", PASSWORD))
    assert await is_signed_in(api, await token_of(api, "a_operator", NEW_PASSWORD))


async def test_change_password_with_wrong_current_password(api, world):
    token = await token_of(api, "a_operator")
    result = await api.post(CHANGE_PASSWORD, {"c": "Wrong0password", "n": NEW_PASSWORD}, token=token)
    payload = result["data"]["changePassword"]
    assert payload["ok"] is False
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID", ["currentPassword"])]
    # Nothing changed: the token still works and the old password too.
    assert await is_signed_in(api, token)
    assert (await login(api, "a_operator"))["token"]
    failure(await login(api, "a_operator", NEW_PASSWORD))


async def test_change_password_rejects_weak_new_password(api, world):
    token = await token_of(api, "a1_viewer")
    for weak in ["short1a", "abcdefghijk", "1234567890123", ""]:
        result = await api.post(CHANGE_PASSWORD, {"c": PASSWORD, "n": weak}, token=token)
        payload = result["data"]["changePassword"]
        assert payload["ok"] is False, weak
        assert [e["code"] for e in payload["userErrors"]] == ["INVALID"], (weak, payload)
        assert payload["userErrors"][0]["field"] == ["newPassword"], (weak, payload)
    assert await is_signed_in(api, token)
    assert (await login(api, "a1_viewer"))["token"]


async def test_change_password_requires_sign_in(api, world):
    result = await api.post(CHANGE_PASSWORD, {"c": PASSWORD, "n": NEW_PASSWORD})
    assert error_codes(result) == ["UNAUTHENTICATED"]


# ------------------------------------------------------------------ rehash


async def test_login_rehashes_a_hash_with_other_parameters(api, world, engine):
    old_hasher = argon2.PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    old_hash = old_hasher.hash(PASSWORD)
    await set_account(engine, "b_admin", password_hash=old_hash)

    payload = await login(api, "b_admin")
    assert payload["token"] and payload["userErrors"] == []
    new_hash = await account_column(engine, "b_admin", models.Account.password_hash)
    assert new_hash != old_hash
    parameters = argon2.extract_parameters(new_hash)
    cheapest = argon2.profiles.CHEAPEST
    assert (parameters.memory_cost, parameters.time_cost) == (cheapest.memory_cost, cheapest.time_cost)
    assert argon2.PasswordHasher.from_parameters(cheapest).verify(new_hash, PASSWORD)

    # Signing in still works, and a current hash is left alone.
    assert (await login(api, "b_admin"))["token"]
    assert await account_column(engine, "b_admin", models.Account.password_hash) == new_hash


# ------------------------------------------------------------------ ID numbers by role

MEMBER_ID_NUMBER = "query($id: ID!) { member(id: $id) { idNumber } }"
ORG_MEMBER_ID_NUMBERS = """query($code: String!) {
  organization(code: $code) { members(first: 10) { edges { node { name idNumber } } } }
}"""


def masked(id_number: str) -> str:
    return id_number[:3] + "*" * 13 + id_number[-2:]


async def test_id_numbers_are_masked_to_viewers(api, world):
    member = world.members["a1_first"]
    full = member.id_number
    assert len(full) == 18
    for username in ["a_viewer", "a1_viewer", "root_admin", "a_admin", "a_operator", "a1_admin"]:
        result = await api.as_(username, MEMBER_ID_NUMBER, {"id": gid("Member", member)})
        assert "errors" not in result, (username, result)
        expected = masked(full) if username.endswith("viewer") else full
        assert result["data"]["member"] == {"idNumber": expected}, username

    # In lists as well.
    a1_code = world.orgs["a1"].code
    numbers = {m.name: m.id_number for k, m in world.members.items() if k.startswith("a1_")}
    for username, transform in [("a_viewer", masked), ("a_operator", lambda s: s)]:
        result = await api.as_(username, ORG_MEMBER_ID_NUMBERS, {"code": a1_code})
        assert "errors" not in result, result
        got = {e["node"]["name"]: e["node"]["idNumber"] for e in result["data"]["organization"]["members"]["edges"]}
        assert got == {name: transform(n) for name, n in numbers.items()}, username


async def test_member_sees_its_own_id_number_in_full(api, world):
    member = world.members["a1_first"]
    result = await api.as_("a1_member", "{ viewer { role member { id name idNumber } } }")
    assert "errors" not in result, result
    assert result["data"]["viewer"] == {"role": "MEMBER", "member": {
        "id": gid("Member", member), "name": "李明", "idNumber": member.id_number}}
    result = await api.as_("a1_member", MEMBER_ID_NUMBER, {"id": gid("Member", member)})
    assert "errors" not in result, result
    assert result["data"]["member"] == {"idNumber": member.id_number}
