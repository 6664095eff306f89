"""Today's cross-tab runs a statement built once per shape (db.services.statistics,
_today_statement; a member filter by its shape, its values bound) rather than the generic builder
(_counts): the two give exactly the same table, rows, labels, cells, totals and the
CHILD_ORGANIZATION paths the drill-through reads, for every dimension alone and every ordered pair,
SELF and SUBTREE, members and organizations, on both engines, on several days (the band bounds move
with the date: 29 February included), and for every part of a member filter."""
from __future__ import annotations

import datetime as dt
import itertools

import pytest

from db import clock
from db.branch import Branch
from db.engine import make_sessionmaker
from db.errors import DomainError
from db.services import statistics
from db.services.members import MemberQuery
from db.services.statistics import MEMBER_DIMENSIONS, MEMBERS, ORGANIZATION_DIMENSIONS, ORGANIZATIONS, CrossTabSpec
from tests.test_statistics import tree  # noqa: F401  (the fixture)


@pytest.fixture(autouse=True)
def fresh_filter_caches(monkeypatch):
    """Each test with empty caches of filtered statements (db.services.statistics, MAX_SHAPES): the
    process's caches fill up across tests, and past MAX_SHAPES a new shape is generic."""
    monkeypatch.setattr(statistics, "_TODAY_FILTERED", {})
    monkeypatch.setattr(statistics, "_KEPT_FILTERED", {})


def shapes(dimensions):
    return [(rows, None) for rows in dimensions] + list(itertools.permutations(dimensions, 2))


def answer(table: statistics.Table):
    return (table.organization.id, table.as_of, table.rows, table.columns, table.cells, table.row_totals,
            table.column_totals, table.total, table.paths, table.historical)


async def both(session, branch, spec, today, monkeypatch):
    """(prebuilt answer, generic answer); the prebuilt one must not touch the generic builder."""
    def generic_builder(*args):
        raise AssertionError("the prebuilt path built the generic statement")

    with monkeypatch.context() as m:
        m.setattr(statistics, "_counts", generic_builder)
        prebuilt = await statistics.cross_tab(session, branch, spec, today=today)
    with monkeypatch.context() as m:
        m.setattr(statistics, "PREBUILT", False)
        generic = await statistics.cross_tab(session, branch, spec, today=today)
    return answer(prebuilt), answer(generic)


async def three_ways(session, branch, spec, monkeypatch, off: str = "READ_SNAPSHOTS"):
    """(prebuilt, generic, plain) answers of a past day's spec: plain with history.`off` switched
    off (READ_SNAPSHOTS: the kept rows not read; READ_ROWS: no member row read, the whole history)."""
    from db.services import history

    prebuilt, generic = await both(session, branch, spec, None, monkeypatch)
    with monkeypatch.context() as m:
        m.setattr(history, off, False)
        plain = answer(await statistics.cross_tab(session, branch, spec))
    return prebuilt, generic, plain


async def test_prebuilt_equals_generic_for_every_dimension_and_pair(engine, tree, monkeypatch):  # noqa: F811
    branch = Branch(path=tree.orgs["root"].path)
    today = clock.today()
    compared = 0
    async with make_sessionmaker(engine)() as session:
        for name in ("root", "a", "a1", "a11"):
            organization = tree.orgs[name]
            for subtree in (True, False):
                for subject, dimensions in ((MEMBERS, MEMBER_DIMENSIONS), (ORGANIZATIONS, ORGANIZATION_DIMENSIONS)):
                    for rows, columns in shapes(dimensions):
                        spec = CrossTabSpec(organization_id=organization.id, rows=rows, columns=columns,
                                            subject=subject, subtree=subtree)
                        prebuilt, generic = await both(session, branch, spec, today, monkeypatch)
                        assert prebuilt == generic, (name, subtree, subject, rows, columns)
                        compared += prebuilt[7] > 0
    assert compared > 500  # nonempty tables compared


@pytest.mark.parametrize("today", [dt.date(2024, 2, 29), dt.date(2025, 2, 28), dt.date(2025, 3, 1),
                                   dt.date(2023, 12, 31)])
async def test_band_bounds_on_other_days(engine, tree, monkeypatch, today):  # noqa: F811
    """The bounds are parameters computed per request from the as-of day, as minAge/maxAge."""
    branch = Branch(path=tree.orgs["root"].path)
    async with make_sessionmaker(engine)() as session:
        for name, subtree in (("root", True), ("a1", False)):
            for rows, columns in [("AGE_BAND", None), ("PARTY_AGE_BAND", None), ("AGE_BAND", "PARTY_AGE_BAND"),
                                  ("PARTY_AGE_BAND", "AGE_BAND"), ("CHILD_ORGANIZATION", "AGE_BAND"),
                                  ("JOIN_YEAR", "PARTY_AGE_BAND")]:
                spec = CrossTabSpec(organization_id=tree.orgs[name].id, rows=rows, columns=columns, subtree=subtree)
                prebuilt, generic = await both(session, branch, spec, today, monkeypatch)
                assert prebuilt == generic, (today, name, rows, columns)


