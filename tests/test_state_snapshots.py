"""Kept days (db.services.history, "snapshots"; migration 0020): a past-date crossTab of a kept day
reads the members changed since from member_state_snapshot, and answers as the history does,
through the GraphQL endpoint on both engines; `python -m db snapshot` lists, builds and drops kept
days; `python -m db check` sees a wrong kept row and `--repair` builds the day again; a member
imported with a past `since` gets its kept-day state. (The pinned past-date tests run again with
their days kept in tests/test_as_of_snapshot.py; the races in tests/test_races.py.)"""
from __future__ import annotations

import asyncio
import datetime as dt
import re

import pytest
from sqlalchemy import func, select, text

from db import clock, demo, models
from db.engine import make_engine, make_sessionmaker
from db.migrate import upgrade
from db.services import history, statistics
from db.services.statistics import MEMBER_DIMENSIONS
from db.tree import HEALTHY, invariant_violations, repair_rollups
from tests.conftest import POSTGRES_URL, gid, temporary_postgres_database
from tests.test_cli import cli
from tests.test_statistics import tree  # noqa: F401  (the fixture)
from tests.test_statistics_as_of import TABLE

TODAY = clock.today()
DAY = dt.date(2015, 6, 30)  # the generated tree's members changed around it (tests/test_statistics_as_of.py)


async def keep(engine, day: dt.date) -> int:
    async with make_sessionmaker(engine)() as session, session.begin():
        return await history.build_snapshot(session, day)


async def test_a_kept_day_is_read_from_its_rows_and_answers_as_the_history(api, engine, tree, monkeypatch):  # noqa: F811
    rows = await keep(engine, DAY)
    assert rows > 0
    read = []  # the kept rows read: prebuilt (statistics._kept_statement) or generic (history.snapshot_of)
    original, prebuilt = history.snapshot_of, statistics._kept_statement
    monkeypatch.setattr(history, "snapshot_of", lambda day: read.append(day) or original(day))

    def kept_statement(spec, organization, as_of, kept=True):
        built = prebuilt(spec, organization, as_of, kept)
        if built is not None and kept:
            read.append(as_of)
        return built

    monkeypatch.setattr(statistics, "_kept_statement", kept_statement)
    scope = gid("Organization", tree.orgs["a"])
    for dimensions in [("CHILD_ORGANIZATION", "AGE_BAND"), ("EDUCATION", "GENDER"), ("CATEGORY", "STATUS"),
                       ("PARTY_AGE_BAND", "JOIN_YEAR")] + [(d, None) for d in MEMBER_DIMENSIONS]:
        for subtree in ("SUBTREE", "SELF"):
            input_ = {"organizationId": scope, "rows": dimensions[0], "columns": dimensions[1], "scope": subtree,
                      "asOf": DAY.isoformat()}
            before = len(read)
            kept = await api.as_("a_viewer", TABLE, {"input": input_})
            assert len(read) == before + 1, input_  # the kept rows were read
            with monkeypatch.context() as m:
                m.setattr(history, "READ_SNAPSHOTS", False)
                plain = await api.as_("a_viewer", TABLE, {"input": input_})
            assert "errors" not in kept and kept == plain, input_
    # A day not kept reads the history.
    before = len(read)
    assert "errors" not in await api.as_("a_viewer", TABLE, {"input": {
        "organizationId": scope, "rows": "CATEGORY", "asOf": (DAY - dt.timedelta(days=1)).isoformat()}})
    assert len(read) == before


async def test_the_check_sees_a_wrong_kept_row_and_repair_builds_the_day_again(engine, tree):  # noqa: F811
    await keep(engine, DAY)
    async with engine.begin() as connection:
        await connection.execute(text(
            "UPDATE member_state_snapshot SET status = CASE WHEN status = 'LEFT' THEN 'ACTIVE' ELSE 'LEFT' END "
            "WHERE member_id = "
            "(SELECT min(member_id) FROM member_state_snapshot)"))
        await connection.execute(text(
            "DELETE FROM member_state_snapshot WHERE member_id = (SELECT max(member_id) FROM member_state_snapshot)"))
    async with make_sessionmaker(engine)() as session:
        assert (await invariant_violations(session))["snapshot"] == 2
    async with make_sessionmaker(engine)() as session, session.begin():
        await repair_rollups(session)
    async with make_sessionmaker(engine)() as session:
        assert await invariant_violations(session) == HEALTHY


