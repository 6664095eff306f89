"""Numbers right on both engines: member.completeness in whole percent, the same in SQL and Python
(the demo's bulk path included), and `python -m db check [--repair]` on a live database."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from db import demo, models
from db.engine import make_engine, make_sessionmaker
from db.migrate import upgrade
from db.services.members import COMPLETENESS_FIELDS, STEP_FIELDS, completeness_percent, completeness_percent_of
from db.tree import HEALTHY, invariant_violations
from tests.conftest import POSTGRES_URL, gid, temporary_postgres_database
from tests.factories import make_member

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 1, 15)


def test_completeness_in_python_is_whole_percent_rounded_down():
    fields = list(COMPLETENESS_FIELDS)
    assert len(fields) == 6
    expected = {0: 0, 1: 16, 2: 33, 3: 50, 4: 66, 5: 83, 6: 100}  # 100/6 = 16.67, 500/6 = 83.33
    for filled, percent in expected.items():
        values = {column: "x" for column in fields[:filled]} | {"category": "APPLICANT"}
        assert completeness_percent_of(values) == percent
        assert isinstance(completeness_percent_of(values), int)
    # A full member's record should have its development dates too: 10 fields.
    full = {column: "x" for column in fields} | {"category": "FULL", "joined_on": "x", "confirmed_on": "x"}
    assert completeness_percent_of(full) == 80


async def test_completeness_in_sql_equals_python_with_a_remainder(engine, world, api):
    """5 of 6 fields: 83 stored, 83 recomputed in SQL, 83 read; completenessBelow agrees."""
    async with make_sessionmaker(engine)() as session, session.begin():
        member = await make_member(session, world.orgs["b1"], name="余数", phone=None, native_place="湖南长沙",
                                   education_code="21", job_position_code=None, applied_on=dt.date(2008, 3, 1),
                                   category="APPLICANT", joined_on=None, confirmed_on=None)
        # ethnicity, native place, education, applied: 4 of 6 = 66.67 -> 66.
        assert member.completeness == 66
    async with make_sessionmaker(engine)() as session:
        rows = dict((await session.execute(select(models.Member.id, completeness_percent()))).all())
        stored = dict((await session.execute(select(models.Member.id, models.Member.completeness))).all())
    assert rows == stored and rows[member.id] == 66
    assert all(isinstance(value, int) for value in rows.values())
    # Stored as an integer on both engines (SQLite kept REAL 66.666… before).
    async with engine.connect() as connection:
        assert (await connection.execute(
            text("SELECT completeness FROM member WHERE id = :id"), {"id": member.id})).scalar_one() == 66
    result = await api.as_("root_admin", """query($id: ID!) { member(id: $id) { completeness { percent } } }""",
                           {"id": gid("Member", member)})
    assert result == {"data": {"member": {"completeness": {"percent": 66}}}}
    below = """query($n: Int) { members(filter: {completenessBelow: $n, scope: SUBTREE}) { edges { node { name } } } }"""
    names = lambda r: {e["node"]["name"] for e in r["data"]["members"]["edges"]}  # noqa: E731
    assert "余数" in names(await api.as_("root_admin", below, {"n": 67}))
    assert "余数" not in names(await api.as_("root_admin", below, {"n": 66}))


async def test_demo_completeness_reads_on_both_engines(engine, api):
    """The demo's bulk UPDATE gives whole percents equal to Python's; reading them is no error."""
    await demo.generate(engine, orgs=8, members=120, today=TODAY)
    async with make_sessionmaker(engine)() as session:
        assert await invariant_violations(session) == HEALTHY
        members = (await session.execute(select(models.Member))).scalars().all()
    assert all(0 <= m.completeness <= 100 for m in members)
    for member in members:
        values = {column: getattr(member, column) for column in (*COMPLETENESS_FIELDS, *STEP_FIELDS, "category")}
        assert member.completeness == completeness_percent_of(values), member.id
    assert any(m.completeness < 100 for m in members), "the demo should have incomplete members"


async def test_invariant_sees_a_stale_completeness(engine, world):
    """The teardown invariant covers completeness: a wrong stored percent is reported."""
    async with make_sessionmaker(engine)() as session, session.begin():
        await session.execute(update(models.Member).where(models.Member.id == world.members["a1_first"].id)
                              .values(completeness=1))
    async with make_sessionmaker(engine)() as session:
        assert (await invariant_violations(session))["completeness"] == 1
    async with make_sessionmaker(engine)() as session, session.begin():
        await session.execute(update(models.Member).values(completeness=completeness_percent()))


# ------------------------------------------------------------------ python -m db check


def cli(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "DANGJIAN_PASSWORD_PROFILE": "cheapest", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "db", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


async def _check_and_repair(url: str) -> None:
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        await demo.generate(engine, orgs=12, members=150, today=TODAY)
        healthy = cli(url, "check")
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        assert "检查通过" in healthy.stdout

        async with engine.connect() as connection:
            leaf = (await connection.execute(text(
                "SELECT min(id) FROM organization o WHERE NOT EXISTS "
                "(SELECT 1 FROM organization c WHERE c.parent_id = o.id)"))).scalar_one()
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE organization SET direct_member_count = direct_member_count + 7 "
                                          "WHERE id IN (2, 3)"))
            await connection.execute(text("UPDATE member SET completeness = 99 WHERE id = 5"))
            # Member 7's status history says otherwise than its row (both statuses are counted).
            await connection.execute(text(
                "UPDATE member_status_step SET status = CASE WHEN status = 'ACTIVE' THEN 'FLOWING_OUT' "
                "ELSE 'ACTIVE' END WHERE member_id = 7"))
            # A subtree delta nobody's member write made: the leaf's subtree count is 5 off.
            await connection.execute(text("INSERT INTO member_count_delta (organization_id, delta) VALUES (:id, 5)"),
                                     {"id": leaf})
            await connection.execute(text("UPDATE organization SET depth = depth + 1 WHERE id = :id"), {"id": leaf})
        broken = cli(url, "check")
        assert broken.returncode == 1
        assert "错误 member_count: 2 行" in broken.stdout and "organization.id: 2, 3" in broken.stdout
        assert "错误 completeness: 1 行" in broken.stdout and "member.id: 5" in broken.stdout
        assert "错误 history: 1 行" in broken.stdout and "member.id: 7）" in broken.stdout
        assert "错误 depth: 1 行" in broken.stdout and f"organization.id: {leaf}）" in broken.stdout
        assert "正常 path" in broken.stdout
        assert "错误 subtree_member_count" in broken.stdout and f"{leaf}" in broken.stdout.split(
            "错误 subtree_member_count")[1].splitlines()[0]
        assert "检查未通过" in broken.stderr

        repaired = cli(url, "check", "--repair")
        # Rollups and completeness are recomputed; a wrong depth is left for a person to look at.
        assert repaired.returncode == 1, repaired.stdout
        assert "已重新计算" in repaired.stdout
        async with make_sessionmaker(engine)() as session:
            found = await invariant_violations(session)
        assert found == {**HEALTHY, "depth": 1}

        async with engine.begin() as connection:
            await connection.execute(text("UPDATE organization SET depth = depth - 1 WHERE id = :id"), {"id": leaf})
        again = cli(url, "check")
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        await engine.dispose()


async def test_db_check_and_repair_on_sqlite(tmp_path):
    await _check_and_repair(f"sqlite+aiosqlite:///{tmp_path}/live.db")


@pytest.mark.skipif(POSTGRES_URL is None, reason="no PostgreSQL")
async def test_db_check_and_repair_on_postgresql():
    async with temporary_postgres_database("dangjian_check") as url:
        await _check_and_repair(url)
