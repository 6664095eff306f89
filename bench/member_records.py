"""Benchmark: 批量录入, one addMemberRecords call for 1,000 members, through the GraphQL endpoint.

    .venv/bin/python -m bench.member_records [--engine sqlite|postgresql] [--orgs 2000] [--members 50000]
                                             [--batch 1000] [--rounds 5]

It generates a demo tree once (SQLite under var/bench/, PostgreSQL in a schema of the local `test`
database), signs in an ADMIN of the root, and sends `addMemberRecords` (kind DUES, one month) for
`--batch` members of the tree, `--rounds` times, each a different month, through the app in this
process (httpx over ASGI: the whole request, parsing, the guard, the scoped member look-up, the
validation, one INSERT … RETURNING and the payload of every record's id). It prints each call's
time and the median, and checks the invariants afterwards. Issue 8 asks for "well under a second".
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx
from sqlalchemy import select

from bench.data import ensure_demo, open_engine
from db import models
from db.branch import SYSTEM_ACTOR
from db.engine import make_sessionmaker
from db.services import accounts
from db.tree import invariant_violations
from gql.app import create_app
from gql.auth.passwords import CHEAPEST, Argon2Hasher
from gql.ids import to_global_id
from gql.settings import Settings

USERNAME, PASSWORD = "bench_records_admin", "BenchRecords2026"
ADD = """mutation($ids: [ID!]!, $f: MemberRecordFields!) { addMemberRecords(input: {memberIds: $ids, kind: DUES,
  fields: $f}) { records { id } userErrors { code field message } } }"""


async def prepare(engine, orgs: int, members: int, batch: int) -> list[str]:
    await ensure_demo(engine, orgs, members)
    async with make_sessionmaker(engine)() as session, session.begin():
        a = models.Account
        if await session.scalar(select(a.id).where(a.username == USERNAME)) is None:
            root = await session.scalar(select(models.Organization.id).where(models.Organization.parent_id.is_(None)))
            await accounts.create(session, SYSTEM_ACTOR, Argon2Hasher(CHEAPEST), organization_id=root,
                                  username=USERNAME, password=PASSWORD, name="基准测试", role="ADMIN")
        m = models.Member
        ids = list(await session.scalars(select(m.id).where(m.status == "ACTIVE").order_by(m.id).limit(batch)))
    if len(ids) < batch:
        raise SystemExit(f"only {len(ids)} members: use a larger --members")
    return [to_global_id("Member", i) for i in ids]


async def run(engine_name: str, orgs: int, members: int, batch: int, rounds: int) -> None:
    engine = await open_engine(engine_name, f"records-{orgs}-{members}")
    try:
        member_ids = await prepare(engine, orgs, members, batch)
        app = create_app(engine, Settings(password_profile="cheapest"))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
            login = await http.post("/graphql", json={"query": """mutation($u: String!, $p: String!) {
                login(input: {username: $u, password: $p}) { token } }""", "variables": {"u": USERNAME, "p": PASSWORD}})
            headers = {"Authorization": f"Bearer {login.json()['data']['login']['token']}"}
            times = []
            for n in range(rounds):
                month = f"20{10 + n // 12:02d}-{n % 12 + 1:02d}-01"
                body = {"query": ADD, "variables": {"ids": member_ids, "f": {"date": month, "amount": "15.00"}}}
                started = time.perf_counter()
                response = await http.post("/graphql", json=body, headers=headers)
                elapsed = time.perf_counter() - started
                payload = response.json()["data"]["addMemberRecords"]
                assert payload["userErrors"] == [] and len(payload["records"]) == batch, payload
                times.append(elapsed)
                print(f"  {engine_name}: addMemberRecords of {batch} members: {elapsed * 1000:.0f} ms")
        print(f"{engine_name}: median {statistics.median(times) * 1000:.0f} ms over {rounds} calls "
              f"({orgs} organizations, {members} members)")
        async with make_sessionmaker(engine)() as session:
            print(f"  invariant violations: {await invariant_violations(session)}")
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--orgs", type=int, default=2000)
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.engine, args.orgs, args.members, args.batch, args.rounds))


if __name__ == "__main__":
    main()
