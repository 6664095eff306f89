"""Review of the prebuilt member filter (db.services.statistics._filter_shape/_filter_where/
_filter_parameters): hostile filters against the generic builder and the plain history."""
from __future__ import annotations

import datetime as dt
import random

import pytest

from db import clock
from db.branch import Branch
from db.engine import make_sessionmaker
from db.services import history, statistics
from db.services.members import MemberQuery
from db.services.statistics import CrossTabSpec
from tests.test_statistics import tree  # noqa: F401  (the fixture)
from tests.test_statistics_prebuilt import answer, both, fresh_filter_caches, three_ways  # noqa: F401  (autouse)


def random_filters(n: int, seed: int = 7) -> list[MemberQuery]:
    from db import codes

    rng = random.Random(seed)
    education = [c for c, _ in codes.entries("education")][:9] + ["ZZ"]
    ethnicity = ["01", "02", "03", "99"]
    position = [c for c, _ in codes.entries("job_position")][:5]
    pools = {
        "statuses": ["ACTIVE", "FLOWING_OUT", "TRANSFERRING", "LEFT", "TRANSFERRED_OUT", "PENDING_APPROVAL", "REJECTED"],
        "categories": ["APPLICANT", "ACTIVIST", "CANDIDATE", "PROBATIONARY", "FULL"],
        "affiliations": ["DIRECT", "INFLOW"], "genders": ["MALE", "FEMALE"],
        "education_codes": education, "ethnicity_codes": ethnicity, "job_position_codes": position,
    }
    out = []
    for _ in range(n):
        values = {}
        for name, pool in pools.items():
            roll = rng.random()
            if roll < 0.55:
                continue
            if roll < 0.62:
                values[name] = ()
            else:  # with duplicates now and then
                k = rng.randint(1, 5)
                values[name] = tuple(rng.choice(pool) for _ in range(k))
        if rng.random() < 0.4:
            values["min_age"] = rng.choice([0, 18, 30, 35, 41, 60, 150])
        if rng.random() < 0.4:
            values["max_age"] = rng.choice([0, 29, 35, 40, 59, 150])
        if rng.random() < 0.3:
            values["joined_from"] = rng.choice([dt.date(1, 1, 1), dt.date(2000, 2, 29), dt.date(2015, 6, 30),
                                                dt.date(2024, 2, 29), dt.date(2025, 1, 1)])
        if rng.random() < 0.3:
            values["joined_to"] = rng.choice([dt.date(9999, 12, 31), dt.date(2010, 1, 1), dt.date(2015, 6, 30),
                                              dt.date(2024, 2, 29)])
        if rng.random() < 0.3:
            values["has_account"] = rng.choice([True, False])
        if rng.random() < 0.3:
            values["completeness_below"] = rng.choice([0, 1, 50, 90, 101])
        if rng.random() < 0.05:
            values["name_contains"] = ""
        out.append(MemberQuery(subtree=rng.random() < 0.5, **values))
    return out


SHAPES = [("CATEGORY", "AGE_BAND", True), ("CHILD_ORGANIZATION", "STATUS", True), ("HAS_ACCOUNT", "GENDER", False),
          ("CHILD_ORGANIZATION", None, False), ("PARTY_AGE_BAND", "JOIN_YEAR", True), ("STATUS", "CATEGORY", False)]


@pytest.mark.parametrize("today", [clock.today(), dt.date(2024, 2, 29), dt.date(2023, 3, 1)])
async def test_random_filters_today(engine, tree, monkeypatch, today):  # noqa: F811
    branch = Branch(path=tree.orgs["root"].path)
    async with make_sessionmaker(engine)() as session:
        for i, query in enumerate(random_filters(60, seed=today.toordinal())):
            rows, columns, subtree = SHAPES[i % len(SHAPES)]
            for name in ("root", "a", "a1"):
                spec = CrossTabSpec(organization_id=tree.orgs[name].id, rows=rows, columns=columns, subtree=subtree,
                                    query=query)
                prebuilt, generic = await both(session, branch, spec, today, monkeypatch)
                assert prebuilt == generic, (today, name, query, rows, columns, subtree)


