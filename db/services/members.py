"""Members: entry with validation, and the one filter/order/page builder every member list uses.

Pages and counts are the dashboards' hot path (issue 7, bench/compare.py W2: the first 50 members
of a county's subtree, filtered, with their organization's name). A page of one subtree seeks the
path range between two scalar subqueries (19 ms → 0.4 ms for W2's statement: joined to an anchor
by a computed bound, PostgreSQL walked the path index from its start), reads Core rows rather
than ORM objects, brings its members' organizations along (one statement less), and its first page
for a dateless filter is a statement built once and kept (LRU). Measured in one run, interleaved
with the code before: W2 ÷ PostGraphile 0.04 → 0.09 at 16 connections, p50 25.2 → 12.4 ms at one.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Sequence

import functools
import logging
import operator
import time

from sqlalchemy import Integer, and_, bindparam, case, cast, delete, exists, func, insert, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from db import clock, codes, idnumber, models
from db.branch import ANCHOR, IN_ANCHOR_SUBTREE, Actor, Branch, members
from db.branch import get as branch_get
from db.changes import FOLD_DUE, UNTRACKED, fold_branch_changes, touch
from db.errors import DomainError, Problems
from db.pagination import Page, SortKey, first_page, keyset_page, pages_by_anchor
from db.services import history, organizations
from db.tree import ancestor_ids, within_subtree_of

log = logging.getLogger("dangjian.members")

CATEGORIES = ("APPLICANT", "ACTIVIST", "CANDIDATE", "PROBATIONARY", "FULL")
AFFILIATIONS = ("DIRECT", "INFLOW")
STATUSES = ("PENDING_APPROVAL", "REJECTED", "ACTIVE", "FLOWING_OUT", "TRANSFERRING", "TRANSFERRED_OUT", "LEFT")
# Shown when a filter names no statuses: members who belong to the organization now.
DEFAULT_STATUSES = ("ACTIVE", "FLOWING_OUT", "TRANSFERRING")
ADMITTED = ("PROBATIONARY", "FULL")
ADMISSION_AGE = 18
REVIEW_AGE = 19  # admitted before 19 (i.e. at 18) needs a 人工审核 note
PROBATION_LIMIT_YEARS = 2  # 预备期一年, extended by at most one more

# Input field → (column, code table) for the coded fields.
CODED_FIELDS = {
    "ethnicity_code": "ethnicity",
    "education_code": "education",
    "degree_code": "degree",
    "job_position_code": "job_position",
    "technical_title_code": "technical_title",
}
# The development dates, in the order they must happen.
DATE_FIELDS = ("applied_on", "activist_on", "candidate_on", "joined_on", "confirmed_on")
TEXT_FIELDS = ("name", "native_place", "phone", "review_note")
TEXT_LIMITS = {"name": 100, "native_place": 100, "phone": 40, "review_note": 2000}
CAMEL = {
    "name": "name", "id_number": "idNumber", "ethnicity_code": "ethnicityCode", "native_place": "nativePlace",
    "education_code": "educationCode", "degree_code": "degreeCode", "job_position_code": "jobPositionCode",
    "technical_title_code": "technicalTitleCode", "phone": "phone", "category": "category",
    "applied_on": "appliedOn", "activist_on": "activistOn", "candidate_on": "candidateOn",
    "joined_on": "joinedOn", "confirmed_on": "confirmedOn", "review_note": "reviewNote",
}


def _years_after(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def validate_fields(fields: dict[str, Any], *, today: dt.date | None = None,
                    probation_extended: bool = False) -> dict[str, Any]:
    """Check MemberFields (snake_case keys) of a whole record; returns the row values. The one
    validation of member records: createMember checks its input with it, updateMember,
    resubmitMember, promoteMember and correctIdNumber the record as it would be after the change
    (db.services.lifecycle).

    Every problem is reported at once, with its path into the input (["fields", "idNumber"]).
    `probation_extended`: the member has a PROBATION_EXTENDED status change (延长预备期), so
    confirmedOn may lie up to two years after joinedOn, and no later; otherwise at least one."""
    today = today or clock.today()
    problems = Problems()

    def at(name: str) -> list[str]:
        return ["fields", CAMEL[name]]

    values: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = fields.get(name)
        if isinstance(value, str):
            value = value.strip() or None
        values[name] = value
    if not values["name"]:
        problems.add("INVALID", "姓名不能为空", at("name"))
    organizations.check_lengths(problems, values, {name: (CAMEL[name], limit) for name, limit in TEXT_LIMITS.items()},
                                ("fields",))

    birth = None
    raw_id = fields.get("id_number")
    if not raw_id:
        problems.add("INVALID", "身份证号码不能为空", at("id_number"))
    else:
        try:
            values["id_number"], birth, values["gender"] = idnumber.parse(raw_id)
            values["birth_date"] = birth
        except idnumber.InvalidIdNumber as exc:
            problems.add("INVALID", str(exc), at("id_number"))

    for name, table in CODED_FIELDS.items():
        code = fields.get(name)
        if code is not None and not codes.is_valid(table, code):
            problems.add("INVALID", f"代码 {code} 不在代码表中", at(name))
        values[name] = code

    category = fields.get("category")
    if category is None:
        problems.add("INVALID", "请选择党员类别", at("category"))
    values["category"] = category

    previous = None
    for name in DATE_FIELDS:
        day = fields.get(name)
        values[name] = day
        if day is None:
            continue
        if day > today:
            problems.add("INVALID", "日期不能晚于今天", at(name))
        if birth and day < birth:
            problems.add("INVALID", "日期不能早于出生日期", at(name))
        if previous and day < values[previous]:
            problems.add("INVALID", "日期须按 申请→积极分子→发展对象→入党→转正 的顺序", at(name))
        previous = name

    joined = values["joined_on"]
    if category in ADMITTED and joined is None:
        problems.add("INVALID", "预备党员和正式党员须填写入党日期", at("joined_on"))
    if category == "FULL" and values["confirmed_on"] is None:
        problems.add("INVALID", "正式党员须填写转正日期", at("confirmed_on"))
    confirmed = values["confirmed_on"]
    if joined and confirmed and confirmed >= joined:
        if confirmed < _years_after(joined, 1):
            problems.add("INVALID", "转正日期须满一年预备期（不早于入党日期一年后）", at("confirmed_on"))
        elif probation_extended and confirmed > _years_after(joined, PROBATION_LIMIT_YEARS):
            problems.add("INVALID", "延长预备期最长一年：转正日期不能晚于入党日期两年后", at("confirmed_on"))
    if joined and birth:
        age = age_on(birth, joined)
        if age < ADMISSION_AGE:
            problems.add("INVALID", "入党时未满十八周岁", at("joined_on"))
        elif age < REVIEW_AGE and not values["review_note"]:
            problems.add("INVALID", "入党时未满十九周岁，须填写人工审核说明", at("review_note"))
    problems.raise_if_any()
    return values


async def get(session: AsyncSession, branch: Branch, member_id: int | None,
              field: list[str] | str | None = None) -> models.Member:
    return (await branch_get(session, branch, models.Member, member_id, "党员", field))[0]


DUPLICATE_ID_NUMBER = "该身份证号码的党员已存在"


def validate_entry(fields: dict[str, Any], affiliation: str, since: dt.date | None = None, *,
                   today: dt.date | None = None) -> tuple[dict[str, Any], dt.date]:
    """The rules of an entry (录入) that need no database: the record (validate_fields), the
    placement's start and the affiliation; (row values, since). createMember and the bulk import
    (db.services.imports) both call this, so a row of a spreadsheet is judged exactly as the
    mutation's input is. Every problem at once (a bad record and a bad affiliation together)."""
    today = today or clock.today()
    problems = Problems()
    values = None
    try:
        values = validate_fields(fields, today=today)
    except DomainError as exc:
        problems.items.extend(exc.problems)
    if affiliation not in AFFILIATIONS:
        problems.add("INVALID", "未知的管理关系", "affiliation")
    if values is not None:
        since = since or values["joined_on"] or values["applied_on"] or today
        if since > today:
            problems.add("INVALID", "日期不能晚于今天", "since")
        if since < values["birth_date"]:
            problems.add("INVALID", "日期不能早于出生日期", "since")
    problems.raise_if_any()
    return values, since


