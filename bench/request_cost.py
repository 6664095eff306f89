"""One worker's cost per request, in process: the ASGI app (every middleware, GraphQL, the database
over asyncpg) called directly, one request after another, no HTTP server and no client.

    .venv/bin/python -m bench.request_cost [W3-100 W4-100 W3-10k ...] [--requests 500] [--calls]
        [--profile FILE] [--as-of 2025-12-31] [--phases]

Why: bench/compare.py measures req/s of a served worker against PostGraphile, which a shared
2-core machine moves by ±50%; this isolates the worker's own CPU per request (process time, user
and system) and, with --calls, the number of Python function calls per request (cProfile), which
no load moves: a change to the per-request path shows there exactly. The workloads and data are
compare's (its PostgreSQL schema and ADMIN account, made by its first run; `python -m bench
compare` builds them), served as compare serves `dangjian`: response cache off, production
password profile, uvloop. Compare two checkouts by running this module from each (PYTHONPATH),
interleaved, and take the lowest CPU of several runs each.

What it found on the cross-tabs (issue 9's per-request cost), see the commits of the branch that
added it: at W3-100 the request was ~3 ms of CPU in process on a quiet moment, of which the
completion of the answer's objects by graphql-core behind a per-request resolve hook (23%), the
SQLAlchemy execution of its 3 statements and the session (17%), building the GROUP BY anew in
db.services.statistics (9%), the extension hooks, the argument conversion and the lookup of the
scope organization (5% each).

--phases splits the CPU per request between the request body's parsing, the token lookup
(gql.context.viewer_for_request), schema.execute (strawberry and graphql-core, the resolvers and
their SQL included), the service call inside it (db.services.statistics.cross_tab) and closing the
request's session (its ROLLBACK); the rest is the ASGI app without uvicorn: Starlette, the
middlewares, strawberry's HTTP view, the JSON. Each phase's coroutine is timed from its call to its
return in process time, which counts only while this process runs; no profiler is in the way.
Measured on 2026-12-01 (07:58, a quiet moment, 1,000 requests, commit 8839467), W3-100: 1.55 ms of
CPU per request; the body 0.06 ms (4%), the token lookup 0.31 ms (20%: the session's connection
from the pool, its BEGIN and the token's statement), schema.execute 0.83 ms (54%) of which the
service call 0.38 ms (25%), closing the session 0.16 ms (10%), the rest ~0.19 ms (12%). W4-100:
1.86 ms; 4%, 19%, 56% (the service call 27%), 10%. PostGraphile answered W3-100 in 0.8 ms at one
connection in the same hour (bench.compare, HTTP included): no one of these parts alone is the gap.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import sys
import time

from bench import compare

LOGIN = "mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { token } }"


async def call(app, body: bytes, token: str | None) -> tuple[int, bytes]:
    """One POST /graphql through the whole ASGI app."""
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/graphql", "raw_path": b"/graphql", "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {}}
    received = False

    async def receive():
        nonlocal received
        if received:
            await asyncio.Event().wait()  # the client never goes away
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    messages = []

    async def send(message):
        messages.append(message)

    await app(scope, receive, send)
    return messages[0]["status"], b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


class Phases:
    """CPU (process time) spent inside some coroutine functions, patched in place for the run."""

    def __init__(self):
        self.spent: dict[str, float] = {}
        self.undo: list = []

    def time(self, owner, name: str, label: str) -> None:
        original = getattr(owner, name)
        spent = self.spent
        spent[label] = 0.0  # printed in this order

        async def timed(*args, **kwargs):
            started = time.process_time()
            try:
                return await original(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.process_time() - started

        setattr(owner, name, timed)
        self.undo.append((owner, name, original))

    def restore(self) -> None:
        for owner, name, original in reversed(self.undo):
            setattr(owner, name, original)
        self.undo.clear()


def patch_phases() -> Phases:
    import gql.app
    from db.services import statistics
    from gql.db import Db
    from gql.schema import schema

    phases = Phases()
    phases.time(gql.app.GraphQLView, "parse_http_body", "request body (parse_http_body)")
    phases.time(gql.app, "viewer_for_request", "token lookup (viewer_for_request: BEGIN and the token)")
    phases.time(schema, "execute", "schema.execute")
    phases.time(statistics, "cross_tab", "  of which the service call (statistics.cross_tab)")
    phases.time(Db, "close", "closing the session (Db.close: ROLLBACK, the connection back to the pool)")
    return phases


async def run(args) -> int:
    data = await compare.prepare_postgres(args.orgs, args.members, None)
    os.environ.update({"DATABASE_URL": compare.role_url(data.schema), "DANGJIAN_RESPONSE_CACHE": "0",
                       "DANGJIAN_PASSWORD_PROFILE": "production"})
    from gql.app import create_app, freeze_startup_objects

    app = create_app()
    status, body = await call(app, json.dumps({"query": LOGIN, "variables": {"u": compare.ADMIN, "p": compare.PASSWORD}})
                              .encode(), None)
    token = json.loads(body)["data"]["login"]["token"]
    freeze_startup_objects()
    for workload in args.workloads:
        kind = workload.split("-")[0]
        query, variables = compare.DANGJIAN_QUERY[kind], compare.variables(kind, data.codes[workload], data.ids)
        if args.as_of is not None:
            if kind not in ("W3", "W4"):
                raise SystemExit("--as-of: the cross-tab workloads (W3, W4) only")
            # The same cross-tab as of a past day (a kept day or not: `python -m db snapshot`).
            query = query.replace("query($org: ID!)", "query($org: ID!, $asOf: Date)").replace(
                "}) {", ", asOf: $asOf}) {", 1)
            variables = {**variables, "asOf": args.as_of}
        request = json.dumps({"query": query, "variables": variables}).encode()
        status, body = await call(app, request, token)
        if status != 200 or b'"errors"' in body:
            raise SystemExit(f"{workload}: {status} {body[:500]!r}")
        for _ in range(min(50, args.requests)):
            await call(app, request, token)
        phases = patch_phases() if args.phases else None
        gc.collect()
        # CPU time, not wall: waiting for PostgreSQL inside a greenlet would count as the time of the
        # frame that switched out (sqlalchemy _execute_context, ~20% of a wall-clock profile).
        profile = cProfile.Profile(time.process_time) if (args.calls or args.profile) else None
        if profile:
            profile.enable()
        times, started = os.times(), time.perf_counter()
        for _ in range(args.requests):
            await call(app, request, token)
        elapsed, ended = time.perf_counter() - started, os.times()
        n = args.requests
        line = (f"{workload}{' as of ' + args.as_of if args.as_of else ''}: {n} requests, {elapsed / n * 1e3:.2f} ms wall, "
                f"{(ended.user - times.user + ended.system - times.system) / n * 1e3:.2f} ms CPU "
                f"(user {(ended.user - times.user) / n * 1e3:.2f}, system {(ended.system - times.system) / n * 1e3:.2f}) "
                "per request")
        if profile:
            profile.disable()
            stats = pstats.Stats(profile)
            line += f", {stats.total_calls / n:.0f} Python calls per request"
            if args.profile:
                profile.dump_stats(f"{args.profile}.{workload}")
        print(line, flush=True)
        if phases:
            phases.restore()
            cpu = ended.user - times.user + ended.system - times.system
            for label, spent in phases.spent.items():
                print(f"  {label}: {spent / n * 1e3:.3f} ms ({spent / cpu:.0%})", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.request_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("workloads", nargs="*", default=["W3-100", "W4-100", "W3-10k"],
                        help=f"of bench.compare: {', '.join(compare.WORKLOADS)}")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--as-of", metavar="DAY", help="the cross-tabs as of DAY (YYYY-MM-DD)")
    parser.add_argument("--calls", action="store_true", help="count Python calls per request (cProfile; slower)")
    parser.add_argument("--profile", metavar="FILE", help="dump cProfile stats to FILE.<workload>")
    parser.add_argument("--phases", action="store_true",
                        help="split the CPU per request between schema.execute, the service call, the token, ...")
    parser.add_argument("--orgs", type=int, default=50_000)
    parser.add_argument("--members", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    unknown = [w for w in args.workloads if w not in compare.WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(unknown)}")
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
