"""党员增减 (member balance): how a scope's party membership changed over a period, from the dated
history (db.services.history), reconciled: start + Σ increases − Σ decreases = end, always.

Counted (a party member of the scope at the end of day D): the history places the member that day
in an organization of the scope (SUBTREE: the scope organization or a descendant that day;
SELF: the organization itself), its category that day is PROBATIONARY or FULL, its status that day
is a counted one (ACTIVE, FLOWING_OUT, TRANSFERRING: not LEFT, TRANSFERRED_OUT, PENDING_APPROVAL or
REJECTED), and it is not suspended that day (its latest 停止党籍/恢复党籍 record dated on or before D
is not a suspension). `start` counts at the end of the day before `from`, `end` at the end of `to`.

The lines are net, per member: a member counted at the end but not at the start is one increase,
counted at the start but not at the end one decrease, counted at both (or at neither) no line,
whatever happened in between (a member transferred out and back within the period, or admitted and
died within it, moves no line). Hence the identity, and consecutive periods chain (the end of one
is the start of the next, the same day's state). Each member gets exactly one kind, the first rule
that applies, with "before" the state at the end of the day before `from` and "after" at the end of
`to`:

Increases (counted after, not before):
- ADMITTED / RECORDED: not in the system before (no placement that day) and first placed after the
  day before `from`: RECORDED (首次录入, 补录) when that first placement starts after the member's
  joinedOn, ADMITTED (发展党员) otherwise (entered as an applicant and admitted in the period, or
  entered with joinedOn as the placement start: the history as recorded);
- TRANSFERRED_IN: placed before in an organization outside the scope, or placed nowhere that day
  though placed earlier (a gap in the placements);
- ADMITTED: in the scope before but not yet PROBATIONARY or FULL;
- RESTORED: in the scope before, a party member, but suspended;
- TRANSFERRED_IN: otherwise (before, a status not counted, e.g. TRANSFERRED_OUT).
Decreases (counted before, not after):
- TRANSFERRED_OUT: placed after in an organization outside the scope, or placed nowhere (out of
  the system);
- DIED / LEFT_PARTY: status LEFT after: DIED when the member's latest leaving record (去世, 退党,
  除名, 开除党籍, 取消预备党员资格) on or before `to` is a death, LEFT_PARTY otherwise;
- SUSPENDED: suspended after;
- TRANSFERRED_OUT: otherwise (after, a status not counted: TRANSFERRED_OUT, ...).

A transfer between two organizations inside a SUBTREE scope changes neither organization's
membership of the scope: no line; over each of the two with SELF, it is TRANSFERRED_OUT of one and
TRANSFERRED_IN of the other. The SUBTREE scope of each end is the tree of that day, from the
organizations' parent periods (subtree_as_of): an organization moved into the scope during the
period carries its members in (TRANSFERRED_IN), one moved out carries them out (TRANSFERRED_OUT).
(crossTab as of a past date still reads today's tree: after an organization's move, the two can
differ for days before the move; documented there.)
All in one SQL statement per answer (the summary; each line's member page and count), with one
more for the summary when the scope's tree has not changed since the day before `from`: the count
of the party members with no fact since (db.services.history.unchanged_since), the same at both
ends and on no line, from their member rows; the history is read for the others only."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import String, and_, case, cast, exists, func, literal, literal_column, null, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from db import clock, models
from db.branch import Branch
from db.errors import DomainError
from db.pagination import Page, keyset_page
from db.services import history
from db.services import members as member_service
from db.services.lifecycle import LEAVING_KINDS
from db.services.members import ADMITTED as PARTY_CATEGORIES
from db.services.members import DEFAULT_STATUSES, MemberOrder
from db.services.statistics import EARLIEST, WIDE_SCOPE, past_period, scope_organization
from db.tree import within

INCREASES = {"ADMITTED": "发展党员", "RECORDED": "首次录入", "TRANSFERRED_IN": "转入", "RESTORED": "恢复党籍"}
DECREASES = {"DIED": "死亡", "LEFT_PARTY": "出党", "SUSPENDED": "停止党籍", "TRANSFERRED_OUT": "转出"}
SUSPENSION_KINDS = ("SUSPENDED", "RESTORED")


class BalanceInputError(DomainError):
    def __init__(self, message: str, field_path: str):
        super().__init__("INVALID", message, field_path)


def check(start: dt.date, end: dt.date, today: dt.date | None = None) -> None:
    today = today or clock.today()
    if start <= EARLIEST:  # the day before `from` must be a date (0001-01-01 has none)
        raise BalanceInputError(f"统计期间的开始日期（from）须晚于 {EARLIEST.isoformat()}", "from")
    if end < start:
        raise BalanceInputError("统计期间的结束日期（to）不能早于开始日期（from）", "to")
    if end > today:
        raise BalanceInputError("统计期间的结束日期（to）不能晚于今天", "to")


def _latest_kind(day: dt.date, kinds, member_ids, name: str):
    """Subquery (member_id, kind): each member's latest status_change of `kinds` dated on or before
    `day` (a tie: the higher id), for the members `member_ids`: an anti-join on a later one."""
    s, later = models.StatusChange, aliased(models.StatusChange)
    newer = or_(later.date > s.date, and_(later.date == s.date, later.id > s.id))
    return (select(s.member_id.label("member_id"), s.kind.label("kind"))
            .where(s.kind.in_(kinds), s.date <= day, *([] if member_ids is None else [s.member_id.in_(member_ids)]),
                   ~exists().where(later.member_id == s.member_id, later.kind.in_(kinds), later.date <= day, newer))
            .subquery(name))


def subtree_as_of(organization_id: int, day: dt.date, name: str):
    """CTE (id) of the organization and its descendants at the end of `day`, from the
    organizations' parent periods (a recursive walk down the periods in force that day). An
    organization's first period reaches back before its start (it was recorded with that parent:
    members placed in it earlier, back-dated, count under that parent)."""
    o, pp = models.Organization, models.OrganizationParentPeriod
    base = select(o.id.label("id")).where(o.id == organization_id).cte(name, recursive=True)
    return base.union_all(select(pp.organization_id).join(base, pp.parent_id == base.c.id).where(_in_force(pp, day)))


def _in_force(pp, day: dt.date):
    """The parent period `pp` (OrganizationParentPeriod) was in force at the end of `day`; an
    organization's first period reaches back before its start."""
    first = aliased(models.OrganizationParentPeriod)
    first_id = select(func.min(first.id)).where(first.organization_id == pp.organization_id).scalar_subquery()
    return and_(or_(pp.valid_from <= day, pp.id == first_id), or_(pp.valid_to.is_(None), pp.valid_to > day))