def check_organization_accepts(organization: models.Organization) -> None:
    if organization.status != "ACTIVE":
        raise DomainError("NOT_ALLOWED", "该党组织已撤销，不能新增党员", "organizationId")


def entry_status(organization: models.Organization) -> str:
    return "PENDING_APPROVAL" if organization.requires_approval else "ACTIVE"


def entry_row(values: dict[str, Any], organization: models.Organization, affiliation: str,
              now: dt.datetime) -> dict[str, Any]:
    """The member row's columns of a validated entry (validate_entry) in `organization`."""
    return {**values, "organization_id": organization.id, "affiliation": affiliation,
            "status": entry_status(organization), "completeness": completeness_percent_of(values),
            "created_at": now, "updated_at": now, "version": 1}


async def create(session: AsyncSession, actor: Actor, *, organization_id: int, affiliation: str,
                 fields: dict[str, Any], since: dt.date | None = None) -> models.Member:
    """补录/录入. `since` is the day the placement starts: default joinedOn, else appliedOn, else today."""
    organization = await organizations.get(session, actor.branch, organization_id, "organizationId")
    # Lock (NO KEY UPDATE, the lock the rollup update below takes anyway), then check ACTIVE: a
    # concurrent revokeOrganization (FOR UPDATE) waits for this member to commit and then sees
    # it, or commits first and this sees REVOKED. FOR SHARE would deadlock two creations that
    # both upgrade to the rollup's update.
    await organizations.lock(session, actor, organization, organizations.NO_KEY_UPDATE, "organizationId")
    values, since = validate_entry(fields, affiliation, since)
    check_organization_accepts(organization)
    taken = (await session.execute(
        select(models.Member.id).where(models.Member.id_number == values["id_number"]).limit(1))).first()
    if taken:
        raise DomainError("DUPLICATE", DUPLICATE_ID_NUMBER, ["fields", "idNumber"])
    now = dt.datetime.now(dt.timezone.utc)
    member = models.Member(**entry_row(values, organization, affiliation, now))
    session.add(member)
    await session.flush()
    await count_change(session, organization.id, None, member.status)
    session.add(models.MemberPlacement(
        member_id=member.id, organization_id=organization.id,
        valid_from=since))
    history.add_category_steps(session, member.id, history.initial_category_steps(values, since))
    history.add_status_step(session, member.id, member.status, since)
    await session.flush()
    return member


