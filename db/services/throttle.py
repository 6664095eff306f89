"""Sign-in throttling per client address, in the database (every worker process counts against
the same row; the per-account lockout is in db.services.accounts).

Each attempt from an address is claimed before its password is checked, by one conditional
UPDATE (after an INSERT ... ON CONFLICT DO NOTHING creates the row): it counts while the address
has attempts left in its window, and a window that has run out starts a new count. A refused
claim means no password is checked at all, so a flood from one address costs one short write
per request once its allowance is used, not an argon2 hash (0.2 s of CPU each). A right password
gives its attempt back (`release`): only failures use the allowance, and signing in now and then
does not reset it.

Atomic on both engines: PostgreSQL re-checks the UPDATE's WHERE clause on the row version a
concurrent UPDATE left (READ COMMITTED), SQLite has one writer; a concurrent INSERT of the same
address waits for the first and does nothing.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db import changes, models

WINDOW = dt.timedelta(minutes=15)
UNTRACKED = {changes.UNTRACKED: True}  # in no response: no data version moves


def insert_ignoring_conflicts(session: AsyncSession, table):
    """INSERT ... ON CONFLICT DO NOTHING in the session's dialect."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table).on_conflict_do_nothing()


async def exhausted(session: AsyncSession, address: str, limit: int, moment: dt.datetime) -> dt.datetime | None:
    """When the address's window ends, if it has used its allowance in it (None otherwise): a
    plain read, so that the attempts a flood from one address is made of, once its allowance is
    used, take no write lock at all (with a claim for each, 200 concurrent clients on SQLite
    queued on the database's one write lock past its 10 s busy timeout: "database is locked")."""
    t = models.SignInThrottle
    start = (await session.execute(
        select(t.window_start).where(t.address == address[:64], t.attempts >= limit, t.window_start > moment - WINDOW)
    )).scalar_one_or_none()
    return start + WINDOW if start is not None else None


async def claim(session: AsyncSession, address: str, limit: int, moment: dt.datetime) -> bool:
    """Count one sign-in attempt from `address`; False (and nothing counted) when the address
    has used its `limit` attempts in the current window."""
    t = models.SignInThrottle
    address = address[:64]
    await session.execute(insert_ignoring_conflicts(session, t).values(address=address, attempts=0,
                                                                       window_start=moment)
                          .execution_options(**UNTRACKED))
    expired = t.window_start <= moment - WINDOW
    row = (await session.execute(
        update(t)
        .where(t.address == address, expired | (t.attempts < limit))
        .values(attempts=case((expired, 1), else_=t.attempts + 1),
                window_start=case((expired, moment), else_=t.window_start))
        .returning(t.attempts)
        .execution_options(synchronize_session=False, **UNTRACKED))).first()
    return row is not None


async def release(session: AsyncSession, address: str) -> None:
    """Give back the attempt of a sign-in that succeeded."""
    t = models.SignInThrottle
    await session.execute(
        update(t).where(t.address == address[:64], t.attempts > 0).values(attempts=t.attempts - 1)
        .execution_options(synchronize_session=False, **UNTRACKED))


async def forget_old(session: AsyncSession, moment: dt.datetime) -> int:
    """Delete the rows whose window ran out (they count nothing any more)."""
    t = models.SignInThrottle
    result = await session.execute(delete(t).where(t.window_start <= moment - WINDOW)
                                   .execution_options(synchronize_session=False, **UNTRACKED))
    return result.rowcount or 0
