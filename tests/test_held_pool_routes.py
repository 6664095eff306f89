"""The routes that do slow or streaming work give their pooled connection back (PostgreSQL).

A reviewer's attacks on the request's held connection (gql.db, db.session.Held) through imports,
exports and transfers, on an app with a pool of one or two connections, its backends tagged by
application_name so that pg_stat_activity shows only this test's. It found three older faults
(each also on c45e2e2, before the connection was held), mended with these tests:
- an import held its read (a pooled connection idle in its transaction) while its upload was
  parsed: two imports parsing on a pool of two left a plain query waiting for the pool's timeout,
  a 500 (gql.imports now gives the connection back first);
- a CSV roster asked for a second connection (its audit entry) while still holding its streaming
  one: as many downloads ending together as the pool holds waited for each other until the pool's
  timeout, every file cut short, no audit entry (gql.exports closes the stream's session first);
- a client gone while the roster waited in `send` (its socket full) left the body generator at its
  `yield`, its session open, until the cyclic garbage collector found it
  (gql.exports.ClosingStreamingResponse closes it).
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import uuid

import asyncpg
import httpx
import pytest
from sqlalchemy import text

import gql.exports as gql_exports
import gql.imports as gql_imports
from db.engine import make_engine
from gql.app import create_app
from gql.settings import Settings
from tests.conftest import POSTGRES_URL, Api, gid
from tests.test_imports import csv_file, good_row

VIEWER = "{ viewer { username } }"


def pg_only(engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a pool of PostgreSQL connections")


@contextlib.asynccontextmanager
async def small_app(engine, pool_size: int):
    """(engine, Api, tag, app): the app on the test's schema with a pool of `pool_size`
    connections, no overflow, a 3 s pool timeout; its backends tagged `tag`."""
    tag = f"held_{uuid.uuid4().hex[:8]}"
    async with engine.connect() as connection:
        schema = (await connection.exec_driver_sql("SHOW search_path")).scalar_one()
    small = make_engine(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema, "application_name": tag}},
                        pool_size=pool_size, max_overflow=0, pool_timeout=3)
    app = create_app(small, Settings(password_profile="cheapest", sign_in_per_address=100_000,
                                     response_cache_entries=0))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                     timeout=60) as http:
            yield small, Api(http), tag, app
    finally:
        await small.dispose()
        await _admin("select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1", tag)


async def _admin(query: str, *args):
    connection = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


async def in_transaction(tag: str) -> list[tuple]:
    return [tuple(r) for r in await _admin(
        "select pid, state, left(query, 70) from pg_stat_activity"
        " where application_name = $1 and state like 'idle in%'", tag)]


async def settle(small, tag: str, seconds: float = 3.0) -> tuple[int, list]:
    """(connections checked out, backends idle in a transaction) once both are none, or after `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if small.pool.checkedout() == 0 and not await in_transaction(tag):
            break
        await asyncio.sleep(0.05)
    return small.pool.checkedout(), await in_transaction(tag)


async def wait_until(predicate, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.02)


# ------------------------------------------------------------------ imports


async def upload(api, token, content, organization):
    return await api.http.post("/import/members", files={"file": ("m.csv", content)},
                               data={"organizationId": gid("Organization", organization)},
                               headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def slow_parse(monkeypatch):
    """The upload's parse (in its worker thread) waits until released; `entered` counts the parses."""
    release, entered = threading.Event(), []
    original = gql_imports._parse

    def parse(data, max_rows):
        entered.append(1)
        release.wait(30)
        return original(data, max_rows)

    monkeypatch.setattr(gql_imports, "_parse", parse)
    yield release, entered
    release.set()


async def test_an_import_holds_no_connection_while_its_file_is_parsed(engine, world, slow_parse):
    pg_only(engine)
    release, entered = slow_parse
    async with small_app(engine, 2) as (small, api, tag, _):
        operator = await api.login("a_operator")
        task = asyncio.create_task(upload(api, operator, csv_file([good_row("慢一")]), world.orgs["a2"]))
        try:
            await wait_until(lambda: len(entered) == 1)
            during = small.pool.checkedout(), await in_transaction(tag)
        finally:
            release.set()
            response = await task
        assert response.status_code == 200, response.text
        assert during == (0, [])


async def test_imports_parsing_on_a_full_pool_leave_queries_answered(engine, world, slow_parse):
    pg_only(engine)
    release, entered = slow_parse
    async with small_app(engine, 2) as (small, api, tag, _):
        operator = await api.login("a_operator")
        viewer = await api.login("a_viewer")
        tasks = [asyncio.create_task(upload(api, operator, csv_file([good_row(f"洪{i}")]), world.orgs["a2"]))
                 for i in range(2)]
        try:
            await wait_until(lambda: len(entered) == 2)
            response = await api.http.post("/graphql", json={"query": VIEWER},
                                           headers={"Authorization": f"Bearer {viewer}"})
        finally:
            release.set()
            results = await asyncio.gather(*tasks)
        assert response.status_code == 200 and response.json()["data"]["viewer"]["username"] == "a_viewer", response.text
        assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
        assert await settle(small, tag) == (0, [])


# ------------------------------------------------------------------ exports


async def audit_count(engine, action: str) -> int:
    async with engine.connect() as connection:
        return (await connection.execute(text("select count(*) from audit_entry where action = :a"),
                                          {"a": action})).scalar_one()


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
async def test_rosters_ending_together_on_a_full_pool_are_whole_and_audited(engine, world, monkeypatch, kind):
    """As many downloads as the pool holds reach their audit entry together."""
    pg_only(engine)
    together = asyncio.Barrier(2)
    record = gql_exports.record_export

    async def meet_then_record(*args, **kwargs):
        await asyncio.wait_for(together.wait(), 10)
        return await record(*args, **kwargs)

    monkeypatch.setattr(gql_exports, "record_export", meet_then_record)
    async with small_app(engine, 2) as (small, api, tag, _):
        token = await api.login("a_viewer")
        params = {"organizationId": gid("Organization", world.orgs["a"])}
        results = await asyncio.gather(*(api.http.get(f"/export/members.{kind}", params=params,
                                                      headers={"Authorization": f"Bearer {token}"})
                                         for _ in range(2)), return_exceptions=True)
        assert [getattr(r, "status_code", repr(r)[:200]) for r in results] == [200, 200]
        assert await settle(small, tag) == (0, [])
        assert await audit_count(engine, f"export:members.{kind}") == 2


def roster_scope(token: str, organization: int, spec: str) -> dict:
    query = f"organizationId={gid('Organization', organization)}"
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": spec}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": "/export/members.csv", "raw_path": b"/export/members.csv",
            "query_string": query.encode(), "root_path": "",
            "headers": [(b"host", b"test"), (b"authorization", f"Bearer {token}".encode())],
            "client": ("127.0.0.1", 5555), "server": ("test", 80)}


async def slow_client_leaves(app, scope: dict) -> None:
    """Drive the app as uvicorn does: the client's socket is full after the first body chunk
    (`send` waits), then the client goes. ASGI 2.3: the disconnect comes through `receive`;
    2.4: `send` raises OSError."""
    gone, started = asyncio.Event(), False
    spec_24 = scope["asgi"]["spec_version"] == "2.4"

    async def receive():
        nonlocal started
        if not started:
            started = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.body":
            gone.set()
            if spec_24:
                raise OSError("the client is gone")
            await asyncio.sleep(3600)

    with contextlib.suppress(Exception):
        await asyncio.wait_for(app(scope, receive, send), 20)


@pytest.mark.parametrize("spec", ["2.3", "2.4"])
async def test_a_slow_client_gone_mid_roster_gives_the_connection_back_at_once(engine, world, spec):
    """No garbage collection needed (paused for the test): the next query on a pool of one is answered."""
    pg_only(engine)
    gc.disable()
    try:
        async with small_app(engine, 1) as (small, api, tag, app):
            token = await api.login("a_viewer")
            await slow_client_leaves(app, roster_scope(token, world.orgs["a"], spec))
            assert await settle(small, tag) == (0, [])
            response = await api.http.post("/graphql", json={"query": VIEWER},
                                           headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
    finally:
        gc.enable()
