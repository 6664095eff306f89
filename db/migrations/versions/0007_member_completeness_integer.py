"""member.completeness: INTEGER, whole percent rounded down on both engines

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-30

0003 backfilled, and the services' bulk path later wrote, `filled * 100 / 6` through
SQLAlchemy's true division: SQLite stored 83.333… (REAL in an INTEGER-affinity column), PostgreSQL
rounded to 83 or 84 when casting to smallint. Both are rewritten here as the services compute it:
(filled * 100) / 6 between integers, which truncates on both engines.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None

# As of this revision's rules (written out, so later code changes cannot alter it).
FILLED = " + ".join(f"(CASE WHEN {column} IS NOT NULL THEN 1 ELSE 0 END)" for column in (
    "ethnicity_code", "native_place", "education_code", "job_position_code", "phone", "applied_on"))
RECOMPUTE = f"UPDATE member SET completeness = CAST(CAST(({FILLED}) * 100 AS INTEGER) / 6 AS INTEGER)"


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.alter_column("completeness", existing_type=sa.SmallInteger(), type_=sa.Integer(),
                              existing_nullable=False, existing_server_default=sa.text("0"))
    op.execute(RECOMPUTE)


def downgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.alter_column("completeness", existing_type=sa.Integer(), type_=sa.SmallInteger(),
                              existing_nullable=False, existing_server_default=sa.text("0"))