async def test_a_member_imported_with_a_past_since_gets_its_kept_day_state(api, engine, world):
    from tests.test_imports import csv_file, good_row, post

    day = dt.date(2019, 12, 31)
    await keep(engine, day)
    # Placed from 2015 (since = joinedOn), FULL from 2021: a fact after the day.
    response = await post(api, "a_operator", csv_file([good_row("补录者", 入党日期="2015-03-01", 转正日期="2021-03-01")]),
                          world.orgs["a1"], dry_run=False)
    assert response.status_code == 200, response.text
    async with make_sessionmaker(engine)() as session:
        state = (await session.execute(
            select(models.MemberStateSnapshot.organization_id, models.MemberStateSnapshot.category)
            .join(models.Member, models.Member.id == models.MemberStateSnapshot.member_id)
            .where(models.Member.name == "补录者", models.MemberStateSnapshot.day == day))).one()
    assert tuple(state) == (world.orgs["a1"].id, "PROBATIONARY")


async def _cli_keeps_a_day(url: str) -> None:
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        await demo.generate(engine, orgs=12, members=150, today=TODAY)
        day = (TODAY - dt.timedelta(days=400)).isoformat()
        assert "没有保留日期" in cli(url, "snapshot").stdout
        built = cli(url, "snapshot", "build", day)
        assert built.returncode == 0, built.stdout + built.stderr
        rows = int(re.search(r"：(\d+) 名", built.stdout).group(1))
        assert rows > 0
        assert f"{day}  {rows} 行" in cli(url, "snapshot").stdout
        assert cli(url, "check").returncode == 0
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE member_state_snapshot SET category = CASE WHEN category = 'FULL' THEN 'APPLICANT' ELSE 'FULL' END "
                                          "WHERE member_id = "
                                          "(SELECT min(member_id) FROM member_state_snapshot)"))
        broken = cli(url, "check")
        assert broken.returncode == 1 and "错误 snapshot: 1 行" in broken.stdout, broken.stdout
        repaired = cli(url, "check", "--repair")
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr
        refused = cli(url, "snapshot", "build", TODAY.isoformat())
        assert refused.returncode == 1 and "只能保留今天以前的日期" in refused.stderr
        assert cli(url, "snapshot", "build", "2025-13-01").returncode == 2
        dropped = cli(url, "snapshot", "drop", day)
        assert dropped.returncode == 0 and "已不再保留" in dropped.stdout
        async with engine.connect() as connection:
            assert (await connection.execute(select(func.count()).select_from(models.MemberStateSnapshot))).scalar_one() == 0
    finally:
        await engine.dispose()


async def test_cli_keeps_a_day_on_sqlite(tmp_path):
    await _cli_keeps_a_day(f"sqlite+aiosqlite:///{tmp_path}/kept.db")


@pytest.mark.skipif(POSTGRES_URL is None, reason="no PostgreSQL")
async def test_cli_keeps_a_day_on_postgresql():
    async with temporary_postgres_database("dangjian_kept") as url:
        await _cli_keeps_a_day(url)


async def test_a_day_kept_before_the_demo_load_is_built_from_the_loaded_history(tmp_path):
    """(A reviewer's case.) `python -m db snapshot build DAY` on an empty database, then the demo
    load, whose bulk inserts pass by the flush hook: db.demo builds the kept days again."""
    url = f"sqlite+aiosqlite:///{tmp_path}/demo.db"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        await keep(engine, TODAY - dt.timedelta(days=400))
        await demo.generate(engine, orgs=12, members=150, today=TODAY)
        async with make_sessionmaker(engine)() as session:
            assert await invariant_violations(session) == HEALTHY
            assert await session.scalar(select(func.count()).select_from(models.MemberStateSnapshot)) > 0
    finally:
        await engine.dispose()


