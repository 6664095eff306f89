"""Idempotent retries: a mutation sent with an `Idempotency-Key` header is applied at most once
per account and key; a retry within 24 hours gets the first answer.

The key is claimed before the mutation runs, by INSERT ... ON CONFLICT DO NOTHING on the primary
key (account, key), in a short transaction of its own: of any number of concurrent requests with
the same key exactly one inserts the row and runs; the others find the row, pending (no response
yet: answered 409, retry later) or done (its stored answer is replayed). A row older than 24
hours is deleted by the next claim of its key, which then runs as new.

The answer is stored after the mutation's own transaction commits. A request refused before
anything ran (4xx) gives its claim back. A request that died in between (a timeout, a crash)
keeps its claim pending: whether its write committed is unknown, and running it again could
apply it twice, so its key answers 409 until the 24 hours are over.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from db.services.throttle import UNTRACKED, insert_ignoring_conflicts

TTL = dt.timedelta(hours=24)
MAX_KEY_LENGTH = 255


@dataclass
class Claim:
    owned: bool  # this request inserted the key: it runs
    request_hash: str
    response: str | None = None  # the first answer, once there is one
    status_code: int | None = None


async def claim(session: AsyncSession, account_id: int, key: str, request_hash: str, moment: dt.datetime) -> Claim:
    t = models.IdempotencyKey
    await session.execute(delete(t).where(t.account_id == account_id, t.key == key, t.created_at <= moment - TTL)
                          .execution_options(synchronize_session=False, **UNTRACKED))
    inserted = (await session.execute(
        insert_ignoring_conflicts(session, t)
        .values(account_id=account_id, key=key, request_hash=request_hash, response=None, status_code=None,
                created_at=moment)
        .returning(t.key)
        .execution_options(**UNTRACKED))).first()
    if inserted is not None:
        return Claim(True, request_hash)
    row = (await session.execute(select(t.request_hash, t.response, t.status_code)
                                 .where(t.account_id == account_id, t.key == key))).one()
    return Claim(False, row.request_hash, row.response, row.status_code)


async def finish(session: AsyncSession, account_id: int, key: str, response: str, status_code: int) -> None:
    t = models.IdempotencyKey
    await session.execute(update(t).where(t.account_id == account_id, t.key == key, t.response.is_(None))
                          .values(response=response, status_code=status_code)
                          .execution_options(synchronize_session=False, **UNTRACKED))


async def release(session: AsyncSession, account_id: int, key: str) -> None:
    """Give the key back: the request was refused before anything ran."""
    t = models.IdempotencyKey
    await session.execute(delete(t).where(t.account_id == account_id, t.key == key, t.response.is_(None))
                          .execution_options(synchronize_session=False, **UNTRACKED))


async def forget_old(session: AsyncSession, moment: dt.datetime) -> int:
    t = models.IdempotencyKey
    result = await session.execute(delete(t).where(t.created_at <= moment - TTL)
                                   .execution_options(synchronize_session=False, **UNTRACKED))
    return result.rowcount or 0
