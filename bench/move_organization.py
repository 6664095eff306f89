"""Benchmark: moveOrganization of a subtree of 10,000 organizations and 200,000 members.

    .venv/bin/python -m bench.move_organization [--engine sqlite|postgresql] [--orgs 10001] [--members 200000]

It generates a demo tree (the demo generator's root holds every other organization), puts a new
top above it with a second child, then moves the old root with its whole subtree under that
child and back, through the same service the GraphQL mutation calls, each in one transaction.
It prints the time of each move and checks the tree invariants afterwards (no stale path, depth
or code). The generated SQLite file is kept under var/bench/ and reused.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time
import uuid

from sqlalchemy import func, select, update

from db import models
from db.branch import SYSTEM_ACTOR
from bench.data import ensure_demo, open_engine
from db.engine import make_sessionmaker
from db.services import organizations
from db.tree import invariant_violations



async def prepare(engine, orgs: int, members: int) -> tuple[int, int, int]:
    """Returns (the organization to move, its current parent, the other parent)."""
    if await ensure_demo(engine, orgs, members):
        o = models.Organization
        async with make_sessionmaker(engine)() as session, session.begin():
            top = models.Organization(path=f"~{uuid.uuid4().hex}", depth=0, code="9", name="基准测试顶层党委",
                                      type="COMMITTEE", status="ACTIVE", requires_approval=False, version=1,
                                      established_on=dt.date(1980, 1, 1))
            session.add(top)
            await session.flush()
            # Put the generated tree under the new top (setup only: a move needs a parent to leave).
            await session.execute(update(o).where(o.id != top.id).values(
                path=f"/{top.id}" + o.path, depth=o.depth + 1, code="9" + o.code)
                .execution_options(synchronize_session=False))
            await session.execute(update(o).where(o.id == 1).values(parent_id=top.id))
            top.path = f"/{top.id}/"
            other = await organizations.create(session, SYSTEM_ACTOR, parent_id=top.id, name="基准测试接收党委",
                                               type="COMMITTEE", code_suffix="900", established_on=dt.date(1980, 1, 1))
            return 1, top.id, other.id
    async with make_sessionmaker(engine)() as session:
        o = models.Organization
        moved = await session.get(o, 1)
        top = await session.scalar(select(o.id).where(o.parent_id.is_(None)))
        other = await session.scalar(select(o.id).where(o.name == "基准测试接收党委"))
        return 1, moved.parent_id, other if moved.parent_id == top else top


async def run(engine_name: str, orgs: int, members: int) -> None:
    engine = await open_engine(engine_name, f"move-{orgs}-{members}")
    try:
        moved, parent, other = await prepare(engine, orgs, members)
        async with make_sessionmaker(engine)() as session:
            o = models.Organization
            org = await session.get(o, moved)
            size = await session.scalar(select(func.count()).select_from(o).where(o.path >= org.path, o.path < org.path[:-1] + "0"))
            people = await session.scalar(select(func.count()).select_from(models.Member).join(o, o.id == models.Member.organization_id)
                                          .where(o.path >= org.path, o.path < org.path[:-1] + "0"))
        print(f"{engine_name}: moving {size - 1} descendants with {people} members")
        for destination in (other, parent):
            async with make_sessionmaker(engine)() as session:
                started = time.perf_counter()
                async with session.begin():
                    await organizations.move(session, SYSTEM_ACTOR, moved, destination, None, dt.date.today(), "基准测试")
                elapsed = time.perf_counter() - started
                print(f"  move under organization {destination}: {elapsed:.2f} s (one transaction)")
        async with make_sessionmaker(engine)() as session:
            print(f"  invariant violations: {await invariant_violations(session)}")
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--orgs", type=int, default=10_001)
    parser.add_argument("--members", type=int, default=200_000)
    args = parser.parse_args()
    asyncio.run(run(args.engine, args.orgs, args.members))


if __name__ == "__main__":
    main()
