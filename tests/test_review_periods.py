"""Review of member_state_period (commit 18b4753): attempts to make the periods go stale or answer
differently from the history's seeks. Every test ends with the teardown invariant "periods" (and
"last_fact", "history") on both engines; the tests below also compare, for every day around every
fact, the periods' answer with state_of_members' seeks, and the cross-tab through the endpoint with
READ_PERIODS on and off (drill-through counts equal to the cells)."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select

from db import clock, models
from db.engine import make_sessionmaker
from db.services import history
from db.tree import HEALTHY, invariant_violations
from tests.conftest import gid
from tests.test_member_lifecycle import PROMOTE, REQUIRE, RESUBMIT, REVIEW, STATUS, UPDATE, create, ok
from tests.test_state_periods import assert_periods_are_the_seeks
from tests.test_statistics_as_of import assert_drills_match, table
from tests.test_transfers import DECIDE, TRANSFER_FIELDS, send

TODAY = clock.today()
DELETE = """mutation($ids: [ID!]!) { deleteRejectedMembers(input: {memberIds: $ids}) { ok userErrors { code field message } } }"""


async def assert_same_tables(api, monkeypatch, who, scope, days) -> None:
    for rows, columns in (("CHILD_ORGANIZATION", "CATEGORY"), ("STATUS", None)):
        for day in days:
            args = dict(organizationId=scope, rows=rows, columns=columns, asOf=day)
            if rows == "STATUS":
                args["filter"] = {"statuses": ["ACTIVE", "LEFT", "TRANSFERRING", "TRANSFERRED_OUT", "FLOWING_OUT"]}
            from_periods = await table(api, who, **args)
            monkeypatch.setattr(history, "READ_PERIODS", False)
            from_seeks = await table(api, who, **args)
            monkeypatch.setattr(history, "READ_PERIODS", True)
            assert from_periods == from_seeks, (rows, day)
            await assert_drills_match(api, who, from_periods, **args)


async def test_every_write_path_keeps_the_periods(api, engine, world, monkeypatch):
    """One member through: two category steps on one day, a suspension and a restoration on one
    day, a development date corrected earlier (a dirty step), a transfer sent and accepted on one
    day (a placement ending the day the next starts, two status steps that day), a death; an
    entry rejected, resubmitted with its dates rewritten (a Core DELETE) and deleted; another
    entry approved."""
    a, a1, b1 = world.orgs["a"], world.orgs["a1"], world.orgs["b1"]
    m = await create(api, "a_admin", a1, name="全程", category="APPLICANT", appliedOn="2015-01-10",
                     joinedOn=None, confirmedOn=None, since="2015-01-10")
    for to, day in (("ACTIVIST", "2016-02-01"), ("CANDIDATE", "2016-02-01"), ("PROBATIONARY", "2017-03-01"),
                    ("FULL", "2018-03-01")):
        ok(await api.as_("a_admin", PROMOTE, {"m": m, "to": to, "d": day}), "promoteMember")
    for kind in ("SUSPENDED", "RESTORED"):
        ok(await api.as_("a_admin", STATUS, {"m": m, "k": kind, "d": "2019-01-01", "r": "审查"}), "recordStatusChange")
    ok(await api.as_("a_admin", UPDATE, {"m": m, "f": {"activistOn": "2015-06-01"}}), "updateMember")
    [t] = ok(await send(api, "a_admin", [m], to=b1, date="2020-05-01"), "transferMembers")["transfers"]
    ok(await api.as_("b_admin", DECIDE % ("acceptTransfer", TRANSFER_FIELDS),
                     {"input": {"transferId": t["id"], "date": "2020-05-01"}}), "acceptTransfer")
    ok(await api.as_("root_admin", STATUS, {"m": m, "k": "DEATH", "d": "2021-06-01", "r": "病故"}),
       "recordStatusChange")
    # Entries (approval required in A1).
    ok(await api.as_("root_admin", REQUIRE, {"o": gid("Organization", a1)}), "updateOrganization")
    gone = await create(api, "a1_admin", a1, name="删除", since="2016-01-01", appliedOn="2013-03-01",
                        joinedOn="2014-07-01", confirmedOn="2015-07-01")
    kept = await create(api, "a1_admin", a1, name="通过", since="2016-01-01", appliedOn="2013-03-01",
                        joinedOn="2014-07-01", confirmedOn="2015-07-01")
    ok(await api.as_("a_operator", REVIEW % "rejectMembers", {"ids": [gone, kept], "r": "日期有误"}), "rejectMembers")
    for entry in (gone, kept):
        ok(await api.as_("a1_admin", RESUBMIT, {"m": entry, "f": {"joinedOn": "2013-07-01", "confirmedOn": "2014-07-01"}}),
           "resubmitMember")
    ok(await api.as_("a_operator", REVIEW % "rejectMembers", {"ids": [gone], "r": "仍有误"}), "rejectMembers")
    assert (await api.as_("a1_admin", DELETE, {"ids": [gone]}))["data"]["deleteRejectedMembers"]["ok"] is True
    ok(await api.as_("a_operator", REVIEW % "approveMembers", {"ids": [kept]}), "approveMembers")
    assert await assert_periods_are_the_seeks(engine, [a, a1, b1]) > 20
    days = ["2015-06-01", "2016-02-01", "2016-12-31", "2019-01-01", "2020-04-30", "2020-05-01", "2021-05-31",
            "2021-06-01"]
    await assert_same_tables(api, monkeypatch, "root_admin", gid("Organization", world.orgs["root"]), days)
    await assert_same_tables(api, monkeypatch, "a_viewer", gid("Organization", a), days)
    async with make_sessionmaker(engine)() as session:
        assert await invariant_violations(session) == HEALTHY
        # The deleted entry left no period behind (ON DELETE CASCADE, SQLite's foreign_keys on).
        t = models.MemberStatePeriod
        assert set(await session.scalars(select(t.member_id).distinct())) <= set(
            await session.scalars(select(models.Member.id)))


async def test_orm_facts_on_one_day_and_deleted(engine, world):
    """Straight through the ORM (the flush hook): two status steps on one day in one flush, a
    placement ended the day the next starts, a fact deleted (session.delete: the member's latest),
    a fact's date moved later and back, a fact of the future (dated after today)."""
    member = world.members["b1_only"] if "b1_only" in world.members else next(iter(world.members.values()))
    a1, a2 = world.orgs["a1"], world.orgs["a2"]
    p, s = models.MemberPlacement, models.MemberStatusStep
    async with make_sessionmaker(engine)() as session, session.begin():
        member = await session.get(models.Member, member.id)
        start = await history.latest_fact_date(session, member.id)
        d1, d2 = start + dt.timedelta(days=3), start + dt.timedelta(days=5)
        assert d2 < TODAY
        session.add_all([s(member_id=member.id, status="LEFT", effective_on=d1),
                         s(member_id=member.id, status=member.status, effective_on=d1)])
        await session.flush()
        extra = s(member_id=member.id, status="LEFT", effective_on=d2)
        session.add(extra)
        await session.flush()
        await session.delete(extra)
        await session.flush()
        step = (await session.scalars(select(s).where(s.member_id == member.id, s.effective_on == d1)
                                      .order_by(s.id.desc()).limit(1))).one()
        step.effective_on = d2
        await session.flush()
        step.effective_on = d1
        await session.flush()
    async with make_sessionmaker(engine)() as session:
        assert await invariant_violations(session) == HEALTHY
    # A placement ended on the day another starts, both written in one flush (a move of the
    # history only: the member row follows through repair in the real services; here the test
    # moves it back the same day so today's state is unchanged).
    async with make_sessionmaker(engine)() as session, session.begin():
        member = await session.get(models.Member, member.id)
        origin = member.organization_id
        other = a2.id if origin != a2.id else a1.id
        d3, d4 = d2 + dt.timedelta(days=2), d2 + dt.timedelta(days=4)
        open_ = (await session.scalars(select(p).where(p.member_id == member.id, p.valid_to.is_(None)))).one()
        open_.valid_to = d3
        session.add_all([p(member_id=member.id, organization_id=other, valid_from=d3, valid_to=d4),
                         p(member_id=member.id, organization_id=origin, valid_from=d4)])
    async with make_sessionmaker(engine)() as session:
        assert await invariant_violations(session) == HEALTHY
        rows = list(await session.execute(
            select(models.MemberStatePeriod.valid_from, models.MemberStatePeriod.valid_to,
                   models.MemberStatePeriod.organization_id)
            .where(models.MemberStatePeriod.member_id == member.id, models.MemberStatePeriod.valid_from >= d3)
            .order_by(models.MemberStatePeriod.valid_from)))
        assert [tuple(r) for r in rows] == [(d3, d4, other), (d4, None, origin)]
    await assert_periods_are_the_seeks(engine, [world.orgs["a"]])


@pytest.mark.parametrize("lower", [False, True])
async def test_two_transactions_write_facts_of_one_member_at_once(engine, world, lower):
    """Two transactions (READ COMMITTED on PostgreSQL) each add a fact of one member and flush: the
    second's flush waits for the first's member row lock (the conditional UPDATE of last_fact_on,
    or, its date lower, refresh_snapshots' FOR NO KEY UPDATE) and rewrites the periods from both
    facts once the first commits. No deadlock, no lost fact, invariants hold."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers at BEGIN IMMEDIATE")
    member = next(iter(world.members.values()))
    async with make_sessionmaker(engine)() as session:
        start = await history.latest_fact_date(session, member.id)
    first_day, second_day = start + dt.timedelta(days=10), start + dt.timedelta(days=(5 if lower else 20))
    maker = make_sessionmaker(engine)
    s1, s2 = maker(), maker()
    try:
        await s1.begin()
        await s2.begin()
        status = (await s1.get(models.Member, member.id)).status
        s1.add(models.MemberStatusStep(member_id=member.id, status=status, effective_on=first_day))
        await s1.flush()
        s2.add(models.StatusChange(member_id=member.id, organization_id=member.organization_id, kind="SUSPENDED",
                                   date=second_day))
        s2.add(models.StatusChange(member_id=member.id, organization_id=member.organization_id, kind="RESTORED",
                                   date=second_day))
        second = asyncio.create_task(s2.flush())
        await asyncio.sleep(0.5)
        assert not second.done()  # held by the first's lock on the member row
        await s1.commit()
        await asyncio.wait_for(second, 10)
        await s2.commit()
    finally:
        await s1.close()
        await s2.close()
    async with make_sessionmaker(engine)() as session:
        assert await invariant_violations(session) == HEALTHY
        days = set(await session.scalars(select(models.MemberStatePeriod.valid_from)
                                          .where(models.MemberStatePeriod.member_id == member.id)))
        assert {first_day, second_day} <= days


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_migration_0021_fills_the_periods_from_existing_facts(tmp_path, backend):
    """A database with members and their facts at 0020 (made at head, then downgraded: 0021's
    downgrade drops the table), upgraded again: 0021 fills member_state_period from the facts,
    and the invariant "periods" holds."""
    from alembic import command

    from db.engine import make_engine
    from db.migrate import alembic_config, upgrade
    from tests.conftest import POSTGRES_URL, temporary_postgres_database
    from tests.factories import build_world

    async def run(url):
        await asyncio.to_thread(upgrade, url)
        engine = make_engine(url)
        try:
            await build_world(engine)
            async with make_sessionmaker(engine)() as session:
                before = sorted(map(tuple, await session.execute(select(models.MemberStatePeriod.__table__))))
            assert before
            await engine.dispose()
            await asyncio.to_thread(command.downgrade, alembic_config(url), "0020")
            await asyncio.to_thread(upgrade, url)
            engine = make_engine(url)
            async with make_sessionmaker(engine)() as session:
                after = sorted(map(tuple, await session.execute(select(models.MemberStatePeriod.__table__))))
                assert (await invariant_violations(session))["periods"] == 0
            assert after == before
        finally:
            await engine.dispose()

    if backend == "sqlite":
        await run(f"sqlite+aiosqlite:///{tmp_path}/migrated.db")
    else:
        if POSTGRES_URL is None:
            pytest.skip("no PostgreSQL")
        async with temporary_postgres_database("dangjian_rev") as url:
            await run(url)
