"""Review of the prebuilt cross-tab of a past day not kept (db.services.statistics._build_kept with
kept=False): against the generic builder (PREBUILT off) and the whole history (READ_ROWS off) on
members with a dated history, every fact day and the day before it, filters, every dimension, and a random history of transfers
(overlapping placements included), status and category steps, checked against history.state_as_of
too. All pass (reviewed at 22133b6); the fuller runs (25 fact days, 6+3 random days) passed as well."""
from __future__ import annotations

import datetime as dt

import pytest

from db import clock
from db.branch import Branch
from db.engine import make_sessionmaker
from db.services import history, statistics
from db.services.members import MemberQuery
from db.services.statistics import MEMBER_DIMENSIONS, CrossTabSpec
from tests.test_review_filter_prebuilt import DATED_FILTERS
from tests.test_statistics_as_of import dated  # noqa: F401  (the fixture)
from tests.test_statistics_prebuilt import fresh_filter_caches, three_ways  # noqa: F401  (autouse)

# Every fact day of `dated` and the day before it passed (2010-06-30 ... 2024-06-30, 25 days);
# kept here: the ones where something changes in each kind of fact.
FACT_DAYS = ["2014-01-01", "2018-04-01", "2022-12-31", "2023-01-01",
             "2024-05-31", "2024-06-01"]
SCOPES = [("root", True), ("a", True), ("a1", True), ("a1", False), ("a2", False), ("a", False)]
SHAPES = [("CHILD_ORGANIZATION", "CATEGORY"), ("STATUS", "JOIN_YEAR"), ("PARTY_AGE_BAND", "AGE_BAND"),
          ("LEVEL", "STATUS"), ("CATEGORY", None)]


def spy(monkeypatch):
    used = []
    original = statistics._kept_statement

    def kept_statement(spec, organization, as_of, kept=True):
        built = original(spec, organization, as_of, kept)
        used.append((kept, built is not None))
        return built

    monkeypatch.setattr(statistics, "_kept_statement", kept_statement)
    return used


async def three(session, branch, spec, monkeypatch):
    return await three_ways(session, branch, spec, monkeypatch, "READ_ROWS")


@pytest.mark.parametrize("day", FACT_DAYS)
async def test_dated_fact_days_not_kept(engine, dated, monkeypatch, day):  # noqa: F811
    day = dt.date.fromisoformat(day)
    branch = Branch(path=dated.orgs["root"].path)
    used = spy(monkeypatch)
    async with make_sessionmaker(engine)() as session:
        for name, subtree in SCOPES:
            for rows, columns in SHAPES:
                spec = CrossTabSpec(organization_id=dated.orgs[name].id, rows=rows, columns=columns,
                                    subtree=subtree, as_of=day)
                prebuilt, generic, plain = await three(session, branch, spec, monkeypatch)
                assert prebuilt == generic == plain, (day, name, subtree, rows, columns)
                table = await statistics.cross_tab(session, branch, spec)
                for i, r in enumerate(table.rows):
                    for j, c in enumerate(table.columns):
                        column = c.key if columns else None
                        assert await statistics.drill_count(session, table, r.key, column) == table.cells[i][j]
    assert (False, True) in used and (True, True) not in used


@pytest.mark.parametrize("day", ["2018-12-31", "2024-06-30"])
async def test_dated_filters_not_kept(engine, dated, monkeypatch, day):  # noqa: F811
    day = dt.date.fromisoformat(day)
    branch = Branch(path=dated.orgs["root"].path)
    used = spy(monkeypatch)
    async with make_sessionmaker(engine)() as session:
        for query in DATED_FILTERS + [MemberQuery(statuses=("ACTIVE", "LEFT")),
                                      MemberQuery(joined_from=day, joined_to=day + dt.timedelta(days=400))]:
            for name, subtree in (("a", True), ("a1", False), ("root", True)):
                for rows, columns in (("CHILD_ORGANIZATION", "STATUS"), ("CATEGORY", "JOIN_YEAR")):
                    spec = CrossTabSpec(organization_id=dated.orgs[name].id, rows=rows, columns=columns,
                                        subtree=subtree, query=query, as_of=day)
                    prebuilt, generic, plain = await three(session, branch, spec, monkeypatch)
                    assert prebuilt == generic == plain, (day, name, subtree, query, rows, columns)
    assert (False, True) in used


async def test_every_dimension_on_dated_days(engine, dated, monkeypatch):  # noqa: F811
    branch = Branch(path=dated.orgs["root"].path)
    async with make_sessionmaker(engine)() as session:
        for day in ("2015-06-30", "2023-01-01", "2024-05-31"):
            for rows in MEMBER_DIMENSIONS:
                for name, subtree in (("a", True), ("a1", False)):
                    spec = CrossTabSpec(organization_id=dated.orgs[name].id, rows=rows, subtree=subtree,
                                        as_of=dt.date.fromisoformat(day))
                    prebuilt, generic, plain = await three(session, branch, spec, monkeypatch)
                    assert prebuilt == generic == plain, (day, name, subtree, rows)


# ------------------------------------------------------------------ a random history

import random  # noqa: E402

from sqlalchemy import func, select  # noqa: E402

