"""Every test gets a database of its own with no rows but those it asks for: an SQLite file always,
and PostgreSQL as well when TEST_DATABASE_URL is set or a local server answers (a schema of its
own for the test's length, emptied afterwards for a later test of the same process: _PG_POOL).
The world and the data fixtures build on it are copied from templates built once per process
(_TEMPLATES)."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import uuid

import httpx
import pytest
from sqlalchemy import Integer

from db import clock, models
from db.engine import make_engine, make_sessionmaker
from db.tree import HEALTHY, invariant_violations
from gql.app import create_app
from gql.ids import to_global_id
from gql.settings import Settings
from tests.factories import PASSWORD, build_world, load_world

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


# An empty SQLite database with every table (and one holding the world) is made once per process and
# copied for each test (a file copy instead of create_all: ~80 ms less per SQLite test).
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


# Schemas of this process that a finished test left as fresh (every row deleted, every sequence
# restarted), ready for the next PostgreSQL test. Making a schema (CREATE SCHEMA and the DDL) and
# dropping it cost ~120 ms of catalog work per test on a quiet machine and ~350 ms on a busy one
# (measured 2026-12-01: 85 + 32 and 241 + 111 ms), against 6-23 ms for the reset; and each made
# and dropped schema left ~165 dead rows in pg_class and ~500 in pg_attribute (autovacuum is off
# on these machines). A schema is reused only when every relation the DDL made is still there,
# none was analyzed or vacuumed (the planner's statistics stay those of a fresh schema) and they
# are small (the reset's dead rows stay until a VACUUM): otherwise it is dropped as before. A
# relation a test adds is not looked for (no test makes one; a column added or dropped would make
# the next test's world copy fail loudly, not differently).
_PG_POOL: list[str] = []
_PG_RELATIONS: dict[str, list[int]] = {}  # schema -> the oids of the relations its DDL made
_PG_REUSE_BYTES = 4 * 1024 * 1024  # above this (the DDL makes ~1.5 MB) a schema is dropped
_PG_RELATIONS_OF = "SELECT array_agg(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1"
_PG_STATE = """SELECT count(*), count(*) FILTER (WHERE relkind = 'r' AND reltuples >= 0),
    coalesce(sum(pg_relation_size(oid)), 0) FROM pg_class WHERE oid = ANY($1::oid[])"""

# The world (tests/factories.py build_world), and data that fixtures build on it (DATA_TEMPLATES:
# the statistics tree), are built once per process and per engine kind, and copied into each
# test's database that asks for them: a file copy for SQLite, one INSERT ... SELECT script from a
# template schema for PostgreSQL. build_world's ~70 service calls took 79 ms (PostgreSQL) and
# 300-550 ms (SQLite: aiosqlite's thread hop per statement) per test on this kind of machine, the
# statistics tree 0.4-1 s more; the copy takes ~9 ms or a file copy. The objects a fixture returns
# are then read back from the test's own database by their ids.
_TEMPLATES: dict = {}  # (kind, name) -> its SQLite file or PostgreSQL schema; ("ids", name) -> ids
DATA_TEMPLATES: dict = {}  # name -> async builder(engine, world) -> {key: organization id}
_TEMPLATE_ROWS: dict = {}  # (dialect, name) -> {table: rows} as the template was built


def _sequences() -> list[tuple[str, str]]:
    """(table, sequence) of every serial primary key, as create_all names them on PostgreSQL."""
    found = []
    for table in models.Base.metadata.sorted_tables:
        key = list(table.primary_key.columns)
        if len(key) == 1 and key[0].autoincrement in (True, "auto") and isinstance(key[0].type, Integer):
            found.append((table.name, f"{table.name}_{key[0].name}_seq"))
    return found


def _pg_reset_script(schema: str) -> str:
    tables = [t.name for t in models.Base.metadata.sorted_tables]
    # Children before parents (no table refers to a later one in sorted_tables; organization's
    # reference to itself is checked at the end of its one statement): no superuser needed.
    return "\n".join(["BEGIN;", *(f'DELETE FROM "{schema}"."{name}";' for name in reversed(tables)),
                      *(f'ALTER SEQUENCE "{schema}"."{sequence}" RESTART;' for _, sequence in _sequences()),
                      "COMMIT;"])


def _pg_copy_script(schema: str, template: str) -> str:
    tables = [t.name for t in models.Base.metadata.sorted_tables]
    return "\n".join(["BEGIN;", *(f'INSERT INTO "{schema}"."{name}" SELECT * FROM "{template}"."{name}";' for name in tables),
                      *(f"""SELECT setval('"{schema}"."{sequence}"', last_value, is_called) FROM "{template}"."{sequence}";"""
                        for _, sequence in _sequences()),
                      "COMMIT;"])


def data_template(name: str):
    """Register a fixture's builder (engine, world) -> {key: organization id} whose rows are built
    once per process on the world and copied for each test that asks for the fixture `name`."""
    def register(builder):
        DATA_TEMPLATES[name] = builder
        return builder
    return register


def template_orgs(engine, name: str) -> dict | None:
    """The organization ids a data template's builder returned, when this engine's database was
    filled from that template; None when the fixture must build its data itself."""
    return _TEMPLATES[("ids", name)] if _HOLDS.get(id(engine)) == name else None


def _world_ids(world) -> dict:
    return {kind: {key: row.id for key, row in getattr(world, kind).items()} for kind in ("orgs", "members", "accounts")}


async def _fill(maker, name: str) -> None:
    """Build template `name` into a database that is empty ("world") or holds the world's rows."""
    if name == "world":
        ids = _world_ids(await build_world(maker))
    else:
        ids = await DATA_TEMPLATES[name](maker, await load_world(maker, _TEMPLATES[("ids", "world")]))
    assert _TEMPLATES.setdefault(("ids", name), ids) == ids, "a template is built the same on both engines"
    _TEMPLATE_ROWS[(maker.dialect.name, name)] = await row_counts(maker)  # per engine: their paths may differ


