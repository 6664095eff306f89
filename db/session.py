from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import WRITE_OPTION


async def begin_write(session: AsyncSession) -> None:
    """Start the session's transaction as a write transaction (BEGIN IMMEDIATE on SQLite).

    Any read transaction already open is ended first, so the write never has to upgrade a stale
    snapshot."""
    if session.in_transaction():
        await session.commit()
    await session.connection(execution_options={WRITE_OPTION: True})
