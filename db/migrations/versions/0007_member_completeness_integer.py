"""member.completeness: INTEGER, whole percent rounded down on both engines

Revision ID: 0007
Revises: 0006
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
down_revision = "0006"
branch_labels = None
depends_on = None

# As of this revision's rules (written out, so later code changes cannot alter it).
FILLED = " + ".join(f"(CASE WHEN {column} IS NOT NULL THEN 1 ELSE 0 END)" for column in (
    "ethnicity_code", "native_place", "education_code", "job_position_code", "phone", "applied_on"))
RECOMPUTE = f"UPDATE member SET completeness = CAST(CAST(({FILLED}) * 100 AS INTEGER) / 6 AS INTEGER)"


def _restore_expression_indexes() -> None:
    """SQLite's batch mode copies the table and cannot reflect 0004's expression indexes: again."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE INDEX IF NOT EXISTS ix_member_joined_asc ON member (coalesce(joined_on, '9999-12-30'), id)")
        op.execute("CREATE INDEX IF NOT EXISTS ix_member_joined_desc ON member (coalesce(joined_on, '0001-01-02'), id)")


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.alter_column("completeness", existing_type=sa.SmallInteger(), type_=sa.Integer(),
                              existing_nullable=False, existing_server_default=sa.text("0"))
    _restore_expression_indexes()
    op.execute(RECOMPUTE)


def downgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.alter_column("completeness", existing_type=sa.Integer(), type_=sa.SmallInteger(),
                              existing_nullable=False, existing_server_default=sa.text("0"))
    _restore_expression_indexes()
