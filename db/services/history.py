"""The dated history of members: what statistics count from.

Every change of a member's organization, category and status is an effective-dated fact, kept and
never overwritten:
- placements (member_placement): the organization from `valid_from` until `valid_to` (half-open,
  open while null), as organizations' parent periods are;
- category steps (member_category_step): the category from the end of `effective_on` on;
- status steps (member_status_step): the status from the end of `effective_on` on.
Of the status steps, the one in force at the end of day D is the latest with effective_on <= D;
two on the same day: the later row (a higher id). A category only ever rises (发展 is one way; a
cancelled probation leaves the party, it does not demote), so the category at the end of D is the
highest one among the steps on or before D, whatever order they were written in (a corrected or
back-filled lower step cannot shadow a higher one). A back-dated fact (a death recorded in March with a
January date) takes effect on its date: as-of answers after it change, the ones before do not.

`state_as_of(D)` answers "which organization, category and status did each member have at the end
of day D" in SQL from these facts alone, for any past D. The member row's organization_id,
category and status are a cache of today's answer, written in the same transaction as the facts;
db.tree's invariant "history" (the teardown check of every test, `python -m db check`) holds
them equal."""
from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from sqlalchemy import (Select, and_, bindparam, case, delete, event, except_, exists, false, func, insert, inspect,
                        literal_column, or_, select, text, true, union, union_all, update)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, aliased

from db import clock, models
from db.session import LOCK_EXCLUSIVE, LOCK_SHARED, holds_snapshot_lock

CATEGORIES = ("APPLICANT", "ACTIVIST", "CANDIDATE", "PROBATIONARY", "FULL")
# The development date each category's step is dated by.
CATEGORY_DATES = {"APPLICANT": "applied_on", "ACTIVIST": "activist_on", "CANDIDATE": "candidate_on",
                  "PROBATIONARY": "joined_on", "FULL": "confirmed_on"}


def initial_category_steps(values: dict[str, Any], since: dt.date) -> list[tuple[str, dt.date]]:
    """The category steps of a newly entered member: one for each category up to its own whose
    date is known (dates are in order, validated), and its own category's step even without a
    date: then on `since` (the placement's start), or the latest earlier step's date if later."""
    steps: list[tuple[str, dt.date]] = []
    current = values["category"]
    for category in CATEGORIES[:CATEGORIES.index(current) + 1]:
        day = values.get(CATEGORY_DATES[category])
        if day is None and category == current:
            latest = steps[-1][1] if steps else None
            day = since if latest is None or since >= latest else latest
        if day is not None:
            steps.append((category, day))
    return steps


def add_category_steps(session: AsyncSession, member_id: int, steps: Sequence[tuple[str, dt.date]]) -> None:
    for category, day in steps:
        session.add(models.MemberCategoryStep(member_id=member_id, category=category, effective_on=day))


def add_status_step(session: AsyncSession, member_id: int, status: str, day: dt.date) -> None:
    session.add(models.MemberStatusStep(member_id=member_id, status=status, effective_on=day))


async def latest_fact_date(session: AsyncSession, member_id: int) -> dt.date | None:
    """The date of the member's latest fact (last_fact: a placement's start or end, a category or
    status step, a 党籍异动 record): a new fact may not be dated before it (the history stays one
    line). Until 2026-12 this read steps and placement starts only, so a RESTORED dated before the
    member's SUSPENDED record was accepted and left the member suspended (tests/test_member_lifecycle.py)."""
    m = models.Member
    return await session.scalar(select(last_fact(m.id)).where(m.id == member_id))


# ------------------------------------------------------------------ as of a day


def _placement_as_of(day, member_id_column):
    p = models.MemberPlacement
    return (select(p.organization_id)
            .where(p.member_id == member_id_column, p.valid_from <= day,
                   or_(p.valid_to.is_(None), p.valid_to > day))
            .order_by(p.valid_from.desc(), p.id.desc()).limit(1).scalar_subquery())


def _status_as_of(day, member_id_column):
    s = models.MemberStatusStep
    return (select(s.status)
            .where(s.member_id == member_id_column, s.effective_on <= day)
            .order_by(s.effective_on.desc(), s.id.desc()).limit(1).scalar_subquery())


def category_rank(column):
    return case({category: rank for rank, category in enumerate(CATEGORIES)}, value=column, else_=-1)


def _category_as_of(day, member_id_column):
    c = models.MemberCategoryStep
    return (select(c.category)
            .where(c.member_id == member_id_column, c.effective_on <= day)
            .order_by(category_rank(c.category).desc(), c.id.desc()).limit(1).scalar_subquery())


