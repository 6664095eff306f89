"""change_request, registration_attempt, account.phone index: member self-service (issue 12)

Revision ID: 0015
Revises: 0011
Create Date: 2026-11-30

down_revision is "0011" as given; the coordinator re-chains it after the other migrations of
issues 10–13 at merge (it depends on nothing they add).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

ONE_PENDING = "status = 'PENDING'"


def upgrade() -> None:
    op.create_table(
        "change_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("submitted_at", db.models.UtcDateTime(), nullable=False),
        sa.Column("decided_at", db.models.UtcDateTime(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_change_request_member_id_member")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["account.id"],
                                name=op.f("fk_change_request_decided_by_id_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_request")),
    )
    op.create_index("ix_change_request_member_id_id", "change_request", ["member_id", "id"], unique=False)
    op.create_index("uq_change_request_one_pending", "change_request", ["member_id", "kind"], unique=True,
                    postgresql_where=sa.text(ONE_PENDING), sqlite_where=sa.text(ONE_PENDING))
    op.create_table(
        "registration_attempt",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", db.models.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_registration_attempt")),
    )
    op.create_index("ix_account_phone", "account", ["phone"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_account_phone", table_name="account")
    op.drop_table("registration_attempt")
    op.drop_index("uq_change_request_one_pending", table_name="change_request")
    op.drop_index("ix_change_request_member_id_id", table_name="change_request")
    op.drop_table("change_request")