def _row_counts_sql() -> str:
    return " UNION ALL ".join(f"SELECT '{t.name}', count(*) FROM \"{t.name}\"" for t in models.Base.metadata.sorted_tables)


async def row_counts(engine) -> dict[str, int]:
    """Rows per table (the engine's schema), in one statement."""
    async with engine.connect() as connection:
        return {name: n for name, n in (await connection.exec_driver_sql(_row_counts_sql())).all()}


async def assert_template_untouched(engine) -> None:
    """The database copied from a template holds the template's rows still, when the world fixture
    hands it out. A fixture that wrote before it (one that does not ask for the world and comes
    first) did so on top of the copied world, where in place it wrote into an empty database:
    such a module sets WORLD_FROM_TEMPLATE = False (tests/test_as_of_snapshot.py). Counted per
    table: an insert or a delete shows, an update of a copied row does not."""
    name = _HOLDS[id(engine)]
    now = await row_counts(engine)
    then = _TEMPLATE_ROWS[(engine.dialect.name, name)]
    changed = {table: (then[table], now[table]) for table in then if then[table] != now[table]}
    assert not changed, (f"rows were written before the world fixture, on top of the copied {name!r} template "
                         f"(table: template rows, now): {changed}; a module whose fixtures write before the "
                         f"world sets WORLD_FROM_TEMPLATE = False")


async def _sqlite_template(tmp_path_factory, name: str | None) -> str:
    key = ("sqlite", name)
    if key not in _TEMPLATES:
        path = str(tmp_path_factory.mktemp("template") / f"{name or 'empty'}.db")
        if name is None:
            maker = make_engine(f"sqlite+aiosqlite:///{path}")
            async with maker.begin() as connection:
                await connection.run_sync(models.Base.metadata.create_all)
        else:
            shutil.copyfile(await _sqlite_template(tmp_path_factory, None if name == "world" else "world"), path)
            maker = make_engine(f"sqlite+aiosqlite:///{path}")
            await _fill(maker, name)
        await maker.dispose()  # checkpoints the WAL: the template is one file
        _TEMPLATES[key] = path
    return _TEMPLATES[key]


async def _pg_template(name: str) -> str:
    key = ("postgresql", name)
    if key not in _TEMPLATES:
        base = None if name == "world" else await _pg_template("world")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        maker = make_engine(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}})
        async with maker.begin() as connection:
            raw = await connection.get_raw_connection()
            await raw.driver_connection.execute(f'CREATE SCHEMA "{schema}";\n' + _postgres_ddl() + ";\n"
                                                + (_pg_copy_script(schema, base) if base else ""))
        await _fill(maker, name)
        await maker.dispose()
        _TEMPLATES[key] = schema
    return _TEMPLATES[key]


