"""Benchmark: crossTab as of a past date against today, and a year's memberBalance (issue 9).

    .venv/bin/python -m bench.statistics [--engine postgresql|sqlite] [--orgs 50000 --members 1000000]
        [--seconds 3] [--as-of 2025-12-31] [--filtered]

Why: the annual report (党内统计年报) counts as of 12-31 from the dated history, not from the member
rows' cached columns; the issue's targets are "as of a past date at most 2× today's cross-tab" and
"a year's member balance over 1,000,000 members under 2 s on PostgreSQL". The side-by-side with
PostGraphile and bare SQL is `python -m bench compare --workloads W3-100 ... W4-1m` (bench.compare);
this module times the service calls themselves (db.services.statistics.cross_tab,
db.services.balance.balance: the SQL and the ORM, no HTTP and no JSON, which add the same few
milliseconds to both sides of a ratio) over the demo data of bench.compare / bench.dashboard
(built on first use: ~4 min at the default size on PostgreSQL).

For each subtree size of bench.compare's W3/W4 (about 100, 10k, 100k members and the root's 1m):
W3 (EDUCATION × GENDER) and W4 (CHILD_ORGANIZATION × AGE_BAND) today and as of --as-of, each
repeated for --seconds (at least once), the median; then memberBalance over the same subtrees for
the calendar year of --as-of (01-01 to 12-31), each repeated likewise. Prints the
load average with every line (the machine is shared: prefer the ratios). With --filtered the
cross-tabs carry a member filter (FILTER: full members aged 35 or more at the date), which takes
the generic builder today and on a kept day alike (the prebuilt statements are unfiltered only).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics as stats
import sys
import time

from bench import dashboard
from bench.compare import SIZES, pick_organizations
from db.branch import Branch
from db.engine import make_sessionmaker
from db.services import balance, history, statistics
from db.services.members import MemberQuery
from db.services.statistics import CrossTabSpec

WORKLOADS = {"W3": ("EDUCATION", "GENDER"), "W4": ("CHILD_ORGANIZATION", "AGE_BAND")}
# --filtered: a report's usual narrowing (正式党员, 35 岁及以上), the age at the as-of date.
FILTER = MemberQuery(subtree=True, categories=("FULL",), min_age=35)


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


async def timed(call, seconds: float, at_least: int = 1) -> tuple[float, int, object]:
    """Median seconds of `call()` repeated for `seconds` (at least `at_least` times)."""
    times: list[float] = []
    result = None
    deadline = time.perf_counter() + seconds
    while len(times) < at_least or time.perf_counter() < deadline:
        started = time.perf_counter()
        result = await call()
        times.append(time.perf_counter() - started)
    return stats.median(times), len(times), result


async def keep(engine, sessionmaker, day: dt.date) -> None:
    """Keeps `day` (`python -m db snapshot build DAY`) unless kept: built once, timed, left kept."""
    async with sessionmaker() as session:
        if day in dict(await history.kept_days(session)):
            return
    started = time.perf_counter()
    async with sessionmaker() as session, session.begin():
        rows = await history.build_snapshot(session, day)
    await history.settle_snapshots(engine)
    print(f"kept {day}: {rows} member states in {time.perf_counter() - started:.1f} s", flush=True)


async def run(args) -> int:
    engine, where = await dashboard.open_engine(args.engine, args.orgs, args.members)
    try:
        info = await dashboard.prepare(engine, args.orgs, args.members)
        print(f"{args.engine} ({where}): {info['orgs']} organizations, {info['members']} members; {load()}",
              flush=True)
        codes, shape, ids = await pick_organizations(engine, None)
        sessionmaker = make_sessionmaker(engine)
        as_of = args.as_of
        query = FILTER if args.filtered else None
        async with sessionmaker() as session:
            root_path = (await session.execute(statistics.select(statistics.models.Organization.path)
                                               .where(statistics.models.Organization.parent_id.is_(None)))).scalar_one()
        branch = Branch(path=root_path)

        async def cross_tab(org_id: int, rows: str, columns: str, day: dt.date | None):
            async with sessionmaker() as session:
                return await statistics.cross_tab(session, branch, CrossTabSpec(
                    organization_id=org_id, rows=rows, columns=columns, as_of=day, query=query))

        # The day kept (db.services.history, "snapshots"; `python -m db snapshot build DAY` in
        # service): built once here, timed, and left kept. The "history" column reads it as an
        # unkept day does (history.READ_SNAPSHOTS off).
        await keep(engine, sessionmaker, as_of)

        async def unkept(org_id, rows, columns):
            history.READ_SNAPSHOTS = False
            try:
                return await cross_tab(org_id, rows, columns, as_of)
            finally:
                history.READ_SNAPSHOTS = True

        print(f"\ncrossTab today vs as of {as_of}, the day not kept and kept (median of {args.seconds:g} s of "
              f"repeats, in process{'; filter: ' + repr(FILTER) if query else ''})")
        print("| workload | subtree | today ms | as of, not kept ms | ÷ today | as of, kept ms | ÷ today "
              "| total today / then | load |")
        print("|---|---|---|---|---|---|---|---|---|")
        for size in args.sizes:
            for kind, (rows, columns) in WORKLOADS.items():
                workload = f"{kind}-{size}"
                org_id = ids[codes[workload]]
                now_s, n1, now_t = await timed(lambda: cross_tab(org_id, rows, columns, None), args.seconds)
                then_s, n2, then_t = await timed(lambda: unkept(org_id, rows, columns), args.seconds)
                kept_s, n3, kept_t = await timed(lambda: cross_tab(org_id, rows, columns, as_of), args.seconds)
                if (kept_t.rows, kept_t.columns, kept_t.cells) != (then_t.rows, then_t.columns, then_t.cells):
                    raise SystemExit(f"{workload}: the kept day answers differently from the history")
                print(f"| {workload} | {shape[workload]} | {now_s * 1000:.1f} ({n1}×) | {then_s * 1000:.1f} ({n2}×) "
                      f"| {then_s / now_s:.2f} | {kept_s * 1000:.1f} ({n3}×) | {kept_s / now_s:.2f} "
                      f"| {now_t.total} / {then_t.total} | {load()} |", flush=True)

        start, end = dt.date(as_of.year, 1, 1), dt.date(as_of.year, 12, 31)
        if end > dt.date.today():
            start, end = dt.date(as_of.year - 1, 1, 1), dt.date(as_of.year - 1, 12, 31)
        # The day before `from` and `to` kept too (the annual balance reads the states of both ends
        # from there: db.services.balance.classified).
        before = start - dt.timedelta(days=1)
        for day in sorted({before, end} - {as_of}):
            await keep(engine, sessionmaker, day)
        print(f"\nmemberBalance {start} – {end} (SUBTREE; median of {args.seconds:g} s of repeats, at least once; "
              f"{before} and {end} not kept, then kept)")
        print("| subtree | seconds, not kept | seconds, kept | start | + | − | end | load |")
        print("|---|---|---|---|---|---|---|---|")
        for size in args.balance_sizes:
            org_id = ids[codes[f"W3-{size}"]]

            async def member_balance():
                async with sessionmaker() as session:
                    return await balance.balance(session, branch, org_id, True, start, end)

            history.READ_SNAPSHOTS = False
            try:
                unkept_s, n0, unkept_answer = await timed(member_balance, args.seconds)
            finally:
                history.READ_SNAPSHOTS = True
            seconds, n, (_, first, kinds, last) = await timed(member_balance, args.seconds)
            if unkept_answer[1:] != (first, kinds, last):
                raise SystemExit(f"{size}: the balance with the day kept answers differently")
            print(f"| {shape[f'W3-{size}']} | {unkept_s:.3f} ({n0}×) | {seconds:.3f} ({n}×) | {first} "
                  f"| {sum(v for k, v in kinds.items() if k in balance.INCREASES)} "
                  f"| {sum(v for k, v in kinds.items() if k in balance.DECREASES)} | {last} | {load()} |", flush=True)
    finally:
        await engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.statistics", description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--orgs", type=int, default=50_000)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds of repeats per measurement")
    parser.add_argument("--as-of", type=dt.date.fromisoformat,
                        default=dt.date(dt.date.today().year - 1, 12, 31),
                        help="the past date (default: last year's 12-31, the annual report's date)")
    parser.add_argument("--sizes", nargs="*", choices=list(SIZES), default=list(SIZES),
                        help="the W3/W4 subtree sizes of the cross-tab part")
    parser.add_argument("--balance-sizes", nargs="*", choices=list(SIZES), default=list(SIZES),
                        help="the subtree sizes of the memberBalance part")
    parser.add_argument("--filtered", action="store_true",
                        help="the cross-tabs with a member filter (FILTER: the generic builder)")
    args = parser.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
