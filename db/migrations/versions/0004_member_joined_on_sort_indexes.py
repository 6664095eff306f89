"""member: expression indexes for ordering by joinedOn (not-yet-admitted members last)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_member_joined_asc", "member", [sa.text("coalesce(joined_on, '9999-12-30')"), "id"])
    op.create_index("ix_member_joined_desc", "member", [sa.text("coalesce(joined_on, '0001-01-02')"), "id"])


def downgrade() -> None:
    op.drop_index("ix_member_joined_desc", table_name="member")
    op.drop_index("ix_member_joined_asc", table_name="member")
