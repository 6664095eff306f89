"""The wide-scope path of the as-of reads (a scope of WIDE_SCOPE members or more: every member's
state read and hash-joined, scoped by the join to the tree of that day; see
db.services.statistics.WIDE_SCOPE) gives the same answers as the narrow path: the past-date and
member-balance tests that pin the answers, run again with WIDE_SCOPE = 0 (every SUBTREE scope
wide). The test data is far below 100,000 members, so without this the wide path would go untested."""
from __future__ import annotations

import pytest

from db.services import balance as balance_service
from db.services import statistics as statistics_service
from tests.test_member_balance import (  # noqa: F401  (re-run here, wide)
    test_an_organization_moved_carries_its_members,
    test_identity_and_chaining_on_generated_data,
    test_members_moved_out_of_the_callers_branch_are_counted_not_listed,
    test_the_lines_of_a_dated_history,
)
from tests.test_statistics import tree  # noqa: F401  (the fixture)
from tests.test_statistics_as_of import (  # noqa: F401  (re-run here, wide)
    dated,
    test_a_past_date_counts_over_the_tree_of_that_day,
    test_counts_at_past_dates_are_what_was_true,
    test_drill_through_lists_every_member_of_the_cell_as_of_a_past_date,
    test_every_dimension_at_a_past_date_adds_up_and_drills,
    test_history_of_today_equals_the_member_rows_for_every_dimension,
)


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setattr(statistics_service, "WIDE_SCOPE", 0)
    monkeypatch.setattr(balance_service, "WIDE_SCOPE", 0)
