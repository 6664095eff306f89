"""党代表 (party congress representatives) and 党员志愿者 (party member volunteers).

A representative seat is (member, level, term): one per member per level and term, terminated
(资格终止, with a date and a reason) rather than deleted; the unique index
uq_representative_term_member_id_level_term holds it on both engines (a concurrent second
addRepresentativeTerm of the same seat is DUPLICATE, raced in the tests).

`representatives(query:)` is one grouped statement: the seats of the members in scope (current
organization in the scope organization or its subtree, in the caller's branch, counted as members:
db.services.members.DEFAULT_STATUSES), grouped by member, each group flagged by the query's
conditions as aggregates (allOf: a matching seat exists; noneOf: none does; minTerms: at least
that many seats, a seat being one congress, i.e. a level and its 届次; minLevels: that many
distinct levels), then counted twice over: the matching members and all of them (`total`). The
page of matching members is the same grouping as a semi-join, in tree order. Terminated seats
count only with includeTerminated, for every condition alike.

Measured (`python -m bench.representatives`, a branch of 105,000 members, the root of a
5,000-organization demo tree, 8,696 seats of 4,673 representatives; six query forms, each the
summary and a first page of 20 members through the endpoint, the response cache off, 7 requests
each, on the 2 shared cores at a load of 13–15): SQLite 322–463 ms wall-clock medians, 83–91 ms of
CPU per request (the database's work included); PostgreSQL 353–482 ms wall-clock medians (the
same answers). Ad hoc on PostgreSQL over the 1,000,000-member dashboard data (seats in a TEMP
table): a 30,229-member branch 130–155 ms per summary statement, the whole 1,000,000-member
tree 2–4 s. The statement is driven by the scope's members (organization path range → members
by organization and status → their seats), so its cost follows the branch's size.

Volunteers: one row per member (setVolunteer creates or replaces it, under the member's row
lock; the unique member_id is the backstop), listed by organization scope, category (exact),
service time and intent (contains)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Sequence

from sqlalchemy import and_, case, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from db import clock, models
from db.branch import Actor, Branch, via_member, via_member_by_id
from db.branch import members as members_in
from db.branch import get as branch_get
from db.changes import touch
from db.errors import DomainError, Problems
from db.pagination import Page, SortKey, keyset_page
from db.services.lifecycle import ON_ROLL, REASON_LIMIT, _member_with_path
from db.services.members import DEFAULT_STATUSES
from db.tree import within

LEVELS = ("NATIONAL", "PROVINCIAL", "CITY", "COUNTY", "TOWNSHIP")
LEVEL_NAMES = {"NATIONAL": "全国", "PROVINCIAL": "省", "CITY": "市", "COUNTY": "县", "TOWNSHIP": "乡镇"}
MAX_TERM = 999
CATEGORY_LIMIT = 100
DELEGATION_LIMIT = 200
MAX_SEATS_IN_QUERY = 50


def _text(problems: Problems, value: str | None, limit: int, field: str, required: bool = False) -> str | None:
    value = (value or "").strip() or None
    if value is None and required:
        problems.add("INVALID", "不能为空", [field])
    elif value is not None and len(value) > limit:
        problems.add("INVALID", f"不能超过 {limit} 个字符", [field])
    return value


# ------------------------------------------------------------------ seats (writes)


async def add_term(session: AsyncSession, actor: Actor, member_id: int | None, level: str, term: int,
                   category: str | None, delegation: str | None) -> tuple[models.RepresentativeTerm, str]:
    """addRepresentativeTerm: a seat for a FULL member on the roll."""
    member, path = await _member_with_path(session, actor, member_id, "memberId")
    problems = Problems()
    if level not in LEVELS:
        problems.add("INVALID", "未知的党代表层级", ["level"])
    if not 1 <= term <= MAX_TERM:
        problems.add("INVALID", f"届次须在 1 到 {MAX_TERM} 之间", ["term"])
    category = _text(problems, category, CATEGORY_LIMIT, "category")
    delegation = _text(problems, delegation, DELEGATION_LIMIT, "delegation")
    problems.raise_if_any()
    if member.status not in ON_ROLL or member.category != "FULL":
        raise DomainError("NOT_ALLOWED", "只有在册的正式党员可以当选党代表", "memberId")
    r = models.RepresentativeTerm
    taken = (await session.execute(select(r.id).where(r.member_id == member.id, r.level == level, r.term == term)
                                   .limit(1))).first()
    if taken:
        raise DomainError("DUPLICATE", f"该党员已是第 {term} 届{LEVEL_NAMES[level]}党代表", "term")
    seat = models.RepresentativeTerm(member_id=member.id, level=level, term=term, category=category,
                                     delegation=delegation)
    session.add(seat)
    await session.flush()
    return seat, path


async def get_term(session: AsyncSession, branch: Branch, term_id: int | None,
                   field: str) -> tuple[models.RepresentativeTerm, str]:
    seat, organization = await branch_get(session, branch, models.RepresentativeTerm, term_id, "党代表任期", field)
    return seat, organization.path


async def terminate(session: AsyncSession, actor: Actor, term_id: int | None, date: dt.date,
                    reason: str | None) -> tuple[models.RepresentativeTerm, str]:
    """terminateRepresentative (资格终止): once; a conditional UPDATE, so of two at once one wins
    and the other is CONFLICT."""
    seat, path = await get_term(session, actor.branch, term_id, "termId")
    problems = Problems()
    reason = _text(problems, reason, REASON_LIMIT, "reason", required=True)
    if date > clock.today():
        problems.add("INVALID", "终止日期不能晚于今天", ["date"])
    problems.raise_if_any()
    if seat.terminated_on is not None:
        raise DomainError("CONFLICT", "该党代表资格已终止", "termId")
    r = models.RepresentativeTerm
    row = (await session.execute(
        update(r).where(r.id == seat.id, r.terminated_on.is_(None))
        .values(terminated_on=date, termination_reason=reason).returning(r.id)
        .execution_options(synchronize_session=False))).first()
    if row is None:
        raise DomainError("CONFLICT", "该党代表资格已终止", "termId")
    touch(session, members=[seat.member_id])
    set_committed_value(seat, "terminated_on", date)
    set_committed_value(seat, "termination_reason", reason)
    return seat, path


# ------------------------------------------------------------------ seats (reads)


async def terms_of_members(session: AsyncSession, branch: Branch, member_ids: Sequence[int]) -> dict[int, list]:
    """Member.representativeTerms: by level (national first), then term."""
    r = models.RepresentativeTerm
    level_order = case({level: rank for rank, level in enumerate(LEVELS)}, value=r.level, else_=len(LEVELS))
    stmt = (via_member(branch, r, r, models.Organization.path).where(r.member_id.in_(member_ids))
            .order_by(level_order, r.term, r.id))
    grouped: dict[int, list] = {}
    for seat, path in await session.execute(stmt):
        grouped.setdefault(seat.member_id, []).append((seat, path))
    return grouped


async def terms_by_id(session: AsyncSession, branch: Branch, ids: Sequence[int]) -> dict[int, tuple]:
    return await via_member_by_id(session, branch, models.RepresentativeTerm, ids)


@dataclass(frozen=True)
class SeatQuery:
    """A RepresentativeQuery: (level, term or None for any term) pairs."""

    organization_id: int
    organization_path: str
    subtree: bool = True
    all_of: tuple[tuple[str, int | None], ...] = ()
    none_of: tuple[tuple[str, int | None], ...] = ()
    min_terms: int | None = None
    min_levels: int | None = None
    include_terminated: bool = False


class SeatQueryError(ValueError):
    """A query that cannot be answered (the resolver makes it BAD_USER_INPUT)."""


def check(query: SeatQuery) -> None:
    if len(query.all_of) + len(query.none_of) > MAX_SEATS_IN_QUERY:
        raise SeatQueryError(f"allOf 与 noneOf 合计最多 {MAX_SEATS_IN_QUERY} 项")
    for level, term in query.all_of + query.none_of:
        if level not in LEVELS:
            raise SeatQueryError(f"未知的党代表层级 {level}")
        if term is not None and not 1 <= term <= MAX_TERM:
            raise SeatQueryError(f"届次须在 1 到 {MAX_TERM} 之间")
    for name, value in (("minTerms", query.min_terms), ("minLevels", query.min_levels)):
        if value is not None and not 0 <= value <= MAX_TERM:
            raise SeatQueryError(f"{name} 须在 0 到 {MAX_TERM} 之间")


def _seats_in_scope(branch: Branch, query: SeatQuery, *columns):
    """Seats of the members counted in the scope (in the caller's branch)."""
    m, o, r = models.Member, models.Organization, models.RepresentativeTerm
    scope = within(o.path, query.organization_path) if query.subtree else m.organization_id == query.organization_id
    stmt = (select(*columns).select_from(r).join(m, m.id == r.member_id).join(o, o.id == m.organization_id)
            .where(scope, branch.holds(o.path), branch.reaches(m), branch.reaches(r),
                   m.status.in_(DEFAULT_STATUSES)))
    if not query.include_terminated:
        stmt = stmt.where(r.terminated_on.is_(None))
    return stmt


def _holds(level: str, term: int | None):
    r = models.RepresentativeTerm
    seat = r.level == level
    if term is not None:
        seat = and_(seat, r.term == term)
    return func.max(case((seat, 1), else_=0))


def _conditions(query: SeatQuery) -> list:
    r = models.RepresentativeTerm
    conditions = [_holds(level, term) == 1 for level, term in query.all_of]
    conditions += [_holds(level, term) == 0 for level, term in query.none_of]
    if query.min_terms:
        conditions.append(func.count(r.id) >= query.min_terms)
    if query.min_levels:
        conditions.append(func.count(r.level.distinct()) >= query.min_levels)
    return conditions


def percent(count: int, total: int) -> float:
    """count / total × 100, two decimals (half up); 0 for an empty scope."""
    if not total:
        return 0.0
    return float((Decimal(count) * 100 / Decimal(total)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


async def summary(session: AsyncSession, branch: Branch, query: SeatQuery) -> tuple[int, int]:
    """(matching representatives, all representatives in scope), one statement."""
    r = models.RepresentativeTerm
    conditions = _conditions(query)
    matches = case((and_(*conditions), 1), else_=0) if conditions else literal(1)
    per_member = (_seats_in_scope(branch, query, r.member_id, matches.label("matches"))
                  .group_by(r.member_id).subquery("per_member"))
    count, total = (await session.execute(
        select(func.coalesce(func.sum(per_member.c.matches), 0), func.count()).select_from(per_member))).one()
    return int(count), int(total)


def _matching_members(branch: Branch, query: SeatQuery):
    r = models.RepresentativeTerm
    conditions = _conditions(query)
    stmt = _seats_in_scope(branch, query, r.member_id).group_by(r.member_id)
    return stmt.having(and_(*conditions)) if conditions else stmt


async def member_page(session: AsyncSession, branch: Branch, query: SeatQuery, first: int,
                      after: str | None) -> Page:
    """The matching representatives, in tree order (organization path, then id)."""
    m, o = models.Member, models.Organization
    stmt = members_in(branch, m, o.path).where(m.id.in_(_matching_members(branch, query)))
    return await keyset_page(session, stmt, [SortKey(o.path), SortKey(m.id)], first, after,
                             lambda row: [row[1], row[0].id])


# ------------------------------------------------------------------ volunteers


SERVICE_TIME_LIMIT = 200
SERVICE_INTENT_LIMIT = 500


async def set_volunteer(session: AsyncSession, actor: Actor, member_id: int | None, category: str | None,
                        service_time: str | None, service_intent: str | None) -> tuple[models.Volunteer, str]:
    """setVolunteer: the member's volunteer record, created or replaced (under the member's lock)."""
    member, path = await _member_with_path(session, actor, member_id, "memberId")
    problems = Problems()
    category = _text(problems, category, CATEGORY_LIMIT, "category", required=True)
    service_time = _text(problems, service_time, SERVICE_TIME_LIMIT, "serviceTime")
    service_intent = _text(problems, service_intent, SERVICE_INTENT_LIMIT, "serviceIntent")
    problems.raise_if_any()
    if member.status not in ON_ROLL:
        raise DomainError("NOT_ALLOWED", "只有在册的党员可以登记为志愿者", "memberId")
    v = models.Volunteer
    volunteer = (await session.scalars(select(v).where(v.member_id == member.id)
                                       .execution_options(populate_existing=True))).first()
    if volunteer is None:
        volunteer = models.Volunteer(member_id=member.id)
        session.add(volunteer)
    volunteer.category, volunteer.service_time, volunteer.service_intent = category, service_time, service_intent
    await session.flush()
    return volunteer, path


async def volunteer_of_members(session: AsyncSession, branch: Branch, member_ids: Sequence[int]) -> dict[int, tuple]:
    v = models.Volunteer
    stmt = via_member(branch, v, v, models.Organization.path).where(v.member_id.in_(member_ids))
    return {volunteer.member_id: (volunteer, path) for volunteer, path in await session.execute(stmt)}


async def volunteers_by_id(session: AsyncSession, branch: Branch, ids: Sequence[int]) -> dict[int, tuple]:
    return await via_member_by_id(session, branch, models.Volunteer, ids)


@dataclass(frozen=True)
class VolunteerQuery:
    organization_id: int
    organization_path: str
    subtree: bool = False
    category: str | None = None
    service_time: str | None = None
    service_intent: str | None = None


def _volunteers(branch: Branch, query: VolunteerQuery, *columns):
    v, m, o = models.Volunteer, models.Member, models.Organization
    scope = within(o.path, query.organization_path) if query.subtree else m.organization_id == query.organization_id
    stmt = via_member(branch, v, *columns).where(scope, m.status.in_(DEFAULT_STATUSES))
    if query.category:
        stmt = stmt.where(v.category == query.category.strip())
    if query.service_time:
        stmt = stmt.where(v.service_time.contains(query.service_time.strip(), autoescape=True))
    if query.service_intent:
        stmt = stmt.where(v.service_intent.contains(query.service_intent.strip(), autoescape=True))
    return stmt


async def volunteer_page(session: AsyncSession, branch: Branch, query: VolunteerQuery, first: int,
                         after: str | None) -> Page:
    """In tree order (the member's organization path), then id."""
    v, o = models.Volunteer, models.Organization
    return await keyset_page(session, _volunteers(branch, query, v, o.path), [SortKey(o.path), SortKey(v.id)],
                             first, after, lambda row: [row[1], row[0].id])


async def count_volunteers(session: AsyncSession, branch: Branch, query: VolunteerQuery) -> int:
    return (await session.execute(_volunteers(branch, query, func.count(models.Volunteer.id)))).scalar_one()
