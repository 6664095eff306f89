"""The request's Db after its close(): no session is opened again.

A reviewer saw, on PostgreSQL, a pooled connection left idle in a transaction after a request
whose drill-through failed (tests/test_review_statistics_hostile.py, before its fix): graphql-core
answers as soon as an error nulls the field that holds it, while a sibling field (the connection's
totalCount) can still be running; the request's close() ran, and a read that sibling began later
opened a fresh session through Db.session that nothing closed. Now such a read raises
RequestFinished and opens nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from db.engine import make_sessionmaker
from gql.db import Db, RequestFinished


async def test_a_read_after_close_opens_no_session(engine):
    db = Db(make_sessionmaker(engine))
    assert await db.read(lambda session: session.scalar(text("SELECT 1"))) == 1
    await db.close()
    pool = engine.sync_engine.pool
    before = pool.checkedout()
    with pytest.raises(RequestFinished):
        await db.read(lambda session: session.scalar(text("SELECT 1")))
    with pytest.raises(RequestFinished):
        await db.write(lambda session: session.scalar(text("SELECT 1")))
    assert pool.checkedout() == before
    await db.close()  # twice is harmless


async def test_a_db_closed_before_any_read_opens_none(engine):
    db = Db(make_sessionmaker(engine))
    await db.close()
    with pytest.raises(RequestFinished):
        await db.read(lambda session: session.scalar(text("SELECT 1")))