def _branch_organization(branch: Branch) -> int | None:
    """The id of the branch's organization; None for the whole tree (the root's branch) or a
    self-only branch, where no walk is needed."""
    segments = [s for s in branch.path.split("/") if s]
    return None if branch.is_self_only or len(segments) < 2 else int(segments[-1])


def branch_then(branch: Branch, day: dt.date, name: str):
    """CTE (id) of the caller's branch at the end of `day` (the subtree of its organization that
    day, from the parent periods); None for the whole tree (the root's branch) or a self-only one.
    A walk down the whole branch: over a 10,000-member branch of the bench data a past drill page
    with it took 2.3 s against 32 ms without (held_then decides when it is needed)."""
    branch_id = _branch_organization(branch)
    return None if branch_id is None else subtree_as_of(branch_id, day, name)


async def held_then(session: AsyncSession, branch: Branch, organization_id: int, day: dt.date) -> bool | None:
    """Where a past drill-through or a balance line through the organization (a scope) may list
    its members of `day`: True where the organization was in the caller's branch at the end of
    that day (then its whole tree of that day was: no branch_then needed); None where not, nor was
    the branch's organization in the scope's tree that day (no organization of that tree was in the
    branch: nothing to list); False where the branch's organization was inside the scope's tree
    that day (only that part was in the branch: branch_then, a walk down the branch). True for the
    whole tree's branch. Each test is a walk up the parent periods, as long as the tree is deep."""
    branch_id = _branch_organization(branch)
    if branch_id is None:
        return True
    if await _was_under(session, organization_id, branch_id, day):
        return True
    return False if await _was_under(session, branch_id, organization_id, day) else None


