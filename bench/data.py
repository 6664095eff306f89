"""The benchmarks' data: the demo tree, generated once into an empty database and reused."""
from __future__ import annotations

import time

from sqlalchemy import func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from db import demo, models
from db.engine import PROJECT_ROOT, make_engine, make_sessionmaker

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def open_engine(engine_name: str, name: str) -> AsyncEngine:
    """A benchmark's own database, reused between runs: var/bench/NAME.db on SQLite, the schema
    bench_NAME of the local `test` database on PostgreSQL (created when missing)."""
    if engine_name == "sqlite":
        path = PROJECT_ROOT / "var" / "bench" / f"{name}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return make_engine(f"sqlite+aiosqlite:///{path}")
    schema = "bench_" + name.replace("-", "_")
    admin = make_engine(POSTGRES)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    await admin.dispose()
    return make_engine(POSTGRES, connect_args={"server_settings": {"search_path": schema}})


async def ensure_demo(engine, orgs: int, members: int) -> bool:
    """Create the tables if missing and generate the demo tree (seed 3) when the database holds no
    organization; True when it generated (callers add their own fixtures once, then)."""
    async with engine.begin() as connection:
        await connection.run_sync(models.Base.metadata.create_all)
    stale = await stale_tables(engine)
    if stale:
        raise SystemExit(f"tables older than the models: {', '.join(stale)}; drop this benchmark's data and run again")
    async with make_sessionmaker(engine)() as session:
        if await session.scalar(select(func.count()).select_from(models.Organization)):
            return False
    started = time.perf_counter()
    await demo.generate(engine, orgs=orgs, members=members, seed=3)
    print(f"generated {orgs} organizations, {members} members in {time.perf_counter() - started:.1f} s")
    return True


async def stale_tables(engine) -> list[str]:
    """Tables of the models that exist but lack some of the models' columns: data generated
    before a model change (create_all adds missing tables, never missing columns). A missing
    column with a server default (a counter starting at 0) is added in place instead: both
    engines add such a column without rewriting the table, where a rebuild takes minutes."""
    def check(connection) -> list[str]:
        inspector = inspect(connection)
        stale = []
        for name, table in models.Base.metadata.tables.items():
            if inspector.has_table(name):
                have = {c["name"] for c in inspector.get_columns(name)}
                missing = [c for c in table.columns if c.name not in have]
                if any(c.server_default is None and not c.nullable for c in missing):
                    stale.append(name)
                    continue
                for column in missing:
                    kind = column.type.compile(dialect=connection.dialect)
                    default = (f" DEFAULT {column.server_default.arg} NOT NULL"
                               if column.server_default is not None else "")
                    connection.exec_driver_sql(f'ALTER TABLE "{name}" ADD COLUMN "{column.name}" {kind}{default}')
        return stale

    async with engine.begin() as connection:
        return await connection.run_sync(check)
