"""The wide-scope path of the as-of reads (a scope of WIDE_SCOPE members or more: every member's
state read and hash-joined, scoped by the join to the tree of that day; see
db.services.statistics.WIDE_SCOPE) gives the same answers as the narrow path: the past-date and
member-balance tests that pin the answers, run again with WIDE_SCOPE = 0 (every SUBTREE scope
wide). The test data is far below 100,000 members, so without this the wide path would go untested."""
from __future__ import annotations

import pytest

from db.services import balance as balance_service
from db.services import statistics as statistics_service
from tests.as_of_reruns import *  # noqa: F401,F403  (the pinned tests, re-run here)


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setattr(statistics_service, "WIDE_SCOPE", 0)
    monkeypatch.setattr(balance_service, "WIDE_SCOPE", 0)
