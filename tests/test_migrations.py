"""The Alembic migrations build exactly the schema of db.models, on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from db import models
from db.engine import make_engine
from db.migrate import upgrade
from tests.conftest import POSTGRES_URL, temporary_postgres_database


# Reflection cannot compare expression indexes, so their presence is checked by name.
EXPRESSION_INDEXES = {"ix_member_joined_asc", "ix_member_joined_desc"}
INDEX_NAMES = {"sqlite": "SELECT name FROM sqlite_master WHERE type = 'index'",
               "postgresql": "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"}

pytestmark = pytest.mark.filterwarnings("ignore:.*expression-based index")


async def _differences(url: str) -> list:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            names = set((await connection.exec_driver_sql(INDEX_NAMES[engine.dialect.name])).scalars())
            missing = [f"missing index {name}" for name in sorted(EXPRESSION_INDEXES - names)]
            return missing + await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), models.Base.metadata))
    finally:
        await engine.dispose()


async def test_sqlite_migrations_match_models(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/migrated.db"
    await asyncio.to_thread(upgrade, url)
    await asyncio.to_thread(upgrade, url)  # idempotent
    assert await _differences(url) == []


@pytest.mark.skipif(POSTGRES_URL is None, reason="no PostgreSQL")
async def test_postgresql_migrations_match_models():
    async with temporary_postgres_database("dangjian_mig") as url:
        await asyncio.to_thread(upgrade, url)
        assert await _differences(url) == []
