"""Review of 22ffca1 (memberBalance's end read from kept rows) and 0c2fbff (db.fast).

db.fast: a prebuilt statement straight on asyncpg must behave as session.execute does: the engine's
hide_parameters (parameters out of messages and logs), a dead connection invalidated (flagged, so
that the session's close and the pool handle it as SQLAlchemy's own statements do), and a statement
that does not qualify (a NUMERIC or FLOAT result column) answered through session.execute, never a
TypeError. memberBalance: the kept end answers as the history for days other than 12-31 (fact days),
the wide-scope path and SELF."""
from __future__ import annotations

import asyncio
import datetime as dt
import itertools

import pytest
from sqlalchemy import Date, Float, Integer, Numeric, String, bindparam, cast, select, text
from sqlalchemy.exc import DBAPIError

from db import fast
from db.engine import make_sessionmaker
from db.services import history
from db.session import begin_read
from gql.settings import Settings
from tests.conftest import gid
from tests.test_member_lifecycle import STATUS, ok
from tests.test_statistics_as_of import dated  # noqa: F401  (the fixture)

ID_NUMBER = "110101199003077777"


@pytest.fixture
def settings() -> Settings:
    # Every request cold: a response served from the cache would compare an answer with itself.
    return Settings(password_profile="cheapest", sign_in_per_address=100_000, response_cache_entries=0)


def _postgres_only(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the asyncpg path")


async def _in_transaction(session):
    await begin_read(session)
    await session.execute(text("SELECT 1"))  # BEGIN sent: db.fast now runs straight on the driver


async def test_a_failing_fast_statement_keeps_its_parameters_hidden(engine):
    """make_engine sets hide_parameters: a failing statement's message (logged by the GraphQL
    error handling) names no parameter value. db.fast built the error without it."""
    _postgres_only(engine)
    stmt = (select((bindparam("n", type_=Integer) // bindparam("z", type_=Integer)).label("q"))
            .where(bindparam("s", type_=String) != ""))
    async with make_sessionmaker(engine)() as session:
        await _in_transaction(session)
        assert fast._plan(stmt, session.bind.dialect) is not None  # it does go straight to asyncpg
        with pytest.raises(DBAPIError) as raised:
            await fast.rows(session, stmt, {"n": 1, "z": 0, "s": ID_NUMBER})
    assert raised.value.hide_parameters and ID_NUMBER not in str(raised.value), str(raised.value)


async def test_a_fast_statement_on_a_dead_connection_invalidates_it(engine):
    """The server drops the connection in the middle of a request: SQLAlchemy's own statement
    raises with connection_invalidated and the session closes cleanly; db.fast's did neither
    (the close then failed on the dead connection's ROLLBACK)."""
    _postgres_only(engine)
    stmt = select(cast(bindparam("s", type_=String), Date).label("d"))
    async with make_sessionmaker(engine)() as session:
        await _in_transaction(session)
        pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await other.commit()
        await asyncio.sleep(0.2)
        with pytest.raises(DBAPIError) as raised:
            await fast.rows(session, stmt, {"s": "2020-01-01"})
        assert raised.value.connection_invalidated
        await session.close()  # no error: the connection is discarded, not rolled back
    async with make_sessionmaker(engine)() as session:  # the next request's connection works
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1


@pytest.mark.parametrize("column", [cast(bindparam("x", type_=Integer), Numeric(10, 2)),
                                    cast(bindparam("x", type_=Integer), Float)])
async def test_a_numeric_result_column_goes_through_session_execute(engine, column):
    """A NUMERIC or FLOAT result column: asyncpg's result processor needs the column's type oid,
    which _plan asked with None: a TypeError instead of the fall-back to session.execute."""
    _postgres_only(engine)
    stmt = select(column.label("v"))
    async with make_sessionmaker(engine)() as session:
        await _in_transaction(session)
        fast_rows = await fast.rows(session, stmt, {"x": 2})
        slow_rows = list(await session.execute(stmt, {"x": 2}))
    assert [tuple(r) for r in fast_rows] == [tuple(r) for r in slow_rows]
    assert [type(v) for v in fast_rows[0]] == [type(v) for v in slow_rows[0]]


BALANCE = """query($o: ID!, $scope: Scope!, $from: Date!, $to: Date!) {
  memberBalance(organizationId: $o, scope: $scope, from: $from, to: $to) {
    from to start end
    increases { kind count members(first: 100) { totalCount edges { node { name } } } }
    decreases { kind count members(first: 100) { totalCount edges { node { name } } } } } }"""


async def test_a_kept_end_on_fact_days_answers_as_the_history(api, engine, dated, monkeypatch):  # noqa: F811
    """`to` kept on days members' facts fall on (a death, a suspension, a transfer's first day),
    `from - 1` kept or not, narrow and wide scope (the wide path carries the member row in
    `touched`), SUBTREE and SELF: the same balance as the history."""
    from db.services import balance, statistics

    members = dated.members
    for kind, day in (("SUSPENDED", "2025-03-01"), ("RESTORED", "2025-09-01")):
        ok(await api.as_("a_admin", STATUS, {"m": gid("Member", members["a1_second"]), "k": kind, "d": day}),
           "recordStatusChange")
    ok(await api.as_("a_admin", STATUS, {"m": gid("Member", members["a1_first"]), "k": "WITHDRAWAL",
                                         "d": "2025-10-10"}), "recordStatusChange")
    ends = [dt.date(2022, 12, 31), dt.date(2023, 1, 1), dt.date(2024, 6, 1), dt.date(2025, 3, 1),
            dt.date(2025, 10, 10), dt.date(2024, 5, 31)]
    async with make_sessionmaker(engine)() as session, session.begin():
        for day in ends:
            await history.build_snapshot(session, day)
    used = []
    original = balance.classified
    monkeypatch.setattr(balance, "classified", lambda *args, **kwargs: used.append(args[-1]) or original(*args, **kwargs))
    # `to` kept with the day before `from` not kept, kept, one day long, and ending on a death, a
    # suspension and a withdrawal (two more periods of the same kinds cost the suite 20 s).
    periods = [(dt.date(2023, 1, 1), dt.date(2023, 1, 1)), (dt.date(2022, 12, 31), dt.date(2024, 6, 1)),
               (dt.date(2024, 6, 1), dt.date(2025, 3, 1)), (dt.date(2024, 6, 2), dt.date(2025, 10, 10)),
               (dt.date(2010, 7, 1), dt.date(2024, 5, 31))]
    # The wide path is SUBTREE's only (balance.classified): not asked again with SELF.
    cases = [(False, name, scope) for name in ("a", "a1", "a2") for scope in ("SUBTREE", "SELF")]
    cases += [(True, name, "SUBTREE") for name in ("a", "a2")]
    for (wide, name, scope), (start, end) in itertools.product(cases, periods):
        variables = {"o": gid("Organization", dated.orgs[name]), "scope": scope, "from": str(start), "to": str(end)}
        with monkeypatch.context() as m:
            if wide:
                m.setattr(balance, "WIDE_SCOPE", 0)
                m.setattr(statistics, "WIDE_SCOPE", 0)
            kept = await api.as_("a_viewer", BALANCE, variables)
            m.setattr(history, "READ_SNAPSHOTS", False)
            plain = await api.as_("a_viewer", BALANCE, variables)
        assert "errors" not in kept and kept == plain, (variables, wide)
    assert True in used and False in used
