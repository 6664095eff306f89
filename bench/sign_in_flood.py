"""Benchmark: an administrator's writes with and without a flood of wrong-password sign-ins.

    .venv/bin/python -m bench.sign_in_flood [--engine sqlite|postgresql] [--seconds 20] [--clients 20]

The app is served for real: uvicorn in a subprocess on 127.0.0.1 (a free port), the production
argon2 profile (RFC 9106 low memory: t=3, m=64 MiB, p=4). The data is set up once and reused (an
SQLite file under var/bench/, a PostgreSQL schema `bench_sign_in`): a root organization, an ADMIN
account and a target account for the flood. An administrator then runs `updateOrganization` in a
loop, one request after another, for --seconds: first alone, then while --clients anonymous
clients send wrong passwords as fast as they are answered (to the target account, which locks
after 5, and to unknown usernames). It prints writes/s, p50 and p99 latency and failures for each
condition, and the flood's sign-ins. Traffic goes to 127.0.0.1 only; the server is stopped at the
end, and every request has a 30 s timeout. The server's log goes to var/bench/sign_in_flood-server.log.

Why: argon2 ran inside the sign-in's write transaction, and on SQLite BEGIN IMMEDIATE holds the
database's one write lock; see db/services/accounts.py and gql/auth/passwords.py.

Measured (2 cores shared with other work, load average 8–12; 20 s per condition, 20 clients):

    writes/s, p50, p99               alone                   flooded                 failures
    before, SQLite                   34.5   27 ms  153 ms    0.1  3.0 s  8.8 s       1 write, 31 sign-ins
    before, PostgreSQL               21.2   43 ms  135 ms    0.1  10.7 s 11.3 s      0
    no lock held, SQLite             59.3   13 ms   76 ms    2.4  12 ms  3.9 s       0
    no lock held, PostgreSQL         26.5   35 ms  132 ms    0.3  2.5 s  6.2 s       0
    and the hashing pool, SQLite     35.6   18 ms  156 ms    21.2 12 ms  0.44 s      0
    and the hashing pool, PostgreSQL 30.6   29 ms  146 ms    6.1  147 ms 0.38 s      0

200 clients (`--clients 200 --seconds 10`), all from 127.0.0.1, load average 13-16 on the 2 cores
(other work running), before and after issue 12's per-address throttle (30 attempts per 15
minutes per address, counted in the database; once used, refusals after 10 s without a statement):

    writes/s (p50, max) flooded       the flood's sign-ins answered / failed (client timeouts, 503s)
    before, SQLite      20.5 (11 ms, 1.7 s)     15 / 191
    after, SQLite        5.4 (9 ms, 6.1 s)     293 / 9
    before, PostgreSQL   0.2 (5.1 s, 5.9 s)     18 / 193
    after, PostgreSQL    0.4 (2.6 s, 4.1 s)    197 / 10
    after, SQLite, allowance never used (DANGJIAN_SIGN_IN_PER_ADDRESS=100000, i.e. 200 addresses):
                        46.1 (8 ms, 1.5 s)      29 / 181

The first version of the throttle (a claim, i.e. a write transaction, for every attempt; refusals
answered at once) gave 0.1 writes/s on SQLite with "database is locked" errors: 200 claims queued
on SQLite's one write lock, and refusals answered at once let the closed-loop flood take the
whole event loop.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx
from sqlalchemy import delete, select, text, update

from db import models
from db.branch import SYSTEM_ACTOR
from db.engine import PROJECT_ROOT, make_engine, make_sessionmaker
from db.services import accounts, organizations
from gql.auth.passwords import PRODUCTION, Argon2Hasher

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
SCHEMA = "bench_sign_in"
SQLITE_FILE = PROJECT_ROOT / "var" / "bench" / "sign_in_flood.db"
PASSWORD = "Bench2024flood"
ADMIN, TARGET = "flood_admin", "flood_target"
WRONG = "Wrong0password"

LOGIN = ("mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) "
         "{ token userErrors { code message } } }")
UPDATE = ("mutation($o: ID!, $v: Int!, $phone: String!) { updateOrganization(input: {organizationId: $o, "
          "expectedVersion: $v, contactPhone: $phone}) { organization { id version } userErrors { code message } } }")
ROOT = '{ organization(code: "001") { id version } }'


# ------------------------------------------------------------------ data (once)

def database_url(engine_name: str) -> str:
    return f"sqlite+aiosqlite:///{SQLITE_FILE}" if engine_name == "sqlite" else POSTGRES


def open_engine(engine_name: str):
    if engine_name == "sqlite":
        SQLITE_FILE.parent.mkdir(parents=True, exist_ok=True)
        return make_engine(database_url(engine_name))
    return make_engine(POSTGRES, connect_args={"server_settings": {"search_path": SCHEMA}})


async def prepare(engine_name: str) -> None:
    if engine_name == "postgresql":
        admin = make_engine(POSTGRES)
        async with admin.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
        await admin.dispose()
    engine = open_engine(engine_name)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(models.Base.metadata.create_all)
        a = models.Account
        async with make_sessionmaker(engine)() as session, session.begin():
            root = await session.scalar(select(models.Organization).where(models.Organization.parent_id.is_(None)))
            if root is None:
                root = await organizations.create_root(session, name="中共基准测试市委员会", code="001",
                                                       established_on=dt.date(1990, 1, 1))
            have = set((await session.execute(select(a.username).where(a.username.in_([ADMIN, TARGET])))).scalars())
            hasher = Argon2Hasher(PRODUCTION)  # the hashes sign-in checks are at the production cost
            for username, role in [(ADMIN, "ADMIN"), (TARGET, "VIEWER")]:
                if username not in have:
                    await accounts.create(session, SYSTEM_ACTOR, hasher, organization_id=root.id, username=username,
                                          password=PASSWORD, name=username, role=role)
            # Every run starts with the target unlocked, and 127.0.0.1's sign-in allowance unused.
            await session.execute(update(a).where(a.username == TARGET).values(failed_logins=0, locked_until=None))
            await session.execute(delete(models.SignInThrottle))
    finally:
        await engine.dispose()


# ------------------------------------------------------------------ the server

def serve():
    """`uvicorn --factory bench.sign_in_flood:serve`: the app over the benchmark's database."""
    from gql.app import create_app
    from gql.settings import Settings

    engine_name = os.environ["BENCH_SIGN_IN_ENGINE"]
    return create_app(open_engine(engine_name),
                      Settings(database_url=database_url(engine_name), password_profile="production"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVER_LOG = PROJECT_ROOT / "var" / "bench" / "sign_in_flood-server.log"


async def start_server(engine_name: str) -> tuple[subprocess.Popen, str]:
    """uvicorn in a subprocess; its output (the errors it logs) goes to SERVER_LOG."""
    port = free_port()
    SERVER_LOG.parent.mkdir(parents=True, exist_ok=True)
    log = open(SERVER_LOG, "w")
    env = {**os.environ, "BENCH_SIGN_IN_ENGINE": engine_name,
           "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "bench.sign_in_flood:serve", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log", "--log-level", "warning"], env=env, cwd=PROJECT_ROOT,
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url) as http:
        for _ in range(200):
            if server.poll() is not None:
                raise SystemExit(f"the server stopped (exit {server.returncode})")
            try:
                await http.get("/")
                return server, url
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    server.terminate()
    raise SystemExit("the server did not answer within 20 s")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# ------------------------------------------------------------------ the run

@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    elapsed: float = 0.0


async def post(http: httpx.AsyncClient, query: str, variables: dict, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"HTTP {response.status_code}: {str(body.get('errors'))[:200]}")
    return body["data"]


async def write_loop(http: httpx.AsyncClient, token: str, seconds: float) -> Tally:
    tally = Tally()
    root = (await post(http, ROOT, {}, token))["organization"]
    version, n = root["version"], 0
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        n += 1
        started = time.perf_counter()
        try:
            data = await post(http, UPDATE, {"o": root["id"], "v": version, "phone": f"0731-{n:08d}"}, token)
            payload = data["updateOrganization"]
            if payload["userErrors"]:
                raise RuntimeError(str(payload["userErrors"]))
            version = payload["organization"]["version"]
            tally.latencies.append(time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 — counted and shown
            tally.failures.append(f"{type(exc).__name__}: {exc}"[:200])
            version = (await post(http, ROOT, {}, token))["organization"]["version"]
    tally.elapsed = time.perf_counter() - began
    return tally


async def flood_client(http: httpx.AsyncClient, n: int, stop: asyncio.Event, tally: Tally) -> None:
    i = 0
    while not stop.is_set():
        username = TARGET if i % 2 == 0 else f"nobody_{n}_{i}"
        i += 1
        started = time.perf_counter()
        try:
            data = await post(http, LOGIN, {"u": username, "p": WRONG})
            if data["login"]["token"] is not None or not data["login"]["userErrors"]:
                raise RuntimeError(f"unexpected answer {data}")
            tally.latencies.append(time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001
            tally.failures.append(f"{type(exc).__name__}: {exc}"[:200])


def describe(label: str, tally: Tally, what: str) -> str:
    done = len(tally.latencies)
    if done:
        ordered = sorted(tally.latencies)
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[min(done - 1, int(round(0.99 * (done - 1))))] * 1000
        figures = f"{done / tally.elapsed:7.1f} {what}/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  max {ordered[-1] * 1000:7.1f} ms"
    else:
        figures = f"{0:7.1f} {what}/s"
    return f"{label:32} {done:5d} {what}  {figures}  failures {len(tally.failures)}"


async def run(engine_name: str, seconds: float, clients: int) -> None:
    await prepare(engine_name)
    server, url = await start_server(engine_name)
    try:
        limits = httpx.Limits(max_connections=clients + 5, max_keepalive_connections=clients + 5)
        async with httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits) as http:
            data = await post(http, LOGIN, {"u": ADMIN, "p": PASSWORD})
            token = data["login"]["token"]
            if not token:
                raise SystemExit(f"the administrator could not sign in: {data}")
            print(f"{engine_name}: {url}, production argon2, {seconds:.0f} s per condition", flush=True)

            quiet = await write_loop(http, token, seconds)
            print(describe("writes, alone", quiet, "writes"), flush=True)

            stop, flood = asyncio.Event(), Tally()
            began = time.perf_counter()
            tasks = [asyncio.create_task(flood_client(http, n, stop, flood)) for n in range(clients)]
            await asyncio.sleep(1.0)  # the flood is under way
            loud = await write_loop(http, token, seconds)
            stop.set()
            await asyncio.gather(*tasks)
            flood.elapsed = time.perf_counter() - began
            print(describe(f"writes, {clients} clients flooding", loud, "writes"), flush=True)
            print(describe("  the flood's sign-ins", flood, "sign-ins"), flush=True)
            for failure in sorted(set(quiet.failures + loud.failures + flood.failures))[:5]:
                print(f"  failure: {failure}")
            if quiet.failures or loud.failures or flood.failures:
                print(f"  the server's log: {SERVER_LOG}")
    finally:
        stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each condition")
    parser.add_argument("--clients", type=int, default=20, help="flooding clients")
    args = parser.parse_args()
    asyncio.run(run(args.engine, args.seconds, args.clients))


if __name__ == "__main__":
    main()
