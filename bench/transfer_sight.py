"""Benchmark: what the letter reach (db.branch.transfers_with_member_sight) adds to a page of transfers.

    .venv/bin/python -m bench.transfer_sight [--engine sqlite] [--members 20000] [--transfers 2000] [--rounds 1000]

A transfer page says, per transfer, whether the caller reads the member itself or only as the
letter shows it: the in_sight condition over the member's organization and a correlated probe of a
pending transfer into the branch. This times a page of 50 (newest first) for a district branch
holding half of the organizations, with that column and without it (the statement the list ran
before: transfers joined to their members), alternately, in memory. SQLite only (the PostgreSQL
plan is the same probe on ix_transfer_member_id_id; `--engine postgresql` says so and stops).

Measured 2026-11-30 (2 shared cores, load 3.5, other helpers' tests running; 20,000 members,
2,000 transfers, three alternations of 1,000 pages, two runs): 0.81–1.55 ms a page without the
column, 1.08–1.67 ms with it: +0.07 to +0.44 ms a page of 50. With in_sight's OR instead of a CASE
(the probe ran for every row) it was +0.55 to +0.75 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from db import models
from db.branch import Branch, transfer_sight_path, transfers, transfers_with_member_sight


async def run(members: int, count: int, rounds: int) -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as c:
        await c.run_sync(models.Base.metadata.create_all)
        await c.execute(insert(models.Organization), [
            {"id": i, "path": f"/{i}/" if i <= 2 else f"/{1 + i % 2}/{i}/", "depth": 0 if i <= 2 else 1,
             "code": f"C{i}", "name": f"O{i}", "type": "BRANCH", "parent_id": None if i <= 2 else 1 + i % 2}
            for i in range(1, 102)])
        await c.execute(insert(models.Member), [
            {"id": i, "organization_id": 3 + i % 99, "name": f"M{i}", "id_number": f"{i:018d}", "gender": "MALE",
             "birth_date": dt.date(1990, 1, 1), "category": "FULL", "status": "ACTIVE"} for i in range(1, members + 1)])
        await c.execute(insert(models.Transfer), [
            {"id": i, "member_id": (i * 7) % members + 1, "from_organization_id": 3 + ((i * 7) % members + 1) % 99,
             "to_organization_id": 3 + ((i * 7) % members + 2) % 99,
             "status": ("PENDING", "ACCEPTED", "REJECTED", "CANCELLED")[i % 4], "requested_on": dt.date(2024, 1, 1),
             "letter_year": 2024, "letter_seq": i, "letter_number": f"n{i}", "valid_until": dt.date(2024, 4, 1),
             "member_name": "x", "member_gender": "MALE", "member_birth_date": dt.date(1990, 1, 1),
             "member_id_number": "1", "member_category": "FULL", "member_affiliation": "DIRECT"}
            for i in range(1, count + 1)])
    branch = Branch(path="/1/")
    t = models.Transfer
    before = (transfers(branch, t, transfer_sight_path(branch)).join(models.Member, models.Member.id == t.member_id)
              .order_by(t.id.desc()).limit(50))
    after = transfers_with_member_sight(branch, t, transfer_sight_path(branch)).order_by(t.id.desc()).limit(50)
    async with AsyncSession(engine) as session:
        for name, stmt in (("without the sight column", before), ("with member_in_sight", after)) * 3:
            for _ in range(20):
                (await session.execute(stmt)).all()
            start = time.perf_counter()
            for _ in range(rounds):
                session.expunge_all()
                (await session.execute(stmt)).all()
            print(f"{name}: {(time.perf_counter() - start) / rounds * 1000:.2f} ms a page of 50", flush=True)
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--transfers", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=1_000)
    args = parser.parse_args()
    if args.engine != "sqlite":
        print("bench.transfer_sight measures SQLite only")
        return
    asyncio.run(run(args.members, args.transfers, args.rounds))


if __name__ == "__main__":
    main()