# ------------------------------------------------------------------ completeness

# Fields every record should have beyond the required ones (信息完整度), with their contract names;
# a record of a later category should have the dates of the steps that led to it as well.
COMPLETENESS_FIELDS = {
    "ethnicity_code": "ethnicity", "native_place": "nativePlace", "education_code": "education",
    "job_position_code": "jobPosition", "phone": "phone", "applied_on": "appliedOn",
}
STEP_FIELDS = {"activist_on": "activistOn", "candidate_on": "candidateOn", "joined_on": "joinedOn",
               "confirmed_on": "confirmedOn"}
# The development dates a record of each category should have: its own step's and the earlier ones'.
CATEGORY_FIELDS = {
    "APPLICANT": (), "ACTIVIST": ("activist_on",), "CANDIDATE": ("activist_on", "candidate_on"),
    "PROBATIONARY": ("activist_on", "candidate_on", "joined_on"),
    "FULL": ("activist_on", "candidate_on", "joined_on", "confirmed_on"),
}


def completeness_fields(category: str | None) -> dict[str, str]:
    """Column → contract name of every field a record of `category` should have."""
    return {**COMPLETENESS_FIELDS, **{c: STEP_FIELDS[c] for c in CATEGORY_FIELDS.get(category, ())}}
PROBATION = dt.timedelta(days=366)


def completeness_percent_of(values: dict[str, Any]) -> int:
    """The stored percent (member.completeness) of a record's values; completeness_percent() in SQL.

    Whole percent, rounded down, of the fields a record of its category should have (6 for an
    applicant, up to 10 for a full member): filled * 100 // expected (5 of 6 is 83, never 83.333
    or 84)."""
    fields = completeness_fields(values.get("category"))
    filled = sum(values.get(column) is not None for column in fields)
    return filled * 100 // len(fields)


def probation_overdue(member: models.Member, today: dt.date | None = None) -> bool:
    """A probationary member whose probation year is over: the status changes decide whether it
    was extended (completeness() is then told)."""
    today = today or clock.today()
    return member.category == "PROBATIONARY" and member.joined_on is not None and today - member.joined_on > PROBATION


def completeness(member: models.Member, today: dt.date | None = None,
                 probation_extended: bool = False) -> tuple[int, list[str], list[str]]:
    """(percent, names of missing fields, rule findings). `probation_extended`: the member has a
    PROBATION_EXTENDED status change (its probation may last up to two years)."""
    today = today or clock.today()
    missing = [name for column, name in completeness_fields(member.category).items()
               if getattr(member, column) is None]
    percent = member.completeness
    warnings = []
    if probation_overdue(member, today):
        if not probation_extended:
            warnings.append("预备期已超过一年，应及时讨论转正")
        elif today > _years_after(member.joined_on, PROBATION_LIMIT_YEARS):
            warnings.append("延长的预备期已满，应及时讨论转正或取消预备党员资格")
    if member.joined_on and age_on(member.birth_date, member.joined_on) < REVIEW_AGE and not member.review_note:
        warnings.append("入党时未满十九周岁，缺少人工审核说明")
    if member.category in ADMITTED and member.joined_on is None:
        warnings.append("缺少入党日期")
    return percent, missing, warnings


def completeness_percent():
    """The same percent as completeness_percent_of(), as a SQL expression (backfills, rebuilds, checks).

    SQLAlchemy 2's `/` is true division (it rendered CAST(... AS NUMERIC) / 6: 83.333 stored as REAL
    on SQLite, rounded to 83 or 84 by PostgreSQL's cast). The SQL `/` operator itself, between two
    INTEGER operands, truncates on both engines, and the operands are never negative, so
    truncation is Python's `//`: written out with `.op("/")` between integer casts."""
    m = models.Member
    filled = sum(case((getattr(m, column).is_not(None), 1), else_=0) for column in COMPLETENESS_FIELDS)
    for column in STEP_FIELDS:
        expected_in = [category for category, columns in CATEGORY_FIELDS.items() if column in columns]
        filled = filled + case((and_(m.category.in_(expected_in), getattr(m, column).is_not(None)), 1), else_=0)
    expected = case({category: len(COMPLETENESS_FIELDS) + len(columns) for category, columns in CATEGORY_FIELDS.items()},
                    value=m.category, else_=len(COMPLETENESS_FIELDS))
    hundredfold = cast(filled * 100, Integer)
    return cast(hundredfold.op("/")(cast(expected, Integer)), Integer)


