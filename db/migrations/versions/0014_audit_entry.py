"""audit_entry: the audit trail (操作记录, issue 12)

Revision ID: 0014
Revises: 0011
Create Date: 2026-11-30

down_revision is "0011" as briefed; the coordinator re-chains it at merge (the table depends on
nothing after 0011).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", db.models.UtcDateTime(), nullable=False),
        sa.Column("actor_account_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(length=40), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("changes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
    )
    op.create_index(op.f("ix_audit_entry_at"), "audit_entry", ["at"], unique=False)
    op.create_index(op.f("ix_audit_entry_actor_account_id"), "audit_entry", ["actor_account_id"], unique=False)
    op.create_index("ix_audit_entry_organization_id_id", "audit_entry", ["organization_id", "id"], unique=False)
    op.create_index("ix_audit_entry_target_type_target_id", "audit_entry", ["target_type", "target_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_entry_target_type_target_id", table_name="audit_entry")
    op.drop_index("ix_audit_entry_organization_id_id", table_name="audit_entry")
    op.drop_index(op.f("ix_audit_entry_actor_account_id"), table_name="audit_entry")
    op.drop_index(op.f("ix_audit_entry_at"), table_name="audit_entry")
    op.drop_table("audit_entry")
