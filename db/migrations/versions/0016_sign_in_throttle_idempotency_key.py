"""sign_in_throttle and idempotency_key (issue 12's hardening)

Revision ID: 0016
Revises: 0011
Create Date: 2026-11-30

down_revision is "0011" as given; the coordinator re-chains it at merge.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_throttle",
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_start", db.models.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_sign_in_throttle")),
    )
    op.create_index(op.f("ix_sign_in_throttle_window_start"), "sign_in_throttle", ["window_start"], unique=False)
    op.create_table(
        "idempotency_key",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("created_at", db.models.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], name=op.f("fk_idempotency_key_account_id_account")),
        sa.PrimaryKeyConstraint("account_id", "key", name=op.f("pk_idempotency_key")),
    )
    op.create_index(op.f("ix_idempotency_key_created_at"), "idempotency_key", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_key_created_at"), table_name="idempotency_key")
    op.drop_table("idempotency_key")
    op.drop_index(op.f("ix_sign_in_throttle_window_start"), table_name="sign_in_throttle")
    op.drop_table("sign_in_throttle")
