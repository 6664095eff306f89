"""The past-date reads without their two shortcuts give the same answers: every member read from
the dated history (not the member row of those with no fact after the day,
db.services.history.unchanged_since) and every past day's tree walked from the parent periods
(not today's paths where no parent period ended since, db.services.statistics.tree_unchanged).
The tests that pin the past-date and member-balance answers run again so; with the shortcuts on
(their own modules) they pin the fast path, so the two agree member for member, both engines."""
from __future__ import annotations

import pytest

from db.services import history
from db.services import statistics as statistics_service
from tests.test_member_balance import (  # noqa: F401  (re-run here, history only)
    test_an_organization_moved_carries_its_members,
    test_identity_and_chaining_on_generated_data,
    test_members_moved_out_of_the_callers_branch_are_counted_not_listed,
    test_the_lines_of_a_dated_history,
)
from tests.test_statistics import tree  # noqa: F401  (the fixture)
from tests.test_statistics_as_of import (  # noqa: F401  (re-run here, history only)
    dated,
    test_a_past_date_counts_over_the_tree_of_that_day,
    test_counts_at_past_dates_are_what_was_true,
    test_drill_through_lists_every_member_of_the_cell_as_of_a_past_date,
    test_every_dimension_at_a_past_date_adds_up_and_drills,
    test_history_of_today_equals_the_member_rows_for_every_dimension,
)


@pytest.fixture(autouse=True)
def history_only(monkeypatch):
    monkeypatch.setattr(history, "READ_ROWS", False)
    monkeypatch.setattr(statistics_service, "READ_TODAYS_TREE", False)