@pytest.mark.parametrize("day", [dt.date(2024, 2, 29), dt.date(2015, 6, 30)])
async def test_random_filters_kept_day(engine, tree, monkeypatch, day):  # noqa: F811
    branch = Branch(path=tree.orgs["root"].path)
    async with make_sessionmaker(engine)() as session, session.begin():
        await history.build_snapshot(session, day)
    async with make_sessionmaker(engine)() as session:
        for i, query in enumerate(random_filters(60, seed=day.toordinal())):
            rows, columns, subtree = SHAPES[i % len(SHAPES)]
            for name in ("root", "a1"):
                spec = CrossTabSpec(organization_id=tree.orgs[name].id, rows=rows, columns=columns, subtree=subtree,
                                    query=query, as_of=day)
                prebuilt, generic, plain = await three_ways(session, branch, spec, monkeypatch)
                assert prebuilt == generic == plain, (day, name, query, rows, columns, subtree)


GQL_FILTERS = [
    {"categories": ["FULL", "FULL", "PROBATIONARY"], "genders": ["MALE", "MALE"]},
    {"statuses": [], "categories": []},
    {"statuses": ["ACTIVE", "LEFT", "LEFT", "TRANSFERRED_OUT"], "hasAccount": False},
    {"hasAccount": True},
    {"completenessBelow": 0}, {"completenessBelow": 101},
    {"minAge": 60, "maxAge": 30}, {"minAge": 0, "maxAge": 0}, {"minAge": 150},
    {"joinedFrom": "0001-01-01", "joinedTo": "9999-12-31"},
    {"joinedFrom": "2024-02-29", "educationCodes": ["ZZ", "ZZ"]},
    {"ethnicityCodes": ["01"] * 16, "jobPositionCodes": []},
    {"ethnicityCodes": ["01"] * 17},
    {"nameContains": ""}, {"nameContains": "党员1"},
]


@pytest.mark.parametrize("as_of", [None, "2024-02-29"])
async def test_gql_filtered_cells_equal_drill_through(api, engine, tree, as_of):  # noqa: F811
    from tests.test_statistics import cross_tab, drill_counts
    from tests.conftest import gid

    if as_of is not None:
        async with make_sessionmaker(engine)() as session, session.begin():
            await history.build_snapshot(session, dt.date.fromisoformat(as_of))
    who = "root_admin"
    for member_filter in GQL_FILTERS:
        for org, scope, rows, columns in (("root", "SUBTREE", "CHILD_ORGANIZATION", "CATEGORY"),
                                          ("a1", "SELF", "AGE_BAND", "HAS_ACCOUNT")):
            input_ = {"organizationId": gid("Organization", tree.orgs[org]), "scope": scope, "rows": rows,
                      "columns": columns, "filter": member_filter}
            if as_of is not None:
                input_["asOf"] = as_of
            table = await cross_tab(api, who, **input_)
            cells = [(r["key"], c["key"]) for r in table["rows"] for c in table["columns"]]
            expected = [table["cells"][i][j] for i in range(len(table["rows"])) for j in range(len(table["columns"]))]
            assert await drill_counts(api, who, input_, cells) == expected, (member_filter, org, as_of)


from tests.test_statistics_as_of import dated  # noqa: F401,E402  (the fixture)

DATED_FILTERS = [
    MemberQuery(), MemberQuery(categories=("APPLICANT", "ACTIVIST")), MemberQuery(categories=("CANDIDATE",)),
    MemberQuery(categories=("FULL", "PROBATIONARY", "FULL")), MemberQuery(categories=()),
    MemberQuery(statuses=("LEFT",)), MemberQuery(statuses=("ACTIVE", "LEFT", "TRANSFERRED_OUT", "PENDING_APPROVAL")),
    MemberQuery(statuses=()), MemberQuery(joined_from=dt.date(2012, 7, 1)), MemberQuery(joined_to=dt.date(2012, 7, 1)),
    MemberQuery(min_age=30, max_age=50), MemberQuery(has_account=False), MemberQuery(has_account=True),
    MemberQuery(completeness_below=0), MemberQuery(completeness_below=101, genders=("FEMALE", "MALE")),
]


