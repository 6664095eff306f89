"""member.last_fact_on: a past day's statistics read the history only for members changed since

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30

A member with no fact after a day stood that day as its row stands today, so a past day's
cross-tab and member balance read the member row for those and the history for the others only
(db.services.history.unchanged_since). member.last_fact_on (the date of the member's latest fact,
kept by db.services.history at flush) says which; it joins the covering index ix_member_org_stats
so that the unchanged members are counted index-only as today's table is, and two of its own for
"the members changed since a day" (of a scope's organizations; of all). member_placement (valid_to, member_id): the placements that
ended after a day (members transferred away since), and (member_id, valid_from, id) carrying the
rest: the placement of a day of each changed member, index-only; organization_parent_period (valid_to): the
probe of db.services.statistics.tree_unchanged. Backfilled from the facts here.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

STATS_COLUMNS = ["organization_id", "status", "gender", "education_code", "birth_date"]
LAST_FACT = """(SELECT max(day) FROM (
    SELECT effective_on AS day FROM member_category_step c WHERE c.member_id = member.id
    UNION ALL SELECT effective_on FROM member_status_step s WHERE s.member_id = member.id
    UNION ALL SELECT valid_from FROM member_placement p WHERE p.member_id = member.id
    UNION ALL SELECT valid_to FROM member_placement q WHERE q.member_id = member.id AND q.valid_to IS NOT NULL
    UNION ALL SELECT date FROM status_change x WHERE x.member_id = member.id) AS facts)"""


def upgrade() -> None:
    with op.batch_alter_table("member") as batch_op:
        batch_op.add_column(sa.Column("last_fact_on", sa.Date(), nullable=True))
    op.execute(f"UPDATE member SET last_fact_on = {LAST_FACT}")
    op.drop_index("ix_member_org_stats", table_name="member")
    op.create_index("ix_member_org_stats", "member", STATS_COLUMNS + ["last_fact_on"])
    op.create_index("ix_member_org_last_fact_id", "member", ["organization_id", "last_fact_on", "id"])
    op.create_index("ix_member_last_fact_on_org_id", "member", ["last_fact_on", "organization_id", "id"])
    op.create_index("ix_member_placement_valid_to_member", "member_placement", ["valid_to", "member_id"])
    op.create_index("ix_member_placement_member_from", "member_placement", ["member_id", "valid_from", "id"],
                    postgresql_include=["valid_to", "organization_id"])
    op.create_index("ix_organization_parent_period_valid_to", "organization_parent_period", ["valid_to"])


def downgrade() -> None:
    op.drop_index("ix_organization_parent_period_valid_to", table_name="organization_parent_period")
    op.drop_index("ix_member_placement_member_from", table_name="member_placement")
    op.drop_index("ix_member_placement_valid_to_member", table_name="member_placement")
    op.drop_index("ix_member_last_fact_on_org_id", table_name="member")
    op.drop_index("ix_member_org_last_fact_id", table_name="member")
    op.drop_index("ix_member_org_stats", table_name="member")
    op.create_index("ix_member_org_stats", "member", STATS_COLUMNS)
    with op.batch_alter_table("member") as batch_op:
        batch_op.drop_column("last_fact_on")
