"""organization.subtree_member_count and the member_count_delta log (issue 7)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

Subtree member counts read in constant time: a folded per-organization subtree count plus the
organization's pending deltas. Backfilled from direct_member_count over the path range.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BACKFILL = ("UPDATE organization SET subtree_member_count = (SELECT coalesce(sum(d.direct_member_count), 0) "
            "FROM organization d WHERE d.path >= organization.path "
            "AND d.path < substr(organization.path, 1, length(organization.path) - 1) || '0')")


def upgrade() -> None:
    op.create_table(
        "member_count_delta",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_count_delta")),
    )
    op.create_index("ix_member_count_delta_organization_id_delta", "member_count_delta",
                    ["organization_id", "delta"], unique=False)
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subtree_member_count", sa.Integer(), server_default="0", nullable=False))
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.drop_column("subtree_member_count")
    op.drop_index("ix_member_count_delta_organization_id_delta", table_name="member_count_delta")
    op.drop_table("member_count_delta")
