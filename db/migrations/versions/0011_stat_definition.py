"""stat_definition: saved statistics tables (统计表格, issue 9)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

0010 is reserved for the member-history migration of the lifecycle work; when both are merged,
this one's down_revision becomes "0010" (the table depends on nothing 0010 adds).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stat_definition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("owner_account_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=20), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("rows", sa.String(length=30), nullable=False),
        sa.Column("columns", sa.String(length=30), nullable=True),
        sa.Column("filter_json", sa.Text(), nullable=True),
        sa.Column("created_at", db.models.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"],
                                name=op.f("fk_stat_definition_organization_id_organization")),
        sa.ForeignKeyConstraint(["owner_account_id"], ["account.id"],
                                name=op.f("fk_stat_definition_owner_account_id_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stat_definition")),
    )
    op.create_index("ix_stat_definition_organization_id_id", "stat_definition", ["organization_id", "id"],
                    unique=False)
    op.create_index(op.f("ix_stat_definition_owner_account_id"), "stat_definition", ["owner_account_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_stat_definition_owner_account_id"), table_name="stat_definition")
    op.drop_index("ix_stat_definition_organization_id_id", table_name="stat_definition")
    op.drop_table("stat_definition")
