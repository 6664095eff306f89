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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

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


async def begin_read(session: AsyncSession) -> None:
    """Open the session's read transaction unless one is open (a snapshot on both engines)."""
    if session.in_transaction():
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
    connection = await session.connection(execution_options={WRITE_OPTION: True})
    if connection.dialect.name == "postgresql":
        await connection.execute(LOCK_EXCLUSIVE if exclusive else LOCK_SHARED)
        # The transaction that holds it: the flush hook takes it again only in another one.
        session.sync_session.info[SNAPSHOT_LOCK_HELD] = session.sync_session.get_transaction()


def holds_snapshot_lock(session) -> bool:
    """The (sync) session's current transaction took SNAPSHOT_LOCK at BEGIN (begin_write)."""
    held = session.info.get(SNAPSHOT_LOCK_HELD)
    return held is not None and held is session.get_transaction()