def state_columns(day: dt.date, member_id_column=None):
    """(organization_id, category, status) of the member `member_id_column` at the end of `day`,
    as three correlated scalar subqueries (each an index seek: (member_id, date, id)). For one
    member or a check; a statement over many members uses the set-based state_as_of /
    state_of_members instead (PostgreSQL repeats each correlated seek per reference)."""
    member_id_column = models.Member.id if member_id_column is None else member_id_column
    return (_placement_as_of(day, member_id_column).label("organization_id"),
            _category_as_of(day, member_id_column).label("category"),
            _status_as_of(day, member_id_column).label("status"))


# Set-based: one pass per history table over the members concerned, no per-member subquery.


def in_force(p, day):
    """The placement (or any valid_from/valid_to period) `p` is in force at the end of `day`."""
    return and_(p.valid_from <= day, or_(p.valid_to.is_(None), p.valid_to > day))


def _placements(day: dt.date, *where) -> Select:
    """(member_id, organization_id) of the placement in force at the end of `day` of each member
    (two in force: the later valid_from, then the higher id, as _placement_as_of orders them),
    among the placements matching `where`."""
    p, later = models.MemberPlacement, aliased(models.MemberPlacement)
    newer = or_(later.valid_from > p.valid_from, and_(later.valid_from == p.valid_from, later.id > p.id))
    return (select(p.member_id.label("member_id"), p.organization_id.label("organization_id"))
            .where(in_force(p, day), *where,
                   ~exists().where(later.member_id == p.member_id, in_force(later, day), newer)))


def _categories(day: dt.date, member_ids=None) -> Select:
    """(member_id, category) at the end of `day` (of the members `member_ids`, a select of ids, or
    of all): the highest category among the steps on or before the day, one GROUP BY."""
    c = models.MemberCategoryStep
    rank = func.max(category_rank(c.category))
    category = case({rank_: category for rank_, category in enumerate(CATEGORIES)}, value=rank, else_=None)
    where = [] if member_ids is None else [c.member_id.in_(member_ids)]
    return (select(c.member_id.label("member_id"), category.label("category"))
            .where(c.effective_on <= day, *where).group_by(c.member_id))


def _statuses(day: dt.date, member_ids=None) -> Select:
    """(member_id, status) at the end of `day` (of the members `member_ids`, or of all): the latest
    step on or before the day (a tie: the higher id), an anti-join on a later step."""
    s, later = models.MemberStatusStep, aliased(models.MemberStatusStep)
    newer = or_(later.effective_on > s.effective_on, and_(later.effective_on == s.effective_on, later.id > s.id))
    where = [] if member_ids is None else [s.member_id.in_(member_ids)]
    return (select(s.member_id.label("member_id"), s.status.label("status"))
            .where(s.effective_on <= day, *where,
                   ~exists().where(later.member_id == s.member_id, later.effective_on <= day, newer)))


def state_of(day: dt.date, placed, name: str, narrow: bool = True):
    """Subquery (member_id, organization_id, category, status) at the end of `day` of the members
    of `placed` ((member_id, organization_id) of placements in force that day, see _placements):
    their category and status steps read in one pass each. `narrow`: `placed` is a CTE of a few
    members and the steps are read for those only (index seeks); otherwise (many members) the
    steps of every member are read and hash-joined (PostgreSQL estimates a CTE's rows badly, and
    then seeks per member: 11 s instead of ~1 s over 927,199 members)."""
    ids = select(placed.c.member_id) if narrow else None
    cat = _categories(day, ids).subquery(f"{name}_category")
    st = _statuses(day, ids).subquery(f"{name}_status")
    return (select(placed.c.member_id, placed.c.organization_id, cat.c.category, st.c.status)
            .select_from(placed)
            .outerjoin(cat, cat.c.member_id == placed.c.member_id)
            .outerjoin(st, st.c.member_id == placed.c.member_id))


# ------------------------------------------------------------------ the latest fact of each member


def last_fact(member_id_column):
    """SQL: the date of the member's latest fact: a placement's start or end, a category or status
    step, a 党籍异动 record (status_change: suspensions are read from those). A correlated
    subquery (each part an index seek on (member_id, date)); the same expression on both engines."""
    c, s = aliased(models.MemberCategoryStep), aliased(models.MemberStatusStep)
    p, q, x = aliased(models.MemberPlacement), aliased(models.MemberPlacement), aliased(models.StatusChange)
    # Each part correlated explicitly: a derived table does not correlate by itself (SQLAlchemy
    # then joined every member into it: the latest fact of all members).
    outer = member_id_column.table
    days = union_all(select(c.effective_on.label("day")).where(c.member_id == member_id_column).correlate(outer),
                     select(s.effective_on).where(s.member_id == member_id_column).correlate(outer),
                     select(p.valid_from).where(p.member_id == member_id_column).correlate(outer),
                     select(q.valid_to).where(q.member_id == member_id_column, q.valid_to.is_not(None))
                     .correlate(outer),
                     select(x.date).where(x.member_id == member_id_column).correlate(outer)).subquery("facts")
    return select(func.max(days.c.day)).scalar_subquery()