async def _was_under(session: AsyncSession, organization_id: int, ancestor_id: int, day: dt.date) -> bool:
    """The organization was the ancestor or below it at the end of `day` (the parent periods in
    force that day, walked up; an organization's first period reaches back before its start)."""
    o, pp = models.Organization, models.OrganizationParentPeriod
    base = select(o.id.label("id")).where(o.id == organization_id).cte("was_under", recursive=True)
    up = base.union_all(select(pp.parent_id).join(base, pp.organization_id == base.c.id)
                        .where(_in_force(pp, day), pp.parent_id.is_not(None)))
    return bool(await session.scalar(select(exists().where(up.c.id == ancestor_id))))


def classified(organization: models.Organization, subtree: bool, start: dt.date, end: dt.date,
               same_tree: bool = False, kept_before: bool = False, kept_end: bool = False,
               seen: tuple = (None, None)):
    """Subquery (member_id, counted_before, counted_after, kind) over the members counted at either
    end (kind NULL for those counted at both). `same_tree`: the scope's tree has not changed since
    the day before `from` (statistics.past_day): both ends' trees are today's, by path.
    `kept_before`, `kept_end`: the day before `from`, `to`, is a kept day (its states read from its
    rows). `seen`: seen_condition of the day before `from` and of `to` (None: every organization
    of that day's tree counts), narrowing each end's tree to the organizations the caller's branch
    held that day or holds today."""
    m, p, o = models.Member, models.MemberPlacement, models.Organization
    before = start - dt.timedelta(days=1)
    if subtree and same_tree:
        # Well estimated (a range of the path index), where PostgreSQL sizes a recursive tree at a
        # few hundred rows and then scanned all 1,000,000 members for 100 (285 ms).
        scope0 = scope1 = select(o.id).where(within(o.path, organization.path))
    elif subtree:
        scope0 = _seen_scope(subtree_as_of(organization.id, before, "scope_before"), seen[0], "seen_before")
        scope1 = _seen_scope(subtree_as_of(organization.id, end, "scope_after"), seen[1], "seen_after")
    else:
        scope0 = scope1 = select(literal(organization.id))

    # A member with no fact after the day before `from` (history.unchanged_since) stood at both
    # ends as its row stands today: it is read from the row (no line unless its organization
    # entered or left the scope with a move of the tree). The history is read for the others only,
    # the members changed since (a year's balance at the bench root: 15.2 → 1.7 s). Of those, only
    # members placed in the scope (of either end) at some time between the two ends can be counted
    # at either: a semi-join through the placements' organization index. Their two states are read
    # by index seeks per member (history.state_of_members), their suspensions and leaving records
    # set-based, their first placement only for a line that needs it.
    # A category only rises (db.services.history): a member not PROBATIONARY or FULL today was
    # neither at either end, so counts at neither (at the bench root a third of those changed).
    changed_since = and_(history.changed_since(before), m.category.in_(PARTY_CATEGORIES))
    # With `to` kept, the member's row travels too: a member with no fact after `to` stood there
    # at the end as its row stands (history.unchanged_since), the others as the day's kept rows say.
    carried = [m.organization_id, m.category, m.status, m.last_fact_on] if kept_end else []
    if subtree and (organization.subtree_member_count or 0) >= WIDE_SCOPE:
        # A wide scope (the root's 1,000,000 members): every changed member (the scope's
        # recursive tree, which PostgreSQL sizes at a few hundred rows, must not drive the plan).
        base = select(m.id.label("member_id"), m.joined_on, *carried).where(changed_since).cte("touched")
    else:
        base = (select(p.member_id.label("member_id"), m.joined_on, *carried).join(m, m.id == p.member_id)
                .where(p.organization_id.in_(scope0 if scope0 is scope1 else scope0.union(scope1)),
                       p.valid_from <= end, or_(p.valid_to.is_(None), p.valid_to > before), changed_since)
                .distinct().cte("touched"))
    ids = select(base.c.member_id)
    if kept_before:
        # The day before `from` is kept (db.services.history, "snapshots": the annual balance's
        # 12-31 of the year before): the touched members' states that day are its rows (every
        # touched member changed since that day, so each one placed that day has its row), one
        # primary-key seek each instead of three history seeks.
        s = models.MemberStateSnapshot.__table__
        state0 = (select(s.c.member_id, s.c.organization_id, s.c.category, s.c.status)
                  .where(s.c.day == before, s.c.member_id.in_(ids)).subquery("state0"))
    else:
        state0 = history.state_of_members(before, ids, "s0").subquery("state0")
    key = base.c.member_id
    if kept_end:
        # `to` is kept (the annual balance's 12-31, kept for the cross-tabs of that day): a touched
        # member unchanged since it stood at the end as its row stands; one changed since, as its
        # row of that day says (none: not placed that day). A primary-key seek for those instead of
        # three history seeks each (history.state_of_members).
        s1 = models.MemberStateSnapshot.__table__.alias("kept_end")
        as_row = base.c.last_fact_on <= end
        end_state = [case((as_row, base.c[name]), else_=s1.c[name]) for name in ("organization_id", "category", "status")]
        end_join = (s1, and_(s1.c.day == end, s1.c.member_id == key))
    else:
        state1 = history.state_of_members(end, ids, "s1").subquery("state1")
        end_state = [state1.c.organization_id, state1.c.category, state1.c.status]
        end_join = (state1, state1.c.member_id == key)
    susp0 = _latest_kind(before, SUSPENSION_KINDS, ids, "susp0")
    susp1 = _latest_kind(end, SUSPENSION_KINDS, ids, "susp1")
    leaving = _latest_kind(end, LEAVING_KINDS, ids, "leaving")
    # The member's joinedOn travels in `touched` (a join back to the member row hashed all
    # 1,000,000 at the root: 0.7 s); its first placement is read only for a line that needs it.
    changed = (select(key.label("member_id"), base.c.joined_on.label("joined_on"),
                      state0.c.organization_id.label("org0"), state0.c.category.label("cat0"),
                      state0.c.status.label("st0"), func.coalesce(susp0.c.kind, "").label("susp0"),
                      end_state[0].label("org1"), end_state[1].label("cat1"),
                      end_state[2].label("st1"), func.coalesce(susp1.c.kind, "").label("susp1"),
                      leaving.c.kind.label("leaving"))
               .select_from(base)
               .outerjoin(state0, state0.c.member_id == key)
               .outerjoin(*end_join)
               .outerjoin(susp0, susp0.c.member_id == key)
               .outerjoin(susp1, susp1.c.member_id == key)
               .outerjoin(leaving, leaving.c.member_id == key))
    # The unchanged: the same row at both ends; suspended or not as its latest such record says.
    # With the tree unchanged too they move no line: summary() counts them apart (unchanged_count).
    if same_tree:
        a = changed.subquery("a")
    else:
        suspension = _latest_kind(end, SUSPENSION_KINDS, None, "suspension")
        kept = func.coalesce(suspension.c.kind, "")
        unchanged = (select(m.id, m.joined_on, m.organization_id, m.category, m.status, kept,
                            m.organization_id, m.category, m.status, kept, cast(null(), String))
                     .select_from(m).outerjoin(suspension, suspension.c.member_id == m.id)
                     .where(history.unchanged_since(before), m.organization_id.in_(scope0.union(scope1))))
        a = changed.union_all(unchanged).subquery("a")

    def counted(org, scope, cat, st, susp):
        return case((and_(org.in_(scope), cat.in_(PARTY_CATEGORIES), st.in_(DEFAULT_STATUSES),
                          susp != "SUSPENDED"), 1), else_=0)

    b = (select(a, counted(a.c.org0, scope0, a.c.cat0, a.c.st0, a.c.susp0).label("c0"),
                counted(a.c.org1, scope1, a.c.cat1, a.c.st1, a.c.susp1).label("c1"),
                case((a.c.org0.in_(scope0), 1), else_=0).label("s0"),
                case((a.c.org1.in_(scope1), 1), else_=0).label("s1"))
         # Fenced (OFFSET 0): computed once per member, where PostgreSQL inlined the subquery and
         # evaluated each scope lookup again at every mention in the kind's CASE below.
         .offset(literal_column("0")).subquery("b"))
    up, down = and_(b.c.c1 == 1, b.c.c0 == 0), and_(b.c.c0 == 1, b.c.c1 == 0)
    first_from = select(func.min(p.valid_from)).where(p.member_id == b.c.member_id).scalar_subquery()
    entered = case((first_from > func.coalesce(b.c.joined_on, first_from), "RECORDED"), else_="ADMITTED")
    left = case((b.c.leaving == "DEATH", "DIED"), else_="LEFT_PARTY")
    kind = case(
        (and_(up, b.c.org0.is_(None), first_from > before), entered),
        (and_(up, or_(b.c.org0.is_(None), b.c.s0 == 0)), "TRANSFERRED_IN"),
        (and_(up, func.coalesce(b.c.cat0, "").not_in(PARTY_CATEGORIES)), "ADMITTED"),
        (and_(up, b.c.susp0 == "SUSPENDED"), "RESTORED"),
        (up, "TRANSFERRED_IN"),
        (and_(down, or_(b.c.org1.is_(None), b.c.s1 == 0)), "TRANSFERRED_OUT"),
        (and_(down, b.c.st1 == "LEFT"), left),
        (and_(down, b.c.susp1 == "SUSPENDED"), "SUSPENDED"),
        (down, "TRANSFERRED_OUT"),
        else_=None)
    return (select(b.c.member_id, b.c.c0.label("counted_before"), b.c.c1.label("counted_after"), kind.label("kind"),
                   b.c.org0, b.c.org1)
            .where(or_(b.c.c0 == 1, b.c.c1 == 1)).subquery("balance"))


