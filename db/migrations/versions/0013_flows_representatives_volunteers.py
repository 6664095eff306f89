"""flow, representative_term, volunteer: 流动, 党代表, 党员志愿者 (issue 11, second half)

Revision ID: 0013
Revises: 0011
Create Date: 2026-11-30

0012 is the transfers' migration of the same issue; when both are merged this one's
down_revision becomes "0012" (these tables depend on nothing 0012 adds).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

OPEN_FLOW = "returned_on IS NULL"


def upgrade() -> None:
    op.create_table(
        "flow",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("destination", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("contact", sa.String(length=200), nullable=True),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("returned_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_flow_member_id_member")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow")),
    )
    op.create_index("ix_flow_member_id_since", "flow", ["member_id", "since", "id"], unique=False)
    op.create_index("uq_flow_open_member", "flow", ["member_id"], unique=True,
                    postgresql_where=sa.text(OPEN_FLOW), sqlite_where=sa.text(OPEN_FLOW))
    op.create_table(
        "representative_term",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.Column("term", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("delegation", sa.String(length=200), nullable=True),
        sa.Column("terminated_on", sa.Date(), nullable=True),
        sa.Column("termination_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_representative_term_member_id_member")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_representative_term")),
    )
    op.create_index("uq_representative_term_member_id_level_term", "representative_term",
                    ["member_id", "level", "term"], unique=True)
    op.create_index("ix_representative_term_level_term", "representative_term", ["level", "term"], unique=False)
    op.create_table(
        "volunteer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("service_time", sa.String(length=200), nullable=True),
        sa.Column("service_intent", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_volunteer_member_id_member")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volunteer")),
        sa.UniqueConstraint("member_id", name=op.f("uq_volunteer_member_id")),
    )
    op.create_index(op.f("ix_volunteer_category"), "volunteer", ["category"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_volunteer_category"), table_name="volunteer")
    op.drop_table("volunteer")
    op.drop_index("ix_representative_term_level_term", table_name="representative_term")
    op.drop_index("uq_representative_term_member_id_level_term", table_name="representative_term")
    op.drop_table("representative_term")
    op.drop_index("uq_flow_open_member", table_name="flow")
    op.drop_index("ix_flow_member_id_since", table_name="flow")
    op.drop_table("flow")