def pytest_sessionfinish(session):
    """Drop this process's pooled schemas and its template schemas (each xdist worker has its own)."""
    names = list(_PG_POOL) + [schema for (kind, _), schema in _TEMPLATES.items() if kind == "postgresql"]
    if not names or not POSTGRES_URL:
        return

    async def drop() -> None:
        import asyncpg

        connection = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
        try:
            await connection.execute(";".join(f'DROP SCHEMA IF EXISTS "{name}" CASCADE' for name in names))
        finally:
            await connection.close()

    try:
        asyncio.run(drop())
    except Exception as exc:  # the server went away: the schemas stay, the results stand
        print(f"conftest: could not drop this process's test schemas: {exc!r}")
    _PG_POOL.clear()


# Engines whose database was filled from a template: id(engine) -> the template's name.
_HOLDS: dict[int, str] = {}


def _template_for(request) -> str | None:
    """The template a test's database starts from: the one data template among its fixtures (on
    the world), else the world when it asks for it, else none. A module whose fixtures write before
    the world is made (tests/test_as_of_snapshot.py keeps its days in an empty database) sets
    WORLD_FROM_TEMPLATE = False: its world and data are built in place."""
    names = request.fixturenames
    if "world" not in names or not getattr(request.module, "WORLD_FROM_TEMPLATE", True):
        return None
    data = [name for name in DATA_TEMPLATES if name in names]
    return data[0] if len(data) == 1 else "world"


@pytest.fixture(params=BACKENDS)
async def engine(request, tmp_path, tmp_path_factory):
    name = _template_for(request)
    if request.param == "sqlite":
        template = await _sqlite_template(tmp_path_factory, name)
        shutil.copyfile(template, tmp_path / "test.db")
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/test.db", query_cache_size=QUERY_CACHE_SIZE)
        if name:
            _HOLDS[id(engine)] = name
        yield engine
        _HOLDS.pop(id(engine), None)
        await assert_healthy(engine)
        await engine.dispose()
        return
    template = await _pg_template(name) if name else None
    fresh = not _PG_POOL
    schema_name = f"t_{uuid.uuid4().hex[:12]}" if fresh else _PG_POOL.pop()
    engine = make_engine(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema_name}},
                         query_cache_size=QUERY_CACHE_SIZE)
    try:
        async with engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            if not fresh:  # analyzed while it waited (a database-wide ANALYZE: db.demo): made afresh
                present, analyzed, _ = await raw.fetchrow(_PG_STATE, _PG_RELATIONS[schema_name])
                if analyzed or present != len(_PG_RELATIONS[schema_name]):
                    await raw.execute(f'DROP SCHEMA "{schema_name}" CASCADE')
                    fresh = True
            script = [f'CREATE SCHEMA "{schema_name}";', _postgres_ddl() + ";"] if fresh else []
            if template:
                script.append(_pg_copy_script(schema_name, template))
            if script:
                await raw.execute("\n".join(script))  # asyncpg: a script, one round trip
            if fresh:
                _PG_RELATIONS[schema_name] = await raw.fetchval(_PG_RELATIONS_OF, schema_name)
    except BaseException:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')
            await connection.commit()
        await engine.dispose()
        _PG_RELATIONS.pop(schema_name, None)
        raise
    if name:
        _HOLDS[id(engine)] = name
    yield engine
    _HOLDS.pop(id(engine), None)
    try:
        await assert_healthy(engine)
    finally:  # a schema whose rollups broke is emptied (or dropped) all the same
        reuse = await _empty_or_drop(engine, schema_name)
        await engine.dispose()
        if reuse:
            _PG_POOL.append(schema_name)
        else:
            del _PG_RELATIONS[schema_name]


async def _empty_or_drop(engine, schema_name: str) -> bool:
    """Empty the test's schema for the next test (True) or drop it (False): see _PG_POOL."""
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        relations = _PG_RELATIONS[schema_name]
        present, analyzed, size = await raw.fetchrow(_PG_STATE, relations)
        if present == len(relations) and analyzed == 0 and size <= _PG_REUSE_BYTES:
            await raw.execute(_pg_reset_script(schema_name))
            return True
        await raw.execute(f'DROP SCHEMA "{schema_name}" CASCADE')
        return False


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
    if id(engine) not in _HOLDS:  # built in place (see _template_for), or asked for by getfixturevalue
        # read back like a copied world's: fresh objects, every column loaded, either way
        return await load_world(engine, _world_ids(await build_world(engine)))
    await assert_template_untouched(engine)
    return await load_world(engine, _TEMPLATES[("ids", "world")])


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
