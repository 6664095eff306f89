"""member history (category and status steps), status changes, corrections, member records (issue 8)

Revision ID: 0010
Revises: 0008 (re-point to 0009 when the lead's 0009 is merged)
Create Date: 2026-11-30

The dated history statistics count from: category steps and status steps beside the existing
placements (db.services.history), backfilled for existing members from their columns as
createMember would have written them; 党籍异动 (status_change); corrections of the ID number
(member_correction); 子信息集 (member_record); member.completeness recomputed over the fields a
record of its category should have.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"  # 0009 is reserved for the lead: set "0009" at the merge
branch_labels = None
depends_on = None

CATEGORIES = ("APPLICANT", "ACTIVIST", "CANDIDATE", "PROBATIONARY", "FULL")
CATEGORY_DATES = {"APPLICANT": "applied_on", "ACTIVIST": "activist_on", "CANDIDATE": "candidate_on",
                  "PROBATIONARY": "joined_on", "FULL": "confirmed_on"}


def backfill_sql() -> list[str]:
    """A frozen copy of db.services.history.backfill_sql (migrations do not import the app)."""
    since = ("COALESCE((SELECT min(mp.valid_from) FROM member_placement mp WHERE mp.member_id = member.id), "
             "member.joined_on, member.applied_on, member.birth_date)")
    no_history = "NOT EXISTS (SELECT 1 FROM member_status_step s WHERE s.member_id = member.id)"
    statements = []
    for rank, category in enumerate(CATEGORIES):
        column = CATEGORY_DATES[category]
        lower = [CATEGORY_DATES[c] for c in reversed(CATEGORIES[:rank])]
        if lower:
            latest_lower = f"COALESCE({', '.join('member.' + c for c in lower)})" if len(lower) > 1 else f"member.{lower[0]}"
            fallback = f"CASE WHEN {latest_lower} IS NULL OR {since} >= {latest_lower} THEN {since} ELSE {latest_lower} END"
        else:
            fallback = since
        reached = ", ".join(f"'{c}'" for c in CATEGORIES[rank:])
        statements.append(
            "INSERT INTO member_category_step (member_id, category, effective_on) "
            f"SELECT member.id, '{category}', COALESCE(member.{column}, {fallback}) FROM member "
            f"WHERE member.category IN ({reached}) AND (member.{column} IS NOT NULL OR member.category = '{category}') "
            f"AND {no_history} ORDER BY member.id")
    statements.append(
        "INSERT INTO member_status_step (member_id, status, effective_on) "
        f"SELECT member.id, member.status, {since} FROM member WHERE {no_history} ORDER BY member.id")
    return statements


BASE_FIELDS = ("ethnicity_code", "native_place", "education_code", "job_position_code", "phone", "applied_on")
CATEGORY_FIELDS = {
    "APPLICANT": (), "ACTIVIST": ("activist_on",), "CANDIDATE": ("activist_on", "candidate_on"),
    "PROBATIONARY": ("activist_on", "candidate_on", "joined_on"),
    "FULL": ("activist_on", "candidate_on", "joined_on", "confirmed_on"),
}


def completeness_sql() -> str:
    """member.completeness of the fields a record of its category should have (a frozen copy of
    db.services.members.completeness_percent)."""
    filled = [f"CASE WHEN {c} IS NOT NULL THEN 1 ELSE 0 END" for c in BASE_FIELDS]
    for column in ("activist_on", "candidate_on", "joined_on", "confirmed_on"):
        categories = ", ".join(f"'{c}'" for c, columns in CATEGORY_FIELDS.items() if column in columns)
        filled.append(f"CASE WHEN category IN ({categories}) AND {column} IS NOT NULL THEN 1 ELSE 0 END")
    expected = "CASE category " + " ".join(
        f"WHEN '{c}' THEN {len(BASE_FIELDS) + len(columns)}" for c, columns in CATEGORY_FIELDS.items()) + \
        f" ELSE {len(BASE_FIELDS)} END"
    return f"UPDATE member SET completeness = CAST(CAST(({' + '.join(filled)}) * 100 AS INTEGER) / ({expected}) AS INTEGER)"


def upgrade() -> None:
    op.create_table(
        "member_category_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_member_category_step_member_id_member")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_category_step")),
    )
    op.create_index("ix_member_category_step_member_id_effective_on", "member_category_step",
                    ["member_id", "effective_on", "id"], unique=False)
    op.create_table(
        "member_status_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_member_status_step_member_id_member")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_status_step")),
    )
    op.create_index("ix_member_status_step_member_id_effective_on", "member_status_step",
                    ["member_id", "effective_on", "id"], unique=False)
    op.create_table(
        "status_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_status_change_member_id_member")),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"],
                                name=op.f("fk_status_change_organization_id_organization")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_change")),
    )
    op.create_index("ix_status_change_member_id_date", "status_change", ["member_id", "date", "id"], unique=False)
    op.create_table(
        "member_correction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("old_value", sa.String(length=200), nullable=True),
        sa.Column("new_value", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("corrected_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], name=op.f("fk_member_correction_account_id_account")),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_member_correction_member_id_member")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_correction")),
    )
    op.create_index(op.f("ix_member_correction_member_id"), "member_correction", ["member_id"], unique=False)
    op.create_table(
        "member_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("result", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_member_record_member_id_member")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_record")),
    )
    op.create_index("ix_member_record_member_kind_date", "member_record", ["member_id", "kind", "date", "id"],
                    unique=False)
    op.create_index("ix_member_record_kind_date_member", "member_record", ["kind", "date", "member_id"],
                    unique=False)
    for statement in backfill_sql():
        op.execute(statement)
    op.execute(completeness_sql())


def downgrade() -> None:
    op.drop_index("ix_member_record_kind_date_member", table_name="member_record")
    op.drop_index("ix_member_record_member_kind_date", table_name="member_record")
    op.drop_table("member_record")
    op.drop_index(op.f("ix_member_correction_member_id"), table_name="member_correction")
    op.drop_table("member_correction")
    op.drop_index("ix_status_change_member_id_date", table_name="status_change")
    op.drop_table("status_change")
    op.drop_index("ix_member_status_step_member_id_effective_on", table_name="member_status_step")
    op.drop_table("member_status_step")
    op.drop_index("ix_member_category_step_member_id_effective_on", table_name="member_category_step")
    op.drop_table("member_category_step")