async def same_tree(session: AsyncSession, organization: models.Organization, subtree: bool,
                    start: dt.date, end: dt.date) -> tuple[bool, bool, bool]:
    """(the scope's tree unchanged since the day before `from`, that day kept, `to` kept), one
    statement (statistics.past_period), once per read transaction (_memo)."""
    memo, key = _memo(session), ("ends", organization.id, subtree, start, end)
    if key not in memo:
        memo[key] = await past_period(session, organization, start - dt.timedelta(days=1), end, subtree)
    return memo[key]


# A balance's answer reads one classification (classified) from the summary and from each line's
# page and count: up to 17 times in one request that lists every line's members (the suite's
# tests/test_member_balance.py: 714 builds of the statement in one test, 32 of its 52 s in Python
# building it, 45 ms each on a slow machine), each line with the same probes of the period (same_tree)
# and of the caller's branch then (_held). They are kept for the read transaction that asked: the
# statement is a function of its arguments and of the module's switches (which do not change within
# a request), the probes' answers of the transaction's snapshot. A new transaction (after a write)
# starts afresh. So a balance is asked in a read transaction only: one asked inside a write
# transaction after that transaction moved the tree or kept a day would get the probes' answers
# of before the change (no caller does; the memo would then need clearing at each write).
_MEMO = "dangjian_balance_memo"