from db import models  # noqa: E402
from db.tree import repair_rollups  # noqa: E402
from tests.factories import make_org, make_varied_members  # noqa: E402
from tests.test_statistics import tree  # noqa: F401,E402  (the fixture)

RANDOM_DAYS = [dt.date(2012, 12, 31), dt.date(2016, 2, 29), dt.date(2018, 6, 30), dt.date(2020, 12, 31),
               dt.date(2023, 3, 15), dt.date(2024, 2, 29)]


def near(rng, days):
    day = rng.choice(days)
    return day + dt.timedelta(days=rng.choice([-1, 0, 0, 1, 2]))


@pytest.fixture
async def shuffled(engine, tree):  # noqa: F811
    """The tree plus A3 (under A) and B11 (under B1), and 60 members with transfers between scopes on
    and around the test days, overlapping placements, status steps LEFT/back to ACTIVE/
    FLOWING_OUT/TRANSFERRED_OUT, late category steps, all dated."""
    rng = random.Random(20240229)
    async with make_sessionmaker(engine)() as session, session.begin():
        tree.orgs["a3"] = await make_org(session, tree.orgs["a"], "中共示范市甲区第三支部", "004", type="BRANCH")
        tree.orgs["b11"] = await make_org(session, tree.orgs["b1"], "中共示范市乙区第一支部小组", "001", type="BRANCH")
        places = [tree.orgs[n] for n in ("a", "a1", "a2", "a11", "a3", "b1", "b11")]
        made = await make_varied_members(session, places, 60, seed=3)
        p = models.MemberPlacement
        for member in made:
            placement = (await session.scalars(select(p).where(p.member_id == member.id))).one()
            start = placement.valid_from
            later = [d for d in RANDOM_DAYS if d > start + dt.timedelta(days=3)]
            if later and rng.random() < 0.7:
                moves = sorted({near(rng, later) for _ in range(rng.randint(1, 3))})
                current = placement
                for day in moves:
                    if day <= current.valid_from:
                        continue
                    current.valid_to = day
                    target = rng.choice([o for o in places if o.id != current.organization_id])
                    begin = day - dt.timedelta(days=rng.choice([0, 0, 0, 5]))  # sometimes overlapping
                    if begin <= current.valid_from:
                        begin = day
                    current = models.MemberPlacement(member_id=member.id, organization_id=target.id, valid_from=begin)
                    session.add(current)
                    await session.flush()
            if later and rng.random() < 0.5:
                left = near(rng, later)
                session.add(models.MemberStatusStep(member_id=member.id, effective_on=left,
                                                    status=rng.choice(["LEFT", "FLOWING_OUT", "TRANSFERRED_OUT",
                                                                       "TRANSFERRING"])))
                if rng.random() < 0.6:
                    back = left + dt.timedelta(days=rng.choice([0, 1, 30, 400]))
                    if back < clock.today():
                        session.add(models.MemberStatusStep(member_id=member.id, effective_on=back, status="ACTIVE"))
            if later and rng.random() < 0.3:
                session.add(models.MemberCategoryStep(member_id=member.id, effective_on=near(rng, later),
                                                      category=rng.choice(["PROBATIONARY", "FULL", "APPLICANT"])))
            await session.flush()
        await repair_rollups(session)
    return tree


@pytest.mark.parametrize("day", [RANDOM_DAYS[1], RANDOM_DAYS[4] + dt.timedelta(days=1)])
async def test_random_history_not_kept(engine, shuffled, monkeypatch, day):
    """Prebuilt == generic == the whole history; and the SELF totals equal history.state_as_of (the
    set-based state, another implementation than state_of_members)."""
    branch = Branch(path=shuffled.orgs["root"].path)
    used = spy(monkeypatch)
    names = ("root", "a", "a1", "a11", "a2", "a3", "b", "b1", "b11")
    async with make_sessionmaker(engine)() as session:
        state = history.state_as_of(day).subquery()
        expected = dict((await session.execute(
            select(state.c.organization_id, func.count())
            .where(state.c.status.in_(("ACTIVE", "FLOWING_OUT", "TRANSFERRING")))
            .group_by(state.c.organization_id))).all())
        for name in names:
            for subtree in (True, False):
                for rows, columns in (("CHILD_ORGANIZATION", "STATUS"), ("CATEGORY", "JOIN_YEAR"),
                                      ("PARTY_AGE_BAND", "LEVEL"), ("AGE_BAND", None)):
                    spec = CrossTabSpec(organization_id=shuffled.orgs[name].id, rows=rows, columns=columns,
                                        subtree=subtree, as_of=day)
                    prebuilt, generic, plain = await three(session, branch, spec, monkeypatch)
                    assert prebuilt == generic == plain, (day, name, subtree, rows, columns)
                    if not subtree:
                        assert prebuilt[7] == expected.get(shuffled.orgs[name].id, 0), (day, name)
            spec = CrossTabSpec(organization_id=shuffled.orgs[name].id, rows="STATUS", subtree=True, as_of=day,
                                query=MemberQuery(statuses=("LEFT", "TRANSFERRED_OUT", "ACTIVE"),
                                                  categories=("FULL", "PROBATIONARY"), min_age=40))
            prebuilt, generic, plain = await three(session, branch, spec, monkeypatch)
            assert prebuilt == generic == plain, (day, name, "filtered")
    assert (False, True) in used and (True, True) not in used
