"""One database session per request, serialised by a lock.

Strawberry resolves sibling fields concurrently, and an AsyncSession refuses concurrent use
(sqlalchemy#10092). One session per request also gives every field the same snapshot: reads run
in one read transaction (REPEATABLE READ, READ ONLY on PostgreSQL; see db.session.begin_read),
writes in their own READ COMMITTED / IMMEDIATE transaction, which ends the read one first.

On PostgreSQL the Db holds the request's pooled connection itself from its first read or write to
its close (db.session.Held), binds its session to it and begins the read transaction on asyncpg:
a request whose reads all go through db.fast (a cross-tab: the token, the scope organization, the
GROUP BY) never starts a session transaction. Measured (`python -m bench.request_cost W0 W3-100
W4-100 --requests 1000 --phases`, 2026-12-02, the same quiet hour, before → after): CPU per request
W0 0.96 → 0.82 ms, W3-100 1.68 → 1.54, W4-100 1.75 → 1.61; the token lookup 0.365 → 0.31 ms and
the close 0.19 → 0.17."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Coroutine, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db import fast
from db.services.members import fold_after_write
from db.session import HELD, Held, begin_read, begin_write

R = TypeVar("R")
log = logging.getLogger("dangjian.db")


async def uncancellable(work: Coroutine[Any, Any, R]) -> R:
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


async def _discard_held(held: Held) -> None:
    """The request's connection out of the pool for good, after a failure; its own failure is logged."""
    try:
        await held.discard()
    except Exception:
        log.warning("discarding the request's connection failed", exc_info=True)


class RequestFinished(RuntimeError):
    """A read or write asked of a request's Db after its close()."""


class Db:
    def __init__(self, sessionmaker: async_sessionmaker):
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None
        # PostgreSQL over asyncpg: the request's pooled connection, taken at its first read or
        # write and held until close (db.session.Held); its session is bound to it.
        self._held: Held | None = None
        self._holds = False
        self._lock = asyncio.Lock()
        self._closed = False

    async def _open(self) -> AsyncSession:
        if self._closed:
            # A resolver still running after its request was answered (a sibling field's
            # error ended the response first) would open a session here that no one closes:
            # a pooled connection left idle in a transaction, holding its snapshot (seen by a
            # reviewer on PostgreSQL: the test's DROP SCHEMA waited on it; tests/test_db_session.py).
            raise RequestFinished("the request's database session is closed")
        session = self._session
        if session is None:
            engine = self._sessionmaker.kw.get("bind")
            self._holds = fast.ENABLED and isinstance(engine, AsyncEngine) and engine.dialect.driver == "asyncpg"
            if not self._holds:
                session = self._session = self._sessionmaker()
                return session
            held = self._held = await Held.take(engine)
            session = self._session = self._sessionmaker(bind=held.connection)
            session.info[HELD] = held
        elif self._holds and self._held is None:
            # The connection was given back (idle()): a new one, the same session bound to it
            # (its objects stay its own).
            held = self._held = await Held.take(self._sessionmaker.kw["bind"])
            session.bind = held.connection
            session.sync_session.bind = held.connection.sync_connection
            session.info[HELD] = held
        return session

    async def idle(self) -> None:
        """End the request's transaction and, on PostgreSQL, give its pooled connection back
        until its next read or write: before slow work that needs no database (a password's
        check or hash), so that a flood of sign-ins does not hold the pool (a session's commit
        alone gave it back before connections were held, tests/test_sign_in_races.py). Run to
        its end even when the caller is cancelled, as reads and writes are: a ROLLBACK cut off
        halfway would leave the connection in its transaction."""
        await uncancellable(self._idle_locked())

    async def _idle_locked(self) -> None:
        async with self._lock:
            await self._idle()

    async def _idle(self) -> None:
        session = self._session
        if session is not None:
            if session.in_transaction():
                await session.commit()
            held, self._held = self._held, None
            if held is not None:
                session.info.pop(HELD, None)
                try:
                    await held.release()
                except Exception:
                    log.warning("giving the request's connection back failed; it is discarded", exc_info=True)
                    await _discard_held(held)

    def _in_transaction(self, session: AsyncSession) -> bool:
        return session.in_transaction() or (self._held is not None and self._held.in_transaction())

    async def read(self, work: Callable[[AsyncSession], Awaitable[R]]) -> R:
        return await uncancellable(self._read(work))

    async def _read(self, work):
        async with self._lock:
            session = await self._open()
            opened = not self._in_transaction(session)
            try:
                await begin_read(session)
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
            session = await self._open()
            await begin_read(session)
            return await work(session)

    async def _discard(self) -> None:
        session, self._session = self._session, None
        held, self._held = self._held, None
        if session is not None:
            try:
                await session.invalidate()
            except Exception:
                log.warning("discarding the request's session failed", exc_info=True)
        if held is not None:
            await _discard_held(held)

    async def write(self, work: Callable[[AsyncSession], Awaitable[R]]) -> R:
        """Run `work` in one write transaction: committed when it returns, rolled back when it raises."""
        return await uncancellable(self._write(work))

    async def _write(self, work):
        async with self._lock:
            session = await self._open()
            await begin_write(session)
            try:
                result = await work(session)
                await session.commit()
            except BaseException:
                await session.rollback()
                await self._idle()
                raise
            # Member writes append subtree-count deltas; fold them now and then, after the commit.
            await fold_after_write(session)
            # The connection goes back to the pool after a write, as the session's own commit gave
            # it back before the Db held it: the sign-in mutations check a password after theirs.
            await self._idle()
            return result

    async def close(self) -> None:
        """End what is open and give the connection back (run to its end if the caller is
        cancelled: a request's timeout)."""
        await uncancellable(self._close())

    async def _close(self) -> None:
        async with self._lock:
            self._closed = True
            session, self._session = self._session, None
            held, self._held = self._held, None
            if session is None:
                return
            try:
                # The session's transaction, if it has one (its ROLLBACK ends a held read too);
                # a session that never began one (db.fast's reads only) has nothing to close.
                if held is None or session.in_transaction():
                    await session.close()
                if held is not None:
                    await held.release()
            except Exception:
                log.warning("closing the request's session failed; its connection is discarded", exc_info=True)
                await session.invalidate()
                if held is not None:
                    await _discard_held(held)
