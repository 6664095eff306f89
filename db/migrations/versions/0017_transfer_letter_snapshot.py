"""transfer.member_*: what the letter (介绍信) prints of the member, frozen when it is sent

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30

A side of a transfer that no longer has sight of the member (the sender after acceptance, the
receiver after a rejection or cancellation) reads it as the letter shows it (db.branch, the letter
reach): these columns, copied from the member when the transfer is sent, so a later edit by the
member's new branch is not seen by the old one. Existing rows get the member's current values (the
best there is: before 0017 the letter itself was printed from the current record).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

PENDING = "status = 'PENDING'"
# (column, type, nullable): nullable as on member.
COLUMNS = [
    ("name", sa.String(length=100), False),
    ("gender", sa.String(length=6), False),
    ("birth_date", sa.Date(), False),
    ("ethnicity_code", sa.String(length=8), True),
    ("id_number", sa.String(length=18), False),
    ("category", sa.String(length=20), False),
    ("affiliation", sa.String(length=10), False),
    ("joined_on", sa.Date(), True),
]


def upgrade() -> None:
    # SQLite re-creates the table to make the columns NOT NULL; the partial unique index is dropped
    # and created again around it rather than trusting its WHERE to survive reflection.
    op.drop_index("uq_transfer_pending_member", table_name="transfer")
    with op.batch_alter_table("transfer", schema=None) as batch_op:
        for name, type_, _nullable in COLUMNS:
            batch_op.add_column(sa.Column(f"member_{name}", type_, nullable=True))
    for name, _type, _nullable in COLUMNS:
        op.execute(f"UPDATE transfer SET member_{name} = "
                   f"(SELECT member.{name} FROM member WHERE member.id = transfer.member_id)")
    with op.batch_alter_table("transfer", schema=None) as batch_op:
        for name, type_, nullable in COLUMNS:
            if not nullable:
                batch_op.alter_column(f"member_{name}", existing_type=type_, nullable=False)
    op.create_index("uq_transfer_pending_member", "transfer", ["member_id"], unique=True,
                    postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))


def downgrade() -> None:
    op.drop_index("uq_transfer_pending_member", table_name="transfer")
    with op.batch_alter_table("transfer", schema=None) as batch_op:
        for name, _type, _nullable in reversed(COLUMNS):
            batch_op.drop_column(f"member_{name}")
    op.create_index("uq_transfer_pending_member", "transfer", ["member_id"], unique=True,
                    postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))
