"""indexes for the set-based as-of reads (issue 9, speed)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30

db.services.history now reads the state of a past day set-based (one pass per history table, no
per-member subquery). Two indexes pay for it, measured on the 1,000,000-member bench data
(bench.statistics, EXPLAIN ANALYZE):
- member_category_step (member_id, effective_on, category): the category of a day is a GROUP BY
  member over the steps on or before it; with the category in the index PostgreSQL reads it
  index-only (4.3-4.6 s -> 2.7 s per state over 4.6 million steps);
- organization_parent_period (parent_id): the tree of a day is a recursive walk down the parent
  periods; without it each level was a scan of all 50,000 periods (the tree of a 10,043-member
  subtree: 33 ms -> 0.7 ms).

Follows 0017 (the transfer letter snapshot); the two were written side by side.
"""
from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_member_category_step_member_effective_category", "member_category_step",
                    ["member_id", "effective_on", "category"])
    op.create_index("ix_organization_parent_period_parent_id", "organization_parent_period", ["parent_id"])


def downgrade() -> None:
    op.drop_index("ix_organization_parent_period_parent_id", table_name="organization_parent_period")
    op.drop_index("ix_member_category_step_member_effective_category", table_name="member_category_step")
