"""Kept member states of chosen days (state_snapshot, member_state_snapshot)

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30

A past-date cross-tab reads the members changed since that day from their dated history, ~15 µs a
member by index seeks: at the bench root as of 2025-12-31, 109,930 changed members made it 11x
today's table. For a kept day (the annual report's 12-31, `python -m db snapshot build DAY`) their
state that day is kept in member_state_snapshot and read by an index range instead
(db.services.history, "snapshots"). Empty here: no day is kept until one is built.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.models import UtcDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "state_snapshot",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("built_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "member_state_snapshot",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(["day"], ["state_snapshot.day"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"]),
        sa.PrimaryKeyConstraint("day", "member_id"),
    )
    op.create_index("ix_member_state_snapshot_day_org", "member_state_snapshot",
                    ["day", "organization_id", "member_id", "category", "status"])
    op.create_index("ix_member_state_snapshot_member_id", "member_state_snapshot", ["member_id"])


def downgrade() -> None:
    op.drop_index("ix_member_state_snapshot_member_id", table_name="member_state_snapshot")
    op.drop_index("ix_member_state_snapshot_day_org", table_name="member_state_snapshot")
    op.drop_table("member_state_snapshot")
    op.drop_table("state_snapshot")