def _memo(session: AsyncSession) -> dict:
    """The balance's memo of the session's current transaction (empty for a new one; a throwaway
    dict outside any transaction)."""
    transaction = session.sync_session.get_transaction()
    if transaction is None:
        return {}
    held = session.info.get(_MEMO)
    if held is None or held[0] is not transaction:
        held = session.info[_MEMO] = (transaction, {})
    return held[1]


def _classified(session: AsyncSession, organization: models.Organization, subtree: bool, start: dt.date,
                end: dt.date, ends: tuple[bool, ...], seen: "Seen" = None):
    """classified(...) built once per read transaction for the same scope, period, ends and sight."""
    seen = seen or Seen()
    memo, key = _memo(session), ("classified", organization.id, subtree, start, end, tuple(ends), seen.key)
    if key not in memo:
        memo[key] = classified(organization, subtree, start, end, *ends, seen=seen.conditions)
    return memo[key]


@dataclass(frozen=True)
class Seen:
    """What of a balance's two trees the caller may count (seen_condition of each end); `key`: what
    decides it (the branch and held_then's two answers), for the memo."""
    conditions: tuple = (None, None)
    key: tuple | None = None


async def _seen(session: AsyncSession, branch: Branch | None, organization, subtree: bool, start: dt.date,
                end: dt.date, ends: tuple[bool, ...]) -> Seen:
    """The caller's sight of the balance's two trees. Nothing to narrow over SELF (the scope is in
    the branch today) or when the scope's tree has not changed since the day before `from`
    (same_tree: every organization of either end's tree is in the scope, so in the branch, today)."""
    if branch is None or not subtree or ends[0]:
        return Seen()
    held = await _held(session, branch, organization, start, end)
    conditions = (seen_condition(branch, held[0], start - dt.timedelta(days=1), "seen_branch_before"),
                  seen_condition(branch, held[1], end, "seen_branch_after"))
    return Seen(conditions, (branch, held)) if conditions != (None, None) else Seen()