@pytest.mark.parametrize("day", [dt.date(2016, 12, 31), dt.date(2017, 6, 30), dt.date(2022, 12, 31),
                                 dt.date(2024, 5, 31), dt.date(2024, 6, 30)])
async def test_dated_history_kept_day_filters(engine, dated, monkeypatch, day):  # noqa: F811
    branch = Branch(path=dated.orgs["root"].path)
    async with make_sessionmaker(engine)() as session, session.begin():
        await history.build_snapshot(session, day)
    used = []
    original = statistics._kept_statement
    monkeypatch.setattr(statistics, "_kept_statement",
                        lambda *a: (lambda built: used.append(built is not None) or built)(original(*a)))
    async with make_sessionmaker(engine)() as session:
        for query in DATED_FILTERS:
            for name, subtree in (("a", True), ("a1", False), ("a2", False), ("root", True)):
                for rows, columns in (("CHILD_ORGANIZATION", "CATEGORY"), ("STATUS", "JOIN_YEAR")):
                    spec = CrossTabSpec(organization_id=dated.orgs[name].id, rows=rows, columns=columns,
                                        subtree=subtree, query=query, as_of=day)
                    with monkeypatch.context() as m:
                        m.setattr(statistics, "PREBUILT", False)
                        generic = answer(await statistics.cross_tab(session, branch, spec))
                    prebuilt = answer(await statistics.cross_tab(session, branch, spec))
                    with monkeypatch.context() as m:
                        m.setattr(history, "READ_SNAPSHOTS", False)
                        plain = answer(await statistics.cross_tab(session, branch, spec))
                    assert prebuilt == generic == plain, (day, name, subtree, query, rows, columns)
    assert sum(used) >= len(DATED_FILTERS) * 8


async def test_filter_shapes_from_one_client_do_not_disable_the_unfiltered_prebuilt_tables(engine, tree, monkeypatch):  # noqa: F811
    """Only the unfiltered shapes (at most ~410: subject x rows x columns x scope) were cached
    before filters were prebuilt, so today's dashboards' tables (W3: EDUCATION x GENDER, W4:
    CHILD_ORGANIZATION x AGE_BAND) were always prebuilt. With filter shapes in the same first-come
    cache (MAX_SHAPES, no eviction), one viewer of a small branch sending 512 filtered cross-tabs
    turned every later new shape, the unfiltered dashboards' included, generic for the life of the
    process (found failing; the filtered shapes now have their own caches)."""
    monkeypatch.setattr(statistics, "_TODAY", {})  # a fresh process
    monkeypatch.setattr(statistics, "_TODAY_FILTERED", {})
    viewer = Branch(path=tree.orgs["a11"].path)
    scope = tree.orgs["a11"]
    made = 0
    for n_ethnicity in range(1, 17):
        for n_gender in range(1, 17):
            for has_account in (None, True):
                if made >= statistics.MAX_SHAPES + 8:
                    break
                query = MemberQuery(ethnicity_codes=("01",) * n_ethnicity, genders=("MALE",) * n_gender,
                                    has_account=has_account)
                spec = CrossTabSpec(organization_id=scope.id, rows="GENDER", subtree=False, query=query)
                async with make_sessionmaker(engine)() as session:
                    await statistics.cross_tab(session, viewer, spec)
                made += 1
    root = tree.orgs["root"]
    for rows, columns in (("EDUCATION", "GENDER"), ("CHILD_ORGANIZATION", "AGE_BAND")):
        spec = CrossTabSpec(organization_id=root.id, rows=rows, columns=columns, subtree=True)
        assert statistics._today_statement(spec, root, clock.today()) is not None, (rows, columns)
    # The filtered shapes stop at MAX_SHAPES; a new one then takes the generic builder.
    assert len(statistics._TODAY_FILTERED) == statistics.MAX_SHAPES
    spec = CrossTabSpec(organization_id=root.id, rows="GENDER", query=MemberQuery(genders=("MALE",) * 16,
                                                                                   has_account=False))
    assert statistics._today_statement(spec, root, clock.today()) is None