def last_fact_differs() -> Select:
    """Members whose member.last_fact_on is not their latest fact's date: the invariant
    "last_fact" of db.tree."""
    m = models.Member
    return select(m.id).where(m.last_fact_on.is_distinct_from(last_fact(m.id)))


def refresh_last_fact(where=None):
    """UPDATE member.last_fact_on from the facts (of the members matching `where`, or of all):
    the migration's backfill, a bulk load's (db.demo, imports) and `python -m db repair`."""
    m = models.Member
    stmt = update(m.__table__).values(last_fact_on=last_fact(m.__table__.c.id))
    return stmt if where is None else stmt.where(where)


# Facts the ORM writes are noted here at flush: one conditional UPDATE per member (below).
_FACT_DATES = {models.MemberPlacement: ("valid_from", "valid_to"), models.MemberCategoryStep: ("effective_on",),
               models.MemberStatusStep: ("effective_on",), models.StatusChange: ("date",)}


@event.listens_for(Session, "after_flush")
def _note_facts(session: Session, _flush_context) -> None:
    """Keeps member.last_fact_on, the date of the member's latest fact, in the transaction that
    writes the fact, whichever service (or test) adds it: every new placement, step or status
    change, and a placement whose end is set, raise it (a conditional UPDATE: a back-dated fact
    does not move it back); a fact deleted or whose date is moved through the ORM has it read
    again from the facts (refresh_last_fact). On the connection, below the ORM: no ORM write
    marks or audit lines of its own (the fact's own row is what those record). A bulk insert
    outside the ORM (db.demo, the member import) sets it itself; the invariant "last_fact" (every test's teardown, `python -m
    db check`) holds it equal to the facts."""
    latest: dict[int, dt.date] = {}
    # A fact deleted, or one whose date was moved (a corrected development date moves its category
    # step, db.services.lifecycle._move_category_steps), may lower the member's latest fact as well
    # as raise it: its date is read again from the facts. A new fact, or a date set where there was
    # none (a placement's end), only raises it (below).
    again = {obj.member_id for obj in session.deleted
             if type(obj) in _FACT_DATES and obj.member_id is not None}
    for obj in list(session.new) + list(session.dirty):
        names = _FACT_DATES.get(type(obj))
        if names is None or obj.member_id is None:
            continue
        state = inspect(obj)
        for name in names:
            if obj not in session.new and any(old is not None for old in state.attrs[name].history.deleted):
                again.add(obj.member_id)
            day = getattr(obj, name)
            if day is not None and (obj.member_id not in latest or day > latest[obj.member_id]):
                latest[obj.member_id] = day
    for member_id in again:
        latest.pop(member_id, None)
    if again:
        # The member rows locked first, then read again: a concurrent transaction's new fact for the
        # same member then raises the date after this write (its conditional UPDATE waits for the
        # lock and re-reads the row), where reading first could write over it with a lower date.
        m = models.Member.__table__
        connection = session.connection()
        # FOR NO KEY UPDATE: the fact's own INSERT holds the member row FOR KEY SHARE (its foreign
        # key), and FOR UPDATE would wait on another writer's KEY SHARE while that writer waits on
        # this one's update of the row: a deadlock (seen in tests/test_races.py).
        connection.execute(select(m.c.id).where(m.c.id.in_(sorted(again))).order_by(m.c.id)
                           .with_for_update(key_share=True))
        connection.execute(refresh_last_fact(m.c.id.in_(sorted(again))))
    if not latest:
        return
    m = models.Member.__table__
    stmt = (update(m).where(m.c.id == bindparam("mid"),
                            or_(m.c.last_fact_on.is_(None), m.c.last_fact_on < bindparam("day")))
            .values(last_fact_on=bindparam("day")))
    session.connection().execute(stmt, [{"mid": k, "day": v} for k, v in sorted(latest.items())])


def _touched_members(session: Session) -> set[int]:
    return {obj.member_id for obj in list(session.new) + list(session.dirty) + list(session.deleted)
            if type(obj) in _FACT_DATES and obj.member_id is not None}


