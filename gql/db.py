"""One database session per request, serialised by a lock.

Strawberry resolves sibling fields concurrently, and an AsyncSession refuses concurrent use
(sqlalchemy#10092). One session per request also gives every field the same snapshot."""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.session import begin_write

R = TypeVar("R")


class Db:
    def __init__(self, sessionmaker: async_sessionmaker):
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self._sessionmaker()
        return self._session

    async def read(self, work: Callable[[AsyncSession], Awaitable[R]]) -> R:
        async with self._lock:
            return await work(self.session)

    async def write(self, work: Callable[[AsyncSession], Awaitable[R]]) -> R:
        """Run `work` in one write transaction: committed when it returns, rolled back when it raises."""
        async with self._lock:
            session = self.session
            await begin_write(session)
            try:
                result = await work(session)
                await session.commit()
                return result
            except BaseException:
                await session.rollback()
                raise

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
