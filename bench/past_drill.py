"""Benchmark: a past date's drill-through (CrossTab.members as of a day), page and count, in process.

    .venv/bin/python -m bench.past_drill [--orgs 50000 --members 1000000] [--as-of 2025-12-31] [--repeats 7]

Why: a past drill-through and a balance line list only members counted through an organization
that was in the caller's branch that day (tests/test_review_statistics_hostile.py). Walking the
caller's whole branch as of that day (db.services.balance.branch_then) for every page took 2.3 s
over a 10,000-member branch. balance.held_then walks up instead (as deep as the tree): from the
scope (in the branch that day: list as today) and, when not, from the branch's organization (not
inside the scope's tree that day: nothing to list); only when the branch's organization was inside
the scope's tree that day (a scope moved above its branch and back under it since) does the walk
down run (a member in the branch today is listed either way). This times the page of 20 and the count of the first GENDER row over bench.compare's
subtrees (about 100, 10k and 30k members), with the branch the scope's own and the root's, and
with the walk down forced (that rare case). The data are bench.compare's (built on first use).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics as stats
import sys
import time

from bench import dashboard
from bench.compare import pick_organizations
from db.branch import Branch
from db.engine import make_sessionmaker
from db.services import balance, statistics
from db.services.statistics import CrossTabSpec


async def run(args) -> int:
    engine, where = await dashboard.open_engine("postgresql", args.orgs, args.members)
    try:
        await dashboard.prepare(engine, args.orgs, args.members)
        codes, shape, ids = await pick_organizations(engine, None)
        sessionmaker = make_sessionmaker(engine)
        held_then = balance.held_then

        async def never(*_args) -> bool:
            return False

        print(f"postgresql ({where}); as of {args.as_of}; median of {args.repeats}")
        print("| subtree | branch | drill page + count ms | count = cell |")
        print("|---|---|---|---|")
        for workload in ("W3-100", "W3-10k", "W3-100k"):
            org = ids[codes[workload]]
            async with sessionmaker() as session:
                path = (await session.execute(statistics.select(statistics.models.Organization.path)
                                              .where(statistics.models.Organization.id == org))).scalar_one()
            root = "/" + path.strip("/").split("/")[0] + "/"
            for label, branch, held in (("the scope's", Branch(path=path), held_then),
                                        ("the scope's, walk down forced", Branch(path=path), never),
                                        ("the root's", Branch(path=root), held_then)):
                balance.held_then = held
                times = []
                try:
                    for _ in range(args.repeats):
                        async with sessionmaker() as session:
                            table = await statistics.cross_tab(session, branch, CrossTabSpec(
                                organization_id=org, rows="GENDER", as_of=args.as_of))
                            started = time.perf_counter()
                            await statistics.drill_page(session, table, table.rows[0].key, None, 20, None)
                            count = await statistics.drill_count(session, table, table.rows[0].key, None)
                            times.append(time.perf_counter() - started)
                finally:
                    balance.held_then = held_then
                print(f"| {shape[workload]} | {label} | {stats.median(times) * 1e3:.1f} "
                      f"| {count} = {table.row_totals[0]} |", flush=True)
    finally:
        await engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.past_drill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=50_000)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2025, 12, 31))
    parser.add_argument("--repeats", type=int, default=7)
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
