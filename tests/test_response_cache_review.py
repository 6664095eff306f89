"""Review of the exact response cache (gql.cache, db.changes): attacks that tried to get a stale
or someone else's response out of it, through the GraphQL endpoint."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, select
from sqlalchemy.util import await_only

from db import models
from db.engine import make_sessionmaker
from db.session import begin_write
from tests.conftest import Api, gid
from tests.test_response_cache import app, app_cache, cached_api, http, ok  # noqa: F401 (fixtures)

ACCOUNTS = """query($org: ID!) { accounts(organizationId: $org, scope: SUBTREE, first: 50) {
  edges { node { username name } } } }"""


async def account_names(api: Api, who: str, organization) -> dict[str, str]:
    result = await api.as_(who, ACCOUNTS, {"org": gid("Organization", organization)})
    assert "errors" not in result, result
    return {e["node"]["username"]: e["node"]["name"] for e in result["data"]["accounts"]["edges"]}


async def test_a_write_racing_a_move_marks_the_branch_its_rows_end_up_in(engine, world, app, cached_api):
    """A write resolves the paths of what it touched at commit, in READ COMMITTED. When a move of
    an ancestor commits between that lookup and the write's commit, the marks go to the old
    chain, while a reader of the new parent's branch already sees the moved rows (and caches
    them, without the write) under a version the write then never moves."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers")
    await account_names(cached_api, "b_admin", world.orgs["b"])  # b_admin signed in, a1 not yet in b
    reached, gate = asyncio.Event(), asyncio.Event()

    def hold_before_marks(_conn, _cursor, statement, _params, _context, _many):
        if statement.lstrip().upper().startswith("INSERT INTO BRANCH_CHANGE"):
            reached.set()
            await_only(gate.wait())

    async with make_sessionmaker(engine)() as session:
        await begin_write(session)
        account = (await session.execute(
            select(models.Account).where(models.Account.id == world.accounts["a1_viewer"].id))).scalar_one()
        account.name = "改过的名字"
        await session.flush()
        connection = await session.connection()
        event.listen(connection.sync_connection, "before_cursor_execute", hold_before_marks)
        commit = asyncio.ensure_future(session.commit())
        try:
            await asyncio.wait_for(reached.wait(), 10)
            # a1 (with the account) moves from a to b, while the write waits between reading
            # the paths of what it touched and writing its marks.
            move = asyncio.ensure_future(ok(
                cached_api, "root_admin", "moveOrganization", "MoveOrganizationInput",
                {"organizationId": gid("Organization", world.orgs["a1"]),
                 "newParentId": gid("Organization", world.orgs["b"]), "codeSuffix": "009",
                 "date": "2024-05-01", "reason": "区划调整"}))
            done, _ = await asyncio.wait({move}, timeout=1.5)
            if move in done:  # the move did not wait for the write: b's reader sees a1 without it
                await move
                seen = await account_names(cached_api, "b_admin", world.orgs["b"])
                assert seen["a1_viewer"] != "改过的名字"
        finally:
            gate.set()
            await commit
        await move
    after = await account_names(cached_api, "b_admin", world.orgs["b"])
    assert after["a1_viewer"] == "改过的名字", "b's reader got the response cached before the write"


async def test_failed_sign_ins_by_anyone_do_not_empty_the_cache(engine, world, app, cached_api):
    """A wrong password changes nothing a reader sees (the failure counter and the lockout are not
    in the schema), yet each attempt marked the account's organization and all its ancestors: a
    caller without any account could keep every cache up to the root cold with a known username."""
    from tests.test_response_cache import dashboard, served

    cache = app_cache(app)
    code = world.orgs["a"].code
    first = await dashboard(cached_api, "a_viewer", code)
    for _ in range(3):
        result = await cached_api.post(
            'mutation { login(input: {username: "a1_viewer", password: "wrong"}) { token } }')
        assert result["data"]["login"]["token"] is None
    hits = served(cache)
    assert await dashboard(cached_api, "a_viewer", code) == first
    assert served(cache) == hits + 1, "a failed sign-in by a stranger moved the branch's version"