@event.listens_for(Session, "after_flush")
def _note_snapshots(session: Session, _flush_context) -> None:
    """Keeps the kept days' member states (member_state_snapshot) of the members whose facts this
    flush wrote, after _note_facts (listeners run in the order registered) has set their
    last_fact_on. See "snapshots" below."""
    transaction = session.get_transaction()
    held = session.info.get("dangjian_new_members")
    if held is None or held[0] is not transaction:
        held = session.info["dangjian_new_members"] = (transaction, set(), set())
    _, inserted, rewritten = held
    inserted.update(obj.id for obj in session.new if type(obj) is models.Member and obj.id is not None)
    touched = _touched_members(session)
    if touched:
        # Members this transaction inserted, whose periods it has not written yet, have none, and no
        # other transaction sees them before the commit: no lock and no delete (createMember: two
        # statements fewer).
        refresh_snapshots(session.connection(), sorted(touched), locked=holds_snapshot_lock(session),
                          new=inserted - rewritten)
        rewritten.update(touched)


def unchanged_since(day: dt.date):
    """A condition on the member row: no fact dated after `day`. Such a member stood at the end of
    `day` exactly as its row stands today: the placements in force, the highest category step and
    the latest status step are the same sets on both days, and today's answer is the member row
    (the invariant "history"). So a past day's statistics read the member row for these (the
    covering index ix_member_org_stats ends in last_fact_on: no history read at all) and the
    history for the others only, a small share of a branch for a recent day: at the bench data's
    2025-12-31, 109,930 of 1,000,000 members (figures: README, statistics)."""
    if not READ_ROWS:
        return false()
    return models.Member.last_fact_on <= day


# Off only in tests (tests/test_as_of_history_only.py): every member read from the history.
READ_ROWS = True


def changed_since(day: dt.date):
    """The negation of unchanged_since (a member without last_fact_on counts as changed)."""
    if not READ_ROWS:
        return true()
    m = models.Member
    return or_(m.last_fact_on.is_(None), m.last_fact_on > day)


def changed_members(day: dt.date, organization_condition=None) -> Select:
    """Select (member_id) of the members who may have been placed at the end of `day` in an
    organization matching `organization_condition` (over models.Organization; None: anywhere) and
    have a fact after `day`: those whose organization today matches and whose last fact is later
    (an open placement is today's organization), and those whose placement in a matching
    organization ended after `day` (transferred away since)."""
    m, p, o = models.Member, models.MemberPlacement, models.Organization
    now = select(m.id.label("member_id")).where(changed_since(day))
    ended = select(p.member_id).where(p.valid_to > day)
    if organization_condition is not None:
        now = now.where(m.organization_id.in_(select(o.id).where(organization_condition)))
        ended = ended.where(p.organization_id.in_(select(o.id).where(organization_condition)))
    return union(now, ended)


def state_as_of(day: dt.date, organization_condition=None, name: str = "state") -> Select:
    """Member state as of the end of day D: (member_id, organization_id, category, status) for every
    member placed in an organization that day, from the facts alone (never the member row's
    cached columns). Counted as members that day: status in db.services.members.DEFAULT_STATUSES.
    `organization_condition` (over models.Organization): only the members whose placement of
    that day is in a matching organization (a scope), read through the placements' organization
    index, so that the category and status steps are read for those only; None: every member,
    each history table read in one pass and hash-joined (a wide scope: scope it by a join).

    Set-based: the placements in force that day (a range condition), the highest category step on
    or before it (GROUP BY member), the latest status step on or before it (an anti-join on a
    later one), joined on the member, where the former per-member correlated subqueries
    (PostgreSQL seeked the placement three times per member) took minutes over 1,000,000 members
    (figures: README, statistics section)."""
    p, o = models.MemberPlacement, models.Organization
    if organization_condition is None:
        return state_of(day, _placements(day).subquery(f"{name}_placed"), name, narrow=False)
    placed = _placements(day, p.organization_id.in_(select(o.id).where(organization_condition))).cte(f"{name}_placed")
    return state_of(day, placed, name)


