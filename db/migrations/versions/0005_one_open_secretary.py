"""leader_position: one open SECRETARY per organization (partial unique index)

The backstop of appointLeader's row lock: two secretaries appointed at once can never both stay
open. Ends all but the newest open secretary first, should a database already hold two.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OPEN_SECRETARY = "title = 'SECRETARY' AND until IS NULL"


def upgrade() -> None:
    # Two open secretaries (left by the race this index closes): the older one ends the day the
    # next one started, as appointLeader would have done.
    op.execute(sa.text(f"""
        UPDATE leader_position SET until = (
            SELECT MIN(newer.since) FROM leader_position AS newer
            WHERE newer.organization_id = leader_position.organization_id
              AND newer.title = 'SECRETARY' AND newer.until IS NULL
              AND (newer.since > leader_position.since
                   OR (newer.since = leader_position.since AND newer.id > leader_position.id)))
        WHERE {OPEN_SECRETARY} AND EXISTS (
            SELECT 1 FROM leader_position AS newer
            WHERE newer.organization_id = leader_position.organization_id
              AND newer.title = 'SECRETARY' AND newer.until IS NULL
              AND (newer.since > leader_position.since
                   OR (newer.since = leader_position.since AND newer.id > leader_position.id)))"""))
    op.create_index("uq_leader_position_open_secretary", "leader_position", ["organization_id"], unique=True,
                    postgresql_where=sa.text(OPEN_SECRETARY), sqlite_where=sa.text(OPEN_SECRETARY))


def downgrade() -> None:
    op.drop_index("uq_leader_position_open_secretary", table_name="leader_position")