def retained(cache) -> int:
    """Bytes the cache holds for its responses: the documents in the keys and the bodies."""
    return sum(len(key[0].encode()) + len(entry.body or b"") for key, entry in cache._store.items())


async def test_the_cache_holds_a_bounded_number_of_bytes(engine, world, app, cached_api):
    """The entry count was bounded (2000), the bytes were not: a signed-in VIEWER could make a
    worker hold 2000 documents of up to 1 MB each (comments cost no token) and as many bodies,
    and is_query's memo 512 more documents. Now a byte budget evicts the least recently used."""
    cache = app_cache(app)
    cache.max_bytes = 2_000_000
    padding = "#" + "x" * 400_000 + "\n"
    for i in range(8):
        result = await cached_api.as_("a_viewer", f"{padding}query Q{i} {{ viewer {{ name }} }}")
        assert "errors" not in result, result
    assert retained(cache) <= 2_000_000



ADDRESS = """query($code: String!) { organization(code: $code) { name address } }"""


async def test_an_organization_written_through_the_orm_after_a_move_marks_its_new_chain(
        engine, world, app, cached_api):
    """An organization loaded (a plain read, no lock) before a move of its ancestor commits and
    changed through the ORM after it: the flush marked the path the object had in memory, the
    old chain, while the readers of the new parent see the change. (The services' ORM writes to
    an organization all add a row with its organization_id too, which is resolved at commit and
    hid this; a plain ORM change of the organization alone shows it.)"""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers")
    a1 = world.orgs["a1"]
    async with make_sessionmaker(engine)() as session:
        await begin_write(session)
        organization = (await session.execute(
            select(models.Organization).where(models.Organization.id == a1.id))).scalar_one()
        moved = await ok(cached_api, "root_admin", "moveOrganization", "MoveOrganizationInput",
                         {"organizationId": gid("Organization", a1), "newParentId": gid("Organization", world.orgs["b"]),
                          "codeSuffix": "009", "date": "2024-05-01", "reason": "区划调整"}, "organization { code }")
        code = moved["organization"]["code"]
        before = await cached_api.as_("b_admin", ADDRESS, {"code": code})
        assert before["data"]["organization"]["address"] != "新地址"
        organization.address = "新地址"
        await session.commit()
    after = await cached_api.as_("b_admin", ADDRESS, {"code": code})
    assert after["data"]["organization"]["address"] == "新地址", "b's reader got the response cached before the write"


async def test_an_ancestors_address_does_not_empty_the_caches_below_it(engine, world, app, cached_api):
    from tests.test_response_cache import dashboard, served

    cache = app_cache(app)
    code = world.orgs["a1"].code
    first = await dashboard(cached_api, "a1_viewer", code)
    await ok(cached_api, "root_admin", "updateOrganization", "UpdateOrganizationInput",
             {"organizationId": gid("Organization", world.orgs["a"]), "address": "新地址"})
    hits = served(cache)
    assert await dashboard(cached_api, "a1_viewer", code) == first
    assert served(cache) == hits + 1


MEMBER_SELF = "{ viewer { name member { name difficulties { kind { code } } } organization { name } } }"
ACCOUNT_LIST = """query($org: ID!) { accounts(organizationId: $org, scope: SUBTREE, first: 50) {
  totalCount edges { node { username name disabled role organization { name } } } } }"""
CHILDREN = """query($code: String!) { organization(code: $code) { children(includeRevoked: true) { name status }
  descendants(first: 20) { totalCount } difficulties(scope: SUBTREE, first: 5) { totalCount } } }"""