def state_of_members(day: dt.date, member_ids, name: str = "state", organization_condition=None) -> Select:
    """(member_id, organization_id, category, status) at the end of `day` of those members of
    `member_ids` (a select of ids: the members changed since, a small share) placed that day (in
    an organization matching `organization_condition`, if given): index seeks per member
    (state_columns' subqueries), each step fenced by OFFSET 0 so that PostgreSQL evaluates each
    subquery once however often the outer statement names it; the placement first, the category
    and status only for the members it places (at the bench data's 2025-12-31, 37,129 of the
    109,930 members changed since were placed that day: the others entered later). Over the 396
    members of a 10,043-member subtree changed since the day, 2 ms against 26 ms for the
    set-based state (whose semi-joins PostgreSQL ran as nested loops over the CTE)."""
    o = models.Organization
    ids = member_ids.subquery(f"{name}_ids")
    placed = (select(ids.c.member_id.label("member_id"),
                     _placement_as_of(day, ids.c.member_id).label("organization_id"))
              .offset(literal_column("0")).subquery(f"{name}_placed"))
    where = [placed.c.organization_id.is_not(None)]
    if organization_condition is not None:
        where.append(placed.c.organization_id.in_(select(o.id).where(organization_condition)))
    return (select(placed.c.member_id, placed.c.organization_id,
                   _category_as_of(day, placed.c.member_id).label("category"),
                   _status_as_of(day, placed.c.member_id).label("status"))
            .where(*where).offset(literal_column("0")))


def state_by_rows(day: dt.date, organization_condition=None, name: str = "state"):
    """state_as_of's answer (the same rows), read from the member row for every member with no
    fact after `day` (unchanged_since) and from the history for the others only."""
    m, o = models.Member, models.Organization
    rows = (select(m.id.label("member_id"), m.organization_id.label("organization_id"),
                   m.category.label("category"), m.status.label("status"))
            .where(unchanged_since(day)))
    if organization_condition is not None:
        rows = rows.where(m.organization_id.in_(select(o.id).where(organization_condition)))
    return union_all(rows, select(changed_state(day, organization_condition, name)))


def changed_state(day: dt.date, organization_condition=None, name: str = "state"):
    """Subquery (member_id, organization_id, category, status) at the end of `day` of the members
    with a fact after it placed that day (in an organization matching `organization_condition`):
    from their periods (period_of), or, with READ_PERIODS off or every member read from the
    history (READ_ROWS off), by seeks per member (state_of_members)."""
    if READ_PERIODS and READ_ROWS:
        return period_of(day, organization_condition, f"{name}_changed")
    # From a subquery: SQLite takes no parenthesized (LIMIT/OFFSET-fenced) member in a UNION.
    return state_of_members(day, changed_members(day, organization_condition), name,
                            organization_condition).subquery(f"{name}_changed")


# Off only in tests: the members changed since a day read by seeks in their history, not from their
# periods.
READ_PERIODS = True


def placed_in(day: dt.date, organization_condition):
    """A condition on the member: one of its placements in force at the end of `day` is in an
    organization matching `organization_condition` (over models.Organization)."""
    m, p, o = models.Member, models.MemberPlacement, models.Organization
    return m.id.in_(select(p.member_id).join(o, o.id == p.organization_id)
                    .where(organization_condition, in_force(p, day)))


# ------------------------------------------------------------------ state periods
#
# member_state_period (models.MemberStatePeriod): each member's state from each of its fact days
# to the next, computed from the facts alone. A day's cross-tab reads the members changed since
# that day (a small share) from here: per organization of the scope, an index range of the periods
# that ended after the day, instead of finding those members (changed_members) and then seeking
# their placement, category and status one member at a time (state_of_members: ~10 µs a member).


def _fact_days(member_condition=None, member_ids=None):
    """(member_id, day) of every day with a fact of the members matching `member_condition` (over
    the member table; None: all), or of the members `member_ids` (ids, or an expanding bound
    parameter): the days last_fact reads, without repeats."""
    c, s, x = models.MemberCategoryStep, models.MemberStatusStep, models.StatusChange
    p = models.MemberPlacement
    m = models.Member.__table__
    parts = [select(c.member_id.label("member_id"), c.effective_on.label("day")),
             select(s.member_id, s.effective_on),
             select(p.member_id, p.valid_from),
             select(p.member_id, p.valid_to).where(p.valid_to.is_not(None)),
             select(x.member_id, x.date)]
    if member_ids is not None:
        parts = [part.where(part.selected_columns[0].in_(member_ids)) for part in parts]
    elif member_condition is not None:
        ids = select(m.c.id).where(member_condition)
        parts = [part.where(part.selected_columns[0].in_(ids)) for part in parts]
    return union(*parts).subquery("fact_days")


def period_states(member_condition=None, member_ids=None) -> Select:
    """(member_id, valid_from, valid_to, organization_id, category, status): the periods of the
    members matching `member_condition` (None: all), one from each fact day to the next, where
    the member was placed. The history's correlated seeks at each day, fenced by OFFSET 0 as in
    state_of_members."""
    days = _fact_days(member_condition, member_ids)
    following = func.lead(days.c.day).over(partition_by=days.c.member_id, order_by=days.c.day)
    stated = (select(days.c.member_id.label("member_id"), days.c.day.label("valid_from"),
                     following.label("valid_to"),
                     _placement_as_of(days.c.day, days.c.member_id).label("organization_id"),
                     _category_as_of(days.c.day, days.c.member_id).label("category"),
                     _status_as_of(days.c.day, days.c.member_id).label("status"))
              .offset(literal_column("0")).subquery("stated"))
    return (select(stated.c.member_id, stated.c.valid_from, stated.c.valid_to, stated.c.organization_id,
                   stated.c.category, stated.c.status)
            .where(stated.c.organization_id.is_not(None)))


