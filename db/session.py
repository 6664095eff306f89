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

from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import WRITE_OPTION


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


async def begin_write(session: AsyncSession) -> None:
    """Start the session's transaction as a write transaction (BEGIN IMMEDIATE on SQLite).

    Any read transaction already open is ended first, so the write never has to upgrade a stale
    snapshot."""
    if session.in_transaction():
        await session.commit()
    await session.connection(execution_options={WRITE_OPTION: True})
