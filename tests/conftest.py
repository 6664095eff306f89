"""Every test gets a fresh database: an SQLite file always, and PostgreSQL as well when
TEST_DATABASE_URL is set or a local server answers (one schema per test)."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import uuid

import httpx
import pytest

from db import clock, models
from db.engine import make_engine, make_sessionmaker
from db.tree import HEALTHY, invariant_violations
from gql.app import create_app
from gql.ids import to_global_id
from gql.settings import Settings
from tests.factories import PASSWORD, build_world

# One day for the whole run, the app's and the tests' (db.clock): a run that crosses midnight
# UTC would otherwise compare expectations fixed at import with answers of the next day. Pinned
# before any test module is imported, since several fix TODAY when imported. The browser tests'
# server runs in a process of its own and reads the calendar.
clock.pin(dt.date.today())

LOCAL_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _postgres_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    if os.environ.get("DANGJIAN_SKIP_POSTGRES"):
        return None

    async def probe() -> bool:
        try:
            import asyncpg

            connection = await asyncio.wait_for(asyncpg.connect(LOCAL_POSTGRES.replace("+asyncpg", "")), 3)
            await connection.close()
            return True
        except Exception:
            return False

    return LOCAL_POSTGRES if asyncio.run(probe()) else None


POSTGRES_URL = _postgres_url()
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


@contextlib.asynccontextmanager
async def temporary_postgres_database(prefix: str = "dangjian_tmp"):
    """A fresh PostgreSQL database of its own (for migrations and CLI tests that need a whole
    database, not a schema); yields its URL and drops it afterwards, open connections and all."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.dispose()


async def assert_healthy(engine) -> None:
    """Whatever a test did through the services, the tree and its rollups still hold."""
    async with make_sessionmaker(engine)() as session:
        assert await invariant_violations(session) == HEALTHY


# An empty SQLite database with every table, made by create_all once per process and copied for each
# test (a file copy instead of create_all: ~80 ms less per SQLite test).
_SQLITE_TEMPLATE: list = []
_POSTGRES_DDL: list = []  # create_all's statements for PostgreSQL, collected once


def _postgres_ddl() -> str:
    """create_all's DDL for PostgreSQL as one script, collected once (a mock engine records what
    create_all would send, no checks first): sent in one round trip it makes a test's schema in
    ~0.2 s instead of create_all's ~0.4 s (its per-table existence checks and per-statement
    round trips), on each of ~740 PostgreSQL tests."""
    if not _POSTGRES_DDL:
        from sqlalchemy import create_mock_engine

        statements: list[str] = []
        mock = create_mock_engine("postgresql+asyncpg://", lambda sql, *a, **k: statements.append(
            str(sql.compile(dialect=mock.dialect)).strip()))
        models.Base.metadata.create_all(mock, checkfirst=False)
        _POSTGRES_DDL.append(";\n".join(statements))
    return _POSTGRES_DDL[0]


# SQLAlchemy's compiled-statement cache per engine (default 500 entries): the suite's tests of every
# dimension and pair, generic and prebuilt, today and past, go past 500 shapes in one test and then
# compiled most statements again (tests/test_statistics_prebuilt.py's kept-day test on SQLite: 36 s
# with 500, 28 s with 5,000, on a machine 3x slower than most). A test's engine lives for one test.
QUERY_CACHE_SIZE = 5_000


@pytest.fixture(params=BACKENDS)
async def engine(request, tmp_path, tmp_path_factory):
    if request.param == "sqlite":
        template = _SQLITE_TEMPLATE[0] if _SQLITE_TEMPLATE else None
        if template is None:
            template = str(tmp_path_factory.mktemp("template") / "empty.db")
            maker = make_engine(f"sqlite+aiosqlite:///{template}")
            async with maker.begin() as connection:
                await connection.run_sync(models.Base.metadata.create_all)
            await maker.dispose()
            _SQLITE_TEMPLATE.append(template)
        shutil.copyfile(template, tmp_path / "test.db")
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/test.db", query_cache_size=QUERY_CACHE_SIZE)
        yield engine
        await assert_healthy(engine)
        await engine.dispose()
        return
    schema_name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    async with admin.begin() as connection:
        await connection.exec_driver_sql(f'CREATE SCHEMA "{schema_name}"')
    engine = make_engine(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema_name}},
                         query_cache_size=QUERY_CACHE_SIZE)
    async with engine.begin() as connection:
        raw = await connection.get_raw_connection()
        await raw.driver_connection.execute(_postgres_ddl())  # asyncpg: a script, one round trip
    yield engine
    await assert_healthy(engine)
    await engine.dispose()
    async with admin.begin() as connection:
        await connection.exec_driver_sql(f'DROP SCHEMA "{schema_name}" CASCADE')
    await admin.dispose()


@pytest.fixture
def settings() -> Settings:
    # The per-address sign-in allowance (30 per 15 minutes) would cut short the tests that send
    # dozens of wrong passwords from the test client's one address; tests/test_sign_in_throttle.py
    # tests it with its own settings.
    return Settings(password_profile="cheapest", sign_in_per_address=100_000)


@pytest.fixture
async def client(engine, settings):
    app = create_app(engine, settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


@pytest.fixture
async def world(engine):
    return await build_world(engine)


class Api:
    """Posts GraphQL to the app and signs in the world's accounts."""

    def __init__(self, http: httpx.AsyncClient):
        self.http = http
        self.tokens: dict[str, str] = {}

    async def post(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post("/graphql", json={"query": query, "variables": variables or {}},
                                        headers=headers)
        assert response.status_code in (200, 400), response.text
        return response.json()

    async def login(self, username: str, password: str = PASSWORD) -> str:
        if username in self.tokens:
            return self.tokens[username]
        result = await self.post(
            "mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { token userErrors { message } } }",
            {"u": username, "p": password})
        token = result["data"]["login"]["token"]
        assert token, result
        self.tokens[username] = token
        return token

    async def as_(self, username: str | None, query: str, variables: dict | None = None) -> dict:
        token = await self.login(username) if username else None
        return await self.post(query, variables, token)


@pytest.fixture
def api(client) -> Api:
    return Api(client)


def gid(type_name: str, row) -> str:
    return to_global_id(type_name, row.id)


def error_codes(result: dict) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in result.get("errors") or []]


PROTECTED = '{ organization(code: "001") { name } }'


async def is_signed_in(api: Api, token: str) -> bool:
    """True when the token reaches a protected field; False when it gives UNAUTHENTICATED."""
    result = await api.post(PROTECTED, token=token)
    if error_codes(result) == ["UNAUTHENTICATED"]:
        return False
    assert "errors" not in result, result
    return True