def filters() -> list[MemberQuery]:
    """Every part of a member filter, alone and together (the codes of tests.factories)."""
    from db import codes

    education = [c for c, _ in codes.entries("education")][:3]
    ethnicity = [c for c, _ in codes.entries("ethnicity")][:2]
    position = [c for c, _ in codes.entries("job_position")][:2]
    return [
        MemberQuery(), MemberQuery(subtree=True), MemberQuery(name_contains=""),
        MemberQuery(statuses=("ACTIVE",)), MemberQuery(statuses=("LEFT", "TRANSFERRED_OUT", "FLOWING_OUT")),
        MemberQuery(statuses=()),
        MemberQuery(categories=("FULL",)), MemberQuery(categories=("FULL", "PROBATIONARY")), MemberQuery(categories=()),
        MemberQuery(affiliations=("DIRECT",)), MemberQuery(genders=("FEMALE",)),
        MemberQuery(education_codes=tuple(education)), MemberQuery(ethnicity_codes=tuple(ethnicity)),
        MemberQuery(job_position_codes=tuple(position)),
        MemberQuery(min_age=35), MemberQuery(max_age=40), MemberQuery(min_age=30, max_age=60),
        MemberQuery(joined_from=dt.date(2010, 1, 1)), MemberQuery(joined_to=dt.date(2015, 6, 30)),
        MemberQuery(has_account=True), MemberQuery(has_account=False), MemberQuery(completeness_below=90),
        MemberQuery(subtree=True, categories=("FULL",), min_age=35, genders=("MALE", "FEMALE"),
                    statuses=("ACTIVE", "FLOWING_OUT"), joined_from=dt.date(2000, 1, 1)),
    ]


async def test_a_filter_is_prebuilt_by_its_shape_and_equals_the_generic_builder(engine, tree, monkeypatch):  # noqa: F811
    """A member filter's values are bound parameters of a statement built once per filter shape
    (statistics._filter_where): the same table as the generic builder's member_service.conditions,
    for every part of the filter, SELF and SUBTREE, on two days (ages at the as-of day)."""
    branch = Branch(path=tree.orgs["root"].path)
    organization = tree.orgs["a"]
    compared = 0
    async with make_sessionmaker(engine)() as session:
        for today in (clock.today(), dt.date(2024, 2, 29)):
            for query in filters():
                for subtree, (rows, columns) in ((True, ("EDUCATION", "GENDER")), (False, ("CATEGORY", "AGE_BAND")),
                                                 (True, ("CHILD_ORGANIZATION", "STATUS"))):
                    spec = CrossTabSpec(organization_id=organization.id, rows=rows, columns=columns, subtree=subtree,
                                        query=query)
                    assert statistics._today_statement(spec, organization, today) is not None
                    prebuilt, generic = await both(session, branch, spec, today, monkeypatch)
                    assert prebuilt == generic, (today, query, subtree, rows, columns)
                    compared += prebuilt[7] > 0
    assert compared > 100


async def test_a_search_or_a_long_list_takes_the_generic_builder(engine, tree, monkeypatch):  # noqa: F811
    from db import codes

    branch = Branch(path=tree.orgs["root"].path)
    today = clock.today()
    organization = tree.orgs["a"]
    many = tuple(c for c, _ in codes.entries("ethnicity"))[:statistics.MAX_FILTER_VALUES + 1]
    async with make_sessionmaker(engine)() as session:
        for query in (MemberQuery(name_contains="党员1"), MemberQuery(id_number="X"), MemberQuery(ethnicity_codes=many)):
            spec = CrossTabSpec(organization_id=organization.id, rows="EDUCATION", columns="GENDER", query=query)
            assert statistics._today_statement(spec, organization, today) is None
            table = await statistics.cross_tab(session, branch, spec, today=today)
            if query.name_contains:
                assert 0 < table.total < 120
        # Past MAX_SHAPES statements a new shape is built per request (the cache is not grown).
        monkeypatch.setattr(statistics, "MAX_SHAPES", len(statistics._TODAY_FILTERED))
        spec = CrossTabSpec(organization_id=organization.id, rows="GENDER", columns="JOB_POSITION",
                            query=MemberQuery(genders=("MALE",) * 7))
        assert statistics._today_statement(spec, organization, today) is None
        table = await statistics.cross_tab(session, branch, spec, today=today)
        assert [v.key for v in table.rows] == ["MALE"]


