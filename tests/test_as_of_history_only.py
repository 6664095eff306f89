"""The past-date reads without their two shortcuts give the same answers: every member read from
the dated history (not the member row of those with no fact after the day,
db.services.history.unchanged_since) and every past day's tree walked from the parent periods
(not today's paths where no parent period ended since, db.services.statistics.past_day).
The tests that pin the past-date and member-balance answers run again so; with the shortcuts on
(their own modules) they pin the fast path, so the two agree member for member, both engines."""
from __future__ import annotations

import pytest

from db.services import history
from db.services import statistics as statistics_service
from tests.as_of_reruns import *  # noqa: F401,F403  (the pinned tests, re-run here)


@pytest.fixture(autouse=True)
def history_only(monkeypatch):
    monkeypatch.setattr(history, "READ_ROWS", False)
    monkeypatch.setattr(statistics_service, "READ_TODAYS_TREE", False)
