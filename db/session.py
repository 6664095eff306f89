"""Transactions: writes begin as writes, reads see one snapshot.

- Writes: BEGIN IMMEDIATE on SQLite (the one writer lock, taken up front); READ COMMITTED on
  PostgreSQL, where the services lock the rows their rules read (db.services.organizations).
- Reads: on PostgreSQL REPEATABLE READ, READ ONLY, so every statement of a request sees the
  snapshot of its first one (a dashboard's counts agree with each other within a response; under
  READ COMMITTED each statement would see whatever committed just before it). A read-only
  REPEATABLE READ transaction never fails with a serialization error and takes no locks. On
  SQLite a deferred read transaction under WAL already is a snapshot from its first read.
"""
from __future__ import annotations

from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from db.engine import WRITE_OPTION

# PostgreSQL's advisory lock of the kept days (db.services.history, "snapshots"): every write
# transaction holds it shared from its start, before any row lock; building a day (or repairing
# the kept days) holds it exclusively. Taken at the flush hook only, after the services' member
# row locks (FOR UPDATE), it deadlocked a build, whose INSERT takes FOR KEY SHARE on those rows
# (its foreign key) while holding the lock exclusively, against any member edit in flight (found
# by a reviewer's race: tests/test_races.py).
#
# Its key is the pair (SNAPSHOT_LOCK, the oid of the state_snapshot table the search path finds):
# an advisory lock belongs to the whole database, and the one constant key it had made every
# schema of a database wait on every other's builds. The suite (a schema per test, two workers)
# hung once at 79% with three backends waiting on it: a build holding it shared and waiting for
# it exclusively, a writer idle in its transaction holding it shared, a third writer queued. Which
# tests they were was not found; with a key per schema, no test waits on another's lock.
SNAPSHOT_LOCK = 20_261_130
_KEY = "CAST(CAST(CAST('state_snapshot' AS regclass) AS oid) AS integer)"
LOCK_SHARED = text(f"SELECT pg_advisory_xact_lock_shared(:key, {_KEY})").bindparams(key=SNAPSHOT_LOCK)
LOCK_EXCLUSIVE = text(f"SELECT pg_advisory_xact_lock(:key, {_KEY})").bindparams(key=SNAPSHOT_LOCK)
SNAPSHOT_LOCK_HELD = "dangjian_snapshot_lock"  # Session.info key: the transaction that took it


# Execution options of a read transaction on PostgreSQL.
POSTGRES_READ = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}


# Session.info key of the request's Held connection (PostgreSQL, gql.db.Db).
HELD = "dangjian_held"


