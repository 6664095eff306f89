"""The benchmarks' data: the demo tree, generated once into an empty database and reused."""
from __future__ import annotations

import time

from sqlalchemy import func, select

from db import demo, models
from db.engine import make_sessionmaker


async def ensure_demo(engine, orgs: int, members: int) -> bool:
    """Create the tables if missing and generate the demo tree (seed 3) when the database holds no
    organization; True when it generated (callers add their own fixtures once, then)."""
    async with engine.begin() as connection:
        await connection.run_sync(models.Base.metadata.create_all)
    async with make_sessionmaker(engine)() as session:
        if await session.scalar(select(func.count()).select_from(models.Organization)):
            return False
    started = time.perf_counter()
    await demo.generate(engine, orgs=orgs, members=members, seed=3)
    print(f"generated {orgs} organizations, {members} members in {time.perf_counter() - started:.1f} s")
    return True
