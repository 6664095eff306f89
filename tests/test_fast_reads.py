"""db.fast: prebuilt read statements straight on asyncpg give exactly what session.execute gives
(values, types, attribute access), inside the session's read transaction; whatever does not qualify
(SQLite, a connection not yet in its transaction, an expanding IN, a new statement past the cap)
goes through session.execute (a failing statement: tests/test_review_fast_and_balance.py). Through the
endpoint: the same cross-tab answers with the fast path on and off, the same statements seen by
the engine's before_cursor_execute listeners (what the N+1 tests count), and with it on, the scope
and the GROUP BY straight on the driver."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import bindparam, event, select, text

from db import branch as branch_module
from db import fast, models
from db.branch import Branch
from db.engine import make_sessionmaker
from db.session import begin_read
from db.services import statistics
from gql.settings import Settings
from tests.conftest import gid
from tests.test_statistics import tree  # noqa: F401,F811  (the fixture)


async def _both(session, stmt, parameters):
    fast_rows = await fast.rows(session, stmt, parameters)
    slow_rows = list(await session.execute(stmt, parameters))
    return fast_rows, slow_rows


async def test_prebuilt_statements_answer_as_session_execute(engine, tree):  # noqa: F811
    root = tree.orgs["root"]
    bounds = {**Branch(path=root.path).bounds(), "get_pk": tree.orgs["a"].id}
    async with make_sessionmaker(engine)() as session:
        await begin_read(session)
        await session.execute(text("SELECT 1"))  # the transaction begun (BEGIN sent)
        for stmt, parameters in (
                (branch_module._STAFF_ROW, bounds),
                (branch_module._STAFF_ROW_AND_CHILDREN, bounds),
                (statistics._PAST_PERIOD, {"day": dt.date(2020, 12, 31), "end_day": dt.date(2021, 12, 31),
                                           "low": root.path, "high": root.path[:-1] + "0"})):
            fast_rows, slow_rows = await _both(session, stmt, parameters)
            assert fast_rows and [tuple(r) for r in fast_rows] == [tuple(r) for r in slow_rows]
            for f, s in zip(fast_rows, slow_rows):
                assert [type(v) for v in f] == [type(v) for v in s]
                for key in s._mapping:
                    assert getattr(f, key) == getattr(s, key)
        if engine.dialect.name == "postgresql":
            assert (id(branch_module._STAFF_ROW), "postgresql") in fast._PLANS
            # The UTC timestamps went through their TypeDecorator: aware datetimes, as SQLAlchemy gives.
            row = (await fast.rows(session, branch_module._STAFF_ROW, bounds))[0]
            assert row.created_at.tzinfo is not None


async def test_what_does_not_qualify_goes_through_session_execute(engine, world, monkeypatch):
    m = models.Member.__table__
    expanding = select(m.c.id).where(m.c.status.in_(bindparam("statuses", expanding=True))).order_by(m.c.id)
    async with make_sessionmaker(engine)() as session:
        # Not yet in its transaction (no BEGIN sent): through SQLAlchemy, which begins it.
        first = await fast.rows(session, branch_module._STAFF_ROW, {
            **Branch(path=world.orgs["root"].path).bounds(), "get_pk": world.orgs["root"].id})
        assert first[0].id == world.orgs["root"].id
        statuses = {"statuses": ["ACTIVE", "FLOWING_OUT"]}
        fast_rows, slow_rows = await _both(session, expanding, statuses)
        assert fast_rows == [tuple(r) for r in slow_rows] and fast_rows
        assert fast._PLANS.get((id(expanding), engine.dialect.name)) is None
        # Past the cap, a new statement is not planned (no growth without end) and still answers.
        monkeypatch.setattr(fast, "MAX_PLANS", len(fast._PLANS))
        new = select(m.c.id).where(m.c.id == bindparam("id"))
        assert [tuple(r) for r in await fast.rows(session, new, {"id": first[0].id})] in ([], [(first[0].id,)])
        assert (id(new), engine.dialect.name) not in fast._PLANS


@pytest.fixture
def settings() -> Settings:
    return Settings(password_profile="cheapest", response_cache_entries=0)  # every request cold


CROSS_TAB = """query($o: ID!, $rows: Dimension!, $columns: Dimension, $scope: Scope!) {
  crossTab(input: {organizationId: $o, rows: $rows, columns: $columns, scope: $scope}) {
    rows { key label } columns { key label } cells rowTotals columnTotals total } }"""


async def test_cross_tabs_answer_the_same_with_the_fast_path_and_skip_sqlalchemy(api, engine, world, monkeypatch):
    executed = []

    def seen(_connection, _cursor, statement, _parameters, context, _executemany):
        executed.append(context is not None)  # None: straight on the driver (db.fast)

    shapes = [("EDUCATION", "GENDER"), ("CHILD_ORGANIZATION", "AGE_BAND"), ("LEVEL", None)]
    await api.login("root_admin")
    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        for rows, columns in shapes:
            for scope in ("SUBTREE", "SELF"):
                variables = {"o": gid("Organization", world.orgs["root"]), "rows": rows, "columns": columns,
                             "scope": scope}
                executed.clear()
                on = await api.as_("root_admin", CROSS_TAB, variables)
                seen_on = list(executed)
                with monkeypatch.context() as m:
                    m.setattr(fast, "ENABLED", False)
                    executed.clear()
                    off = await api.as_("root_admin", CROSS_TAB, variables)
                    seen_off = list(executed)
                assert "errors" not in on and on == off, variables
                # The same statements seen either way (the suites' statement counts stay whole) ...
                assert len(seen_on) == len(seen_off) and all(seen_off), (seen_on, seen_off)
                # ... and on PostgreSQL the token, the scope organization and the GROUP BY straight
                # on asyncpg (the token's statement sends the transaction's BEGIN).
                assert seen_on.count(False) == (3 if engine.dialect.name == "postgresql" else 0), seen_on
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