# ------------------------------------------------------------------ the member-count rollups
#
# Two rollups, both exact at every snapshot:
# - organization.direct_member_count: members directly in the organization, in DEFAULT_STATUSES.
#   A member write updates its own organization's row (a lock no wider than that organization).
# - subtree counts: organization.subtree_member_count (folded) + the organization's rows in
#   member_count_delta (pending). A member write appends one delta row per ancestor (itself
#   included; one INSERT) and updates no shared row, so writers in different branches never wait
#   for each other, not even at the root. fold_member_counts() moves the pending deltas into the
#   folded column in one statement, now and then (after a write transaction, when due), so a read
#   sums one row plus the few deltas written since the last fold: its cost does not grow with the
#   subtree.
# Measured 2026-11-30 on the demo data (PostgreSQL 15, 50,000 organizations, 1,000,000 members, 2
# shared cores, load 4-7): the 134 subtree counts of W1 at the root took 33-37 ms as a range sum
# over direct counts (a parallel scan), 1.2 ms in the database / ~2-3.6 ms in the service now, and
# ~2.2 ms with 9,000-47,000 delta rows pending. W1-root through HTTP, same run conditions, 1
# connection: p50 141 ms -> 82 ms (the rest is per-field GraphQL work, mostly converting the
# `filter` argument of each memberCount). Concurrent writes (bench/count_writes.py: 8 writers, each
# creating members in its own level-2 organization): time inside the rollup write per member,
# lock waits included, 3-10 ms with the direct count only, 8-15 ms with this log, 42-57 ms with a
# counter on every ancestor (every writer queues on the root's row); members/s swing with the
# machine's load, the ancestor counters were the slowest in most rounds.

# A fold is due after this many seconds or this many pending delta rows written by this process.
FOLD_SECONDS = 1.0
FOLD_ROWS = 2000
_fold_state = {"last": 0.0, "rows": 0}


async def count_change(session: AsyncSession, organization_id: int, old_status: str | None,
                       new_status: str | None, members: int = 1) -> None:
    """Keep the member-count rollups in step with a member write (same transaction).

    Every service that creates, removes, moves or re-statuses a member calls this. The direct
    count is added in SQL (`count = count + delta`, atomic under the row's lock), never
    read-modify-written in Python; the statuses it is computed from must be the member's real
    ones, read under a lock or confirmed by a compare-and-set (see set_status). The ancestors
    get their deltas from the path that UPDATE returns: on PostgreSQL that is the row as of the
    lock, so a concurrent move of the organization (which rewrites the path under row locks and
    moves the subtree's total itself, organizations.move) is either wholly before or wholly after."""
    delta = ((new_status in DEFAULT_STATUSES) - (old_status in DEFAULT_STATUSES)) * members
    if not delta:
        touch(session, organizations=[organization_id])
    if delta:
        o = models.Organization
        path = (await session.execute(update(o).where(o.id == organization_id)
                                      .values(direct_member_count=o.direct_member_count + delta)
                                      .returning(o.path)
                                      .execution_options(synchronize_session=False))).scalar_one()
        touch(session, paths=[path])
        await add_subtree_deltas(session, ancestor_ids(path), delta)


async def add_subtree_deltas(session: AsyncSession, organization_ids: Sequence[int], delta: int) -> None:
    """Append `delta` to the subtree counts of these organizations (one INSERT, no row locked)."""
    if not delta or not organization_ids:
        return
    await session.execute(insert(models.MemberCountDelta),
                          [{"organization_id": i, "delta": delta} for i in organization_ids])
    _fold_state["rows"] += len(organization_ids)
    session.info[FOLD_DUE] = True


def subtree_count(o=None):
    """SQL: the exact subtree member count of organization `o` (a table or alias): the folded
    value plus its pending deltas (an index-only range of member_count_delta)."""
    o = models.Organization.__table__ if o is None else o
    d = models.MemberCountDelta.__table__.c  # table columns: a Core statement stays Core
    pending = select(func.coalesce(func.sum(d.delta), 0)).where(d.organization_id == o.c.id).scalar_subquery()
    return o.c.subtree_member_count + pending


async def fold_member_counts(session: AsyncSession) -> int:
    """Move every pending delta into organization.subtree_member_count, atomically, and the
    pending data-version marks into their counters (db.changes); returns the number of
    organizations whose count changed. Call inside a write transaction.

    PostgreSQL: one statement (DELETE ... RETURNING feeding the UPDATE), so it folds exactly the
    deltas its snapshot sees; one committing meanwhile stays pending (with two statements a delta
    committed between them would be deleted unfolded). The root's row is locked first, as moves
    do (db.services.organizations.move), so a fold and a move never deadlock; two folds queue.
    SQLite: the write transaction is already the one writer."""
    o, d = models.Organization, models.MemberCountDelta
    if session.bind.dialect.name == "postgresql":
        # FOR NO KEY UPDATE on the root, as moves take it first.
        await session.execute(select(o.id).where(o.parent_id.is_(None)).with_for_update(key_share=True))
        result = await session.execute(text(
            "WITH gone AS (DELETE FROM member_count_delta RETURNING organization_id, delta), "
            "sums AS (SELECT organization_id, sum(delta) AS s FROM gone GROUP BY organization_id HAVING sum(delta) <> 0) "
            "UPDATE organization SET subtree_member_count = organization.subtree_member_count + sums.s "
            "FROM sums WHERE organization.id = sums.organization_id"))
        await fold_branch_changes(session)
        return result.rowcount
    pending = (select(func.sum(d.delta)).where(d.organization_id == o.id).scalar_subquery())
    result = await session.execute(
        update(o).where(o.id.in_(select(d.organization_id)))
        .values(subtree_member_count=o.subtree_member_count + pending)
        .execution_options(synchronize_session=False, **{UNTRACKED: True}))
    await session.execute(delete(d))
    await fold_branch_changes(session)
    return result.rowcount


