"""The past-date tests again with their days kept (db.services.history, "snapshots"): each day a
pinned test asks (and every 12-31 from 2000 on) is kept before the test writes anything, so that
the flush hook keeps each day's member states as the test's writes go (never a build: from an
empty database the rows are the hook's alone), a past-date crossTab of such a day reads the
changed members from member_state_snapshot, and the teardown's invariant "snapshot" checks every
kept row against the history. With the snapshots on (their own modules pin the fast path and the
plain history, tests/test_as_of_history_only.py) the three agree member for member, both engines."""
from __future__ import annotations

import datetime as dt

import pytest

from db import models
from db.engine import make_sessionmaker
from tests.as_of_reruns import *  # noqa: F401,F403  (the pinned tests, re-run here)
from tests.test_as_of_fast_path_review import (  # noqa: F401  (corrected dates, moves: kept days against the history)
    test_a_development_date_corrected_earlier_lowers_the_latest_fact,
    test_a_development_date_corrected_later_is_a_fact_after_the_day,
    test_a_rejected_entry_corrected_earlier_lowers_the_latest_fact,
    test_an_organization_moved_out_and_back_and_the_scope_moved,
)

ASKED = ["2024-03-01", "2024-02-29", "2024-05-31", "2024-01-01", "2024-06-30", "2024-06-01", "2015-06-30",
         "2015-01-10", "2022-06-30", "2022-03-01", "2020-06-30", "2020-07-01", "2020-01-01", "2019-04-01",
         "2018-04-01", "2017-03-01", "2016-02-01", "2016-01-01", "2014-01-01", "2023-01-01", "2025-10-10",
         "2025-09-01", "2025-03-01", "2025-06-30", "2025-07-01", "2023-07-01", "2010-07-01", "2015-01-01",
         "2015-01-02", "2000-01-01", "2013-06-15", "2023-12-31", "2024-09-01", "2024-09-30", "2024-10-01"]
# The days are kept in an empty database, before the world's rows are written (the flush hook
# keeps their states): the world is built in place, not copied from the template (tests/conftest.py).
WORLD_FROM_TEMPLATE = False
DAYS = sorted({dt.date.fromisoformat(d) for d in ASKED} | {dt.date(year, 12, 31) for year in range(2000, 2026)})


@pytest.fixture(autouse=True)
async def kept(engine):
    async with make_sessionmaker(engine)() as session, session.begin():
        session.add_all(models.StateSnapshot(day=day) for day in DAYS)
    yield