class Held:
    """A request's pooled PostgreSQL connection, taken once by gql.db.Db and kept until the
    request's close; its session is bound to it, and its read transaction is begun on asyncpg.

    Why: a cold request's transaction through the session (the session's checkout of a pooled
    connection with the read's isolation as execution options, its BEGIN, and at close the
    session's ROLLBACK and check-in with the isolation reset) cost 0.59 ms of CPU per request
    around two one-row statements, against 0.25-0.29 ms for the same checkout, BEGIN, statements
    and ROLLBACK on the pool's connection and asyncpg (a loop in process over bench.compare's data,
    2026-12-02). So the request's Db takes a SQLAlchemy Connection from the pool once; its session
    is bound to that Connection (SQLAlchemy's "join a session into an external connection"), so
    the session's statements and db.fast's run on the same connection; the read transaction
    (REPEATABLE READ, READ ONLY: one snapshot, as begin_read's) is begun here on asyncpg and
    handed to SQLAlchemy's asyncpg adapter as its transaction, so that whatever the session runs
    while it is open runs inside it, and the session's own commit or rollback ends it. A request
    that reads only through db.fast never starts a session transaction: its close is the ROLLBACK
    on asyncpg and the check-in.

    The read's isolation is never set on the Connection (SQLAlchemy's isolation_level execution
    option would stay on it for the request's later writes, and setting it rolls back what is
    open): the transaction object carries it. A write ends an open read first (begin_write), and
    begins as before: READ COMMITTED, the adapter's default."""

    __slots__ = ("connection", "fairy", "driver", "adapter")

    def __init__(self, connection: AsyncConnection):
        self.connection = connection
        self.fairy = connection.sync_connection.connection  # the pool's proxied connection
        self.driver = self.fairy.driver_connection  # asyncpg's
        self.adapter = self.fairy.dbapi_connection  # SQLAlchemy's asyncpg adapter

    @classmethod
    async def take(cls, engine: AsyncEngine) -> "Held":
        connection = engine.connect()
        await connection.start()
        return cls(connection)

    def in_transaction(self) -> bool:
        return self.adapter._transaction is not None

    async def begin_read(self) -> None:
        """BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY, unless a transaction is open."""
        adapter = self.adapter
        if adapter._transaction is not None:
            return
        async with adapter._execute_mutex:
            try:
                transaction = self.driver.transaction(isolation="repeatable_read", readonly=True)
                await transaction.start()
            except Exception as error:
                await self.failed("BEGIN", error)
            adapter._transaction = transaction

    async def failed(self, sql: str, error: Exception, parameters=None):
        """Raise asyncpg's `error` as SQLAlchemy raises it; a dead connection is invalidated, and
        with it the pool's generation of connections (what SQLAlchemy's own statements do on a
        disconnect: tests/test_review_session2.py)."""
        closed = self.driver.is_closed()
        engine = self.connection.sync_engine
        if closed:
            self.adapter._transaction = None
            engine.pool._invalidate(self.fairy, error)
            await self.connection.invalidate(error)
        raise exc.DBAPIError.instance(
            sql, parameters, error, Exception, dialect=engine.dialect, ismulti=False,
            hide_parameters=engine.hide_parameters, connection_invalidated=closed) from error

    async def end(self) -> None:
        """ROLLBACK of a transaction begun here or by the adapter that the session does not own.
        A ROLLBACK that fails or is cut off leaves the connection invalidated: never back in the
        pool inside its transaction (a reviewer's cancelled idle() left one idle in transaction,
        holding a snapshot and its locks)."""
        adapter = self.adapter
        transaction = adapter._transaction
        if transaction is None:
            return
        try:
            await transaction.rollback()
        except BaseException as error:
            adapter._transaction = None
            self.connection.sync_connection.invalidate(error)  # closed at once, never pooled again
            if isinstance(error, Exception):
                await self.failed("ROLLBACK", error)  # raised as SQLAlchemy raises it
            raise
        adapter._transaction = None

    async def release(self) -> None:
        """End what is open and give the connection back to the pool."""
        try:
            await self.end()
        finally:
            await self.connection.close()

    async def discard(self) -> None:
        """The connection out of the pool for good (after a failure)."""
        self.adapter._transaction = None
        try:
            await self.connection.invalidate()
        finally:
            await self.connection.close()


async def begin_read(session: AsyncSession) -> None:
    """Open the session's read transaction unless one is open (a snapshot on both engines)."""
    if session.in_transaction():
        return
    holding = session.info.get(HELD)
    if holding is not None:
        await holding.begin_read()
        return
    if session.bind.dialect.name == "postgresql":
        await session.connection(execution_options=POSTGRES_READ)
    else:
        await session.connection()


async def begin_write(session: AsyncSession, exclusive: bool = False) -> None:
    """Start the session's transaction as a write transaction (BEGIN IMMEDIATE on SQLite; on
    PostgreSQL with SNAPSHOT_LOCK shared, or exclusive for a build of kept days).

    Any read transaction already open is ended first, so the write never has to upgrade a stale
    snapshot."""
    if session.in_transaction():
        await session.commit()
    holding = session.info.get(HELD)
    if holding is not None:
        await holding.end()  # a read that only db.fast's statements used
    connection = await session.connection(execution_options={WRITE_OPTION: True})
    if connection.dialect.name == "postgresql":
        await connection.execute(LOCK_EXCLUSIVE if exclusive else LOCK_SHARED)
        # The transaction that holds it: the flush hook takes it again only in another one.
        session.sync_session.info[SNAPSHOT_LOCK_HELD] = session.sync_session.get_transaction()


def holds_snapshot_lock(session) -> bool:
    """The (sync) session's current transaction took SNAPSHOT_LOCK at BEGIN (begin_write)."""
    held = session.info.get(SNAPSHOT_LOCK_HELD)
    return held is not None and held is session.get_transaction()
