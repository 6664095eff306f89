"""Benchmark: a representative summary (党代表 `representatives(query:)`) over a branch of 100,000
members, through the GraphQL endpoint.

    .venv/bin/python -m bench.representatives [--engine sqlite|postgresql] [--orgs 5000]
                                              [--members 105000] [--branch 100000] [--rounds 7]

It generates a demo tree once (SQLite under var/bench/, PostgreSQL in a schema of the local `test`
database) and gives 5% of its members (seeded) 1 to 3 representative seats over the five levels
and the 10th to 14th terms, one seat in ten terminated. The branch is the organization with the
fewest members in its subtree that still has at least `--branch` members (the root when none
below it has). An ADMIN of that organization sends each query form below `--rounds` times with the
response cache off (each answer is computed), through the app in this process (httpx over ASGI:
parsing, the guard, the scoped organization look-up, the grouped count statement and a first page
of 20 matching members with its cursor), and prints the median and the worst time of each, and
the median CPU time of this process per request (on SQLite that includes the database's work;
the wall time on a loaded machine is mostly waiting for a core).
Issue 11 asks for "well under a second".

Measured 2026-11-30 (2 shared cores, load 13–15, 105,000 members, 8,696 seats): SQLite medians
322–463 ms, 83–91 ms of CPU per request; PostgreSQL medians 353–482 ms (its data copied from the
SQLite benchmark database with COPY: the demo generator had not finished after 16 minutes on the
loaded server).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import time

import httpx
from sqlalchemy import func, insert, select

from bench.data import ensure_demo, open_engine
from db import models
from db.branch import SYSTEM_ACTOR
from db.engine import make_sessionmaker
from db.services import accounts
from db.services.members import DEFAULT_STATUSES
from db.services.representatives import LEVELS
from db.tree import within
from gql.app import create_app
from gql.auth.passwords import CHEAPEST, Argon2Hasher
from gql.ids import to_global_id
from gql.settings import Settings

USERNAME, PASSWORD = "bench_representatives_admin", "BenchReps2026"
QUERY = """query($q: RepresentativeQuery!) { representatives(query: $q) {
  count total percent members(first: 20) { totalCount edges { cursor node { id name } } } } }"""
FORMS = {
    "all in scope": {},
    "allOf two levels (overlap)": {"allOf": [{"level": "CITY"}, {"level": "COUNTY"}]},
    "allOf two terms (cross)": {"allOf": [{"level": "COUNTY", "term": 12}, {"level": "COUNTY", "term": 13}]},
    "allOf + noneOf": {"allOf": [{"level": "CITY", "term": 13}], "noneOf": [{"level": "PROVINCIAL"}]},
    "minTerms 2, minLevels 2": {"minTerms": 2, "minLevels": 2},
    "includeTerminated": {"includeTerminated": True, "allOf": [{"level": "TOWNSHIP"}]},
}


async def seed_seats(engine, seed: int = 11) -> int:
    """5% of the members get 1 to 3 distinct seats (once; returns the number of seats)."""
    async with make_sessionmaker(engine)() as session, session.begin():
        have = await session.scalar(select(func.count()).select_from(models.RepresentativeTerm))
        if have:
            return have
        rng = random.Random(seed)
        ids = list(await session.scalars(select(models.Member.id).where(models.Member.category == "FULL")
                                          .order_by(models.Member.id)))
        rows = []
        for member_id in ids:
            if rng.random() >= 0.05:
                continue
            seats = set()
            while len(seats) < rng.randint(1, 3):
                seats.add((rng.choice(LEVELS), rng.randint(10, 14)))
            for level, term in sorted(seats):
                terminated = rng.random() < 0.1
                rows.append({"member_id": member_id, "level": level, "term": term,
                             "terminated_on": dt.date(2024, 1, 1) if terminated else None,
                             "termination_reason": "调离" if terminated else None})
        for start in range(0, len(rows), 5000):
            await session.execute(insert(models.RepresentativeTerm), rows[start:start + 5000])
        return len(rows)


async def pick_branch(engine, at_least: int) -> tuple[int, str, int]:
    """(id, name, members) of the organization with the fewest members in its subtree (counted as
    members) that has at least `at_least`."""
    o, m = models.Organization, models.Member
    async with make_sessionmaker(engine)() as session:
        # Candidates: the root and its children and grandchildren (the big subtrees).
        candidates = list(await session.execute(select(o.id, o.name, o.path).where(o.depth <= 2)))
        best = None
        for org_id, name, path in candidates:
            n = await session.scalar(select(func.count(m.id)).join(o, o.id == m.organization_id)
                                     .where(within(o.path, path), m.status.in_(DEFAULT_STATUSES)))
            if n >= at_least and (best is None or n < best[2]):
                best = (org_id, name, n)
        if best is None:
            raise SystemExit(f"no organization with {at_least} members: use a larger --members")
        return best


async def _no_backfill(_connection) -> None:
    return None


async def prepare(engine, orgs: int, members: int, at_least: int) -> tuple[int, str, int, int]:
    if engine.dialect.name == "postgresql":
        # The demo generator's history backfill (db.services.history.backfill) ran for more than
        # 8 minutes of CPU on PostgreSQL for 105,000 members on the loaded 2-core machine (one
        # INSERT … SELECT, cancelled); the summary reads no history, so it is skipped here. The
        # data is then for this benchmark only (`python -m db check` would report "history").
        from db import demo

        demo.history.backfill = _no_backfill
    await ensure_demo(engine, orgs, members)
    seats = await seed_seats(engine)
    org_id, name, count = await pick_branch(engine, at_least)
    async with make_sessionmaker(engine)() as session, session.begin():
        a = models.Account
        account = (await session.execute(select(a).where(a.username == USERNAME))).scalar_one_or_none()
        if account is not None and account.organization_id != org_id:
            account.organization_id = org_id
        elif account is None:
            await accounts.create(session, SYSTEM_ACTOR, Argon2Hasher(CHEAPEST), organization_id=org_id,
                                  username=USERNAME, password=PASSWORD, name="基准测试", role="ADMIN")
    return org_id, name, count, seats


async def run(engine_name: str, orgs: int, members: int, at_least: int, rounds: int) -> None:
    engine = await open_engine(engine_name, f"representatives-{orgs}-{members}")
    try:
        org_id, name, count, seats = await prepare(engine, orgs, members, at_least)
        print(f"{engine_name}: branch {name} with {count} members; {seats} seats in the database "
              f"({orgs} organizations, {members} members)")
        app = create_app(engine, Settings(password_profile="cheapest", response_cache_entries=0))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
            login = await http.post("/graphql", json={"query": """mutation($u: String!, $p: String!) {
                login(input: {username: $u, password: $p}) { token } }""", "variables": {"u": USERNAME, "p": PASSWORD}})
            headers = {"Authorization": f"Bearer {login.json()['data']['login']['token']}"}
            organization = to_global_id("Organization", org_id)
            worst_median = 0.0
            for label, form in FORMS.items():
                body = {"query": QUERY, "variables": {"q": {"organizationId": organization, **form}}}
                times, cpu = [], []
                for _ in range(rounds):
                    started, started_cpu = time.perf_counter(), time.process_time()
                    response = await http.post("/graphql", json=body, headers=headers)
                    times.append(time.perf_counter() - started)
                    cpu.append(time.process_time() - started_cpu)
                    payload = response.json()
                    assert "errors" not in payload, payload
                answer = payload["data"]["representatives"]
                median = statistics.median(times)
                worst_median = max(worst_median, median)
                print(f"  {label:28} count {answer['count']:5} of {answer['total']:5} ({answer['percent']:6.2f}%): "
                      f"median {median * 1000:6.1f} ms, worst {max(times) * 1000:6.1f} ms, "
                      f"process CPU median {statistics.median(cpu) * 1000:6.1f} ms")
        print(f"{engine_name}: slowest form's median {worst_median * 1000:.0f} ms over {rounds} requests each")
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.representatives", description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--orgs", type=int, default=5000)
    parser.add_argument("--members", type=int, default=105000)
    parser.add_argument("--branch", type=int, default=100000, help="at least this many members in the branch")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    asyncio.run(run(args.engine, args.orgs, args.members, args.branch, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
