"""A past day's prebuilt cross-tab over a mid-size subtree runs with a serial, hash-join-free plan on
PostgreSQL (db.services.statistics.serial_plan, SERIAL_PAST_MEMBERS; why and the figures there): the
same tables through GraphQL either way, for every member dimension, on a day kept and not; the two
settings are back to what they were for the rest of the request's transaction; SQLite never sends
them."""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

import pytest
from sqlalchemy import event, text

from db.branch import Branch
from db.engine import make_sessionmaker
from db.services import history, statistics
from db.services.statistics import MEMBER_DIMENSIONS, CrossTabSpec
from tests.conftest import gid
from tests.test_statistics import tree  # noqa: F401  (the fixture)
from tests.test_statistics_as_of import table

DAY = "2015-06-30"


@contextmanager
def counting(engine):
    """The statements sent inside the block (fast.rows dispatches the same event)."""
    seen: list[str] = []

    def before(_connection, _cursor, statement, *_):
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)


@pytest.mark.parametrize("kept", [False, True])
async def test_the_serial_plan_answers_the_same_tables(api, engine, tree, monkeypatch, kept):  # noqa: F811
    if kept:
        async with make_sessionmaker(engine)() as session, session.begin():
            await history.build_snapshot(session, dt.date.fromisoformat(DAY))
    scope = gid("Organization", tree.orgs["a"])
    shapes = [(rows, None) for rows in MEMBER_DIMENSIONS] + [("EDUCATION", "GENDER"), ("CHILD_ORGANIZATION", "AGE_BAND"),
                                                           ("CATEGORY", "JOIN_YEAR")]
    answers = {}
    for serial in (False, True):
        monkeypatch.setattr(statistics, "SERIAL_PAST_MEMBERS", 0 if serial else 10 ** 9)
        with counting(engine) as seen:
            answers[serial] = [await table(api, "a_viewer", organizationId=scope, rows=rows, columns=columns, asOf=DAY)
                               for rows, columns in shapes]
        sent = sum("set_config('max_parallel_workers_per_gather'" in s for s in seen)
        # Twice per table (set, then back) on PostgreSQL when asked for; never on SQLite.
        assert sent == (2 * len(shapes) if serial and engine.dialect.name == "postgresql" else 0), (serial, sent)
    assert answers[True] == answers[False]
    assert sum(t["total"] for t in answers[True]) > 0


async def test_the_settings_are_back_for_the_rest_of_the_transaction(engine, tree, monkeypatch):  # noqa: F811
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's planner settings")
    monkeypatch.setattr(statistics, "SERIAL_PAST_MEMBERS", 0)
    branch = Branch(path=tree.orgs["root"].path)
    spec = CrossTabSpec(organization_id=tree.orgs["a"].id, rows="EDUCATION", columns="GENDER",
                        as_of=dt.date.fromisoformat(DAY))
    async with make_sessionmaker(engine)() as session:
        await session.execute(text("SET LOCAL enable_hashjoin = off"))  # a setting of the caller's own
        before = (await session.execute(text("SELECT current_setting('max_parallel_workers_per_gather'), "
                                             "current_setting('enable_hashjoin')"))).one()
        assert tuple(before) == (before[0], "off")
        with counting(engine) as seen:
            await statistics.cross_tab(session, branch, spec)
        assert any("set_config('enable_hashjoin'" in s for s in seen)
        after = (await session.execute(text("SELECT current_setting('max_parallel_workers_per_gather'), "
                                            "current_setting('enable_hashjoin')"))).one()
        assert tuple(after) == tuple(before)
        await session.rollback()
        fresh = (await session.execute(text("SELECT current_setting('enable_hashjoin')"))).scalar_one()
        assert fresh == "on"


async def test_the_settings_are_back_after_an_error_of_ours(engine, tree, monkeypatch):  # noqa: F811
    """An exception raised after the statement (not the database's: the transaction stays usable)
    still sets them back for the rest of the transaction."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's planner settings")
    monkeypatch.setattr(statistics, "SERIAL_PAST_MEMBERS", 0)
    rows = statistics.fast.rows

    async def failing(*args, **kwargs):
        result = await rows(*args, **kwargs)
        if kwargs.get("by_index"):  # the cross-tab's statement (not the scope's lookup before it)
            raise RuntimeError("after the statement")
        return result

    monkeypatch.setattr(statistics.fast, "rows", failing)
    spec = CrossTabSpec(organization_id=tree.orgs["a"].id, rows="EDUCATION", columns="GENDER",
                        as_of=dt.date.fromisoformat(DAY))
    async with make_sessionmaker(engine)() as session:
        with pytest.raises(RuntimeError):
            await statistics.cross_tab(session, Branch(path=tree.orgs["root"].path), spec)
        after = (await session.execute(text("SELECT current_setting('max_parallel_workers_per_gather'), "
                                            "current_setting('enable_hashjoin')"))).one()
        assert after[1] == "on" and after[0] != "0"


async def test_only_mid_size_subtrees_and_postgresql(engine, tree):  # noqa: F811
    async with make_sessionmaker(engine)() as session:
        organization = tree.orgs["a"]
        postgres = engine.dialect.name == "postgresql"
        for count, serial in ((0, False), (statistics.SERIAL_PAST_MEMBERS - 1, False),
                              (statistics.SERIAL_PAST_MEMBERS, True), (statistics.WIDE_SCOPE - 1, True),
                              (statistics.WIDE_SCOPE, False)):
            organization.subtree_member_count = count
            assert statistics.serial_past(session, organization, True) is (serial and postgres), count
            assert statistics.serial_past(session, organization, False) is False