def fold_due() -> bool:
    return (_fold_state["rows"] >= FOLD_ROWS
            or time.monotonic() - _fold_state["last"] >= FOLD_SECONDS)


async def fold_after_write(session: AsyncSession) -> None:
    """After a committed write that appended deltas: fold, when due, in a transaction of its own
    (never inside the member write, which would then hold the ancestors' rows until it commits).
    A fold that fails (a deadlock broken by PostgreSQL) is only logged: the deltas stay pending,
    the counts stay exact, and the next fold takes them.

    The fold runs in a session of its own on the same connection (or engine): a rollback expires
    every object of the session it ends, and in the write's session it expired what the write had
    just saved, so that the mutation's payload loaded them again on a connection given back to
    the pool and a committed write answered INTERNAL_SERVER_ERROR (a reviewer, concurrent
    createMember, acceptTransfer and recordStatusChange on PostgreSQL: 1-3 in 40 every run)."""
    if not session.info.pop(FOLD_DUE, False) or not fold_due():
        return
    _fold_state["last"], _fold_state["rows"] = time.monotonic(), 0
    from db.session import HELD, begin_write
    fold = AsyncSession(bind=session.bind, expire_on_commit=False)
    if HELD in session.info:
        fold.info[HELD] = session.info[HELD]
    try:
        await begin_write(fold)
        await fold_member_counts(fold)
        await fold.commit()
    except Exception:  # the write itself is committed: its caller must not see an error
        await fold.rollback()
        log.warning("folding the member-count deltas failed; they stay pending", exc_info=True)
    finally:
        await fold.close()


