"""One database session per request, serialised by a lock.

Strawberry resolves sibling fields concurrently, and an AsyncSession refuses concurrent use
(sqlalchemy#10092). One session per request also gives every field the same snapshot: reads run
in one read transaction (REPEATABLE READ, READ ONLY on PostgreSQL; see db.session.begin_read),
writes in their own READ COMMITTED / IMMEDIATE transaction, which ends the read one first."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Coroutine, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.services.members import fold_after_write
from db.session import begin_read, begin_write

R = TypeVar("R")
log = logging.getLogger("dangjian.db")


async def _uncancellable(work: Coroutine[Any, Any, R]) -> R:
    """Run `work` to its end even when the caller is cancelled (graphql-core cancels the sibling
    fields of a field that failed): a statement cut off halfway would leave the request's
    connection broken. The cancellation is passed on once the work is done."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        try:
            await task
        except Exception:  # the caller is gone; its error goes to the log
            log.warning("database work failed after its caller was cancelled", exc_info=True)
        raise


class RequestFinished(RuntimeError):
    """A read or write asked of a request's Db after its close()."""


class Db:
    def __init__(self, sessionmaker: async_sessionmaker):
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            if self._closed:
                # A resolver still running after its request was answered (a sibling field's
                # error ended the response first) would open a session here that no one closes:
                # a pooled connection left idle in a transaction, holding its snapshot (seen by a
                # reviewer on PostgreSQL: the test's DROP SCHEMA waited on it; tests/test_db_session.py).
                raise RequestFinished("the request's database session is closed")
            self._session = self._sessionmaker()
        return self._session

    async def read(self, work: Callable[[AsyncSession], Awaitable[R]]) -> R:
        return await _uncancellable(self._read(work))

    async def _read(self, work):
        async with self._lock:
            session = self.session
            opened = not session.in_transaction()
            await begin_read(session)
            try:
                return await work(session)
            except DBAPIError as error:
                # A pooled connection the server dropped (restart, idle timeout) fails at the
                # first statement: db.engine pings only connections that sat idle. When this read
                # opened the transaction, no earlier statement of the request saw its snapshot,
                # so it runs again on a fresh connection (SQLAlchemy has invalidated the pool).
                if not (opened and error.connection_invalidated):
                    raise
                log.warning("a pooled connection was dead; the read runs again on a new one")
            await self._discard()
            session = self.session
            await begin_read(session)
            return await work(session)

    async def _discard(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                await session.invalidate()
            except Exception:
                log.warning("discarding the request's session failed", exc_info=True)

    async def write(self, work: Callable[[AsyncSession], Awaitable[R]]) -> R:
        """Run `work` in one write transaction: committed when it returns, rolled back when it raises."""
        return await _uncancellable(self._write(work))

    async def _write(self, work):
        async with self._lock:
            session = self.session
            await begin_write(session)
            try:
                result = await work(session)
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
            # Member writes append subtree-count deltas; fold them now and then, after the commit.
            await fold_after_write(session)
            return result

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            if self._session is None:
                return
            session, self._session = self._session, None
            try:
                await session.close()
            except Exception:
                log.warning("closing the request's session failed; its connection is discarded", exc_info=True)
                await session.invalidate()
