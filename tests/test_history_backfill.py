"""Migration 0006 gives existing MOVED events the ids of their old and new parents, so that
history names them only to callers whose branch holds them (db.services.reads.events)."""
from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import text

from db.engine import make_engine
from db.migrate import alembic_config

ORGS = [(1, None, "/1/", 0, "001", "根"), (2, 1, "/1/2/", 1, "001001", "甲"), (3, 1, "/1/3/", 1, "001002", "乙"),
        (4, 3, "/1/3/4/", 2, "001002001", "某支部"), (5, 3, "/1/3/5/", 2, "001002002", "另一支部")]


async def test_the_migration_backfills_the_parents_of_moved_events(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/history.db"
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0004")
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            for id_, parent, path, depth, code, name in ORGS:
                await connection.execute(text(
                    "INSERT INTO organization (id, parent_id, path, depth, code, name, type, status, "
                    "requires_approval, version, created_at, direct_member_count) VALUES (:i, :p, :path, :d, :c, "
                    ":n, 'BRANCH', 'ACTIVE', 0, 1, CURRENT_TIMESTAMP, 0)"),
                    {"i": id_, "p": parent, "path": path, "d": depth, "c": code, "n": name})
            # 4 moved from 甲 (2) to 乙 (3) on 2023-09-01, with its parent periods.
            await connection.execute(text(
                "INSERT INTO organization_parent_period (organization_id, parent_id, valid_from, valid_to) VALUES "
                "(4, 2, '2000-01-01', '2023-09-01'), (4, 3, '2023-09-01', NULL)"))
            # 5 has no periods (older data): the names decide, where they still name an organization.
            await connection.execute(text(
                "INSERT INTO organization_event (id, organization_id, kind, date, before, after) VALUES "
                "(1, 4, 'MOVED', '2023-09-01', '甲', '乙'), (2, 5, 'MOVED', '2023-09-02', '已更名的组织', '乙'), "
                "(3, 4, 'RENAMED', '2023-10-01', '旧名', '某支部')"))
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
        async with engine.connect() as connection:
            rows = (await connection.execute(text(
                "SELECT id, before_organization_id, after_organization_id FROM organization_event ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [(1, 2, 3), (2, None, 3), (3, None, None)]
    finally:
        await engine.dispose()
