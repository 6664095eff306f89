"""Engines and sessions for SQLite (default, embedded) and PostgreSQL (asyncpg)."""
from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Execution option that marks a session's transaction as a write (see db.session.begin_write).
WRITE_OPTION = "dangjian_write"
DEFAULT_DATABASE_URL = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'dangjian.db'}"


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def normalize_url(url: str) -> str:
    """Accept the usual spellings and pick the async drivers."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://"):]
    if url.startswith("sqlite:///"):
        url = "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
    return url


POSTGRES_SETTINGS = {
    # Generic plans hide the subtree size from the planner (measured 2.4 ms → 54 ms).
    "plan_cache_mode": "force_custom_plan",
    # JIT compilation cost 57–111 ms per aggregate at a million members and saved nothing.
    "jit": "off",
    # Starting parallel workers costs these 2-core VMs several milliseconds, more than the default
    # 1000 tells the planner: a past day's cross-tab over 10,000 members ran as a parallel append
    # of its two parts in 12-14 ms against 6.7-7.2 ms serially (EXPLAIN ANALYZE, medians of 15;
    # today's table 5.1-5.5 ms). At 4000 the same day over the 30,229-member subtree still ran as a
    # parallel append: 20.7-22.4 ms against 12.8-13.9 ms at 10000, today's table 7.3-9.3 ms
    # (`python -m bench.statistics`, 1,000,000-member data, alternating runs, 2026-12-01; every
    # other figure of that run within its noise). Aggregates over a few hundred thousand members
    # and more, whose cost runs to six figures, stay parallel.
    "parallel_setup_cost": "10000",
}


# A pooled PostgreSQL connection idle for longer than this is pinged before use; one in steady
# use is not (see _ping_when_idle).
IDLE_PING_SECONDS = 10.0
# Connections older than this are replaced at checkout (idle timeouts of proxies and firewalls).
POOL_RECYCLE_SECONDS = 1800


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Check a pooled connection before use only when it sat idle in the pool.

    SQLAlchemy's pool_pre_ping checks every checkout, and the asyncpg dialect pings with three
    round trips (BEGIN, `;`, ROLLBACK: a transaction for pgbouncer's sake): 3 of the ~10 round
    trips of a dashboard request (W1), on every request. A connection that served a request a
    moment ago is as alive as a ping would show, so only one idle longer than IDLE_PING_SECONDS
    is pinged (a server restart or a dropped idle connection is found there); a dead one is
    discarded and the pool connects again (SQLAlchemy's documented checkout-event pattern:
    raising DisconnectionError). What a ping would have caught in a busy pool, the first
    statement catches: SQLAlchemy then invalidates the whole pool, and gql.db retries a read
    whose transaction had not started yet (writes are not retried: the client sees one error)."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def checked_in(_dbapi_connection, record):
        if record is not None:
            record.info["dangjian_idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def checked_out(dbapi_connection, record, _proxy):
        idle_since = record.info.pop("dangjian_idle_since", None)
        if idle_since is None or time.monotonic() - idle_since <= IDLE_PING_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError() from error


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def on_connect(dbapi_connection, _record):
        # Take transaction control from the driver so that BEGIN IMMEDIATE below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def on_begin(connection):
        # Writers take the lock up front, so concurrent writers wait (busy_timeout) instead of
        # failing with "database is locked" when a read transaction tries to upgrade. Reads stay
        # deferred: under WAL they never block anyone.
        if connection.get_execution_options().get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


# PostgreSQL connections a worker process keeps open, and how many more it opens at a peak (as many
# again unless DANGJIAN_DB_MAX_OVERFLOW says otherwise). An overflow connection is closed when it
# comes back to a full pool: a load that keeps more requests in flight than POOL_SIZE opens and
# closes a connection for most of its requests.
POOL_SIZE = int(os.environ.get("DANGJIAN_DB_POOL_SIZE", "16"))
MAX_OVERFLOW = int(os.environ.get("DANGJIAN_DB_MAX_OVERFLOW", str(POOL_SIZE)))


def make_engine(url: str | None = None, **kwargs) -> AsyncEngine:
    url = normalize_url(url or database_url())
    # Statement parameters (ID numbers, names, phones) stay out of exception messages and logs.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args["server_settings"] = {**POSTGRES_SETTINGS, **connect_args.get("server_settings", {})}
    # SQLAlchemy's default pool keeps 5 connections and closes every overflow connection on
    # check-in: at 16 concurrent requests a worker opened and closed a PostgreSQL connection for
    # most requests (bench/compare.py, cached W1 at c=16: 473 req/s against 936 at c=1).
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", MAX_OVERFLOW)
    engine = create_async_engine(url, connect_args=connect_args, pool_recycle=POOL_RECYCLE_SECONDS, **kwargs)
    _ping_when_idle(engine)
    return engine


async def analyze(engine: AsyncEngine) -> None:
    """Refresh the planner's statistics (after migrations and bulk loads): without them SQLite
    drives a filtered count from the wrong index (measured 807 ms → 22 ms on 30k members)."""
    async with engine.connect() as connection:
        await connection.exec_driver_sql("ANALYZE")
        await connection.commit()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    # Every session records the data versions of what it writes (db.changes registers the
    # session events on import).
    import db.changes  # noqa: F401
    return async_sessionmaker(engine, expire_on_commit=False)