_PERIOD_COLUMNS = ["member_id", "valid_from", "valid_to", "organization_id", "category", "status"]


def refresh_periods(connection, member_ids: Sequence[int], old: Sequence[int] | None = None) -> None:
    """Rewrites these members' periods from their facts (a sync Connection; the caller has locked
    the member rows: refresh_snapshots); `old`: those of them that may have periods already (all
    when None)."""
    ids = sorted(set(member_ids))
    old = ids if old is None else old
    t = models.MemberStatePeriod.__table__
    if old:
        connection.execute(delete(t).where(t.c.member_id.in_(old)))
    connection.execute(_INSERT_PERIODS, {"period_ids": ids})


# Built once (its cache key and compiled form with it): every flush that writes a fact runs it.
_INSERT_PERIODS = insert(models.MemberStatePeriod.__table__).from_select(
    _PERIOD_COLUMNS, period_states(member_ids=bindparam("period_ids", expanding=True)))


async def rebuild_periods(session) -> None:
    """Every member's periods computed again (`python -m db check --repair`, a bulk load)."""
    t = models.MemberStatePeriod.__table__
    await session.execute(delete(t))
    await session.execute(insert(t).from_select(_PERIOD_COLUMNS, period_states()))


def periods_differ() -> Select:
    """Members whose periods are not the history's (a row too many, missing or different): the
    invariant "periods" of db.tree."""
    t = models.MemberStatePeriod.__table__
    kept = select(*(t.c[name] for name in _PERIOD_COLUMNS))
    computed = period_states()
    extra = except_(kept, computed).subquery("extra")
    missing = except_(computed, kept).subquery("missing")
    both = union_all(select(extra.c.member_id), select(missing.c.member_id)).subquery("wrong")
    return select(both.c.member_id).distinct()


def period_of(day, organization_condition=None, name: str = "state"):
    """Subquery (member_id, organization_id, category, status) at the end of `day` of the members
    with a fact after it placed that day (in an organization matching `organization_condition`,
    over models.Organization): state_of_members(day, changed_members(day, ...)) from the periods."""
    t, o = models.MemberStatePeriod.__table__, models.Organization
    stmt = (select(t.c.member_id, t.c.organization_id, t.c.category, t.c.status)
            .where(t.c.valid_to > day, t.c.valid_from <= day))
    if organization_condition is not None:
        stmt = stmt.where(t.c.organization_id.in_(select(o.id).where(organization_condition)))
    return stmt.subquery(name)


# ------------------------------------------------------------------ snapshots of kept days
#
# A past day's cross-tab read the members changed since that day from their history: ~15 µs a
# member in index seeks, against ~0.4 µs for a member read index-only from its row. At the bench
# root as of 2025-12-31 (109,930 of 1,000,000 members changed since) that made it 11x today's
# table (a day not kept now reads their state periods, above). For a day chosen to be kept (state_snapshot: the annual report's 12-31, `python -m db
# snapshot build DAY`), member_state_snapshot holds the state that day of exactly the members
# with a fact after it and placed that day: what state_of_members would answer. It is read by an
# index range of (day, organization_id) instead (figures: README, statistics).
#
# Kept exact: every flush that writes a member's fact rewrites that member's rows of every kept
# day from its facts (_note_snapshots: after its last_fact_on is set, with the member row locked,
# so that two transactions writing facts of one member rewrite its rows one after the other, the
# second from the first's facts); code that deletes facts with plain SQL calls refresh_member.
# A day is built (build_snapshot) under PostgreSQL's exclusive advisory lock SNAPSHOT_LOCK
# (db.session), which every write transaction takes shared at BEGIN, before any row lock (and the
# rewrite again, for a transaction begun otherwise): the build waits for the writes in flight and
# holds new ones until it has committed, so that no write's facts fall between the build's reading
# and the writer's rewrite. The invariant "snapshot" (every test's teardown, `python -m db check`)
# holds the rows equal to the history; `python -m db check --repair` builds every kept day again.

# Off only in tests (tests/test_as_of_history_only.py): a kept day read from the history anyway.
READ_SNAPSHOTS = True


