"""A MEMBER account is its member record's: the database refuses a MEMBER account without one
(and a member link on any other role), the services say so as userErrors, and the branch of a
MEMBER is its member record even if such a row ever existed: without one it reaches nothing."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from db import models
from db.branch import Branch, accounts, hanging, members, organizations
from db.engine import make_engine, make_sessionmaker
from db.migrate import upgrade
from gql.auth.viewer import Viewer
from tests.conftest import POSTGRES_URL, gid, temporary_postgres_database
from tests.test_accounts import CREATE, UPDATE, account, mutate, new_account, problems

INSERT = ("INSERT INTO account (username, password_hash, name, role, organization_id, member_id, disabled, "
          "must_change_password, failed_logins, created_at) VALUES (:u, 'x', 'x', :role, :org, :member, "
          "false, false, 0, CURRENT_TIMESTAMP)")


async def _insert(engine, role, org_id, member_id):
    async with engine.begin() as connection:
        await connection.execute(text(INSERT), {"u": f"u{uuid.uuid4().hex[:8]}", "role": role, "org": org_id,
                                                "member": member_id})


async def assert_checked(engine, org_id, member_id):
    with pytest.raises(IntegrityError):
        await _insert(engine, "MEMBER", org_id, None)
    with pytest.raises(IntegrityError):
        await _insert(engine, "VIEWER", org_id, member_id)
    await _insert(engine, "VIEWER", org_id, None)


async def test_the_database_refuses_a_member_account_without_its_member(engine, world):
    await assert_checked(engine, world.orgs["a1"].id, world.members["a1_second"].id)


async def _migrated(url):
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    async with engine.begin() as connection:
        org = (await connection.execute(text(
            "INSERT INTO organization (path, depth, code, name, type, status, requires_approval, version, "
            "created_at, direct_member_count) VALUES ('/1/', 0, '001', 'root', 'COMMITTEE', 'ACTIVE', false, 1, "
            "CURRENT_TIMESTAMP, 0) RETURNING id"))).scalar_one()
        member = (await connection.execute(text(
            "INSERT INTO member (organization_id, name, id_number, gender, birth_date, category, affiliation, "
            "status, completeness, created_at, updated_at, version) VALUES (:o, 'm', '110101199001011234', 'MALE', "
            "'1990-01-01', 'FULL', 'DIRECT', 'ACTIVE', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1) RETURNING id"),
            {"o": org})).scalar_one()
    return engine, org, member


async def test_the_migrated_sqlite_database_refuses_it_too(tmp_path):
    engine, org, member = await _migrated(f"sqlite+aiosqlite:///{tmp_path}/migrated.db")
    try:
        await assert_checked(engine, org, member)
    finally:
        await engine.dispose()


@pytest.mark.skipif(POSTGRES_URL is None, reason="no PostgreSQL")
async def test_the_migrated_postgresql_database_refuses_it_too():
    async with temporary_postgres_database("dangjian_ck") as url:
        engine, org, member = await _migrated(url)
        try:
            await assert_checked(engine, org, member)
        finally:
            await engine.dispose()


async def test_accounts_keep_the_member_link_rule_as_user_errors(api, world):
    member = gid("Member", world.members["a1_second"])
    payload = await mutate(api, "a_admin", CREATE, new_account(world, "a1", "staff_with_member", "VIEWER", memberId=member))
    assert problems(payload) == [("INVALID", ["memberId"])]
    payload = await mutate(api, "a_admin", UPDATE, {"accountId": account(world, "a1_member"), "role": "VIEWER"})
    assert problems(payload) == [("INVALID", ["role"])]
    payload = await mutate(api, "a_admin", UPDATE, {"accountId": account(world, "a1_viewer"), "role": "MEMBER"})
    assert problems(payload) == [("INVALID", ["role"])]


async def test_a_member_branch_without_a_member_reaches_nothing(engine, world):
    """Fail closed in code too: a MEMBER viewer whose member id is missing gets an empty branch,
    never its organization's subtree."""
    viewer = Viewer(account_id=world.accounts["a1_member"].id, role="MEMBER", organization_id=world.orgs["a"].id,
                    organization_path=world.orgs["a"].path, member_id=None, must_change_password=False)
    branch = viewer.branch
    assert branch.is_self_only and branch.is_empty
    assert not branch.holds_path(world.orgs["a"].path) and not branch.holds_path(world.orgs["a1"].path)
    async with make_sessionmaker(engine)() as session:
        for stmt in (organizations(branch), members(branch), accounts(branch),
                     hanging(branch, models.Difficulty), hanging(branch, models.OrganizationEvent)):
            count = await session.scalar(select(func.count()).select_from(stmt.subquery()))
            assert count == 0, stmt
        # The same account with its member reaches its own record only.
        own = Branch.of_member(world.orgs["a1"].path, world.members["a1_first"].id)
        assert await session.scalar(select(func.count()).select_from(members(own).subquery())) == 1
        assert await session.scalar(select(func.count()).select_from(organizations(own).subquery())) == 1
