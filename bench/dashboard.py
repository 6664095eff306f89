"""Benchmark: typical dashboard reads over a branch of a million members, through the real API.

    .venv/bin/python -m bench.dashboard [--engine sqlite|postgresql] [--orgs 50000] [--members 1000000] [--repeat 5]
        [--slow 300] [--only 1 2 ...] [--sqlite-file COPY.db]

It generates a demo tree (or reuses the one generated before: an SQLite file under var/bench/, a
PostgreSQL schema, `bench_dash` at the default size), adds an ADMIN account at the root and a
VIEWER account at the level-1 organization with the most members (only when missing), then drives
the ASGI app in-process through httpx (as the tests do), signs both in and times eight dashboard
queries (1-8, and 0: a signed-in request that reads nothing, the floor) as each of them: one
warm-up, then best and median of --repeat runs. On PostgreSQL it runs VACUUM ANALYZE once over
the schema if it was never vacuumed (a freshly loaded table has no visibility map; autovacuum may
be off, as it is on the local test server).

The product promise is "a branch of a million members answers a dashboard in well under a
second". For every query slower than --slow ms it runs the query once more with a listener on the
engine, lists the SQL statements it ran with their times, and explains the slowest one
(EXPLAIN QUERY PLAN on SQLite, EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import event, func, inspect, select, text

from db import models
from db.branch import SYSTEM_ACTOR
from bench.data import ensure_demo
from db.engine import PROJECT_ROOT, make_engine, make_sessionmaker
from db.services import accounts
from db.services.members import subtree_recount_statements
from db.services.history import refresh_last_fact
from gql.app import create_app
from gql.auth.passwords import CHEAPEST, Argon2Hasher
from gql.settings import Settings

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PASSWORD = "Bench2024dash"
ADMIN, VIEWER = "bench_root_admin", "bench_l1_viewer"

MEMBER_NODE = "{ name idNumber organization { name } }"
QUERIES: dict[str, str] = {
    "0": "{ viewer { name } }",
    "1": "{ viewer { organization { name memberCount(filter:{scope:SUBTREE}) } } }",
    "2": "{ viewer { organization { children { name memberCount(filter:{scope:SUBTREE}) } } } }",
    "3": "{ viewer { organization { members(first: 20, filter:{scope:SUBTREE}) { totalCount edges { node "
         + MEMBER_NODE + " } } } } }",
    "4": "query($after: String!) { viewer { organization { members(first: 20, after: $after, "
         "filter:{scope:SUBTREE}) { edges { node " + MEMBER_NODE + " } } } } }",
    "5": '{ members(first: 20, filter: {nameContains: "王", minAge: 30, maxAge: 50}) '
         "{ totalCount edges { node { name } } } }",
    "6": "{ viewer { organization { members(first: 20, orderBy: {field: JOINED_ON, direction: DESC}, "
         "filter: {scope: SUBTREE}) { edges { node { name joinedOn } } } } } }",
    "7": "{ viewer { organization { descendants(first: 50) { totalCount edges { node "
         "{ name memberCount leadership { termEndsOn } } } } } } }",
    "8": "{ members(first: 20, filter: {completenessBelow: 100}) { totalCount } }",
}
DESCRIPTIONS = {
    "0": "baseline: signed-in request, no data",
    "1": "own organization, memberCount SUBTREE",
    "2": "children, memberCount SUBTREE each",
    "3": "members SUBTREE page 1 + totalCount",
    "4": "members SUBTREE page 2 (after), no count",
    "5": "Query.members nameContains 王, age 30-50 + totalCount",
    "6": "members SUBTREE ordered JOINED_ON DESC",
    "7": "descendants(first 50) + totalCount, memberCount, leadership",
    "8": "Query.members completenessBelow 100, totalCount",
}
# Page 1 of query 3, to read the cursor that query 4 starts after.
CURSOR_QUERY = ("{ viewer { organization { members(first: 20, filter:{scope:SUBTREE}) "
                "{ pageInfo { endCursor } } } } }")


# ------------------------------------------------------------------ data

def sqlite_path(orgs: int, members: int):
    return PROJECT_ROOT / "var" / "bench" / f"dashboard-{orgs}-{members}.db"


def schema_name(orgs: int, members: int) -> str:
    """BENCH_SCHEMA overrides it (a copy of the data to try a change on without touching the
    shared one: `pg_dump -n bench_dash | sed 's/\\bbench_dash\\b/bench_dash_try/g' | psql`)."""
    if os.environ.get("BENCH_SCHEMA"):
        return os.environ["BENCH_SCHEMA"]
    return "bench_dash" if (orgs, members) == (50_000, 1_000_000) else f"bench_dash_{orgs}_{members}"


async def catch_up(engine) -> None:
    """Columns added since a data set was generated (it is built with create_all, not migrated):
    organization.subtree_member_count (migration 0008), filled as the migration fills it."""
    async with engine.begin() as connection:
        columns = await connection.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("organization")})
        if "subtree_member_count" not in columns:
            started = time.perf_counter()
            await connection.execute(text(
                "ALTER TABLE organization ADD COLUMN subtree_member_count INTEGER DEFAULT 0 NOT NULL"))
            for statement in subtree_recount_statements():
                await connection.execute(statement)
            print(f"added organization.subtree_member_count in {time.perf_counter() - started:.1f} s")
        member_columns = await connection.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("member")})
        if "last_fact_on" not in member_columns:  # migration 0019
            started = time.perf_counter()
            await connection.execute(text("ALTER TABLE member ADD COLUMN last_fact_on DATE"))
            await connection.execute(refresh_last_fact())
            await connection.execute(text("DROP INDEX ix_member_org_stats"))
            print(f"added member.last_fact_on in {time.perf_counter() - started:.1f} s")
        # Indexes added by later migrations (0019's on the history's dates, ...): created when missing.
        for table in models.Base.metadata.sorted_tables:
            for index in table.indexes:
                started = time.perf_counter()
                created = await connection.run_sync(lambda sync, index=index: _create_missing(sync, index))
                if created:
                    print(f"created index {index.name} in {time.perf_counter() - started:.1f} s")


def _create_missing(sync, index) -> bool:
    if sync.dialect.name == "sqlite":
        # SQLAlchemy's SQLite inspector skips expression indexes (ix_member_joined_*): asked by name,
        # or a fresh data set failed here with "index ... already exists".
        present = sync.execute(text("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = :name"),
                               {"name": index.name}).first() is not None
    else:
        present = index.name in {i["name"] for i in inspect(sync).get_indexes(index.table.name)}
    if present:
        return False
    index.create(sync)
    return True


async def open_engine(engine_name: str, orgs: int, members: int, sqlite_file: str | None = None):
    if engine_name == "sqlite":
        path = Path(sqlite_file) if sqlite_file else sqlite_path(orgs, members)
        path.parent.mkdir(parents=True, exist_ok=True)
        return make_engine(f"sqlite+aiosqlite:///{path}"), str(path)
    schema = schema_name(orgs, members)
    admin = make_engine(POSTGRES)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    await admin.dispose()
    # The same server settings as production (make_engine's default) plus the schema.
    engine = make_engine(POSTGRES, connect_args={"server_settings": {
        "search_path": schema, "plan_cache_mode": "force_custom_plan"}})
    return engine, f"schema {schema}"


async def prepare(engine, orgs: int, members: int) -> dict:
    """Generates the tree when the database is empty; makes the two accounts when missing."""
    async with engine.begin() as connection:
        await connection.run_sync(models.Base.metadata.create_all)
    await catch_up(engine)
    o, m, a = models.Organization, models.Member, models.Account
    sessionmaker = make_sessionmaker(engine)
    await ensure_demo(engine, orgs, members)
    if engine.dialect.name == "postgresql":
        # A server in service has statistics and a visibility map (autovacuum); a fresh bulk load
        # has neither, and plans differ (no index-only scans). VACUUM ANALYZE once, as autovacuum
        # would (autovacuum may be off: it is off on the local test server).
        async with engine.connect() as connection:
            never = await connection.scalar(text(
                "SELECT last_vacuum IS NULL AND last_autovacuum IS NULL FROM pg_stat_user_tables "
                "WHERE relid = 'member'::regclass"))
        if never:
            async with engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                started = time.perf_counter()
                tables = ", ".join(models.Base.metadata.tables)  # this schema's, by search_path
                await connection.execute(text(f"VACUUM ANALYZE {tables}"))
                print(f"VACUUM ANALYZE in {time.perf_counter() - started:.1f} s")
    async with sessionmaker() as session:
        root = await session.scalar(select(o).where(o.parent_id.is_(None)))
        level1 = (await session.execute(select(o.id, o.path, o.name).where(o.depth == 1))).all()
        by_org = dict((await session.execute(select(m.organization_id, func.count()).group_by(m.organization_id))).all())
        org_paths = dict((await session.execute(select(o.id, o.path))).all())
        org_count = len(org_paths)
        member_count = sum(by_org.values())
    # Level-1 organization of each organization: the second id of its path.
    under: Counter[int] = Counter()
    for org_id, n in by_org.items():
        ids = org_paths[org_id].strip("/").split("/")
        if len(ids) >= 2:
            under[int(ids[1])] += n
    top_id, _top_path, top_name = max(level1, key=lambda row: under[row[0]])
    hasher = Argon2Hasher(CHEAPEST)
    async with sessionmaker() as session, session.begin():
        have = {u: org_id for u, org_id in (await session.execute(
            select(a.username, a.organization_id).where(a.username.in_([ADMIN, VIEWER])))).all()}
        if ADMIN not in have:
            await accounts.create(session, SYSTEM_ACTOR, hasher, organization_id=root.id, username=ADMIN,
                                  password=PASSWORD, name="基准测试管理员", role="ADMIN")
        if VIEWER not in have:
            await accounts.create(session, SYSTEM_ACTOR, hasher, organization_id=top_id, username=VIEWER,
                                  password=PASSWORD, name="基准测试查看", role="VIEWER")
        elif have[VIEWER] != top_id:
            raise SystemExit(f"{VIEWER} exists at organization {have[VIEWER]}, expected {top_id}")
    async with sessionmaker() as session:
        viewer_org = await session.get(o, top_id)
        children = await session.scalar(select(func.count()).select_from(o).where(o.parent_id == top_id))
        descendants = await session.scalar(select(func.count()).select_from(o).where(
            o.path >= viewer_org.path, o.path < viewer_org.path[:-1] + "0"))
        root_children = await session.scalar(select(func.count()).select_from(o).where(o.parent_id == root.id))
    return {
        "orgs": org_count, "members": member_count,
        "root": (root.name, root_children, org_count, member_count),
        "viewer": (top_name, children, descendants, under[top_id]),
    }


# ------------------------------------------------------------------ statement capture

@dataclass
class Capture:
    active: bool = False
    statements: list = field(default_factory=list)  # (sql, parameters, ms)

    def attach(self, sync_engine) -> None:
        @event.listens_for(sync_engine, "before_cursor_execute")
        def before(conn, cursor, statement, parameters, context, executemany):
            if self.active:
                conn.info.setdefault("bench_started", []).append(time.perf_counter())

        @event.listens_for(sync_engine, "after_cursor_execute")
        def after(conn, cursor, statement, parameters, context, executemany):
            if self.active and conn.info.get("bench_started"):
                started = conn.info["bench_started"].pop()
                self.statements.append((statement, parameters, (time.perf_counter() - started) * 1000))


async def explain(engine, statement: str, parameters) -> str:
    if engine.dialect.name == "sqlite":
        prefix = "EXPLAIN QUERY PLAN "
    else:
        prefix = "EXPLAIN (ANALYZE, BUFFERS) "
    async with engine.connect() as connection:
        result = await connection.exec_driver_sql(prefix + statement, parameters)
        rows = result.all()
    if engine.dialect.name == "sqlite":
        # (id, parent, notused, detail) → an indented tree.
        depth = {0: -1}
        lines = []
        for node_id, parent, _unused, detail in rows:
            depth[node_id] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node_id] + detail)
        return "\n".join(lines)
    return "\n".join(r[0] for r in rows)


# ------------------------------------------------------------------ the run

class Client:
    def __init__(self, http: httpx.AsyncClient):
        self.http = http

    async def post(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post("/graphql", json={"query": query, "variables": variables or {}},
                                        headers=headers)
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise SystemExit(f"query failed ({response.status_code}): {query}\n{json.dumps(body, ensure_ascii=False)[:2000]}")
        return body["data"]

    async def login(self, username: str) -> str:
        data = await self.post(
            "mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) "
            "{ token userErrors { message } } }", {"u": username, "p": PASSWORD})
        token = data["login"]["token"]
        if not token:
            raise SystemExit(f"login of {username} failed: {data}")
        return token


def summary(query_id: str, data: dict) -> str:
    """A short check that the answer has the expected shape and size."""
    if query_id == "0":
        return data["viewer"]["name"]
    if query_id in ("5", "8"):
        conn = data["members"]
    else:
        org = data["viewer"]["organization"]
        if query_id == "1":
            return f"memberCount={org['memberCount']}"
        if query_id == "2":
            return f"{len(org['children'])} children, sum={sum(c['memberCount'] for c in org['children'])}"
        conn = org["descendants"] if query_id == "7" else org["members"]
    parts = []
    if "totalCount" in conn:
        parts.append(f"totalCount={conn['totalCount']}")
    if "edges" in conn:
        parts.append(f"{len(conn['edges'])} rows")
    return ", ".join(parts)


async def run(engine_name: str, orgs: int, members: int, repeat: int, slow_ms: float, only: list[str],
              sqlite_file: str | None = None) -> None:
    engine, where = await open_engine(engine_name, orgs, members, sqlite_file)
    capture = Capture()
    capture.attach(engine.sync_engine)
    try:
        info = await prepare(engine, orgs, members)
        print(f"{engine_name} ({where}): {info['orgs']} organizations, {info['members']} members")
        name, children, descendants, people = info["root"]
        print(f"  ADMIN  {ADMIN} at the root {name}: {children} children, {descendants} organizations, {people} members")
        name, children, descendants, people = info["viewer"]
        print(f"  VIEWER {VIEWER} at {name}: {children} children, {descendants} organizations, {people} members")
        app = create_app(engine, Settings(password_profile="cheapest"))
        results = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
            client = Client(http)
            tokens = {"ADMIN": await client.login(ADMIN), "VIEWER": await client.login(VIEWER)}
            cursors = {}
            for role, token in tokens.items():
                data = await client.post(CURSOR_QUERY, token=token)
                cursors[role] = data["viewer"]["organization"]["members"]["pageInfo"]["endCursor"]
            for query_id, query in QUERIES.items():
                if only and query_id not in only:
                    continue
                for role, token in tokens.items():
                    variables = {"after": cursors[role]} if query_id == "4" else None
                    data = await client.post(query, variables, token)  # warm-up
                    times = []
                    for _ in range(repeat):
                        started = time.perf_counter()
                        await client.post(query, variables, token)
                        times.append((time.perf_counter() - started) * 1000)
                    results.append((query_id, role, min(times), statistics.median(times), summary(query_id, data)))
                    print(f"  . {query_id} {role:6} {min(times):9.1f} ms  {summary(query_id, data)}", flush=True)

            print(f"\n{engine_name}: best and median of {repeat} runs after one warm-up (ms)")
            print(f"{'query':>5}  {'role':6}  {'best':>9}  {'median':>9}  what / answer")
            for query_id, role, best, median, answer in results:
                flag = " *" if best > slow_ms else ""
                print(f"{query_id:>5}  {role:6}  {best:9.1f}  {median:9.1f}  {DESCRIPTIONS[query_id]} → {answer}{flag}")

            slow = [(q, r) for q, r, best, _m, _a in results if best > slow_ms]
            if slow:
                print(f"\n* slower than {slow_ms:.0f} ms: statements and the plan of the slowest one")
            for query_id, role in slow:
                variables = {"after": cursors[role]} if query_id == "4" else None
                capture.statements.clear()
                capture.active = True
                try:
                    await client.post(QUERIES[query_id], variables, tokens[role])
                finally:
                    capture.active = False
                statements = list(capture.statements)
                print(f"\n=== query {query_id} as {role}: {len(statements)} statements, "
                      f"{sum(s[2] for s in statements):.1f} ms in the database")
                for i, (sql, params, ms) in enumerate(statements, 1):
                    print(f"--- statement {i}: {ms:.1f} ms, parameters {_short(params)}")
                    print(sql)
                sql, params, ms = max(statements, key=lambda s: s[2])
                print(f"--- plan of the slowest statement ({ms:.1f} ms):")
                print(await explain(engine, sql, params))
    finally:
        await engine.dispose()


def _short(params) -> str:
    text_ = repr(tuple(params) if isinstance(params, (list, tuple)) else params)
    return text_ if len(text_) < 400 else text_[:400] + "…"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--orgs", type=int, default=50_000)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--slow", type=float, default=300.0, help="explain queries slower than this (ms)")
    parser.add_argument("--only", nargs="*", default=[], help="query numbers to run (default: all)")
    parser.add_argument("--sqlite-file", help="another SQLite file (say, a copy to try an index on); "
                                              "default var/bench/dashboard-ORGS-MEMBERS.db")
    args = parser.parse_args()
    asyncio.run(run(args.engine, args.orgs, args.members, args.repeat, args.slow, args.only, args.sqlite_file))


if __name__ == "__main__":
    main()