async def test_readers_elsewhere_than_the_writer_read_fresh(engine, world, app, cached_api):
    """Writes seen by readers anchored elsewhere than the writer: a MEMBER's self-only view, an
    ADMIN's account list above, a parent's children after a revocation, a reader's own account."""
    api = cached_api

    async def twice(who, document, variables=None):
        first = await api.as_(who, document, variables)
        assert "errors" not in first, first
        assert await api.as_(who, document, variables) == first  # cached now
        return first["data"]

    # A difficulty of the MEMBER's own record, added by an operator of the district above.
    before = await twice("a1_member", MEMBER_SELF)
    await ok(api, "a_operator", "addDifficulty", "AddDifficultyInput",
             {"memberId": gid("Member", world.members["a1_first"]), "kindCode": "1", "recordedOn": "2023-01-15"})
    after = (await api.as_("a1_member", MEMBER_SELF))["data"]
    assert len(after["viewer"]["member"]["difficulties"]) == len(before["viewer"]["member"]["difficulties"]) + 1

    # The root's account list after a1's admin is renamed, disabled and moved by a's admin.
    root = gid("Organization", world.orgs["root"])
    await twice("root_admin", ACCOUNT_LIST, {"org": root})
    await ok(api, "a_admin", "updateAccount", "UpdateAccountInput",
             {"accountId": gid("Account", world.accounts["a1_viewer"]), "name": "新名", "disabled": True,
              "organizationId": gid("Organization", world.orgs["a2"])})
    rows = {e["node"]["username"]: e["node"] for e in
            (await api.as_("root_admin", ACCOUNT_LIST, {"org": root}))["data"]["accounts"]["edges"]}
    assert rows["a1_viewer"]["name"] == "新名" and rows["a1_viewer"]["disabled"]
    assert rows["a1_viewer"]["organization"]["name"] == world.orgs["a2"].name

    # The reader's own account: renamed by an admin above, seen at once through viewer.
    await twice("a_viewer", "{ viewer { name role } }")
    await ok(api, "root_admin", "updateAccount", "UpdateAccountInput",
             {"accountId": gid("Account", world.accounts["a_viewer"]), "name": "新的名字"})
    assert (await api.as_("a_viewer", "{ viewer { name role } }"))["data"]["viewer"]["name"] == "新的名字"

    # The parent's children after a child below is created, then revoked by the root's admin.
    code = world.orgs["a"].code
    await twice("a_viewer", CHILDREN, {"code": code})
    created = await ok(api, "a_admin", "createOrganization", "CreateOrganizationInput",
                       {"parentId": gid("Organization", world.orgs["a1"]), "name": "中共待撤销党小组",
                        "type": "BRANCH", "codeSuffix": "008", "establishedOn": "2020-01-01"}, "organization { id }")
    count = (await api.as_("a_viewer", CHILDREN, {"code": code}))["data"]["organization"]["descendants"]["totalCount"]
    await twice("a_viewer", CHILDREN, {"code": code})
    await ok(api, "root_admin", "revokeOrganization", "RevokeOrganizationInput",
             {"organizationId": created["organization"]["id"], "date": "2024-01-01", "reason": "撤销"})
    now = (await api.as_("a_viewer", CHILDREN, {"code": code}))["data"]["organization"]
    assert now["descendants"]["totalCount"] == count - 1  # revoked ones are not listed by default


async def test_no_response_crosses_to_another_caller(engine, world, app, cached_api):
    """Same document, same variables: another account of the same role and organization, a
    signed-out caller, a token after its password was reset (must change it), after logout."""
    from tests.test_response_cache import DASHBOARD, dashboard

    api, code = cached_api, world.orgs["a"].code
    async with make_sessionmaker(engine)() as session, session.begin():
        from tests.factories import make_account
        other = await make_account(session, world.orgs["a"], "a_viewer2", "VIEWER")
    for _ in range(3):
        mine = await api.as_("a_viewer", "{ viewer { username } }")
        await dashboard(api, "a_viewer", code)
    theirs = await api.as_("a_viewer2", "{ viewer { username } }")
    assert mine["data"]["viewer"]["username"] == "a_viewer"
    assert theirs["data"]["viewer"]["username"] == "a_viewer2"
    # Signed out: the fast path needs a token, the view no key without an account.
    anonymous = await api.post(DASHBOARD, {"code": code})
    assert anonymous.get("errors") and not (anonymous.get("data") or {}).get("organization")
    # A reset password: the old token (if still live) must not get the cached dashboard.
    token = api.tokens["a_viewer"]
    await ok(api, "a_admin", "resetPassword", "ResetPasswordInput",
             {"accountId": gid("Account", world.accounts["a_viewer"]), "temporaryPassword": "Tempor4ry-Pass-2024"})
    result = await api.post(DASHBOARD, {"code": code}, token)
    assert result.get("errors") and not (result.get("data") or {}).get("organization"), result
    assert other