@pytest.mark.parametrize("day", [dt.date(2015, 6, 30), dt.date(2024, 2, 29)])
async def test_a_past_day_not_kept_prebuilt_equals_generic_and_the_history(engine, tree, monkeypatch, day):  # noqa: F811
    """A past day not kept, over today's tree: the prebuilt statement (statistics._build_kept with
    kept=False: the changed members' states from the history, its day and scope bound) against
    the generic builder and against the whole history (history.READ_ROWS off: no member row read),
    for every member dimension and some pairs, SELF and SUBTREE, and every part of a filter."""
    branch = Branch(path=tree.orgs["root"].path)
    compared = 0
    async with make_sessionmaker(engine)() as session:
        cases = [(rows, columns, None) for rows, columns in shapes(MEMBER_DIMENSIONS)[:20]]
        cases += [("CATEGORY", "AGE_BAND", query) for query in filters()]
        for name in ("root", "a1"):
            for subtree in (True, False):
                for rows, columns, query in cases:
                    spec = CrossTabSpec(organization_id=tree.orgs[name].id, rows=rows, columns=columns,
                                        subtree=subtree, as_of=day, query=query)
                    prebuilt, generic, plain = await three_ways(session, branch, spec, monkeypatch, "READ_ROWS")
                    assert prebuilt == generic == plain, (day, name, subtree, rows, columns, query)
                    compared += prebuilt[7] > 0
    assert compared > 40


async def test_the_scope_outside_the_branch_is_not_found(engine, tree):  # noqa: F811
    """The lookup keeps db.branch.get's rule: absent and foreign alike are NOT_FOUND."""
    async with make_sessionmaker(engine)() as session:
        for branch, organization_id in ((Branch(path=tree.orgs["b"].path), tree.orgs["a"].id),
                                        (Branch(path=tree.orgs["a1"].path), tree.orgs["a"].id),
                                        (Branch(path=tree.orgs["a11"].path), tree.orgs["a1"].id),
                                        (Branch(path=tree.orgs["root"].path), 10 ** 9),
                                        (Branch.of_member(tree.orgs["a"].path, 1), tree.orgs["a"].id)):
            for rows in ("CHILD_ORGANIZATION", "GENDER"):
                spec = CrossTabSpec(organization_id=organization_id, rows=rows)
                with pytest.raises(DomainError) as raised:
                    await statistics.cross_tab(session, branch, spec)
                assert [(p.code, p.message, p.field) for p in raised.value.problems] == [
                    ("NOT_FOUND", "党组织不存在或不在本账户的管辖范围内", ["organizationId"])]


@pytest.mark.parametrize("day, every_pair", [(dt.date(2015, 6, 30), True), (dt.date(2024, 2, 29), False)])
async def test_a_kept_day_prebuilt_equals_generic_and_the_history(engine, tree, monkeypatch, day, every_pair):  # noqa: F811
    """A kept day's member cross-tab (db.services.statistics._kept_statement) against the
    generic builder over the same kept rows and against the plain history (no kept rows read), for
    every member dimension (and, on one day, every ordered pair), SELF and SUBTREE."""
    from db.services import history

    branch = Branch(path=tree.orgs["root"].path)
    async with make_sessionmaker(engine)() as session, session.begin():
        await history.build_snapshot(session, day)
    compared = 0
    async with make_sessionmaker(engine)() as session:
        for name in ("root", "a1"):
            for subtree in (True, False):
                for rows, columns in (shapes(MEMBER_DIMENSIONS) if every_pair else shapes(MEMBER_DIMENSIONS)[:14]):
                    spec = CrossTabSpec(organization_id=tree.orgs[name].id, rows=rows, columns=columns,
                                        subtree=subtree, as_of=day)
                    prebuilt, generic, plain = await three_ways(session, branch, spec, monkeypatch)
                    assert prebuilt == generic == plain, (day, name, subtree, rows, columns)
                    compared += prebuilt[7] > 0
    assert compared > (300 if every_pair else 20)
    # Every part of a member filter on the kept day: the prebuilt statement against the generic
    # builder and the plain history.
    async with make_sessionmaker(engine)() as session:
        for query in filters():
            for name, subtree in (("root", True), ("a1", False)):
                spec = CrossTabSpec(organization_id=tree.orgs[name].id, rows="CATEGORY", columns="AGE_BAND",
                                    subtree=subtree, as_of=day, query=query)
                prebuilt, generic, plain = await three_ways(session, branch, spec, monkeypatch)
                assert prebuilt == generic == plain, (day, name, subtree, query)