def snapshot_states(member_condition=None, day: dt.date | None = None) -> Select:
    """(day, member_id, organization_id, category, status): the state at the end of each kept day
    (or of `day` alone, which must be kept) of each member with a fact after it (or none at all,
    history.changed_since) placed that day, of the members matching `member_condition` (over the
    member table; None: all). The history's correlated seeks, fenced by OFFSET 0 as in
    state_of_members."""
    d, m = models.StateSnapshot.__table__, models.Member.__table__
    where = [or_(m.c.last_fact_on.is_(None), m.c.last_fact_on > d.c.day)]
    if member_condition is not None:
        where.append(member_condition)
    if day is not None:
        where.append(d.c.day == day)
    placed = (select(d.c.day.label("day"), m.c.id.label("member_id"),
                     _placement_as_of(d.c.day, m.c.id).label("organization_id"))
              .select_from(d).join(m, and_(*where)).offset(literal_column("0")).subquery("snap_placed"))
    return (select(placed.c.day, placed.c.member_id, placed.c.organization_id,
                   _category_as_of(placed.c.day, placed.c.member_id).label("category"),
                   _status_as_of(placed.c.day, placed.c.member_id).label("status"))
            .where(placed.c.organization_id.is_not(None)))


_SNAPSHOT_COLUMNS = ["day", "member_id", "organization_id", "category", "status"]


def _lock_shared(connection) -> None:
    """SNAPSHOT_LOCK (db.session) shared, for a transaction not begun by begin_write."""
    if connection.dialect.name == "postgresql":
        connection.execute(LOCK_SHARED)


async def lock_kept_days(session) -> None:
    """SNAPSHOT_LOCK exclusively on an AsyncSession or AsyncConnection (a build, a repair, the
    demo's load): to be taken before any row lock of the transaction."""
    dialect = session.dialect if hasattr(session, "dialect") else session.bind.dialect
    if dialect.name == "postgresql":
        await session.execute(LOCK_EXCLUSIVE)


def refresh_snapshots(connection, member_ids: Sequence[int], locked: bool = False, new=frozenset()) -> None:
    """Rewrites these members' periods (refresh_periods) and the kept days' rows of these members
    from their facts (a sync Connection: the flush hook's), the shared lock first unless `locked`
    (the transaction took it at BEGIN). `new`: ids of members inserted by this transaction whose
    periods it has not written yet (no lock, no rows yet)."""
    if not locked:
        _lock_shared(connection)
    m, s = models.Member.__table__, models.MemberStateSnapshot.__table__
    ids = sorted(set(member_ids))
    old = [i for i in ids if i not in new]
    if old:
        # The member rows locked (FOR NO KEY UPDATE, as in _note_facts: FOR UPDATE deadlocked two
        # writers of one member, each holding the row FOR KEY SHARE through its fact's foreign
        # key), so that a second writer's rewrite reads the first's committed facts.
        connection.execute(select(m.c.id).where(m.c.id.in_(old)).order_by(m.c.id).with_for_update(key_share=True))
    refresh_periods(connection, ids, old)
    if connection.execute(select(models.StateSnapshot.__table__.c.day).limit(1)).first() is None:
        return
    connection.execute(delete(s).where(s.c.member_id.in_(ids)))
    connection.execute(insert(s).from_select(_SNAPSHOT_COLUMNS, snapshot_states(m.c.id.in_(ids))))


async def refresh_member(session: AsyncSession, member_ids: Sequence[int]) -> None:
    """After facts of these members were deleted or changed with plain SQL (unseen by the flush
    hook): their last_fact_on and kept-day rows read again from the facts."""
    m = models.Member.__table__
    await session.execute(refresh_last_fact(m.c.id.in_(sorted(set(member_ids)))))
    await session.run_sync(lambda sync: refresh_snapshots(sync.connection(), member_ids, locked=holds_snapshot_lock(sync)))


async def build_snapshot(session: AsyncSession, day: dt.date) -> int:
    """Keeps `day` (again): its rows computed from the history; the number of rows. A day before
    today only (a later fact may not yet exist for a day not ended). Start the transaction with
    db.session.begin_write(session, exclusive=True) (or with no lock taken): SNAPSHOT_LOCK is taken
    exclusively here, and a transaction holding it shared would wait for every other writer."""
    if day >= clock.today():
        raise ValueError("only a day before today can be kept")
    await lock_kept_days(session)
    d, s = models.StateSnapshot.__table__, models.MemberStateSnapshot.__table__
    if (await session.execute(select(d.c.day).where(d.c.day == day))).first() is None:
        await session.execute(insert(d).values(day=day, built_at=dt.datetime.now(dt.timezone.utc)))
    else:
        await session.execute(update(d).where(d.c.day == day).values(built_at=dt.datetime.now(dt.timezone.utc)))
    await session.execute(delete(s).where(s.c.day == day))
    result = await session.execute(insert(s).from_select(_SNAPSHOT_COLUMNS, snapshot_states(day=day)))
    return result.rowcount