async def set_status(session: AsyncSession, member: models.Member, status: str, *,
                     effective_on: dt.date | None = None, field: list[str] | str | None = "memberId",
                     extra: dict | None = None) -> None:
    """Change a member's status and keep the rollup (the building block of the status workflows).

    The change is also a dated fact (a status step on `effective_on`, default today: see
    db.services.history), in the same transaction. `extra`: more columns to set in the same
    compare-and-set UPDATE (rejectionReason, ...).

    Compare-and-set: the UPDATE applies only while the member still has the status the caller
    read (`member.status`), and returns the organization it is in now; the rollup delta is
    computed from that. Two requests that read ACTIVE and both set LEFT: on PostgreSQL the second
    UPDATE waits for the first's row lock, re-evaluates its WHERE and matches nothing, and the
    second request gets CONFLICT instead of counting the member out twice (on SQLite the writers
    are serialised, and a stale object is caught the same way)."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status}")
    old = member.status
    m = models.Member
    now = dt.datetime.now(dt.timezone.utc)
    row = (await session.execute(
        update(m).where(m.id == member.id, m.status == old)
        .values(status=status, version=m.version + 1, updated_at=now, **(extra or {}))
        .returning(m.organization_id, m.version)
        .execution_options(synchronize_session=False))).first()
    if row is None:
        raise DomainError("CONFLICT", "该党员的状态已被他人修改，请刷新后重试", field)
    organization_id, version = row
    touch(session, organizations=[organization_id], members=[member.id])
    for key, value in (("status", status), ("version", version), ("updated_at", now),
                       ("organization_id", organization_id), *(extra or {}).items()):
        set_committed_value(member, key, value)
    history.add_status_step(session, member.id, status, effective_on or clock.today())
    await count_change(session, organization_id, old, status)


def recount_statement():
    """Rebuild the direct rollup from the members (after bulk loads; a periodic check compares it)."""
    m, o = models.Member, models.Organization
    counted = (select(func.count(m.id)).where(m.organization_id == o.id, m.status.in_(DEFAULT_STATUSES))
               .scalar_subquery())
    return update(o).values(direct_member_count=counted).execution_options(synchronize_session=False)


def subtree_recount_statements():
    """Rebuild the subtree rollup from the direct one (run after recount_statement, with no
    concurrent member writes: bulk loads, `python -m db check --repair` under a table lock)."""
    o, d = models.Organization, aliased(models.Organization)
    summed = (select(func.coalesce(func.sum(d.direct_member_count), 0))
              .where(within_subtree_of(d.path, o.path)).scalar_subquery())
    return [delete(models.MemberCountDelta),
            update(o).values(subtree_member_count=summed).execution_options(synchronize_session=False)]


async def recount(session_or_connection) -> None:
    """Both rollups from the members, in this transaction."""
    await session_or_connection.execute(recount_statement())
    for statement in subtree_recount_statements():
        await session_or_connection.execute(statement)


def _plain(query: MemberQuery, branch: Branch) -> bool:
    """Counts the rollup can answer: no filter but the scope, and a branch wider than one member."""
    return query == MemberQuery(subtree=query.subtree) and not branch.is_self_only


# ------------------------------------------------------------------ lists


@dataclass(frozen=True)
class MemberQuery:
    """A MemberFilter, as plain values (hashable, so equal filters batch together)."""

    subtree: bool = False
    name_contains: str | None = None
    id_number: str | None = None
    categories: tuple[str, ...] | None = None
    affiliations: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None
    genders: tuple[str, ...] | None = None
    education_codes: tuple[str, ...] | None = None
    ethnicity_codes: tuple[str, ...] | None = None
    job_position_codes: tuple[str, ...] | None = None
    min_age: int | None = None
    max_age: int | None = None
    joined_from: dt.date | None = None
    joined_to: dt.date | None = None
    has_account: bool | None = None
    completeness_below: int | None = None


@dataclass(frozen=True)
class MemberOrder:
    field: str | None = None  # NAME, JOINED_ON, BIRTH_DATE, CREATED_AT; None: tree order
    descending: bool = False


# The default statuses of the member row, built once: nearly every count, list and cross-tab has
# it, and building the expanding IN each time was ~4% of a cold cross-tab's statement building
# (py-spy --gil, db.services.statistics.cross_tab in a loop). One clause object in any number of
# statements is fine: SQLAlchemy elements are immutable.
_DEFAULT_STATUS_IN = models.Member.status.in_(DEFAULT_STATUSES)


# The member filter's rules, stated once. `conditions` applies them with the filter's values; the
# statistics prebuild them by the filter's shape with bound values (statistics._filter_where and
# _filter_parameters), so a rule added here reaches both.
# The lists: the field, and the column each holds values of (statuses and categories may be a
# past day's, from the dated history). An empty statuses list means the default statuses.
FILTER_LISTS = ("statuses", "categories", "affiliations", "genders", "education_codes", "ethnicity_codes",
                "job_position_codes")
# The bounds: the field, the member column, the comparison and the compared value from the
# field's value and the day ages count at.
FILTER_BOUNDS = (
    ("min_age", "birth_date", operator.le, lambda value, day: _years_after(day, -value)),
    ("max_age", "birth_date", operator.gt, lambda value, day: _years_after(day, -(value + 1))),
    ("joined_from", "joined_on", operator.ge, lambda value, day: value),
    # joinedOn counts only once reached, as JOIN_YEAR and 党龄 read it as of a past day: a member
    # admitted after `day` had not joined that day, so neither joined bound holds for it then (a
    # past table counted such a member in JOIN_YEAR's 未填 row and as joined on or after a date at
    # once; found by a reviewer, tests/test_review_stats_rev1.py). Dates are never in the future,
    # so today this changes nothing.
    ("joined_to", "joined_on", operator.le, lambda value, day: min(value, day)),
    ("joined_from", "joined_on", operator.le, lambda value, day: day),
    ("completeness_below", "completeness", operator.lt, lambda value, day: value),
)


def filter_list_columns(status, category, member=models.Member) -> dict:
    """The column of each of FILTER_LISTS; `status` and `category`: the member's or a past day's."""
    return dict(zip(FILTER_LISTS, (status, category, member.affiliation, member.gender, member.education_code,
                                   member.ethnicity_code, member.job_position_code)))


def has_account_condition(has_account: bool, member=models.Member):
    holds = exists().where(models.Account.member_id == member.id)
    return holds if has_account else ~holds


def conditions(query: MemberQuery, today: dt.date | None = None, *, status=None, category=None) -> list:
    """The filter's SQL conditions; ages at `today`. `status` and `category` replace the member
    row's columns (statistics as of a past day pass the dated history's answers)."""
    today = today or clock.today()
    m = models.Member
    if not query.statuses and (status is None or status is m.status):
        where = [_DEFAULT_STATUS_IN]
    else:
        status = m.status if status is None else status
        where = [status.in_(query.statuses or DEFAULT_STATUSES)]
    if query.name_contains:
        where.append(m.name.contains(query.name_contains.strip(), autoescape=True))
    if query.id_number:
        where.append(m.id_number == query.id_number.strip().upper())
    columns = filter_list_columns(status, m.category if category is None else category)
    for name in FILTER_LISTS[1:]:
        values = getattr(query, name)
        if values is not None:
            where.append(columns[name].in_(values))
    for name, column, compare, value in FILTER_BOUNDS:
        if getattr(query, name) is not None:
            where.append(compare(getattr(m, column), value(getattr(query, name), today)))
    if query.has_account is not None:
        where.append(has_account_condition(query.has_account))
    return where


# Members not yet admitted have no joinedOn: they sort after everyone else in either direction.
# Not date.max/date.min: asyncpg sends those as ±infinity, which would not equal the literal.
NOT_ADMITTED_ASC, NOT_ADMITTED_DESC = dt.date(9999, 12, 30), dt.date(1, 1, 2)


def _not_admitted(order: MemberOrder) -> dt.date:
    return NOT_ADMITTED_DESC if order.descending else NOT_ADMITTED_ASC


def sort_keys(order: MemberOrder) -> list[SortKey]:
    m = models.Member
    desc = order.descending
    column = {
        None: models.Organization.path,
        "NAME": m.name,
        "JOINED_ON": func.coalesce(m.joined_on, literal(_not_admitted(order), literal_execute=True)),
        "BIRTH_DATE": m.birth_date,
        "CREATED_AT": m.created_at,
    }[order.field]
    return [SortKey(column, desc), SortKey(m.id, desc)]


def _key_values(row, order: MemberOrder) -> list:
    member, path = row
    first = {
        None: path,
        "NAME": member.name,
        "JOINED_ON": member.joined_on or _not_admitted(order),
        "BIRTH_DATE": member.birth_date,
        "CREATED_AT": member.created_at,
    }[order.field]
    return [first, member.id]


def key_values(row, order: MemberOrder) -> list:
    """The sort-key values of a (member, organization path) row: its cursor's content."""
    return _key_values(row, order)