def unchanged_count(organization: models.Organization, subtree: bool, before: dt.date):
    """SELECT count of the party members of the scope with no fact after `before`, counted at both
    ends alike when the tree has not changed either (classified leaves them out then): one
    aggregate over the member rows, where classifying each of them took seconds at the bench root."""
    m, o = models.Member, models.Organization
    suspension = _latest_kind(before, SUSPENSION_KINDS, None, "suspension")
    scope = (m.organization_id.in_(select(o.id).where(within(o.path, organization.path))) if subtree
             else m.organization_id == organization.id)
    return (select(func.count()).select_from(m).outerjoin(suspension, suspension.c.member_id == m.id)
            .where(history.unchanged_since(before), scope, m.category.in_(PARTY_CATEGORIES),
                   m.status.in_(DEFAULT_STATUSES), func.coalesce(suspension.c.kind, "") != "SUSPENDED"))


async def summary(session: AsyncSession, organization: models.Organization, subtree: bool, start: dt.date,
                  end: dt.date, branch: Branch | None = None) -> tuple[int, dict[str, int], int]:
    """(start count, {kind: count}, end count): one GROUP BY statement (and, the tree unchanged since
    the day before `from`, one count of the members unchanged since: in both ends, no line).
    `branch`: the caller's (None: the whole tree's, for system jobs)."""
    ends = await same_tree(session, organization, subtree, start, end)
    unchanged_tree = ends[0]
    c = _classified(session, organization, subtree, start, end, ends,
                    await _seen(session, branch, organization, subtree, start, end, ends))
    stmt = select(c.c.kind, func.count(), func.sum(c.c.counted_before), func.sum(c.c.counted_after)).group_by(c.c.kind)
    first = last = 0
    if unchanged_tree:
        first = last = int((await session.execute(
            unchanged_count(organization, subtree, start - dt.timedelta(days=1)))).scalar_one())
    kinds: dict[str, int] = {}
    for kind, n, before, after in await session.execute(stmt):
        first += int(before or 0)
        last += int(after or 0)
        if kind is not None:
            kinds[kind] = int(n)
    return first, kinds, last


def _line(session, branch, organization, subtree, start, end, kind, *columns, ends: tuple[bool, ...] = (),
          held: tuple[bool | None, bool | None] = (True, True), seen: "Seen" = None):
    """The members of one line, each with the organization that placed it in the scope (an
    increase: at the end; a decrease: at the start), as a past date's drill-through lists them:
    a member since transferred out of the caller's branch is listed with that organization, inside
    the branch. One counted through an organization since moved out of the caller's branch does not
    exist for the caller (nor does that organization): in the line's count, not in its list."""
    c = _classified(session, organization, subtree, start, end, ends, seen)
    m, o = models.Member, models.Organization
    placed = case((c.c.counted_after == 1, c.c.org1), else_=c.c.org0)
    stmt = (select(*columns).select_from(c).join(m, m.id == c.c.member_id)
            .join(o, o.id == placed)
            .where(c.c.kind == literal(kind), branch.holds(o.path), listable_today(branch, o)))
    # Nor is one placed that day by an organization then outside the caller's branch (moved in
    # since): only where the scope itself was outside it on that end's day (held: held_then of the
    # day before `from`, of `to`), as its whole tree of that day was otherwise.
    held_start, held_end = held
    if held_start is not True or held_end is not True:
        after = listed(branch, held_end, end, "branch_at_end", o)
        before = listed(branch, held_start, start - dt.timedelta(days=1), "branch_at_start", o)
        stmt = stmt.where(or_(and_(c.c.counted_after == 1, after), and_(c.c.counted_after != 1, before)))
    return stmt