async def settle_snapshots(engine) -> None:
    """After a build: the planner's statistics of the new rows (without them PostgreSQL joined a
    10,043-member subtree's 396 rows by scanning all 37,129 of the day: 389 ms against 15 ms) and,
    on PostgreSQL, the visibility map (index-only reads), as autovacuum would set them later."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.exec_driver_sql("VACUUM ANALYZE member_state_snapshot")
    else:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("ANALYZE member_state_snapshot")
            await connection.commit()


async def drop_snapshot(session: AsyncSession, day: dt.date) -> bool:
    """No longer keeps `day` (its rows go with it); False when it was not kept."""
    await lock_kept_days(session)
    d, s = models.StateSnapshot.__table__, models.MemberStateSnapshot.__table__
    await session.execute(delete(s).where(s.c.day == day))
    return (await session.execute(delete(d).where(d.c.day == day))).rowcount > 0


async def kept_days(session: AsyncSession) -> list[tuple[dt.date, int]]:
    """(day, rows) of every kept day, in date order."""
    d, s = models.StateSnapshot.__table__, models.MemberStateSnapshot.__table__
    rows = select(func.count()).where(s.c.day == d.c.day).scalar_subquery()
    return [(day, n) for day, n in await session.execute(select(d.c.day, rows).order_by(d.c.day))]


# "Is the day kept": asked with the tree's probe in one statement (statistics.past_day), and
# read only with READ_SNAPSHOTS and READ_ROWS (the rows hold the members changed since only; the
# others are read from their member rows).
def kept_probe(parameter: str = "day"):
    """SELECT of the kept day given as the bound parameter `parameter` (no row: not kept)."""
    days = models.StateSnapshot.__table__
    return select(days.c.day).where(days.c.day == bindparam(parameter))


KEPT = kept_probe()


def snapshot_of(day: dt.date):
    """Subquery (member_id, organization_id, category, status) of a kept day's rows: the members
    changed since it, as state_of_members would give them."""
    s = models.MemberStateSnapshot.__table__
    return (select(s.c.member_id, s.c.organization_id, s.c.category, s.c.status)
            .where(s.c.day == day).subquery("state"))


def snapshot_differs() -> Select:
    """Members whose kept-day rows are not the history's answer (a row too many, missing or
    different): the invariant "snapshot" of db.tree."""
    s = models.MemberStateSnapshot.__table__
    kept = select(s.c.day, s.c.member_id, s.c.organization_id, s.c.category, s.c.status)
    computed = snapshot_states()
    extra = except_(kept, computed).subquery("extra")
    missing = except_(computed, kept).subquery("missing")
    both = union_all(select(extra.c.member_id), select(missing.c.member_id)).subquery("wrong")
    return select(both.c.member_id).distinct()


async def rebuild_snapshots(session) -> None:
    """Every kept day built again (`python -m db check --repair`, after db.demo's bulk load), on an
    AsyncSession or AsyncConnection; the caller has taken SNAPSHOT_LOCK exclusively before its
    first row lock (db.tree.repair_rollups), or holds no row lock (db.demo)."""
    await lock_kept_days(session)
    d, s = models.StateSnapshot.__table__, models.MemberStateSnapshot.__table__
    for day in list(await session.scalars(select(d.c.day).order_by(d.c.day))):
        await session.execute(delete(s).where(s.c.day == day))
        await session.execute(insert(s).from_select(_SNAPSHOT_COLUMNS, snapshot_states(day=day)))


def differs_from_history(day: dt.date | None = None) -> Select:
    """Members whose cached organization, category or status is not the history's answer for
    `day` (default today): the invariant "history" of db.tree."""
    day = day or clock.today()
    m = models.Member
    organization_id, category, status = state_columns(day)
    return select(m.id).where(or_(m.organization_id.is_distinct_from(organization_id),
                                  m.category.is_distinct_from(category),
                                  m.status.is_distinct_from(status)))


# ------------------------------------------------------------------ backfill (migration 0010, demo)


def backfill_sql() -> list[str]:
    """Statements that give every member without history (no status step) its category steps and
    one status step, from its columns, as createMember would have: dated by the development
    dates, the current category's step without a date on the placement start (or the latest
    earlier date), the status on the placement start. Plain SQL for both engines."""
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


async def backfill(connection) -> None:
    for statement in backfill_sql():
        await connection.execute(text(statement))

