"""Benchmark: concurrent member writes in different branches, under three subtree-count designs.

    .venv/bin/python -m bench.count_writes [--engine postgresql|sqlite] [--writers 8] [--seconds 8]
        [--batches 1 20] [--modes direct ancestors deltas unversioned]

Why: a subtree member count read in constant time needs a maintained per-organization subtree
count, and the obvious one (a counter on every ancestor, updated by each member write) makes the
root a row that every member write in the country locks until it commits. This measures what
that costs against the design the product uses (db.services.members: a folded count plus an
append-only delta log, whose writes lock no shared row) and against no subtree rollup at all
(the direct count only, as before issue 7, when reads summed a range of direct counts).

Each of `--writers` tasks creates members through the service (members.create, the createMember
path: own connection, one write transaction per batch of `--batches` members, then
fold_after_write as the GraphQL write path does) in its own level-2 organization, each under a
different level-1 organization where the tree has enough of them, for `--seconds`; it prints
members/s, transactions/s and the mean time spent in the rollup write (count_change,
lock waits included) per mode and batch size, the load average, and checks db.tree's
invariants after the modes that keep the subtree rollup.

Modes (count_change is swapped for the run):
- direct: the direct count only (the pre-issue-7 write path; no subtree rollup kept).
- ancestors: UPDATE organization SET subtree_member_count = subtree_member_count + d on the whole
  ancestor chain (root first): exact, but every writer queues on the root's row.
- deltas: the product (one UPDATE of the member's own organization, one INSERT of the deltas,
  and at commit the data-version marks of db.changes: one INSERT of a row per ancestor).
- unversioned: the product without the data-version marks (what they cost a write).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import os
import time
import uuid

from sqlalchemy import select, update

from db import changes, idnumber, models
from db.branch import SYSTEM_ACTOR
from bench.data import ensure_demo
from db.engine import PROJECT_ROOT, make_engine, make_sessionmaker
from db.services import members
from db.session import begin_write
from db.tree import HEALTHY, ancestor_ids, invariant_violations

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
_sequence = itertools.count(1)


def _id_number() -> str:
    n = next(_sequence)
    return idnumber.make("659001", dt.date(1980, 1, 1) + dt.timedelta(days=n // 499), (n * 2 + 1) % 998)


def _fields() -> dict:
    return {"name": "并发写入", "id_number": _id_number(), "category": "FULL", "applied_on": dt.date(2008, 3, 1),
            "joined_on": dt.date(2010, 7, 1), "confirmed_on": dt.date(2011, 7, 1), "ethnicity_code": "01"}


async def _direct_only(session, organization_id, old_status, new_status):
    delta = (new_status in members.DEFAULT_STATUSES) - (old_status in members.DEFAULT_STATUSES)
    if delta:
        o = models.Organization
        await session.execute(update(o).where(o.id == organization_id)
                              .values(direct_member_count=o.direct_member_count + delta)
                              .execution_options(synchronize_session=False))


async def _ancestor_counters(session, organization_id, old_status, new_status):
    delta = (new_status in members.DEFAULT_STATUSES) - (old_status in members.DEFAULT_STATUSES)
    if delta:
        o = models.Organization
        path = (await session.execute(update(o).where(o.id == organization_id)
                                      .values(direct_member_count=o.direct_member_count + delta)
                                      .returning(o.path).execution_options(synchronize_session=False))).scalar_one()
        for ancestor in ancestor_ids(path):  # root first: one lock order for every writer
            await session.execute(update(o).where(o.id == ancestor)
                                  .values(subtree_member_count=o.subtree_member_count + delta)
                                  .execution_options(synchronize_session=False))


MODES = {"direct": _direct_only, "ancestors": _ancestor_counters, "deltas": members.count_change,
         "unversioned": members.count_change}
_timed = {"seconds": 0.0, "calls": 0}


def _timing(change):
    """count_change, timed: the time inside it includes waiting for the rows it locks."""
    async def timed(*args):
        started = time.perf_counter()
        try:
            return await change(*args)
        finally:
            _timed["seconds"] += time.perf_counter() - started
            _timed["calls"] += 1
    return timed


async def prepare(engine, orgs: int, n_members: int, writers: int) -> list[int]:
    await ensure_demo(engine, orgs, n_members)
    o = models.Organization
    async with make_sessionmaker(engine)() as session:
        rows = (await session.execute(select(o.id, o.parent_id).where(o.depth == 2, o.status == "ACTIVE")
                                      .order_by(o.id))).all()
    chosen, parents = [], set()
    for organization_id, parent_id in rows:  # one per level-1 parent first, then any
        if parent_id not in parents:
            chosen.append(organization_id)
            parents.add(parent_id)
    chosen += [i for i, _ in rows if i not in chosen]
    return chosen[:writers]


async def run(engine, targets: list[int], batch: int, seconds: float) -> tuple[int, int]:
    sessionmaker = make_sessionmaker(engine)
    stop = time.monotonic() + seconds
    done = [0, 0]

    async def writer(organization_id: int) -> None:
        async with sessionmaker() as session:
            while time.monotonic() < stop:
                await begin_write(session)
                try:
                    for _ in range(batch):
                        await members.create(session, SYSTEM_ACTOR, organization_id=organization_id,
                                             affiliation="DIRECT", fields=_fields())
                    await session.commit()
                except BaseException:
                    await session.rollback()
                    raise
                await members.fold_after_write(session)
                session.expunge_all()
                done[0] += batch
                done[1] += 1

    await asyncio.gather(*(writer(t) for t in targets))
    return done[0], done[1]


async def main_async(args) -> None:
    if args.engine == "postgresql":
        schema = f"bench_count_writes_{uuid.uuid4().hex[:8]}"
        admin = make_engine(POSTGRES)
        async with admin.begin() as connection:
            await connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        engine = make_engine(POSTGRES, pool_size=args.writers + 2,
                             connect_args={"server_settings": {"search_path": schema}})
    else:
        path = PROJECT_ROOT / "var" / "bench" / f"count_writes_{args.orgs}_{args.members}.db"
        path.unlink(missing_ok=True)
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
    original = members.count_change
    try:
        targets = await prepare(engine, args.orgs, args.members, args.writers)
        print(f"{args.engine}: {len(targets)} writers in level-2 organizations {targets}; "
              f"load average {os.getloadavg()[0]:.2f}")
        for batch in args.batches:
            for mode in args.modes:
                members.count_change = _timing(MODES[mode])
                changes.RECORDING = mode != "unversioned"
                _timed.update(seconds=0.0, calls=0)
                if mode != "direct":  # start from an exact subtree rollup
                    async with make_sessionmaker(engine)() as session, session.begin():
                        await members.recount(session)
                n, transactions = await run(engine, targets, batch, args.seconds)
                members.count_change = original
                changes.RECORDING = True
                line = (f"  batch {batch:>3}  {mode:<9} {n / args.seconds:8.1f} members/s  "
                        f"{transactions / args.seconds:7.1f} transactions/s  "
                        f"{1000 * _timed['seconds'] / max(_timed['calls'], 1):6.2f} ms in the rollup write per member  "
                        f"load {os.getloadavg()[0]:.2f}")
                if mode != "direct":
                    async with make_sessionmaker(engine)() as session:
                        found = await invariant_violations(session)
                    line += "  invariants ok" if found == HEALTHY else f"  INVARIANTS BROKEN {found}"
                print(line, flush=True)
    finally:
        members.count_change = original
        await engine.dispose()
        if args.engine == "postgresql":
            async with admin.begin() as connection:
                await connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.count_writes", description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--orgs", type=int, default=2000)
    parser.add_argument("--members", type=int, default=20000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    asyncio.run(main_async(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
