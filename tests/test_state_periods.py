"""member_state_period (db.services.history, "state periods"): the members changed since a day,
read from their periods, are exactly those the history's seeks find, in the same state, for every
day around every fact of a dated history, over the whole tree and a scope, on both engines; and a
cross-tab as of a day not kept answers the same through the endpoint either way. The periods
themselves are held equal to the facts by every test's teardown (the invariant "periods")."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from db import models
from db.engine import make_sessionmaker
from db.services import history
from db.tree import invariant_violations, within
from tests.conftest import gid
from tests.test_statistics_as_of import TODAY, dated, table  # noqa: F401  (the fixture)


async def fact_days(session) -> set[dt.date]:
    days = set()
    for column in (models.MemberPlacement.valid_from, models.MemberPlacement.valid_to,
                   models.MemberCategoryStep.effective_on, models.MemberStatusStep.effective_on,
                   models.StatusChange.date):
        days |= {d for d in await session.scalars(select(column)) if d is not None}
    return days


async def assert_periods_are_the_seeks(engine, organizations) -> int:
    """period_of = state_of_members(changed_members) for every day around every fact, over the
    whole tree and each organization's subtree; the number of rows compared."""
    found = 0
    async with make_sessionmaker(engine)() as session:
        assert await session.scalar(select(history.periods_differ().subquery().c.member_id).limit(1)) is None
        days = {d + dt.timedelta(days=k) for d in await fact_days(session) for k in (-1, 0, 1)}
        days = sorted(d for d in days if d < TODAY)
        for condition in [None] + [within(models.Organization.path, o.path) for o in organizations]:
            for day in days:
                periods = history.period_of(day, condition)
                seeks = history.state_of_members(day, history.changed_members(day, condition), "s",
                                                 condition).subquery("s")
                read = sorted(map(tuple, await session.execute(select(periods))))
                sought = sorted(map(tuple, await session.execute(select(seeks))))
                assert read == sought, (day, condition)
                found += len(read)
    return found


async def test_periods_are_the_seeks_answer_around_every_fact(engine, dated):
    assert await assert_periods_are_the_seeks(engine, [dated.orgs["a"]]) > 40
    async with make_sessionmaker(engine)() as session:
        assert (await invariant_violations(session))["periods"] == 0


async def test_a_day_not_kept_answers_the_same_from_periods_and_from_seeks(api, dated, monkeypatch):
    scope = gid("Organization", dated.orgs["a"])
    days = ["2013-12-31", "2016-12-31", "2022-12-31", "2023-01-01", "2024-05-31", "2024-06-30"]
    for rows, columns in (("CHILD_ORGANIZATION", "CATEGORY"), ("STATUS", None), ("PARTY_AGE_BAND", "GENDER")):
        from_periods = [await table(api, "a_viewer", organizationId=scope, rows=rows, columns=columns, asOf=d)
                        for d in days]
        monkeypatch.setattr(history, "READ_PERIODS", False)
        from_seeks = [await table(api, "a_viewer", organizationId=scope, rows=rows, columns=columns, asOf=d)
                      for d in days]
        monkeypatch.setattr(history, "READ_PERIODS", True)
        assert from_periods == from_seeks
        assert any(t["total"] for t in from_periods)
