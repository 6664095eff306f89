"""branch_change and organization.subtree_changes / own_changes: data versions (issue 7)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

The data version of a branch (db.changes) keys the exact response cache: every committed write
appends marks for the organizations it touched and their ancestors; a fold moves them into two
counters per organization. Existing databases start at 0: no response is cached across a restart.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "branch_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("own", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branch_change")),
    )
    op.create_index("ix_branch_change_organization_id_own", "branch_change", ["organization_id", "own"], unique=False)
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subtree_changes", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("own_changes", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.drop_column("own_changes")
        batch_op.drop_column("subtree_changes")
    op.drop_index("ix_branch_change_organization_id_own", table_name="branch_change")
    op.drop_table("branch_change")
