"""Benchmark: what the audit trail (db.services.audit) costs a write, through the GraphQL endpoint.

    .venv/bin/python -m bench.audit_cost [--engine sqlite|postgresql] [--orgs 200] [--members 5000]
                                         [--calls 200] [--batch 1000] [--rounds 3]

On a demo tree (var/bench/ or a schema of the local `test` database), an ADMIN of the root sends
`updateMember` (one phone number: a compare-and-set UPDATE, the entry with its before/after values)
`--calls` times with the trail on and as many with it off (audit.RECORDING, as db.changes does for
the version marks), interleaved in blocks of 20 so that drift hits both alike; then
`addMemberRecords` for `--batch` members `--rounds` times each way. Prints the medians and p90s and
the difference, in wall time and in this process's CPU time (app and client share the process;
CPU time is what stays meaningful on a loaded machine), and the statements each call sent. The
trail's whole cost per mutation is one INSERT (the organization found inside it) and the hooks'
bookkeeping.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx
from sqlalchemy import event, func, select

from bench.data import open_engine
from bench.member_records import ADD, PASSWORD, USERNAME, prepare
from db import models
from db.engine import make_sessionmaker
from db.services import audit
from gql.app import create_app
from gql.settings import Settings

UPDATE = """mutation($id: ID!, $phone: String!) { updateMember(input: {memberId: $id, fields: {phone: $phone}}) {
  member { id } userErrors { code message } } }"""


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    return (f"median {statistics.median(ordered) * 1000:.2f} ms, "
            f"p90 {ordered[int(len(ordered) * 0.9) - 1] * 1000:.2f} ms (n={len(ordered)})")


async def run(engine_name: str, orgs: int, members: int, calls: int, batch: int, rounds: int) -> None:
    engine = await open_engine(engine_name, f"audit-{orgs}-{members}")
    try:
        member_ids = await prepare(engine, orgs, members, batch)
        app = create_app(engine, Settings(password_profile="cheapest", response_cache_entries=0))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
            login = await http.post("/graphql", json={"query": """mutation($u: String!, $p: String!) {
                login(input: {username: $u, password: $p}) { token } }""", "variables": {"u": USERNAME, "p": PASSWORD}})
            headers = {"Authorization": f"Bearer {login.json()['data']['login']['token']}"}

            statements = [0]

            def count(*_args):
                statements[0] += 1

            event.listen(engine.sync_engine, "before_cursor_execute", count)
            cpu: dict[bool, list[float]] = {True: [], False: []}
            sent: dict[bool, list[int]] = {True: [], False: []}

            async def update(n: int) -> float:
                body = {"query": UPDATE, "variables": {"id": member_ids[n % len(member_ids)],
                                                       "phone": f"139{n:08d}"}}
                statements[0] = 0
                started, started_cpu = time.perf_counter(), time.process_time()
                response = await http.post("/graphql", json=body, headers=headers)
                elapsed = time.perf_counter() - started
                cpu[audit.RECORDING].append(time.process_time() - started_cpu)
                sent[audit.RECORDING].append(statements[0])
                assert response.json()["data"]["updateMember"]["userErrors"] == [], response.text
                return elapsed

            for n in range(20):  # warm up
                await update(n)
            for kind in (True, False):
                cpu[kind].clear()
                sent[kind].clear()
            times: dict[bool, list[float]] = {True: [], False: []}
            n = 100
            for block in range(2 * calls // 20):
                audit.RECORDING = block % 2 == 0
                for _ in range(20):
                    n += 1
                    times[audit.RECORDING].append(await update(n))
            audit.RECORDING = True
            on, off = statistics.median(times[True]), statistics.median(times[False])
            print(f"{engine_name}: updateMember, trail on:  {summary(times[True])}")
            print(f"{engine_name}: updateMember, trail off: {summary(times[False])}")
            print(f"{engine_name}: updateMember: the trail costs {(on - off) * 1000:+.2f} ms per call "
                  f"({(on - off) / off * 100:+.1f}%) of wall time")
            cpu_on, cpu_off = statistics.mean(cpu[True]), statistics.mean(cpu[False])
            print(f"{engine_name}: updateMember CPU: on {cpu_on * 1000:.2f} ms, off {cpu_off * 1000:.2f} ms "
                  f"({(cpu_on - cpu_off) * 1000:+.2f} ms, {(cpu_on - cpu_off) / cpu_off * 100:+.1f}%)")
            print(f"{engine_name}: updateMember statements per call: on {statistics.mean(sent[True]):.1f}, "
                  f"off {statistics.mean(sent[False]):.1f}")

            batch_times: dict[bool, list[float]] = {True: [], False: []}
            for r in range(2 * rounds):
                audit.RECORDING = r % 2 == 0
                month = f"2019-{r % 12 + 1:02d}-{1 + r // 12:02d}"
                body = {"query": ADD, "variables": {"ids": member_ids, "f": {"date": month, "amount": "15.00"}}}
                started = time.perf_counter()
                response = await http.post("/graphql", json=body, headers=headers)
                batch_times[audit.RECORDING].append(time.perf_counter() - started)
                assert response.json()["data"]["addMemberRecords"]["userErrors"] == [], response.text
            audit.RECORDING = True
            print(f"{engine_name}: addMemberRecords of {batch}, trail on:  {summary(batch_times[True])}")
            print(f"{engine_name}: addMemberRecords of {batch}, trail off: {summary(batch_times[False])}")
        async with make_sessionmaker(engine)() as session:
            count = await session.scalar(select(func.count()).select_from(models.AuditEntry))
            print(f"  audit entries in the database now: {count}")
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--orgs", type=int, default=200)
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.engine, args.orgs, args.members, args.calls, args.batch, args.rounds))


if __name__ == "__main__":
    main()
