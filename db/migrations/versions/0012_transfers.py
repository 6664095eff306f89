"""transfer, transfer_letter_counter: 组织关系转接 (issue 11)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30

One row per transfer (PENDING, ACCEPTED, REJECTED, CANCELLED, COMPLETED), at most one PENDING per
member (a partial unique index on both engines), and a per-year counter of letter numbers (介绍信编号).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

PENDING = "status = 'PENDING'"


def upgrade() -> None:
    op.create_table(
        "transfer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("from_organization_id", sa.Integer(), nullable=False),
        sa.Column("to_organization_id", sa.Integer(), nullable=True),
        sa.Column("external_destination", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("requested_on", sa.Date(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("letter_year", sa.Integer(), nullable=False),
        sa.Column("letter_seq", sa.Integer(), nullable=False),
        sa.Column("letter_number", sa.String(length=40), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("created_at", db.models.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_transfer_member_id_member")),
        sa.ForeignKeyConstraint(["from_organization_id"], ["organization.id"],
                                name=op.f("fk_transfer_from_organization_id_organization")),
        sa.ForeignKeyConstraint(["to_organization_id"], ["organization.id"],
                                name=op.f("fk_transfer_to_organization_id_organization")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer")),
        sa.UniqueConstraint("letter_number", name=op.f("uq_transfer_letter_number")),
    )
    op.create_index("uq_transfer_pending_member", "transfer", ["member_id"], unique=True,
                    postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))
    op.create_index("ix_transfer_member_id_id", "transfer", ["member_id", "id"], unique=False)
    op.create_index("ix_transfer_from_organization_id_id", "transfer", ["from_organization_id", "id"], unique=False)
    op.create_index("ix_transfer_to_organization_id_id", "transfer", ["to_organization_id", "id"], unique=False)
    op.create_index("ix_transfer_status_valid_until", "transfer", ["status", "valid_until"], unique=False)
    op.create_index("uq_transfer_letter_year_seq", "transfer", ["letter_year", "letter_seq"], unique=True)
    op.create_table(
        "transfer_letter_counter",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_transfer_letter_counter")),
    )


def downgrade() -> None:
    op.drop_table("transfer_letter_counter")
    for name in ("uq_transfer_letter_year_seq", "ix_transfer_status_valid_until", "ix_transfer_to_organization_id_id",
                 "ix_transfer_from_organization_id_id", "ix_transfer_member_id_id", "uq_transfer_pending_member"):
        op.drop_index(name, table_name="transfer")
    op.drop_table("transfer")
