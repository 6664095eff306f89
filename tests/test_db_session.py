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


# ------------------------------------------------------------------ the close after the response
#
# gql.app closes the request's Db after the response is sent (GraphQLView.__call__), so that its
# ROLLBACK is off the client's wait; whatever happened to the send, the connection goes back.

QUERY = b'{"query": "{ __typename }"}'


async def _call(app, send):
    """POST /graphql with a token that matches none: the token's lookup opens the request's session."""
    headers = [(b"host", b"test"), (b"content-type", b"application/json"),
               (b"content-length", str(len(QUERY)).encode()), (b"authorization", b"Bearer no-such-token")]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/graphql", "raw_path": b"/graphql", "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
             "server": ("127.0.0.1", 8000), "state": {}}
    received = False

    async def receive():
        nonlocal received
        if received:
            return {"type": "http.disconnect"}
        received = True
        return {"type": "http.request", "body": QUERY, "more_body": False}

    await app(scope, receive, send)


async def test_the_session_closes_after_the_response_is_sent(engine, settings):
    from gql.app import create_app
    app = create_app(engine, settings)
    pool = engine.sync_engine.pool
    before = pool.checkedout()
    seen = []

    async def send(message):
        if message["type"] == "http.response.body":
            seen.append(pool.checkedout())  # the request's connection, still out

    await _call(app, send)
    assert seen == [before + 1]
    assert pool.checkedout() == before


async def test_the_session_closes_when_the_client_is_gone(engine, settings):
    from gql.app import create_app
    app = create_app(engine, settings)
    pool = engine.sync_engine.pool
    before = pool.checkedout()

    async def send(message):
        if message["type"] == "http.response.body":
            raise OSError("the client went away")

    with pytest.raises(OSError):
        await _call(app, send)
    assert pool.checkedout() == before


# ------------------------------------------------------------------ the held connection (PostgreSQL)
#
# gql.db.Db holds the request's pooled connection and begins its read on asyncpg (db.session.Held):
# whatever cuts a request short, the connection goes back to the pool out of its transaction.

async def _in_transaction_in_pool(engine) -> list:
    """Pooled (checked-in) connections that asyncpg or SQLAlchemy's adapter think are in a
    transaction."""
    queue = engine.sync_engine.pool._pool._queue._queue
    return [record for record in list(queue) if record.dbapi_connection is not None
            and (record.dbapi_connection.driver_connection.is_in_transaction()
                 or record.dbapi_connection._transaction is not None)]


@pytest.mark.parametrize("step", ["idle", "close"])
async def test_a_cancelled_idle_or_close_leaves_no_transaction_open(engine, step):
    """A cancellation in the middle of a ROLLBACK must not put the connection back in the pool idle
    in its transaction (its snapshot and locks held: the suite's DROP SCHEMA waits on it). Before
    idle() and close() were shielded, a cancelled close() did (this test fails on c45e2e2).
    Cancelled after every number of event-loop turns."""
    if engine.dialect.name != "postgresql":
        return
    import asyncio

    maker = make_sessionmaker(engine)
    pool = engine.sync_engine.pool
    for turns in range(12):
        before = pool.checkedout()
        db = Db(maker)
        assert await db.read(lambda session: session.scalar(text("SELECT 1"))) == 1
        task = asyncio.ensure_future(db.idle() if step == "idle" else db.close())
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        await db.close()
        assert pool.checkedout() == before, turns
        assert await _in_transaction_in_pool(engine) == [], turns
        after = Db(maker)
        try:
            assert await after.read(lambda session: session.scalar(text("SELECT 2"))) == 2
        finally:
            await after.close()



async def test_fast_and_session_reads_of_one_request_share_one_snapshot(engine, world):
    """db.fast's statements run on the held connection and the session's join it: both see the
    snapshot of the request's first read, whatever commits meanwhile, in either order; after
    idle() a read sees a new snapshot, and the read after the request's own write sees that write."""
    from sqlalchemy import bindparam, select

    from db import fast, models

    table = models.Organization.__table__
    org_id, name = world.orgs["a"].id, world.orgs["a"].name
    name_of = select(table.c.name).where(table.c.id == bindparam("id"))

    async def by_fast(session):
        return (await fast.rows(session, name_of, {"id": org_id}))[0][0]

    async def by_session(session):
        return (await session.execute(name_of, {"id": org_id})).scalar_one()

    async def rename(to: str) -> None:
        async with engine.begin() as connection:
            await connection.execute(table.update().where(table.c.id == org_id).values(name=to))

    db = Db(make_sessionmaker(engine))
    try:
        for first, then in ((by_fast, by_session), (by_session, by_fast)):
            assert await db.read(first) == name
            await rename(name + "·")
            assert await db.read(then) == name
            await db.idle()
            assert await db.read(first) == await db.read(then) == name + "·"
            await db.write(lambda session: session.execute(
                table.update().where(table.c.id == org_id).values(name=name)))
            assert await db.read(then) == await db.read(first) == name
            await db.idle()
    finally:
        await db.close()