def anchored(branch: Branch, query: MemberQuery, *columns):
    """Members matching the query, and the expression of their anchor: their own organization
    (SELF) or each organization whose subtree holds them (SUBTREE), so that one statement serves a
    list of anchor organizations. The branch condition sits on the anchor: an anchor inside the
    branch has its whole subtree inside it, and the planner then seeks each anchor's own range."""
    if not query.subtree or branch.is_self_only:
        stmt = members(branch, *columns).where(*conditions(query))
        if not query.subtree:
            return stmt, models.Member.organization_id
        return stmt.join(ANCHOR, IN_ANCHOR_SUBTREE), ANCHOR.c.id
    stmt = (select(*columns)
            .join(models.Organization, models.Organization.id == models.Member.organization_id)
            .join(ANCHOR, IN_ANCHOR_SUBTREE)
            .where(branch.holds(ANCHOR.c.path), *conditions(query)))
    return stmt, ANCHOR.c.id


def _one_subtree(branch: Branch, anchor_id: int):
    """SQL: the organization lies in the subtree of the one organization `anchor_id`, if that one
    is in the branch (else nothing does). The bounds are scalar subqueries, which PostgreSQL runs
    once (InitPlans) and then seeks the path index between them. Joined to an anchor alias by the
    computed bound (IN_ANCHOR_SUBTREE), the planner cannot seek: it walked the path index from the
    start and filtered the join, 26,881 organizations for a county far down the index, W2's page
    statement 19 ms; with these bounds 0.4 ms (EXPLAIN ANALYZE, demo data, 桃源县)."""
    a = ANCHOR
    anchor = (a.c.id == anchor_id, branch.holds(a.c.path))
    lower = select(a.c.path).where(*anchor).scalar_subquery()
    upper = select(func.substr(a.c.path, 1, func.length(a.c.path) - 1) + "0").where(*anchor).scalar_subquery()
    return (models.Organization.path >= lower) & (models.Organization.path < upper)


def _one_anchor(branch: Branch, query: MemberQuery, anchor_ids: Sequence[int]) -> bool:
    """One SUBTREE anchor for a staff branch: the statement seeks its range (_one_subtree)."""
    return len(anchor_ids) == 1 and query.subtree and not branch.is_self_only


def _in_one_subtree(branch: Branch, query: MemberQuery, anchor_id: int, *columns):
    return (select(*columns)
            .join(models.Organization, models.Organization.id == models.Member.organization_id)
            .where(_one_subtree(branch, anchor_id), *conditions(query)))


def members_of(branch: Branch, organization_id: int, query: MemberQuery, *columns):
    """The statement of the members count_by_anchor counts for one organization (the filter's
    scope: SELF or SUBTREE), selecting `columns`: the roster export lists exactly the rows
    memberCount counts. Joined to the member's own organization (models.Organization)."""
    if _one_anchor(branch, query, [organization_id]):
        return _in_one_subtree(branch, query, organization_id, *columns)
    stmt, anchor_id = anchored(branch, query, *columns)
    return stmt.where(anchor_id == organization_id)


async def count_by_anchor(session: AsyncSession, branch: Branch, anchor_ids: Sequence[int],
                          query: MemberQuery) -> dict[int, int]:
    o = models.Organization
    if _plain(query, branch) and not query.subtree:
        stmt = select(o.id, o.direct_member_count).where(o.id.in_(anchor_ids), branch.holds(o.path))
    elif _plain(query, branch):
        # The subtree rollup: one row and its few pending deltas per anchor, whatever the subtree's
        # size (the range sum over direct counts this replaces read every organization below: at
        # the root, 50,000 rows in a parallel scan, 33-37 ms; now ~1 ms in the database).
        t = o.__table__
        stmt = select(t.c.id, subtree_count(t)).where(t.c.id.in_(anchor_ids), branch.holds(t.c.path))
    elif _one_anchor(branch, query, anchor_ids):
        stmt = _in_one_subtree(branch, query, anchor_ids[0], func.count(models.Member.id))
        return {anchor_ids[0]: (await session.execute(stmt)).scalar_one()}
    else:
        stmt, anchor_id = anchored(branch, query, func.count(models.Member.id))
        stmt = stmt.add_columns(anchor_id).where(anchor_id.in_(anchor_ids)).group_by(anchor_id)
        return {anchor_id: n for n, anchor_id in await session.execute(stmt)}
    return {anchor_id: int(n or 0) for anchor_id, n in await session.execute(stmt)}


