"""account: MEMBER ⇔ member link (CHECK); organization_event: parent ids of MOVED; server_secret

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

- `account` gets the CHECK "role = 'MEMBER' ⇔ member_id IS NOT NULL". Staff accounts linked to a
  member record lose the link (it granted them nothing); a MEMBER account without a member record
  stops the migration: it must be linked or removed by hand (it has no branch to act in).
- `organization_event` gets `before_organization_id`/`after_organization_id`, backfilled for
  MOVED events from the parent periods (the period closed and opened on the event's date whose
  parent carries the recorded name, else any such period, else the organization of that name).
  Where none is found the ids stay null and the names are shown to nobody.
- `server_secret`: secrets generated once and shared by every worker (the cursor key).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CHECK = "(role = 'MEMBER' AND member_id IS NOT NULL) OR (role <> 'MEMBER' AND member_id IS NULL)"

_BACKFILL = """
UPDATE organization_event SET {column} = COALESCE(
  (SELECT p.parent_id FROM organization_parent_period p JOIN organization o ON o.id = p.parent_id
    WHERE p.organization_id = organization_event.organization_id AND p.{bound} = organization_event.date
      AND o.name = organization_event.{text} ORDER BY p.id LIMIT 1),
  (SELECT p.parent_id FROM organization_parent_period p
    WHERE p.organization_id = organization_event.organization_id AND p.{bound} = organization_event.date
    ORDER BY p.id {order} LIMIT 1),
  (SELECT o.id FROM organization o WHERE o.name = organization_event.{text}))
WHERE kind = 'MOVED'
"""


def upgrade() -> None:
    connection = op.get_bind()
    orphans = connection.execute(sa.text(
        "SELECT username FROM account WHERE role = 'MEMBER' AND member_id IS NULL ORDER BY username")).scalars().all()
    if orphans:
        raise RuntimeError("MEMBER accounts without a member record (link them or remove them first): "
                           + ", ".join(orphans))
    connection.execute(sa.text("UPDATE account SET member_id = NULL WHERE role <> 'MEMBER' AND member_id IS NOT NULL"))
    with op.batch_alter_table("account") as batch:
        batch.create_check_constraint(op.f("ck_account_member_link"), CHECK)

    with op.batch_alter_table("organization_event") as batch:
        batch.add_column(sa.Column("before_organization_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("after_organization_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_organization_event_before_organization_id_organization"),
                                 "organization", ["before_organization_id"], ["id"])
        batch.create_foreign_key(op.f("fk_organization_event_after_organization_id_organization"),
                                 "organization", ["after_organization_id"], ["id"])
    connection.execute(sa.text(_BACKFILL.format(column="before_organization_id", bound="valid_to",
                                                text="before", order="ASC")))
    connection.execute(sa.text(_BACKFILL.format(column="after_organization_id", bound="valid_from",
                                                text="after", order="DESC")))

    op.create_table(
        "server_secret",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("created_at", db.models.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_server_secret")),
    )


def downgrade() -> None:
    op.drop_table("server_secret")
    with op.batch_alter_table("organization_event") as batch:
        batch.drop_constraint(op.f("fk_organization_event_after_organization_id_organization"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_organization_event_before_organization_id_organization"), type_="foreignkey")
        batch.drop_column("after_organization_id")
        batch.drop_column("before_organization_id")
    with op.batch_alter_table("account") as batch:
        batch.drop_constraint(op.f("ck_account_member_link"), type_="check")