def listed(branch: Branch, held: bool | None, day: dt.date, name: str, o):
    """The condition for a member counted through the organization `o` of `day` to be listed
    (held_then's answer for the scope; a past drill-through's too): that organization was in the
    caller's branch that day, or the member is in it today (the caller sees it anyway: listed, the drill's totalCount comes
    closer to its cell)."""
    if held is True:
        return true()
    now = in_branch_now(branch)
    if held is None:
        return now
    then = branch_then(branch, day, name)
    return true() if then is None else or_(o.id.in_(select(then.c.id)), now)


def seen_condition(branch: Branch, held: bool | None, day: dt.date, name: str):
    """What a caller may count of a scope's tree as of a past `day`: a function of an organization
    table (its `id` and `path` columns) giving the SQL condition that the organization was in the
    caller's branch that day or is in it today; None where every organization of that tree is
    (held_then's answer `held` True: the scope was in the branch that day, so its whole tree was).

    Without it a VIEWER counted organizations its branch never held (a reviewer, 2026-12-02,
    tests/test_review_past_sight.py): one that hung under the scope that day and had left it before
    the scope moved into the caller's branch, with its global id as a cross-tab row's key. One that
    was in the branch that day and has moved out since is still counted (the branch's record of that
    day), and not listed (README, "Statistics")."""
    if held is True:
        return None

    def condition(organization):
        now = branch.holds(organization.c.path)
        if held is None:  # no organization of that tree was in the branch that day
            return now
        then = branch_then(branch, day, name)
        return now if then is None else or_(now, organization.c.id.in_(select(then.c.id)))

    return condition


def _seen_scope(tree, seen, name: str):
    """SELECT id of a tree's CTE, narrowed by a seen_condition (None: the whole tree)."""
    if seen is None:
        return select(tree.c.id)
    organization = models.Organization.__table__.alias(name)
    return select(tree.c.id).join(organization, organization.c.id == tree.c.id).where(seen(organization))


# Core aliases built once: an ORM alias (aliased(models.Organization)) per statement cost ~3 ms of
# Python each time its columns were first used (the whole column collection adapted; cProfile of a
# past drill count over 100 members: 2.1 → 4.6 ms with the listing condition below built so).
_TODAY = models.Organization.__table__.alias("organization_today")
_SENDER = models.Organization.__table__.alias("letter_sender")
_TRANSFER = models.Transfer.__table__


def in_branch_now(branch: Branch):
    """The member (models.Member) is in the caller's branch today: its organization of today's path."""
    return exists().where(_TODAY.c.id == models.Member.organization_id, branch.holds(_TODAY.c.path))


# ------------------------------------------------------------------ members gone from the branch
#
# A member listed as of a past day (a drill-through, a line here) may have left the caller's branch
# since. Its record of today is kept by the branch that holds it now (a phone or native place that
# branch wrote after the transfer was readable by the sender through here: found by a reviewer,
# tests/test_review_stats_rev1.py). The caller reads it as the letter of the transfer that took it
# out shows it (db.branch, the letter reach: the sender reads its transfers and their letters for
# good). One gone without such a letter (only the history can do that: a placement moved by a
# correction or an import) is counted, not listed, as one counted through an organization since
# moved out is: there is no copy of it as the caller's branch last kept it (a letter made from its
# record of today showed a name and an ID number the other branch corrected afterwards: the
# reviewer's second finding, tests/test_review_letters_rev2.py).
LETTER_DONE = ("ACCEPTED", "COMPLETED")


def _letters_out(branch: Branch):
    """The condition for a transfer (the transfer table) to have taken its member out of the
    branch: sent from an organization in it (_SENDER), accepted or completed."""
    t = _TRANSFER.c
    return and_(t.status.in_(LETTER_DONE), _SENDER.c.id == t.from_organization_id, branch.holds(_SENDER.c.path))