async def count_in(session: AsyncSession, branch: Branch, query: MemberQuery) -> int:
    if _plain(query, branch):
        o = models.Organization
        t = o.__table__
        total = await session.scalar(select(subtree_count(t)).where(t.c.path == branch.path))
        return int(total or 0)
    stmt = members(branch, func.count(models.Member.id)).where(*conditions(query))
    return (await session.execute(stmt)).scalar_one()


async def page_by_anchor(session: AsyncSession, branch: Branch, anchor_ids: Sequence[int],
                         query: MemberQuery, order: MemberOrder, first: int,
                         after: str | None) -> dict[int, Page]:
    """One page of (member, organization path) rows for each anchor organization, in one statement.

    The member is a Core row of the member table's columns (attribute access by the same names as
    models.Member), not an ORM object: the page is read-only, and loading 51 ORM objects (identity
    map, instance state, per-attribute instrumentation) was ~14% of the server's CPU on W2 (py-spy,
    bench/compare.py W2 c=16). Nested pages of every organization of a list come through here."""
    if _one_anchor(branch, query, anchor_ids) and after is None and _dateless(query):
        stmt, keys = _first_page_of_one_subtree(query, order, first)
        params = {"anchor_id": anchor_ids[0], **branch.bounds()}
        return {anchor_ids[0]: await first_page(session, stmt, params, keys, first,
                                                lambda row: _key_values(row, order), _member_and_path)}
    if _one_anchor(branch, query, anchor_ids):
        stmt = _in_one_subtree(branch, query, anchor_ids[0], *MEMBER_COLUMNS, models.Organization.path,
                               *ORGANIZATION_OF_MEMBER)
        return {anchor_ids[0]: await keyset_page(session, stmt, sort_keys(order), first, after,
                                                 lambda row: _key_values(row, order), _member_and_path)}
    stmt, anchor = anchored(branch, query, *MEMBER_COLUMNS, models.Organization.path, *ORGANIZATION_OF_MEMBER)
    return await pages_by_anchor(session, stmt, anchor, sort_keys(order), anchor_ids, first, after,
                                 lambda row: _key_values(row, order), _member_and_path)


def _dateless(query: MemberQuery) -> bool:
    """The query's SQL does not depend on today's date (ages do)."""
    return query.min_age is None and query.max_age is None


# The subtree of one anchor in a staff branch, as bound parameters (anchor_id and the branch's
# bounds, db.branch.IN_STAFF_BRANCH): the condition _one_subtree builds with values.
_a = ANCHOR.c
_ONE_ANCHOR = (_a.id == bindparam("anchor_id"), _a.path >= bindparam("branch_lower", type_=_a.path.type),
               _a.path < bindparam("branch_upper", type_=_a.path.type))
_ONE_SUBTREE_BOUND = (
    (models.Organization.path >= select(_a.path).where(*_ONE_ANCHOR).scalar_subquery())
    & (models.Organization.path < select(func.substr(_a.path, 1, func.length(_a.path) - 1) + "0")
       .where(*_ONE_ANCHOR).scalar_subquery()))


@functools.lru_cache(maxsize=256)
def _first_page_of_one_subtree(query: MemberQuery, order: MemberOrder, first: int):
    """(statement, sort keys) of the first page of one subtree's members, built once per filter,
    order and size and kept: a dashboard asks the same page again and again, and building the
    statement and SQLAlchemy's cache key of it was ~10% of W2's CPU (py-spy, c=16). Only for
    queries whose SQL has no date in it (see _dateless); run with anchor_id and branch.bounds()."""
    keys = sort_keys(order)
    stmt = (select(*MEMBER_COLUMNS, models.Organization.path, *ORGANIZATION_OF_MEMBER)
            .join(models.Organization, models.Organization.id == models.Member.organization_id)
            .where(_ONE_SUBTREE_BOUND, *conditions(query))
            .order_by(*(k.order_by() for k in keys)).limit(first + 1))
    return stmt, keys


# The member table's columns, selected as a Core row (see page_by_anchor).
MEMBER_COLUMNS = tuple(models.Member.__table__.c)
# The member's organization, from the row the page joins anyway (prefixed: both tables have id,
# name, status, ...): a list of members asking for `organization { name }` then needs no statement
# of its own (W2: one round trip and one loader batch less per request; see organization_of).
_ORGANIZATION_PREFIX = "org__"
ORGANIZATION_OF_MEMBER = tuple(c.label(_ORGANIZATION_PREFIX + c.key) for c in models.Organization.__table__.c)
_ORGANIZATION_KEYS = tuple(c.key for c in models.Organization.__table__.c)


def organization_of(member_row) -> SimpleNamespace:
    """The organization of a member row of page_by_anchor, with the models' attribute names."""
    return SimpleNamespace(**{k: getattr(member_row, _ORGANIZATION_PREFIX + k) for k in _ORGANIZATION_KEYS})


def _member_and_path(row):
    return row, row.path


async def page_in_branch(session: AsyncSession, branch: Branch, query: MemberQuery, order: MemberOrder,
                         first: int, after: str | None) -> Page:
    """A page of (member, organization path) rows across the whole branch (no anchor organization)."""
    stmt = members(branch, models.Member, models.Organization.path).where(*conditions(query))
    return await keyset_page(session, stmt, sort_keys(order), first, after, lambda row: _key_values(row, order))
