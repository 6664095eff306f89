"""Tables of dangjian.

The organization tree is stored twice over: `parent_id` (adjacency, the source of truth) and
`path` (ids of the ancestors and the organization itself, '/1/5/61/'), so that "everything under
B" is one index range, `path >= :p AND path < :p_hi` (see db.tree). History is kept from day one:
an organization's parent and a member's placement are effective-dated rows, closed rather than
overwritten, so that "as of a date" questions need no data migration later.
"""
from __future__ import annotations

import datetime as dt
import decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Numeric,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes on every engine (SQLite keeps no zone of its own)."""

    impl = DateTime
    cache_ok = True

    @property
    def python_type(self):
        return dt.datetime

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value

# PostgreSQL must compare paths bytewise ('/' sorts just before '0'); SQLite's BINARY already does.
PathString = String(400).with_variant(String(400, collation="C"), "postgresql")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Organization(Base):
    __tablename__ = "organization"
    __table_args__ = (
        # Covers "members in the subtree": a sum of direct_member_count over the path range.
        Index("ix_organization_path_members", "path", "direct_member_count"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    path: Mapped[str] = mapped_column(PathString, unique=True)
    depth: Mapped[int] = mapped_column(SmallInteger)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    short_name: Mapped[str | None] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default="ACTIVE")
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    established_on: Mapped[dt.date | None] = mapped_column(Date)
    revoked_on: Mapped[dt.date | None] = mapped_column(Date)
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now)
    # The current leadership term (班子), copied from its newest LeadershipTerm row so that
    # 换届提醒 ("terms ending before D") is one indexed condition.
    election_method: Mapped[str | None] = mapped_column(String(20))
    elected_on: Mapped[dt.date | None] = mapped_column(Date)
    term_ends_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    leadership_changed_on: Mapped[dt.date | None] = mapped_column(Date)
    # Rollup: members directly here in the statuses a member list shows by default, kept by the
    # member services in the same transaction as each member write (db.services.members).
    direct_member_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Rollup: members in the whole subtree (same statuses), as last folded from member_count_delta.
    # The exact count is this plus the organization's pending deltas (db.services.members
    # subtree_count); member writes never update it, so the root is no hot row.
    subtree_member_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Data versions (db.changes): committed writes anywhere in the subtree, and writes to this
    # organization itself, as last folded from branch_change. Only ever grow.
    subtree_changes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    own_changes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class MemberCountDelta(Base):
    """Append-only changes of subtree member counts, one row per ancestor of a changed member's
    organization (itself included), folded into organization.subtree_member_count now and then.

    Why a log and not a counter on each ancestor: a counter would make every member write in the
    country lock the root's row (and its whole ancestor chain) until commit. Inserts take no lock
    on a shared row; the fold (one at a time) moves the pending sums in one statement. No foreign
    key: the rows live for seconds, and the insert stays one statement with no parent look-up."""

    __tablename__ = "member_count_delta"
    __table_args__ = (
        # Pending sum of one organization: an index-only range.
        Index("ix_member_count_delta_organization_id_delta", "organization_id", "delta"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(Integer)
    delta: Mapped[int] = mapped_column(Integer)


class BranchChange(Base):
    """Append-only marks of committed writes, one row per ancestor of each organization a write
    touched (itself included, with `own` = 1), folded into organization.subtree_changes and
    own_changes with the member-count deltas (db.changes). Same reasoning as member_count_delta:
    a write inserts, and locks no row shared with writers in other branches."""

    __tablename__ = "branch_change"
    __table_args__ = (Index("ix_branch_change_organization_id_own", "organization_id", "own"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(Integer)
    own: Mapped[int] = mapped_column(SmallInteger)


class LeadershipTerm(Base):
    """Every term ever set (换届), newest last."""

    __tablename__ = "leadership_term"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    election_method: Mapped[str] = mapped_column(String(20))
    elected_on: Mapped[dt.date] = mapped_column(Date)
    term_ends_on: Mapped[dt.date] = mapped_column(Date)
    last_changed_on: Mapped[dt.date | None] = mapped_column(Date)


class LeaderPosition(Base):
    """书记, 副书记, 委员: held from `since` until `until` (open while null)."""

    __tablename__ = "leader_position"
    __table_args__ = (
        Index("ix_leader_position_org_open", "organization_id", "until"),
        # One open secretary per organization, on both engines: the backstop of appointLeader's
        # row lock (db.services.leadership.appoint).
        Index("uq_leader_position_open_secretary", "organization_id", unique=True,
              postgresql_where=text("title = 'SECRETARY' AND until IS NULL"),
              sqlite_where=text("title = 'SECRETARY' AND until IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    title: Mapped[str] = mapped_column(String(20))
    since: Mapped[dt.date] = mapped_column(Date)
    until: Mapped[dt.date | None] = mapped_column(Date)


class Difficulty(Base):
    """困难党员: a member's difficulty, recorded by the organization that managed the member."""

    __tablename__ = "difficulty"
    __table_args__ = (Index("ix_difficulty_org_id_id", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    kind_code: Mapped[str] = mapped_column(String(8))
    description: Mapped[str | None] = mapped_column(Text)
    recorded_on: Mapped[dt.date] = mapped_column(Date)
    revoked_on: Mapped[dt.date | None] = mapped_column(Date)


class OrgRecord(Base):
    """民主生活会/组织生活会, 民主评议, 党务公开, 专题活动, 党组织惩戒."""

    __tablename__ = "org_record"
    __table_args__ = (Index("ix_org_record_org_held", "organization_id", "held_on", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    held_on: Mapped[dt.date] = mapped_column(Date)
    content: Mapped[str | None] = mapped_column(Text)


class OrganizationParentPeriod(Base):
    """Which parent an organization had from `valid_from` until `valid_to` (open when null)."""

    __tablename__ = "organization_parent_period"

    __table_args__ = (
        # Periods that ended after a day (db.services.statistics.past_day).
        Index("ix_organization_parent_period_valid_to", "valid_to"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    # index: the tree of a day walks down the periods by parent (db.services.statistics.tree_as_of).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)


class OrganizationEvent(Base):
    """党组织异动: created, renamed, moved, revoked.

    For MOVED, `before`/`after` hold the old and new parent's names at the time and
    `before_organization_id`/`after_organization_id` the parents themselves: a reader sees a
    parent's name only when that parent lies in its own branch (db.services.reads.events), so a
    move across branches does not show the new branch where the organization came from."""

    __tablename__ = "organization_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    date: Mapped[dt.date] = mapped_column(Date)
    before: Mapped[str | None] = mapped_column(String(300))
    after: Mapped[str | None] = mapped_column(String(300))
    before_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    after_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    reason: Mapped[str | None] = mapped_column(Text)


class Member(Base):
    __tablename__ = "member"
    __table_args__ = (
        # Each index ends in id so that keyset pages seek on (key, id); the first one also
        # carries the usual statistics columns so that counts over an organization read the index.
        Index("ix_member_org_id_id", "organization_id", "id"),
        # last_fact_on last: a past day's cross-tab reads the members unchanged since from it too.
        Index("ix_member_org_stats", "organization_id", "status", "gender", "education_code", "birth_date",
              "last_fact_on"),
        # The members changed since a day (history.changed_members), index-only: of a scope's
        # organizations (a W3 subtree of 30,229 members as of a past day: 128 -> 36 ms), and of
        # every organization (the root; memberBalance's wide scope).
        Index("ix_member_org_last_fact_id", "organization_id", "last_fact_on", "id"),
        Index("ix_member_last_fact_on_org_id", "last_fact_on", "organization_id", "id"),
        Index("ix_member_name_id", "name", "id"),
        Index("ix_member_birth_date_id", "birth_date", "id"),
        Index("ix_member_joined_on_id", "joined_on", "id"),
        Index("ix_member_created_at_id", "created_at", "id"),
        Index("ix_member_org_completeness", "organization_id", "status", "completeness"),
        # JOINED_ON ordering puts members not yet admitted last in either direction (see
        # db.services.members.sort_keys); these serve it (PostgreSQL: 568 ms → 1.3 ms at 1M members).
        Index("ix_member_joined_asc", text("coalesce(joined_on, '9999-12-30')"), "id"),
        Index("ix_member_joined_desc", text("coalesce(joined_on, '0001-01-02')"), "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    name: Mapped[str] = mapped_column(String(100))
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    gender: Mapped[str] = mapped_column(String(6))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    ethnicity_code: Mapped[str | None] = mapped_column(String(8))
    native_place: Mapped[str | None] = mapped_column(String(100))
    education_code: Mapped[str | None] = mapped_column(String(8))
    degree_code: Mapped[str | None] = mapped_column(String(8))
    job_position_code: Mapped[str | None] = mapped_column(String(8))
    technical_title_code: Mapped[str | None] = mapped_column(String(8))
    phone: Mapped[str | None] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(20))
    affiliation: Mapped[str] = mapped_column(String(10), default="DIRECT")
    status: Mapped[str] = mapped_column(String(20), default="ACTIVE")
    applied_on: Mapped[dt.date | None] = mapped_column(Date)
    activist_on: Mapped[dt.date | None] = mapped_column(Date)
    candidate_on: Mapped[dt.date | None] = mapped_column(Date)
    joined_on: Mapped[dt.date | None] = mapped_column(Date)
    confirmed_on: Mapped[dt.date | None] = mapped_column(Date)
    review_note: Mapped[str | None] = mapped_column(Text)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    # 信息完整度 in whole percent (0..100, rounded down), stored so that "completeness below N" reads
    # an index. INTEGER: SQLite kept 83.333 here (REAL, from a true division), PostgreSQL rounded it.
    completeness: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The date of the member's latest dated fact (placement start or end, category or status step,
    # 党籍异动 record): kept by db.services.history at every flush that writes one. A member whose
    # last fact is on or before a day stood that day as its row stands today: a past day's
    # statistics read the history only for the others (db.services.history.unchanged_since).
    last_fact_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now)
    version: Mapped[int] = mapped_column(Integer, default=1)


class MemberPlacement(Base):
    """Which organization managed a member from `valid_from` until `valid_to` (open when null)."""

    __tablename__ = "member_placement"
    __table_args__ = (
        # The placements that ended after a day (history.changed_members).
        Index("ix_member_placement_valid_to_member", "valid_to", "member_id"),
        # The placement of a day of one member (history._placement_as_of, a seek per member changed
        # since): a backward index-only scan, no sort (PostgreSQL carries the rest as INCLUDE).
        Index("ix_member_placement_member_from", "member_id", "valid_from", "id",
              postgresql_include=["valid_to", "organization_id"]),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)


class MemberCategoryStep(Base):
    """A category step (发展): the member is in `category` from the end of `effective_on` on, until a
    later step. Kept, never overwritten; "category as of D" is the latest step on or before D
    (ties: the later row). db.services.history reads and writes them."""

    __tablename__ = "member_category_step"
    __table_args__ = (
        Index("ix_member_category_step_member_id_effective_on", "member_id", "effective_on", "id"),
        # The category of a day, set-based (db.services.history._categories): read index-only.
        Index("ix_member_category_step_member_effective_category", "member_id", "effective_on", "category"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    category: Mapped[str] = mapped_column(String(20))
    effective_on: Mapped[dt.date] = mapped_column(Date)


class MemberStatusStep(Base):
    """A status step: the member has `status` from the end of `effective_on` on, until a later step
    (ties: the later row). Written by every status change (db.services.members.set_status)."""

    __tablename__ = "member_status_step"
    __table_args__ = (Index("ix_member_status_step_member_id_effective_on", "member_id", "effective_on", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    status: Mapped[str] = mapped_column(String(20))
    effective_on: Mapped[dt.date] = mapped_column(Date)


class StateSnapshot(Base):
    """A day whose member states are kept (member_state_snapshot), say the annual report's 12-31:
    a past-date cross-tab of a kept day reads the members changed since from there instead of
    seeking their history (db.services.history, "snapshots"). Made by `python -m db snapshot
    build DAY`; from then on kept exact by db.services.history's flush hook."""

    __tablename__ = "state_snapshot"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    built_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now)


class MemberStateSnapshot(Base):
    """The state at the end of a kept day (state_snapshot) of each member with a fact after it
    and placed that day: the organization, category and status the dated history gives
    (db.services.history.state_columns). Members with no fact after the day have no row: their
    member row is their state that day (history.unchanged_since)."""

    __tablename__ = "member_state_snapshot"
    __table_args__ = (
        # A scope's rows of a day, index-only (the organizations of the scope, then their rows).
        Index("ix_member_state_snapshot_day_org", "day", "organization_id", "member_id", "category", "status"),
        # A member's rows, rewritten at each of its facts (the flush hook).
        Index("ix_member_state_snapshot_member_id", "member_id"),
    )

    day: Mapped[dt.date] = mapped_column(ForeignKey("state_snapshot.day", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    category: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str | None] = mapped_column(String(20))


class MemberStatePeriod(Base):
    """A member's state (organization, category, status) between two of its fact days: from the
    end of `valid_from` (a day with a fact of the member) until the end of `valid_to` (its next
    fact day; open while null), as the dated history gives it at the end of `valid_from`
    (db.services.history.state_columns). A period starts at every fact day, whether the state
    changed or not, so the open period starts at member.last_fact_on: a member with a fact after
    a day D stood at the end of D in the one closed period with valid_from <= D < valid_to, and
    every other member stood as its row stands (history.unchanged_since). Days the member was not
    placed have no period. Rewritten from the facts at every flush that writes one
    (history.refresh_periods); the invariant "periods" holds it equal to them."""

    __tablename__ = "member_state_period"
    __table_args__ = (
        # A scope's members changed since a day: per organization of the scope, the periods that
        # ended after it, index-only (statistics as of a day not kept).
        Index("ix_member_state_period_org_to", "organization_id", "valid_to", "valid_from", "member_id",
              "category", "status"),
    )

    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), primary_key=True)
    valid_from: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    category: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str | None] = mapped_column(String(20))


class StatusChange(Base):
    """党籍异动: death, withdrawal, removal, expulsion, probation cancelled (→ LEFT), suspended,
    restored, probation extended. `organization_id`: the member's organization when recorded; it
    is read through the member's current organization (db.branch.via_member)."""

    __tablename__ = "status_change"
    __table_args__ = (Index("ix_status_change_member_id_date", "member_id", "date", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    kind: Mapped[str] = mapped_column(String(24))
    date: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now)


class MemberCorrection(Base):
    """A correction of a field that is otherwise immutable (the ID number), with its reason."""

    __tablename__ = "member_correction"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(String(200))
    new_value: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    corrected_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now)


class MemberRecord(Base):
    """子信息集: rewards, punishments, party positions, trips abroad, activities, dues, evaluations.
    Read through the member's current organization (db.branch.via_member)."""

    __tablename__ = "member_record"
    __table_args__ = (
        Index("ix_member_record_member_kind_date", "member_id", "kind", "date", "id"),
        Index("ix_member_record_kind_date_member", "kind", "date", "member_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    kind: Mapped[str] = mapped_column(String(12))
    code: Mapped[str | None] = mapped_column(String(8))
    title: Mapped[str | None] = mapped_column(String(200))
    date: Mapped[dt.date] = mapped_column(Date)
    until: Mapped[dt.date | None] = mapped_column(Date)
    amount: Mapped[decimal.Decimal | None] = mapped_column(Numeric(12, 2))
    approved_by: Mapped[str | None] = mapped_column(String(200))
    result: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)


class Transfer(Base):
    """组织关系转接: a member's party relationship sent from one organization to another in the
    system (PENDING until the receiver accepts or rejects it, or the sender cancels it) or to a
    destination outside the system (COMPLETED when sent). db.services.transfers writes them; the
    member's move itself is a dated fact of its history (placements and status steps)."""

    __tablename__ = "transfer"
    __table_args__ = (
        # One pending transfer per member, on both engines: the backstop of transferMembers' row
        # lock on the member (db.services.transfers.send).
        Index("uq_transfer_pending_member", "member_id", unique=True,
              postgresql_where=text("status = 'PENDING'"), sqlite_where=text("status = 'PENDING'")),
        Index("ix_transfer_member_id_id", "member_id", "id"),
        Index("ix_transfer_from_organization_id_id", "from_organization_id", "id"),
        Index("ix_transfer_to_organization_id_id", "to_organization_id", "id"),
        Index("ix_transfer_status_valid_until", "status", "valid_until"),
        Index("uq_transfer_letter_year_seq", "letter_year", "letter_seq", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    from_organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    to_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    external_destination: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10))
    requested_on: Mapped[dt.date] = mapped_column(Date)
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    # 介绍信编号: the letter_seq-th letter of letter_year (transfer_letter_counter hands them out).
    letter_year: Mapped[int] = mapped_column(Integer)
    letter_seq: Mapped[int] = mapped_column(Integer)
    letter_number: Mapped[str] = mapped_column(String(40), unique=True)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now)
    # What the letter (介绍信) prints of the member, copied when it is sent and never changed: the
    # side that no longer has sight of the member reads it through these (db.branch, the letter
    # reach), so the old branch never sees the new branch's later edits, nor the new the old's.
    member_name: Mapped[str] = mapped_column(String(100))
    member_gender: Mapped[str] = mapped_column(String(6))
    member_birth_date: Mapped[dt.date] = mapped_column(Date)
    member_ethnicity_code: Mapped[str | None] = mapped_column(String(8))
    member_id_number: Mapped[str] = mapped_column(String(18))
    member_category: Mapped[str] = mapped_column(String(20))
    member_affiliation: Mapped[str] = mapped_column(String(10))
    member_joined_on: Mapped[dt.date | None] = mapped_column(Date)


class TransferLetterCounter(Base):
    """The last letter number handed out in a year: `UPDATE ... SET last = last + 1 RETURNING
    last` under the row's lock, so concurrent transfers get consecutive numbers, never the same."""

    __tablename__ = "transfer_letter_counter"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Flow(Base):
    """流动: a member away for a while (FLOWING_OUT from `since`), back on `returned_on` (ACTIVE).
    Read through the member's current organization (db.branch.via_member). At most one open flow
    per member: the partial unique index below backs flowOut's row lock (db.services.flows)."""

    __tablename__ = "flow"
    __table_args__ = (
        Index("ix_flow_member_id_since", "member_id", "since", "id"),
        Index("uq_flow_open_member", "member_id", unique=True,
              postgresql_where=text("returned_on IS NULL"), sqlite_where=text("returned_on IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    destination: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(String(200))
    since: Mapped[dt.date] = mapped_column(Date)
    returned_on: Mapped[dt.date | None] = mapped_column(Date)


class RepresentativeTerm(Base):
    """党代表: one seat (a level and its 届次) of a member; terminated (资格终止), never deleted.
    One seat per member per level and term, terminated or not (the unique index). Read through
    the member's current organization (db.branch.via_member)."""

    __tablename__ = "representative_term"
    __table_args__ = (
        Index("uq_representative_term_member_id_level_term", "member_id", "level", "term", unique=True),
        Index("ix_representative_term_level_term", "level", "term"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    level: Mapped[str] = mapped_column(String(12))
    term: Mapped[int] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(100))
    delegation: Mapped[str | None] = mapped_column(String(200))
    terminated_on: Mapped[dt.date | None] = mapped_column(Date)
    termination_reason: Mapped[str | None] = mapped_column(Text)


class Volunteer(Base):
    """党员志愿者: at most one row per member (setVolunteer replaces it). Read through the member's
    current organization (db.branch.via_member)."""

    __tablename__ = "volunteer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), unique=True)
    category: Mapped[str] = mapped_column(String(100), index=True)
    service_time: Mapped[str | None] = mapped_column(String(200))
    service_intent: Mapped[str | None] = mapped_column(String(500))


class Account(Base):
    __tablename__ = "account"
    __table_args__ = (
        # A MEMBER account is its member record's and nothing else's: without the link it would
        # have no branch at all (db.branch fails closed), so the database refuses such a row; and
        # only MEMBER accounts carry a member link.
        CheckConstraint("(role = 'MEMBER' AND member_id IS NOT NULL) OR (role <> 'MEMBER' AND member_id IS NULL)",
                        name="member_link"),
        # Sign-in also accepts a MEMBER account's phone (db.services.accounts.claimable): an index,
        # so that a flood of unknown names and numbers costs index probes, not scans.
        Index("ix_account_phone", "phone"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    gender: Mapped[str | None] = mapped_column(String(6))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    role: Mapped[str] = mapped_column(String(10))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"), unique=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now)


class AccessToken(Base):
    """A bearer token, kept only as its SHA-256."""

    __tablename__ = "access_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class ServerSecret(Base):
    """Secrets the server generates once and every worker process of the deployment shares
    (for now the key of the pagination cursors, unless DANGJIAN_SECRET_KEY is set)."""

    __tablename__ = "server_secret"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now)


class StatDefinition(Base):
    """A saved statistics table (统计表格): a cross-tab's input, rerun on demand.

    The organization is the table's scope organization (its branch decides who sees the table);
    the member filter is kept as JSON of db.services.members.MemberQuery's fields."""

    __tablename__ = "stat_definition"
    __table_args__ = (Index("ix_stat_definition_organization_id_id", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    owner_account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    subject: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(String(10))
    rows: Mapped[str] = mapped_column(String(30))
    columns: Mapped[str | None] = mapped_column(String(30))
    filter_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now)


class ChangeRequest(Base):
    """党员自助: a member's own request (a profile edit, a dues payment, a transfer out), applied
    by the existing services only when an OPERATOR+ of the member's branch approves it
    (db.services.change_requests). Read through the member's current organization
    (db.branch.via_member), like the member's records; a MEMBER reads its own only."""

    __tablename__ = "change_request"
    __table_args__ = (
        Index("ix_change_request_member_id_id", "member_id", "id"),
        # One pending request per kind per member, on both engines: the backstop of the check in
        # db.services.change_requests.submit under concurrent submissions.
        Index("uq_change_request_one_pending", "member_id", "kind", unique=True,
              postgresql_where=text("status = 'PENDING'"), sqlite_where=text("status = 'PENDING'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="PENDING")
    # The requested values as JSON (service field names; see db.services.change_requests).
    payload: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=_now)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    rejection_reason: Mapped[str | None] = mapped_column(Text)


class RegistrationAttempt(Base):
    """实名注册 attempts per ID number, for the throttle of registerMember (like sign-in's lockout:
    MAX_FAILED_LOGINS, then LOCKOUT). Keyed by the SHA-256 of the ID number as typed (normalized),
    so that a number that matches no member is counted exactly like one that does: the table says
    nothing about which ID numbers exist, and neither does the time a claim takes."""

    __tablename__ = "registration_attempt"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class SignInThrottle(Base):
    """Sign-in attempts per client address in the current window (gql: login, registerMember),
    in the database so that every worker process counts against the same limit."""

    __tablename__ = "sign_in_throttle"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)


class IdempotencyKey(Base):
    """A mutation sent with an `Idempotency-Key` header: claimed (response NULL) before it runs,
    its answer stored after, replayed to a retry with the same key for 24 hours."""

    __tablename__ = "idempotency_key"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[str | None] = mapped_column(Text)
    status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)


__all__ = [
    "Base", "Organization", "LeadershipTerm", "LeaderPosition", "Difficulty", "OrgRecord",
    "OrganizationParentPeriod", "OrganizationEvent", "Member", "MemberPlacement", "MemberCategoryStep",
    "MemberStatusStep", "StatusChange", "MemberCorrection", "MemberRecord", "Account", "AccessToken",
    "ServerSecret", "StatDefinition", "ChangeRequest", "RegistrationAttempt", "SignInThrottle", "IdempotencyKey",
    "AuditEntry", "Transfer", "TransferLetterCounter", "Flow", "RepresentativeTerm", "Volunteer",
]


class AuditEntry(Base):
    """操作记录: one row per successful mutation, refused sign-in and command-line write, written
    by db.services.audit in the transaction of what it records. Append-only: nothing updates or
    deletes a row (a flush that tries is refused, and the API has no mutation for it). No foreign
    keys: an entry outlives whatever it names."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        # auditLog: newest first within an organization (the branch join reaches it by id).
        Index("ix_audit_entry_organization_id_id", "organization_id", "id"),
        Index("ix_audit_entry_target_type_target_id", "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    # The signed-in account that acted; null for the command line (actor_label 'cli') and for
    # sign-ins that failed (no account proved who it is).
    actor_account_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_label: Mapped[str | None] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(64))
    # The main object: a GraphQL type name ('Member') and its primary key (null: several or none).
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[int | None] = mapped_column(Integer)
    organization_id: Mapped[int | None] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(String(64))
    # JSON: the changed objects' fields before and after (db.services.audit.sanitized).
    changes: Mapped[str | None] = mapped_column(Text)
