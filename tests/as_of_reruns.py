"""The tests that pin the past-date and member-balance answers, imported by the modules that re-run
them with a path switched (tests/test_as_of_wide.py, tests/test_as_of_history_only.py): `from
tests.as_of_reruns import *` puts them (and their fixtures) in the module, where pytest collects
them again."""
from tests.test_member_balance import (  # noqa: F401
    test_a_member_transferred_out_of_the_branch_is_listed_with_its_organization_then,
    test_an_organization_moved_carries_its_members,
    test_identity_and_chaining_on_generated_data,
    test_members_moved_out_of_the_callers_branch_are_counted_not_listed,
    test_the_lines_of_a_dated_history,
)
from tests.test_statistics import tree  # noqa: F401  (the fixture)
from tests.test_statistics_as_of import (  # noqa: F401
    dated,
    test_a_past_date_counts_over_the_tree_of_that_day,
    test_counts_at_past_dates_are_what_was_true,
    test_drill_through_lists_every_member_of_the_cell_as_of_a_past_date,
    test_every_dimension_at_a_past_date_adds_up_and_drills,
    test_history_of_today_equals_the_member_rows_for_every_dimension,
)

__all__ = [name for name in dir() if name.startswith("test_")] + ["tree", "dated"]