async def test_a_balance_whose_ends_are_kept_reads_their_rows_and_answers_as_the_history(api, engine, tree,  # noqa: F811
                                                                                      monkeypatch):
    """memberBalance reads the states of the day before `from`, and of `to`, from those days' kept
    rows (db.services.balance.classified: kept_before, kept_end): the same counts and the same
    members on every line as the history, SUBTREE and SELF, with the day before kept, then both."""
    from db.services import balance
    from tests.test_member_balance import BALANCE

    used = []
    original = balance.classified
    monkeypatch.setattr(balance, "classified", lambda *args, **kwargs: used.append(args[-2:]) or original(*args, **kwargs))
    for day in (dt.date(2014, 12, 31), dt.date(2015, 12, 31)):
        await keep(engine, day)
        for name in ("a", "a1"):
            for scope in ("SUBTREE", "SELF"):
                variables = {"o": gid("Organization", tree.orgs[name]), "scope": scope, "from": "2015-01-01",
                             "to": "2015-12-31"}
                kept = await api.as_("a_viewer", BALANCE, variables)
                with monkeypatch.context() as m:
                    m.setattr(history, "READ_SNAPSHOTS", False)
                    plain = await api.as_("a_viewer", BALANCE, variables)
                assert "errors" not in kept and kept == plain, variables
    assert {(True, False), (True, True), (False, False)} <= set(used)


async def test_a_write_takes_the_kept_days_lock_once_and_a_transaction_begun_otherwise_at_its_flush(engine, world):
    """PostgreSQL: begin_write takes db.session.SNAPSHOT_LOCK shared at BEGIN, and the flush hook
    does not take it again in that transaction; a transaction begun otherwise (session.begin())
    takes it at the flush that writes a fact, before it touches the kept rows."""
    from sqlalchemy import event

    from db.session import begin_write

    if engine.dialect.name != "postgresql":
        pytest.skip("an advisory lock of PostgreSQL")
    member_id = world.members["a2_only"].id
    statements = []

    def seen(_connection, _cursor, statement, *_):
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with make_sessionmaker(engine)() as session:
            await begin_write(session)
            session.add(models.MemberStatusStep(member_id=member_id, status="ACTIVE", effective_on=TODAY))
            await session.commit()
        assert sum("pg_advisory_xact_lock_shared" in s for s in statements) == 1
        statements.clear()
        async with make_sessionmaker(engine)() as session, session.begin():
            session.add(models.MemberStatusStep(member_id=member_id, status="ACTIVE", effective_on=TODAY))
        assert sum("pg_advisory_xact_lock_shared" in s for s in statements) == 1
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)


async def test_the_kept_days_lock_is_one_per_schema(engine):
    """PostgreSQL's advisory locks belong to the whole database: with one constant key, a build
    holding it exclusively in one schema held back every writer of every other schema (the suite,
    a schema per test, hung once with three backends waiting on it). The key now names the
    schema's own state_snapshot table."""
    import uuid

    from sqlalchemy import text

    from db.engine import make_engine
    from db.session import SNAPSHOT_LOCK, begin_write
    from tests.conftest import POSTGRES_URL

    if engine.dialect.name != "postgresql":
        pytest.skip("an advisory lock of PostgreSQL")
    try_shared = text("SELECT pg_try_advisory_xact_lock_shared(:key, "
                      "CAST(CAST(CAST('state_snapshot' AS regclass) AS oid) AS integer))")
    other_schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    async with admin.begin() as connection:
        await connection.exec_driver_sql(f'CREATE SCHEMA "{other_schema}"')
    other = make_engine(POSTGRES_URL, connect_args={"server_settings": {"search_path": other_schema}})
    try:
        async with other.begin() as connection:
            await connection.run_sync(models.Base.metadata.create_all)
        async with make_sessionmaker(engine)() as building:
            await begin_write(building, exclusive=True)
            async with make_sessionmaker(engine)() as same, same.begin():
                assert await same.scalar(try_shared, {"key": SNAPSHOT_LOCK}) is False
            async with make_sessionmaker(other)() as writer, writer.begin():
                assert await writer.scalar(try_shared, {"key": SNAPSHOT_LOCK}) is True
            await building.rollback()
    finally:
        await other.dispose()
        async with admin.begin() as connection:
            await connection.exec_driver_sql(f'DROP SCHEMA "{other_schema}" CASCADE')
        await admin.dispose()
