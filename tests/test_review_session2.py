"""Review of 824229b (db.clock), 82b0c67 (filter rules once), 05e8684 (db.fast sends the BEGIN;
the token lookup through it) and 1219fe8 (lists of leaves in one loop): what broke."""
from __future__ import annotations

import asyncio
import datetime as dt

from db import clock
from tests.test_hot_path import _drop_pooled_connections

QUERY = '{ organization(code: "001") { name memberCount } }'


async def test_a_read_survives_a_server_restart_with_several_pooled_connections(api, world, engine):
    """A PostgreSQL restart kills every pooled connection. SQLAlchemy's own statement, on a
    disconnect, invalidates the whole pool (every connection of that generation is replaced at
    its next checkout), so gql.db's one retry gets a live connection. Since 05e8684 the request's
    first statement (the token lookup) is db.fast's, which invalidated only its own connection:
    the retry took the next dead one from the pool and the request failed with
    "connection is closed"."""
    if engine.dialect.name != "postgresql":
        return
    token = await api.login("root_admin")
    before = await api.post(QUERY, None, token)
    assert "errors" not in before, before
    # Several connections in the pool, as a busy worker has them.
    sessions = [engine.connect() for _ in range(4)]
    connections = [await s.__aenter__() for s in sessions]
    await asyncio.gather(*(c.exec_driver_sql("SELECT 1") for c in connections))
    for s in sessions:
        await s.__aexit__(None, None, None)
    assert await _drop_pooled_connections(engine) >= 3
    await asyncio.sleep(0.2)
    # A different document than before: the response cache's path in front of GraphQL is not
    # what this is about.
    after = await api.post(QUERY.replace("memberCount", "memberCount code"), None, token)
    assert "errors" not in after, after
    assert after["data"]["organization"]["name"] == before["data"]["organization"]["name"]


async def test_the_dashboard_ready_queries_follow_the_pinned_day(api, world, monkeypatch):
    """tests/test_dashboard_page.py was left out of the layering test and filled $TODAY from the
    calendar while the in-process app reads the pinned day: a run that crosses midnight (the
    calendar one day after the pinned day) asked memberBalance(to: tomorrow) and got an error,
    the very failure db.clock is there to prevent. Simulated here by pinning the day before."""
    from tests import test_dashboard_page

    monkeypatch.setattr(clock, "_pinned", clock.today() - dt.timedelta(days=1))
    await test_dashboard_page.test_ready_queries_answer_the_role(api, world, "VIEWER", "a_viewer", "a")
