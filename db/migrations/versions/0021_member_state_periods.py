"""Members' state periods (member_state_period)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01

A past-date cross-tab of a day not kept read the members changed since that day by finding them
(the members of the scope with a later fact, the placements in it that ended later) and seeking
each one's placement, category and status in the history: ~10 µs a member, 2.1-2.5x today's
table. member_state_period holds each member's state from each of its fact days to the next, so
that those members are one index range per organization of the scope (db.services.history,
"state periods"). Filled here from the facts, as db.services.history.period_states computes them.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_state_period",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"]),
        sa.PrimaryKeyConstraint("member_id", "valid_from"),
    )
    op.create_index("ix_member_state_period_org_to", "member_state_period",
                    ["organization_id", "valid_to", "valid_from", "member_id", "category", "status"])
    from db.services.history import _PERIOD_COLUMNS, period_states
    table = sa.table("member_state_period", *(sa.column(name) for name in _PERIOD_COLUMNS))
    op.get_bind().execute(sa.insert(table).from_select(_PERIOD_COLUMNS, period_states()))


def downgrade() -> None:
    op.drop_index("ix_member_state_period_org_to", table_name="member_state_period")
    op.drop_table("member_state_period")