def listable_today(branch: Branch, o):
    """The member (models.Member), counted as of a past day through the organization `o` of that day
    (in the caller's branch), may be listed to the caller: it is in the caller's branch today (still
    in `o`, the common case, tested first; or in another organization of the branch), or left it
    through a transfer whose letter the caller reads.

    The first arm is a plain comparison, written before the two probes. Two IN
    subqueries instead of the EXISTS hashed every organization of the root's branch: 48 ms at 100
    members, 300-680 ms at 30k (bench.past_drill). With the Core aliases above, a past drill page
    and count over 100 members took 3.6 and 2.5 ms against 3.2 and 2.5 ms before the condition
    (scratch loop of drill_page/drill_count, 15 runs, medians)."""
    return or_(models.Member.organization_id == o.id, in_branch_now(branch),
               exists().where(_TRANSFER.c.member_id == models.Member.id, _letters_out(branch)))


async def with_letters(session: AsyncSession, branch: Branch, page: Page) -> Page:
    """A page of (member, path, organization id, in the branch today) rows (listable_today) as
    (member, path, organization id, letter): `letter` None for a member in the branch today, else
    the latest transfer that took it out, whose letter is all the caller reads of it
    (gql.schema.member.Member.from_letter). One statement, only when the page lists such a member."""
    gone = [row[0].id for row in page.rows if not row[3]]
    letters: dict[int, models.Transfer] = {}
    if gone:
        t = models.Transfer
        stmt = select(t).where(t.member_id.in_(gone), _letters_out(branch)).order_by(t.member_id, t.created_at, t.id)
        for transfer in (await session.execute(stmt)).scalars():
            letters[transfer.member_id] = transfer  # the latest wins
    rows, cursors = [], []
    for (member, path, organization_id, now), cursor in zip(page.rows, page.cursors):
        letter = None if now else letters.get(member.id)
        if now or letter is not None:  # never the record of a member gone from the branch
            rows.append((member, path, organization_id, letter))
            cursors.append(cursor)
    return Page(rows=rows, cursors=cursors, has_next_page=page.has_next_page)


async def _held(session: AsyncSession, branch: Branch, organization, start: dt.date, end: dt.date):
    """held_then of the day before `from` and of `to`, once per read transaction (_memo)."""
    memo, key = _memo(session), ("held", branch, organization.id, start, end)
    if key not in memo:
        memo[key] = (await held_then(session, branch, organization.id, start - dt.timedelta(days=1)),
                     await held_then(session, branch, organization.id, end))
    return memo[key]


async def line_page(session: AsyncSession, branch: Branch, organization, subtree: bool, start: dt.date,
                    end: dt.date, kind: str, first: int, after: str | None) -> Page:
    """A page of (member, organization path, organization id, letter) of one line, the organization
    that placed the member in the scope (see _line), in tree order; `letter`: see with_letters."""
    order = MemberOrder()
    ends = await same_tree(session, organization, subtree, start, end)
    stmt = _line(session, branch, organization, subtree, start, end, kind, models.Member, models.Organization.path,
                 models.Organization.id, in_branch_now(branch).label("in_branch_now"), ends=ends,
                 held=await _held(session, branch, organization, start, end),
                 seen=await _seen(session, branch, organization, subtree, start, end, ends))
    page = await keyset_page(session, stmt, member_service.sort_keys(order), first, after,
                             lambda r: member_service.key_values(tuple(r)[:2], order))
    return await with_letters(session, branch, page)


async def line_count(session: AsyncSession, branch: Branch, organization, subtree: bool, start: dt.date,
                     end: dt.date, kind: str) -> int:
    ends = await same_tree(session, organization, subtree, start, end)
    stmt = _line(session, branch, organization, subtree, start, end, kind, func.count(models.Member.id), ends=ends,
                 held=await _held(session, branch, organization, start, end),
                 seen=await _seen(session, branch, organization, subtree, start, end, ends))
    return int((await session.execute(stmt)).scalar_one())


async def balance(session: AsyncSession, branch: Branch, organization_id: int | None, subtree: bool,
                  start: dt.date, end: dt.date):
    """(scope organization, start count, {kind: count}, end count); NOT_FOUND outside the branch."""
    check(start, end)
    organization = await scope_organization(session, branch, organization_id)
    first, kinds, last = await summary(session, organization, subtree, start, end, branch)
    return organization, first, kinds, last
