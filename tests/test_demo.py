"""The demo generator builds a tree that keeps the app's invariants (paths, depths, codes, names,
ID numbers, placements)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from db import demo, idnumber, models
from db.engine import make_engine

TODAY = dt.date(2026, 1, 15)


async def _fresh(tmp_path, name: str = "t.db"):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/{name}")
    async with engine.begin() as conn:
        await conn.run_sync(models.Base.metadata.create_all)
    return engine


async def _scalar(engine, sql: str):
    async with engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar()


async def _rows(engine, sql: str):
    async with engine.connect() as conn:
        return (await conn.execute(text(sql))).all()


@pytest.mark.asyncio
async def test_demo_tree_and_members_keep_the_invariants(tmp_path):
    engine = await _fresh(tmp_path)
    try:
        summary = await demo.generate(engine, orgs=60, members=600, today=TODAY)
        assert summary == {"organizations": 60, "members": 600, "root_id": 1}

        for table, expected in [("organization", 60), ("organization_parent_period", 60),
                                ("organization_event", 60), ("member", 600), ("member_placement", 600)]:
            assert await _scalar(engine, f"SELECT count(*) FROM {table}") == expected, table

        # The root.
        assert await _rows(engine, "SELECT id, path, depth FROM organization WHERE parent_id IS NULL") == [(1, "/1/", 0)]
        assert await _scalar(engine, "SELECT code GLOB '[0-9]*' AND length(code) >= 1 FROM organization WHERE id = 1")
        # Paths, depths, codes.
        assert await _scalar(engine, """
            SELECT count(*) FROM organization o JOIN organization p ON p.id = o.parent_id
            WHERE o.path != p.path || o.id || '/' OR o.depth != p.depth + 1""") == 0
        assert await _scalar(engine, """
            SELECT count(*) FROM organization
            WHERE depth != length(path) - length(replace(path, '/', '')) - 2""") == 0
        assert await _scalar(engine, """
            SELECT count(*) FROM organization o JOIN organization p ON p.id = o.parent_id
            WHERE length(o.code) != length(p.code) + 3
               OR substr(o.code, 1, length(p.code)) != p.code
               OR substr(o.code, length(p.code) + 1) NOT GLOB '[0-9][0-9][0-9]'""") == 0
        assert await _scalar(engine, "SELECT count(DISTINCT name) FROM organization") == 60
        assert await _scalar(engine, "SELECT count(DISTINCT code) FROM organization") == 60
        assert await _scalar(engine, "SELECT max(depth) FROM organization") >= 3
        # Branches are leaves; dates never precede the parent's.
        assert await _scalar(engine, """
            SELECT count(*) FROM organization o JOIN organization p ON p.id = o.parent_id
            WHERE p.type IN ('BRANCH', 'JOINT_BRANCH') OR o.established_on < p.established_on""") == 0
        assert await _scalar(engine, """
            SELECT count(*) FROM organization o JOIN organization_parent_period pp ON pp.organization_id = o.id
            JOIN organization_event e ON e.organization_id = o.id
            WHERE pp.parent_id IS NOT o.parent_id OR pp.valid_from != o.established_on OR pp.valid_to IS NOT NULL
               OR e.kind != 'CREATED' OR e.date != o.established_on OR e.after != o.name""") == 0
        types = {t for (t,) in await _rows(engine, "SELECT DISTINCT type FROM organization")}
        assert {"COMMITTEE", "GENERAL_BRANCH", "BRANCH"} <= types
        # Most members sit in branches.
        in_branches = await _scalar(engine, """
            SELECT count(*) FROM member m JOIN organization o ON o.id = m.organization_id
            WHERE o.type IN ('BRANCH', 'JOINT_BRANCH')""")
        assert in_branches >= 0.9 * 600

        # Members: valid, unique ID numbers matching the stored birth date and gender.
        rows = await _rows(engine, """
            SELECT id_number, birth_date, gender, category, applied_on, activist_on, candidate_on, joined_on,
                   confirmed_on FROM member""")
        assert len({r[0] for r in rows}) == 600
        for number, birth, gender, category, *dates in rows:
            normalized, parsed_birth, parsed_gender = idnumber.parse(number)
            assert normalized == number
            assert parsed_birth.isoformat() == birth and parsed_gender == gender
            birth_date = dt.date.fromisoformat(birth)
            present = [dt.date.fromisoformat(d) for d in dates if d is not None]
            assert present == sorted(present) and present, (number, dates)
            assert present[0] >= birth_date.replace(year=birth_date.year + 18, day=min(birth_date.day, 28))
            assert present[-1] <= TODAY
            assert (dates[3] is not None) == (category in ("PROBATIONARY", "FULL"))
            assert (dates[4] is not None) == (category == "FULL")
        # One open placement each, at the member's organization.
        assert await _scalar(engine, """
            SELECT count(*) FROM member m
            WHERE (SELECT count(*) FROM member_placement mp
                   WHERE mp.member_id = m.id AND mp.valid_to IS NULL AND mp.organization_id = m.organization_id) != 1
               OR (SELECT count(*) FROM member_placement mp WHERE mp.member_id = m.id) != 1""") == 0
    finally:
        await engine.dispose()


@pytest.mark.asyncio
@pytest.mark.parametrize("orgs,members", [(1, 5), (2, 0), (5, 20), (30, 300)])
async def test_demo_small_sizes(tmp_path, orgs, members):
    engine = await _fresh(tmp_path)
    try:
        summary = await demo.generate(engine, orgs=orgs, members=members, today=TODAY)
        assert summary["organizations"] == orgs
        assert await _scalar(engine, "SELECT count(*) FROM organization") == orgs
        assert await _scalar(engine, "SELECT count(*) FROM member") == members
        if orgs >= 30:
            assert await _scalar(engine, "SELECT max(depth) FROM organization") >= 3
    finally:
        await engine.dispose()


@pytest.mark.asyncio
async def test_demo_is_deterministic_and_needs_an_empty_database(tmp_path):
    first, second = await _fresh(tmp_path, "a.db"), await _fresh(tmp_path, "b.db")
    try:
        await demo.generate(first, orgs=40, members=200, seed=7, today=TODAY)
        await demo.generate(second, orgs=40, members=200, seed=7, today=TODAY)
        sql = "SELECT o.name, o.code, m.name, m.id_number FROM member m JOIN organization o ON o.id = m.organization_id ORDER BY m.id"
        assert await _rows(first, sql) == await _rows(second, sql)
        with pytest.raises(ValueError):
            await demo.generate(first, orgs=10, members=10)
        assert await _scalar(first, "SELECT count(*) FROM organization") == 40
    finally:
        await first.dispose()
        await second.dispose()


def test_cn_number():
    assert [demo.cn_number(n) for n in (1, 10, 11, 20, 21, 100, 105, 110, 119, 999, 1000, 1005)] == [
        "一", "十", "十一", "二十", "二十一", "一百", "一百零五", "一百一十", "一百一十九", "九百九十九", "一千", "一千零五"]
