"""Statistics (统计): cross-tabs over a scope, their drill-through, and saved tables.

A cross-tab counts the members (or the organizations) of a scope, SELF (the organization alone)
or SUBTREE (it and every descendant), by one or two dimensions, in ONE statement: a GROUP BY over
the indexed scope condition, each dimension a whitelisted SQL expression that yields a non-null
text key (`'NONE'` for an empty value, 未填). Members are counted exactly as memberCount counts
them: the same MemberFilter → SQL (db.services.members.conditions), so the same default statuses
(ACTIVE, FLOWING_OUT, TRANSFERRING), and the same age arithmetic: an age or a 党龄 band is a
comparison of the date column with bounds computed in Python (`age ≥ N` ⇔ `birth_date ≤ asOf − N
years`, as minAge/maxAge do), so SQLite and PostgreSQL agree to the day, 29 February included.

Rows and columns list every value that occurs, in a stable order:
- coded values (EDUCATION, ETHNICITY, JOB_POSITION, TECHNICAL_TITLE) in code-table order (a code
  not in the table after them, by code);
- enums (GENDER, CATEGORY, AFFILIATION, STATUS, ORG_TYPE) in the contract's order; HAS_ACCOUNT
  是 then 否;
- bands (AGE_BAND, PARTY_AGE_BAND) youngest first; JOIN_YEAR and LEVEL ascending;
- CHILD_ORGANIZATION: the scope organization itself first (members held directly, 本级), then its
  direct children by code;
- then 未填 (key NONE) last.
Without a column dimension there is a single column keyed `total` (合计).

Organizations are counted when ACTIVE (revoked ones are history), by CHILD_ORGANIZATION, ORG_TYPE
or LEVEL (depth, 0 at the root).

As of a past day D (members): the scope as it stood at the end of D, from the dated history
(db.services.history.state_as_of): each member's organization, category and status that day come
from the placements and the category and status steps, never from the member row; the members
counted are those placed that day in an organization of the scope whose status that day is a
default one (or one of the filter's statuses). The scope is the tree of that day too: SUBTREE is
the organization and its descendants at the end of D from the organizations' parent periods
(tree_as_of, the walk db.services.balance uses), and CHILD_ORGANIZATION the direct child whose
subtree held the member's organization that day (an organization moved since D counts under its
parent of D; the labels are today's names); SELF is the organization itself. Ages and 党龄 are whole
years at D; 党龄 and JOIN_YEAR read joinedOn only when it is on or before D (a later admission is
未填 on D). One GROUP BY over the history's state subquery joined to the member (for the other
attributes), to the organization and to the tree of D (for the scope), the same statement on both
engines. Not dated (today's values, documented gaps): LEVEL (an organization's depth today), the
member's other attributes (gender, education, job, affiliation, ...) and HAS_ACCOUNT. Read in two parts summed in
SQL: the members with no fact after D from their member rows (their state that day is today's:
db.services.history.unchanged_since; the covering index carries member.last_fact_on), the others
from their state periods (member_state_period: per organization of the scope, the periods that
ended after D; history.changed_state), or a kept day's rows; and when no parent period in the scope ended after D (past_day), the tree
of that day is today's paths. ORGANIZATIONS
are counted as they are today whatever the date (the organizations' own history is not read there).
Drill-through as of a past day lists exactly the members counted in the cell, totalCount equal to
the cell: one counted then but since transferred out of the caller's branch is listed too, with its
organization of that day (inside the scope, so inside the branch), as the history of the caller's
branch. Today (or no asOf) reads the member row's columns, which the history invariant holds equal
to the history's answer for today: the same numbers. A date after today is a client error.

Today without a filter (the dashboards' tables, issue 9's W3 and W4) runs a GROUP BY built once
per shape with bound parameters, its scope organization read as a Core row with (for
CHILD_ORGANIZATION) its children's labels in the same statement ("today's cross-tab, prebuilt"
below): the same answers as the generic builder (tests/test_statistics_prebuilt.py), and per cold
request in process (bench.request_cost against the base commit, lowest of 3 interleaved runs, load
2.4-3.4) 3.86 → 2.88 ms CPU for W3-100, 5.24 → 3.00 for W4-100, 4.16 → 3.40 for W3-10k (the
service call alone, in a loop on the bench data: 1.47 → 0.65 ms for W3, 2.51 → 0.87 for W4);
Python calls per request 5,793 → 5,108 (W3) and 7,814 → 5,878 (W4), W4 one round trip fewer.
"""
from __future__ import annotations

import datetime as dt
import json
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field, fields, replace
from typing import Any, Sequence

from sqlalchemy import Integer, String, and_, union_all, bindparam, case, cast, delete, exists, extract, false, func, literal, literal_column, or_, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from db import clock, codes, fast, models
from db.branch import Actor, Branch
from db.branch import get as branch_get
from db.branch import organization_row
from db.changes import touch
from db.errors import DomainError
from db.pagination import Page, keyset_page
from db.services import history
from db.services import members as member_service
from db.services.members import MemberOrder, MemberQuery
from db.tree import upper_bound, within

MEMBERS, ORGANIZATIONS = "MEMBERS", "ORGANIZATIONS"
NONE = "NONE"
NONE_LABEL = "未填"
TOTAL = "total"
TOTAL_LABEL = "合计"

DIMENSIONS = ("CHILD_ORGANIZATION", "ORG_TYPE", "LEVEL", "GENDER", "ETHNICITY", "EDUCATION", "AGE_BAND",
              "PARTY_AGE_BAND", "JOIN_YEAR", "CATEGORY", "AFFILIATION", "STATUS", "JOB_POSITION",
              "TECHNICAL_TITLE", "HAS_ACCOUNT")
ORGANIZATION_DIMENSIONS = ("CHILD_ORGANIZATION", "ORG_TYPE", "LEVEL")
MEMBER_DIMENSIONS = tuple(d for d in DIMENSIONS if d != "ORG_TYPE")
NAME_LIMIT = 100

# Labels of the contract's enums, in the contract's order.
GENDERS = {"MALE": "男", "FEMALE": "女"}
CATEGORIES = {"APPLICANT": "入党申请人", "ACTIVIST": "入党积极分子", "CANDIDATE": "发展对象",
              "PROBATIONARY": "预备党员", "FULL": "正式党员"}
AFFILIATIONS = {"DIRECT": "直管", "INFLOW": "流入"}
STATUSES = {"PENDING_APPROVAL": "待审批", "REJECTED": "审批未通过", "ACTIVE": "在册", "FLOWING_OUT": "流出",
            "TRANSFERRING": "转接中", "TRANSFERRED_OUT": "已转出", "LEFT": "已离开"}
ORG_TYPES = {"COMMITTEE": "党委", "WORKING_COMMITTEE": "党工委", "GENERAL_BRANCH": "党总支", "BRANCH": "党支部",
             "JOINT_BRANCH": "联合党支部", "PROVISIONAL": "临时党组织"}
YES_NO = {"YES": "是", "NO": "否"}
# Bands: (key, label, the highest age of the band; None for the last, open band).
AGE_BANDS = [("0-30", "30岁及以下", 30), ("31-35", "31至35岁", 35), ("36-40", "36至40岁", 40),
             ("41-45", "41至45岁", 45), ("46-50", "46至50岁", 50), ("51-55", "51至55岁", 55),
             ("56-60", "56至60岁", 60), ("61-70", "61至70岁", 70), ("71-", "71岁及以上", None)]
PARTY_AGE_BANDS = [("0-4", "不满5年", 4), ("5-9", "5至9年", 9), ("10-19", "10至19年", 19),
                   ("20-29", "20至29年", 29), ("30-39", "30至39年", 39), ("40-49", "40至49年", 49),
                   ("50-", "50年及以上", None)]


class StatInputError(DomainError):
    """A cross-tab input the caller must fix (a client error: BAD_USER_INPUT in a query,
    an INVALID userError in saveStatDefinition)."""

    def __init__(self, message: str, field_path: list[str] | str | None = None):
        super().__init__("INVALID", message, field_path)


# No party record predates the party: a date before this is a client error (and so many years
# before 0001-01-01, an age band's bound, is no date at all: asOf 0001-01-01 by AGE_BAND was a 500).
EARLIEST = dt.date(1900, 1, 1)


class FutureDate(StatInputError):
    def __init__(self, field_path: list[str] | str | None = "asOf"):
        super().__init__("统计日期（asOf）不能晚于今天", field_path)


@dataclass(frozen=True)
class CrossTabSpec:
    """A cross-tab input, as plain values (organization_id already decoded)."""

    organization_id: int
    rows: str
    columns: str | None = None
    subject: str = MEMBERS
    subtree: bool = True
    query: MemberQuery | None = None  # the member filter; None for ORGANIZATIONS
    as_of: dt.date | None = None


@dataclass(frozen=True)
class Value:
    key: str
    label: str
    organization_id: int | None = None  # CHILD_ORGANIZATION values name an organization


_UNKNOWN = object()


@dataclass
class Table:
    spec: CrossTabSpec
    organization: models.Organization
    as_of: dt.date
    rows: list[Value]
    columns: list[Value]
    cells: list[list[int]]
    row_totals: list[int]
    column_totals: list[int]
    total: int
    # CHILD_ORGANIZATION: key → path of that organization (for the drill-through's condition).
    paths: dict[str, str] = field(default_factory=dict)
    # Counted from the dated history (a past asOf) rather than the member row's columns.
    historical: bool = False
    # The caller's branch: a past date's drill-through lists only members still in it.
    branch: Branch | None = None
    # Historical SUBTREE: the scope's tree of that day is today's (past_day).
    same_tree: bool = False
    # Historical: balance.held_then of the scope that day (True, False or None), read once by the
    # first drill-through (its page and its count ask the same).
    held: object = _UNKNOWN
    # The drill-throughs' member columns (member_columns of this table's day and scope), built by the
    # first: a request drilling into many cells of one table (aliases) built the day's state
    # subquery again for each (the suite's test_history_of_today_equals_the_member_rows_for_every_dimension:
    # 948 builds, 9.7 of its 26 s on a slow machine).
    drill_columns: "MemberColumns | None" = None


def check(spec: CrossTabSpec, today: dt.date | None = None, prefix: Sequence[str] = ()) -> dt.date:
    """The as-of date of a valid spec; StatInputError (with the input field) otherwise."""
    at = list(prefix)
    today = today or clock.today()
    if spec.subject not in (MEMBERS, ORGANIZATIONS):
        raise StatInputError("未知的统计对象", at + ["subject"])
    allowed = MEMBER_DIMENSIONS if spec.subject == MEMBERS else ORGANIZATION_DIMENSIONS
    what = "党员统计" if spec.subject == MEMBERS else "党组织统计"
    for name, dimension in (("rows", spec.rows), ("columns", spec.columns)):
        if dimension is not None and dimension not in allowed:
            raise StatInputError(f"{what}不能按 {dimension} 分组（可用：{'、'.join(allowed)}）", at + [name])
    if spec.columns is not None and spec.columns == spec.rows:
        raise StatInputError("行和列不能是同一个统计维度", at + ["columns"])
    if spec.subject == ORGANIZATIONS and spec.query is not None:
        raise StatInputError("党组织统计不能使用党员筛选条件（filter）", at + ["filter"])
    as_of = spec.as_of or today
    if as_of > today:
        raise FutureDate(at + ["asOf"])
    if as_of < EARLIEST:
        raise StatInputError(f"统计日期（asOf）不能早于 {EARLIEST.isoformat()}", at + ["asOf"])
    return as_of


# ------------------------------------------------------------------ dimensions


class first_segment_after(FunctionElement):
    """SQL: the text between position `start` of `path` and the next '/', e.g. the direct child's
    id in a descendant's path: ('/1/5/61/', 4) → '5'. Portable: instr on SQLite, strpos on
    PostgreSQL (the one function the two engines name differently)."""

    type = String()
    inherit_cache = True


@compiles(first_segment_after, "sqlite")
def _segment_sqlite(element, compiler, **kw):
    path, start = list(element.clauses)
    p, s = compiler.process(path, **kw), compiler.process(start, **kw)
    return f"substr({p}, {s}, instr(substr({p}, {s}), '/') - 1)"


@compiles(first_segment_after)
def _segment_default(element, compiler, **kw):
    path, start = list(element.clauses)
    p, s = compiler.process(path, **kw), compiler.process(start, **kw)
    return f"substr({p}, {s}, strpos(substr({p}, {s}), '/') - 1)"


def _ordered(present: set[str], order: Sequence[str], labels) -> list[Value]:
    """Values present, in `order` first, unknown ones by key, 未填 last."""
    known = [Value(k, labels(k)) for k in order if k in present]
    ordered = set(order)  # once, not per value
    rest = sorted(k for k in present if k not in ordered and k != NONE)
    out = known + [Value(k, labels(k) or k) for k in rest]
    if NONE in present:
        out.append(Value(NONE, NONE_LABEL))
    return out


class Dimension:
    name: str

    def expression(self, ctx: "Context"):
        raise NotImplementedError

    def condition(self, key: str, ctx: "Context"):
        return self.expression(ctx) == key

    async def values(self, session: AsyncSession, present: set[str], ctx: "Context") -> list[Value]:
        raise NotImplementedError


class Column(Dimension):
    """A column holding a code or an enum value; NULL is 未填."""

    def __init__(self, name: str, column, order: Sequence[str], labels):
        self.name, self.column, self.order, self.labels = name, column, order, labels

    def expression(self, ctx):
        return func.coalesce(self.column, NONE)

    def condition(self, key, ctx):
        return self.column.is_(None) if key == NONE else self.column == key

    async def values(self, session, present, ctx):
        return _ordered(present, self.order, self.labels)


def _coded(name: str, column, table: str) -> Column:
    entries = codes.entries(table)
    return Column(name, column, [c for c, _ in entries], lambda k: codes.label(table, k))


def _enum(name: str, column, labels: dict[str, str]) -> Column:
    return Column(name, column, list(labels), labels.get)


def years_before(day: dt.date, years: int) -> dt.date:
    """The date `years` before `day` (29 February → 28 February), as the age filters count."""
    return member_service._years_after(day, -years)


class Bands(Dimension):
    """Whole years from a date column to the as-of date, in bands: `age ≥ N` ⇔ `column ≤ asOf − N
    years`, the bounds computed in Python (the same arithmetic as minAge/maxAge)."""

    def __init__(self, name: str, column, bands):
        self.name, self.column, self.bands = name, column, bands

    def expression(self, ctx):
        whens = [(self.column.is_(None), NONE)]
        for key, _label, highest in self.bands:
            if highest is not None:
                # Younger than highest + 1 years: born after asOf − (highest + 1) years.
                whens.append((self.column > years_before(ctx.as_of, highest + 1), key))
        return case(*whens, else_=self.bands[-1][0])

    def condition(self, key, ctx):
        if key == NONE:
            return self.column.is_(None)
        for index, (band, _label, highest) in enumerate(self.bands):
            if band != key:
                continue
            lower = self.bands[index - 1][2] if index else None  # the previous band's highest age
            where = [self.column.is_not(None)]
            if highest is not None:
                where.append(self.column > years_before(ctx.as_of, highest + 1))
            if lower is not None:
                where.append(self.column <= years_before(ctx.as_of, lower + 1))
            return and_(*where)
        return self.expression(ctx) == key

    async def values(self, session, present, ctx):
        labels = {k: label for k, label, _ in self.bands}
        return _ordered(present, [k for k, _, _ in self.bands], labels.get)


class JoinYear(Dimension):
    name = "JOIN_YEAR"

    def __init__(self, column):
        self.column = column

    def expression(self, ctx):
        year = cast(cast(extract("year", self.column), Integer), String)
        return case((self.column.is_(None), NONE), else_=year)

    def condition(self, key, ctx):
        if key == NONE:
            return self.column.is_(None)
        if not key.isdigit() or not 1 <= int(key) <= 9999:
            return self.expression(ctx) == key
        year = int(key)
        return and_(self.column >= dt.date(year, 1, 1), self.column <= dt.date(year, 12, 31))

    async def values(self, session, present, ctx):
        years = sorted((k for k in present if k != NONE), key=lambda k: (len(k), k))
        return _ordered(present, years, lambda k: f"{k}年")


class Level(Dimension):
    name = "LEVEL"

    def expression(self, ctx):
        return cast(models.Organization.depth, String)

    def condition(self, key, ctx):
        if key.isdigit() and len(key) <= 4:
            return models.Organization.depth == int(key)
        return self.expression(ctx) == key

    async def values(self, session, present, ctx):
        depths = sorted(present - {NONE}, key=lambda k: (len(k), k))
        return _ordered(present, depths, lambda k: f"第{k}级")


class HasAccount(Dimension):
    name = "HAS_ACCOUNT"

    @staticmethod
    def _holds():
        return exists().where(models.Account.member_id == models.Member.id)

    def expression(self, ctx):
        return case((self._holds(), "YES"), else_="NO")

    def condition(self, key, ctx):
        if key == "YES":
            return self._holds()
        if key == "NO":
            return ~self._holds()
        return self.expression(ctx) == key

    async def values(self, session, present, ctx):
        return _ordered(present, list(YES_NO), YES_NO.get)


class ChildOrganization(Dimension):
    """The direct child of the scope organization whose subtree holds the row; the scope
    organization itself for what it holds directly. Key: the organization's id (as text)."""

    name = "CHILD_ORGANIZATION"

    def expression(self, ctx):
        if ctx.cols.tree is not None:  # as of a past day: the child of that day's tree
            return cast(ctx.cols.tree.c.child, String)
        o = models.Organization
        scope = ctx.organization
        return case((o.path == scope.path, str(scope.id)),
                    else_=first_segment_after(o.path, literal(len(scope.path) + 1)))

    def condition(self, key, ctx):
        scope = ctx.organization
        if ctx.cols.tree is not None:
            if key.isdigit() and len(key) <= 18:
                return ctx.cols.tree.c.child == int(key)
            return self.expression(ctx) == key
        if key == str(scope.id):
            return models.Organization.id == scope.id
        path = ctx.paths.get(key)
        if path is None:
            return self.expression(ctx) == key
        return within(models.Organization.path, path)

    async def values(self, session, present, ctx):
        ids = {int(k) for k in present if k.isdigit()}
        scope = ctx.organization
        known = {row.id: row for row in ctx.children} if ctx.children is not None else {}
        if ctx.children is not None:
            known[scope.id] = scope
        if ids <= known.keys():
            rows = [known[i] for i in ids]
        else:
            rows = (await session.execute(_LABELS, {"ids": list(ids)})).all()
        out = []
        for row in sorted(rows, key=lambda r: (r.id != scope.id, r.code)):
            i, name = row.id, row.name
            ctx.paths[str(i)] = row.path
            out.append(Value(str(i), f"{name}（本级）" if i == scope.id else name, organization_id=i))
        return out


# Table columns, built once (Core: no ORM compile state or result set-up).
_LABELS = (select(*(models.Organization.__table__.c[name] for name in ("id", "name", "code", "path")))
           .where(models.Organization.__table__.c.id.in_(bindparam("ids", expanding=True))))


def dimension(name: str, cols: "MemberColumns | None" = None) -> Dimension:
    m, o = models.Member, models.Organization
    cols = cols or MemberColumns()
    return {
        "CHILD_ORGANIZATION": ChildOrganization,
        "ORG_TYPE": lambda: _enum("ORG_TYPE", o.type, ORG_TYPES),
        "LEVEL": Level,
        "GENDER": lambda: _enum("GENDER", m.gender, GENDERS),
        "ETHNICITY": lambda: _coded("ETHNICITY", m.ethnicity_code, "ethnicity"),
        "EDUCATION": lambda: _coded("EDUCATION", m.education_code, "education"),
        "AGE_BAND": lambda: Bands("AGE_BAND", m.birth_date, AGE_BANDS),
        "PARTY_AGE_BAND": lambda: Bands("PARTY_AGE_BAND", cols.joined_on, PARTY_AGE_BANDS),
        "JOIN_YEAR": lambda: JoinYear(cols.joined_on),
        "CATEGORY": lambda: _enum("CATEGORY", cols.category, CATEGORIES),
        "AFFILIATION": lambda: _enum("AFFILIATION", m.affiliation, AFFILIATIONS),
        "STATUS": lambda: _enum("STATUS", cols.status, STATUSES),
        "JOB_POSITION": lambda: _coded("JOB_POSITION", m.job_position_code, "job_position"),
        "TECHNICAL_TITLE": lambda: _coded("TECHNICAL_TITLE", m.technical_title_code, "technical_title"),
        "HAS_ACCOUNT": HasAccount,
    }[name]()


class MemberColumns:
    """Where a member's dated attributes are read: the member row (today), or the history's state
    subquery as of a past day (organization, category, status; joinedOn only once reached)."""

    def __init__(self, organization_id=None, category=None, status=None, joined_on=None, state=None, tree=None):
        m = models.Member
        self.organization_id = m.organization_id if organization_id is None else organization_id
        self.category = m.category if category is None else category
        self.status = m.status if status is None else status
        self.joined_on = m.joined_on if joined_on is None else joined_on
        self.state = state  # the state subquery (history.state_as_of) when historical
        # SUBTREE of a past day whose tree differs from today's: the scope's tree of that day
        # (tree_as_of); None: today's paths (today, SELF, or a tree unchanged since that day).
        self.tree = tree


def tree_as_of(organization: models.Organization, day: dt.date):
    """CTE (id, child) of the organization and its descendants at the end of `day`, from the
    organizations' parent periods (as db.services.balance.subtree_as_of walks them: an
    organization's first period reaches back before its start), each with the direct child of
    `organization` whose subtree held it that day (`organization` itself for itself)."""
    o, pp = models.Organization, models.OrganizationParentPeriod
    first = aliased(models.OrganizationParentPeriod)
    first_id = select(func.min(first.id)).where(first.organization_id == pp.organization_id).scalar_subquery()
    live = and_(or_(pp.valid_from <= day, pp.id == first_id), or_(pp.valid_to.is_(None), pp.valid_to > day))
    base = (select(o.id.label("id"), o.id.label("child")).where(o.id == organization.id)
            .cte("scope_tree", recursive=True))
    child = case((base.c.id == organization.id, pp.organization_id), else_=base.c.child)
    return base.union_all(select(pp.organization_id, child).join(base, pp.parent_id == base.c.id).where(live))


def _moved_since(low=None, high=None):
    """past_day's probe of the tree, built once (Core tables with bound values: SQLAlchemy's ORM
    aliases cost ~4 ms of Python per request to adapt here); `low`, `high`: the scope's path range
    (default: bound values)."""
    pp = models.OrganizationParentPeriod.__table__
    x, parent = models.Organization.__table__.alias("moved"), models.Organization.__table__.alias("moved_parent")
    low = bindparam("low") if low is None else low
    high = bindparam("high") if high is None else high
    return (select(pp.c.id)
            .select_from(pp.join(x, x.c.id == pp.c.organization_id).outerjoin(parent, parent.c.id == pp.c.parent_id))
            .where(pp.c.valid_to > bindparam("day"),
                   or_(and_(x.c.path >= low, x.c.path < high), and_(parent.c.path >= low, parent.c.path < high)))
            .limit(1))


_MOVED_SINCE = _moved_since()
# The tree's probe and "is the day kept" (history.KEPT) in one statement, and at 100 members a round
# trip is a tenth of the request: the member balance asks them (and whether its end is kept); a
# past day's cross-tab asks them with its scope organization (_SCOPE_PROBE), past_day only on the
# generic path (PREBUILT off, in tests).
# A second day kept or not too (a member balance's end: db.services.balance).
_PAST_PERIOD = select(_MOVED_SINCE.exists().label("moved"), history.KEPT.exists().label("kept"),
                      history.kept_probe("end_day").exists().label("end_kept"))


def _scope_probe():
    """past_day's two answers as extra columns of the scope organization's row (db.branch.
    organization_row, `extra`), in the round trip that reads the scope: a past day's cross-tab makes
    one round trip fewer. The tree's probe is correlated to the row's own path and asked for the
    scope's row only (a CASE on `get_pk`: the children rows skip it); through a scalar subquery of
    the scope's path instead, PostgreSQL planned six copies of it (0.375 ms)."""
    o = models.Organization.__table__
    high = func.substr(o.c.path, 1, func.length(o.c.path) - 1).concat("0")  # db.tree.upper_bound in SQL
    moved = case((o.c.id == bindparam("get_pk"), _moved_since(o.c.path, high).exists()), else_=None)
    return (moved.label("past_moved"), history.KEPT.exists().label("past_kept"))


_SCOPE_PROBE = _scope_probe()


def _answer(subtree: bool, moved, *kept) -> tuple[bool, ...]:
    """(the tree unchanged, each day kept) from the probe's answers (past_day: what they mean)."""
    reads = history.READ_SNAPSHOTS and history.READ_ROWS
    return (not subtree or (READ_TODAYS_TREE and not moved), *(bool(k) and reads for k in kept))


def past_day_of(row, subtree: bool) -> tuple[bool, bool]:
    """past_day's answer from a scope row read with _SCOPE_PROBE."""
    return _answer(subtree, row.past_moved, row.past_kept)


async def past_period(session: AsyncSession, organization: models.Organization, day: dt.date, end: dt.date,
                      subtree: bool) -> tuple[bool, bool, bool]:
    """(the tree unchanged since `day`, `day` kept, `end` kept) in one round trip (past_day)."""
    bounds = {"day": day, "end_day": end, "low": organization.path, "high": upper_bound(organization.path)}
    return _answer(subtree, *(await fast.rows(session, _PAST_PERIOD, bounds))[0])


async def past_day(session: AsyncSession, organization: models.Organization, day: dt.date,
                   subtree: bool) -> tuple[bool, bool]:
    """(the tree unchanged, the day kept) of a past day, in one round trip.

    The tree unchanged: the subtree of `organization` at the end of `day` (tree_as_of) is today's
    subtree (by path), and each organization in it has today's direct child of `organization`
    above it: no parent period that ended after `day` belongs to an organization inside the
    subtree today or had its parent inside it. (An edge of the tree of that day that is gone today
    ended after the day; the topmost such edge on a path from `organization` hangs from an
    organization that is inside today's subtree. An edge of today that was not there then began
    after the day, so the period before it ended after the day, and its organization is inside
    today's subtree.) One indexed probe (organization_parent_period.valid_to, migration 0019), so
    that a past day's cross-tab scopes by the paths as today's does, without walking the tree of
    that day (50,000 organizations at the bench root). Always so for SELF.

    The day kept: history.KEPT, read only with history.READ_SNAPSHOTS and READ_ROWS."""
    return (await past_period(session, organization, day, day, subtree))[:2]


# Off only in tests (tests/test_as_of_history_only.py): every past day's tree walked (tree_as_of).
READ_TODAYS_TREE = True


# A scope of at least this many members (today's count) reads the state of every member and scopes
# it by the join to the tree of that day, not by the tree inside the state: PostgreSQL estimates a
# recursive tree at a few hundred rows whatever its size and then seeks per member (nested loops
# over 927,199 members: 31 s at the root); without it, table statistics size every step and it
# hash-joins. The answer is the same either way (the tree join scopes it).
WIDE_SCOPE = 100_000


# A past day's prebuilt cross-tab over a subtree of this many members (today's folded count) and
# up to WIDE_SCOPE runs without parallel workers and without hash joins on PostgreSQL
# (serial_plan). Over the bench data's 30k subtree the planner ran its two parts (the members
# unchanged since the day, the changed ones' states) as a parallel append once the statement's
# cost passed db.engine's parallel_setup_cost, which it does or not from one generated tree to the
# next: one worker then ran the members' part, slower than both parts serially, three processes on
# two cores. And a kept day's rows were hash-joined after reading every kept row of the day (a
# sequential scan of member_state_snapshot) where one index probe per organization of the scope
# reads only the scope's: EXPLAIN ANALYZE 14.6 ms against 10.5 ms with the nested loop. Measured in
# process (statistics.cross_tab over the bench data as of 2025-12-31, interleaved off and on, the
# lowest of 4 medians of 40, 2026-12-01), ÷ today's table: W3 over 30,229 members not kept 2.55 →
# 1.88, kept 2.11 → 1.59; W4 1.60 → 1.46 and 1.53 → 1.35. Over 10,043 members the plans are the
# same either way and the two settings' round trips cost 0.4-0.6 ms (W3 not kept 1.91 → 2.06, kept
# 1.61 → 1.80): hence the lower bound, between the two. At the root (1,000,000 members) the
# parallel aggregate keeps W3 at ~0.3 s (today's 0.16 s is parallel too): the wide scopes keep
# their workers. No subtree of the bench data lies between 30k and 1m members, so the upper bound
# is WIDE_SCOPE's, not a measured crossover.
SERIAL_PAST_MEMBERS = 20_000


def serial_past(session: AsyncSession, organization: models.Organization, subtree: bool) -> bool:
    """A past day's prebuilt cross-tab over `organization` runs serially (SERIAL_PAST_MEMBERS)."""
    return (subtree and session.bind.dialect.name == "postgresql"
            and SERIAL_PAST_MEMBERS <= (organization.subtree_member_count or 0) < WIDE_SCOPE)


# serial_plan's settings, returning the connection's before (read first: the CTE), and back.
_SERIAL_PLAN = text("WITH old AS MATERIALIZED (SELECT current_setting('max_parallel_workers_per_gather') AS w, "
                    "current_setting('enable_hashjoin') AS h) "
                    "SELECT w, h, set_config('max_parallel_workers_per_gather', '0', true), "
                    "set_config('enable_hashjoin', 'off', true) FROM old")
_RESET_PLAN = text("SELECT set_config('max_parallel_workers_per_gather', :w, true), "
                   "set_config('enable_hashjoin', :h, true)")


@asynccontextmanager
async def serial_plan(session: AsyncSession):
    """The statements inside run without parallel workers and without hash joins (PostgreSQL),
    for the block only: set locally, then back to what they were. Within the request's
    transaction either way (a failed statement's rollback drops them too). One round trip each."""
    workers, hash_join = (await session.execute(_SERIAL_PLAN)).one()[:2]
    aborted = False
    try:
        yield
    except DBAPIError:
        aborted = True  # the transaction is aborted: its rollback drops them, no statement would run
        raise
    finally:
        if not aborted:  # an error of ours after the statement: the rest of the transaction as before
            await session.execute(_RESET_PLAN, {"w": workers, "h": hash_join})


def past_joined_on(as_of: dt.date):
    m = models.Member
    return case((m.joined_on <= as_of, m.joined_on), else_=None)


def member_columns(as_of: dt.date, historical: bool, organization: models.Organization | None = None,
                   subtree: bool = True, same_tree: bool = False, changed_only: bool = False,
                   tree=None) -> MemberColumns:
    """The member row's columns, or (historical) the state as of `as_of` of the members placed that
    day in the scope (narrowed by a semi-join on the placements; the state's own organization is
    what the scope condition then reads; `tree`: tree_as_of already in the statement).
    `same_tree`: the scope's tree of that day is today's (past_day), scoped by the paths.
    `changed_only`: the state of the members changed since that day only, from the history (the
    cross-tab's second part); otherwise of every member, from the member row for those unchanged
    since (history.state_by_rows)."""
    if not historical:
        return MemberColumns()
    o = models.Organization
    condition = None
    if organization is not None:
        if subtree and same_tree:
            tree = None
            condition = within(o.path, organization.path)
        elif subtree:
            tree = tree if tree is not None else tree_as_of(organization, as_of)
            if (organization.subtree_member_count or 0) < WIDE_SCOPE:
                condition = o.id.in_(select(tree.c.id))
        else:
            condition = o.id == organization.id
    if changed_only:
        state = history.changed_state(as_of, condition)
    else:
        state = history.state_by_rows(as_of, condition).subquery("state")
    return MemberColumns(organization_id=state.c.organization_id, category=state.c.category,
                         status=state.c.status, joined_on=past_joined_on(as_of), state=state, tree=tree)


@dataclass
class Context:
    organization: models.Organization
    as_of: dt.date
    paths: dict[str, str]
    cols: MemberColumns = field(default_factory=MemberColumns)
    # Today's direct children of the organization (rows of id, name, code, path), read with it
    # (db.branch.organization_row); None: ChildOrganization.values reads the labels.
    children: Sequence | None = None


# ------------------------------------------------------------------ the cross-tab


def _scoped(spec: CrossTabSpec, ctx: Context, *columns):
    """The rows the spec counts (members matching the filter, or active organizations), in the
    scope, selecting `columns`. As of a past day: the history's state subquery joined to the
    member and to the organization it placed the member in that day."""
    o, m = models.Organization, models.Member
    organization, as_of, cols = ctx.organization, ctx.as_of, ctx.cols
    if spec.subject == MEMBERS:
        where = member_service.conditions(spec.query or MemberQuery(), as_of, status=cols.status,
                                          category=cols.category)
        if cols.state is None:
            # From the member explicitly: the selected columns may name no member column (a count(*)
            # by CHILD_ORGANIZATION), and members() joins the organization to the member.
            stmt = select(*columns).select_from(m).join(o, o.id == m.organization_id).where(*where)
            if not spec.subtree:
                return stmt.where(m.organization_id == organization.id)
            if cols.tree is not None:  # a past day's tree (the member rows of members unchanged since)
                return stmt.join(cols.tree, cols.tree.c.id == m.organization_id)
            return stmt.where(within(o.path, organization.path))
        state = cols.state
        stmt = (select(*columns).select_from(state)
                .join(m, m.id == state.c.member_id)
                .join(o, o.id == state.c.organization_id)
                .where(*where))
        if not spec.subtree:
            return stmt.where(state.c.organization_id == organization.id)
        if cols.tree is not None:
            return stmt.join(cols.tree, cols.tree.c.id == state.c.organization_id)
        return stmt.where(within(o.path, organization.path))
    stmt = select(*columns).select_from(o).where(o.status == "ACTIVE")
    if spec.subtree:
        return stmt.where(within(o.path, organization.path))
    return stmt.where(o.id == organization.id)


async def scope_organization(session: AsyncSession, branch: Branch, organization_id: int | None,
                             field_path: list[str] | str | None = "organizationId") -> models.Organization:
    """The scope organization if the caller's branch holds it; NOT_FOUND otherwise (absent and
    foreign alike). A self-only branch (a MEMBER) never reaches statistics."""
    if branch.is_self_only:
        raise DomainError("NOT_FOUND", "党组织不存在或不在本账户的管辖范围内", field_path)
    return (await branch_get(session, branch, models.Organization, organization_id, "党组织", field_path))[0]


async def scope_row(session: AsyncSession, branch: Branch, organization_id: int | None,
                    field_path: list[str] | str | None = "organizationId", children: bool = False,
                    past: dt.date | None = None):
    """scope_organization as a row of the organization's columns (db.branch.organization_row), and
    with `children` its direct children's rows (None without): the same NOT_FOUND rule. With
    `past`, the row also answers past_day's probe of that day (past_day_of), same round trip."""
    if branch.is_self_only:
        raise DomainError("NOT_FOUND", "党组织不存在或不在本账户的管辖范围内", field_path)
    if past is None:
        return await organization_row(session, branch, organization_id, "党组织", field_path, children)
    return await organization_row(session, branch, organization_id, "党组织", field_path, children,
                                  extra=_SCOPE_PROBE, parameters={"day": past})


async def cross_tab(session: AsyncSession, branch: Branch, spec: CrossTabSpec,
                    today: dt.date | None = None) -> Table:
    """The table: one GROUP BY statement (and, for CHILD_ORGANIZATION, one for the labels)."""
    today = today or clock.today()
    as_of = check(spec, today)
    historical = spec.subject == MEMBERS and as_of != today
    children = None
    if not PREBUILT:
        organization = await scope_organization(session, branch, spec.organization_id)
    else:
        # Today's CHILD_ORGANIZATION labels come with the scope (a past day's children may differ).
        # A past day's labels too: today's names, and where the day's children are today's (or
        # not) ChildOrganization.values reads what the rows do not hold.
        with_children = "CHILD_ORGANIZATION" in (spec.rows, spec.columns)
        organization, children = await scope_row(session, branch, spec.organization_id, children=with_children,
                                                 past=as_of if historical else None)
    same_tree = kept = False
    if historical:
        same_tree, kept = (past_day_of(organization, spec.subtree) if PREBUILT
                           else await past_day(session, organization, as_of, spec.subtree))
    parameters: dict = {}
    prebuilt = None
    held = _UNKNOWN  # balance.held_then's answer for the scope and day, once asked
    if not historical:
        prebuilt = _today_statement(spec, organization, as_of)
    elif same_tree:
        prebuilt = _kept_statement(spec, organization, as_of, kept)
    if prebuilt is not None or not historical:
        ctx = Context(organization=organization, as_of=as_of, paths={}, children=children)
        stmt, parameters = prebuilt if prebuilt is not None else (_counts(spec, ctx), {})
    else:
        # As of a past day, two parts summed in SQL: the members unchanged since that day, counted
        # from their member rows (as today's table, with that day's ages and tree), and the members
        # changed since, from the history (db.services.history.unchanged_since: why that is exact).
        # Over the bench root (1,000,000 members) the history alone took 4.3-6.9 s.
        tree = None if same_tree else tree_as_of(organization, as_of)
        ctx = Context(organization=organization, as_of=as_of, paths={}, children=children,
                      cols=MemberColumns(joined_on=past_joined_on(as_of), tree=tree))
        rows_part = _counts(spec, ctx).where(history.unchanged_since(as_of))
        if kept:
            # A kept day (db.services.history, "snapshots"): the changed members' states of that day
            # read by an index range, not by seeks per member (at the bench root as of 2025-12-31,
            # 37,129 rows instead of 109,930 members' seeks).
            state = history.snapshot_of(as_of)
            history_cols = MemberColumns(organization_id=state.c.organization_id, category=state.c.category,
                                         status=state.c.status, joined_on=past_joined_on(as_of), state=state,
                                         tree=tree)
        else:
            history_cols = member_columns(as_of, True, organization, spec.subtree, same_tree, True, tree)
        history_part = _counts(spec, replace(ctx, cols=history_cols))
        if spec.subtree and not same_tree:
            # Only what the caller's branch held that day or holds today (balance.seen_condition);
            # the scope's tree unchanged since that day (same_tree) is in the branch today.
            from db.services.balance import held_then, seen_condition

            held = await held_then(session, branch, organization.id, as_of)
            seen = seen_condition(branch, held, as_of, "seen_branch")
            if seen is not None:
                visible = seen(models.Organization.__table__)
                rows_part, history_part = rows_part.where(visible), history_part.where(visible)
        parts = rows_part.union_all(history_part).subquery("parts")
        keys = [parts.c.k0] + ([parts.c.k1] if spec.columns else [])
        stmt = select(*keys, func.sum(parts.c.n).label("n")).group_by(*keys)
    row_dim = dimension(spec.rows, ctx.cols)
    col_dim = dimension(spec.columns, ctx.cols) if spec.columns else None
    counts: dict[tuple[str, str], int] = {}
    # A prebuilt statement straight on the driver (db.fast); a generic one is built per request.
    serial = historical and prebuilt is not None and serial_past(session, organization, spec.subtree)
    async with serial_plan(session) if serial else nullcontext():
        result = await (fast.rows(session, stmt, parameters, by_index=True) if prebuilt is not None
                        else session.execute(stmt, parameters))
    # By position: k0[, k1], n.
    if col_dim is not None:
        for row in result:
            counts[(row[0], row[1])] = int(row[2])
    else:
        for row in result:
            counts[(row[0], TOTAL)] = int(row[1])
    rows = await row_dim.values(session, {r for r, _ in counts}, ctx)
    if col_dim is not None:
        columns = await col_dim.values(session, {c for _, c in counts}, ctx)
    else:
        columns = [Value(TOTAL, TOTAL_LABEL)]  # the contract: a single "total" column, even when nothing is counted
    if historical and branch is not None:
        rows, columns = _unnamed_outside(rows, ctx.paths, branch), _unnamed_outside(columns, ctx.paths, branch)
    cells = [[counts.get((r.key, c.key), 0) for c in columns] for r in rows]
    row_totals = [sum(line) for line in cells]
    column_totals = [sum(column) for column in zip(*cells)] if cells else [0] * len(columns)
    return Table(spec=spec, organization=organization, as_of=as_of, rows=rows, columns=columns, cells=cells,
                 row_totals=row_totals, column_totals=column_totals, total=sum(row_totals), paths=ctx.paths,
                 historical=historical, branch=branch, same_tree=same_tree, held=held)


MOVED_OUT_LABEL = "（已划出本级管辖的党组织）"


def _unnamed_outside(values: list[Value], paths: dict[str, str], branch: Branch) -> list[Value]:
    """As of a past day a CHILD_ORGANIZATION row may be an organization since moved out of the
    caller's branch: counted (it was in the scope that day), but it does not exist for the caller
    now, so it is not named: its name of today may be one the branch that holds it gave it
    (tests/test_review_statistics_hostile.py). Its members are counted, not listed (_drill)."""
    return [replace(v, label=MOVED_OUT_LABEL)
            if v.organization_id is not None and v.key in paths and not branch.holds_path(paths[v.key]) else v
            for v in values]


def _counts(spec: CrossTabSpec, ctx: Context):
    """SELECT k0[, k1], count(*) AS n ... GROUP BY k0[, k1] over what the spec counts in ctx."""
    row_dim = dimension(spec.rows, ctx.cols)
    col_dim = dimension(spec.columns, ctx.cols) if spec.columns else None
    keys = [row_dim.expression(ctx).label("k0")]
    if col_dim is not None:
        keys.append(col_dim.expression(ctx).label("k1"))
    # count(*), not count(member.id): every joined row is one member (or organization), and the
    # member's id is not in the covering index ix_member_org_stats, so count(member.id) turned
    # PostgreSQL's index-only scan into an index scan with a heap fetch per member (W3 over 10,043
    # members: 2,163 buffers and a heap visit per row, against an index-only scan with none).
    return _scoped(spec, ctx, *keys, func.count().label("n")).group_by(*(text(k.name) for k in keys))


# ------------------------------------------------------------------ today's cross-tab, prebuilt
#
# Today's cross-tab (the dashboards' and issue 9's W3/W4; a member filter by its shape, below) runs a GROUP BY
# built once per shape (subject, rows, columns, SELF/SUBTREE) over the tables' columns, with bound
# parameters for everything that varies per request (the scope's path range or id, the scope
# organization's id, path and segment start for CHILD_ORGANIZATION, the as-of-dependent band
# bounds of AGE_BAND and PARTY_AGE_BAND); it compiles once per dialect (first_segment_after
# included) and SQLAlchemy memoizes its cache key on the object. The generic builder above (_counts
# over the ORM attributes) built the same statement anew on every request: ~0.20 ms of building
# and cache key for EDUCATION × GENDER (W3), ~0.49 ms for CHILD_ORGANIZATION × AGE_BAND (W4), on
# top of the ORM's compile state and result set-up. Same SQL shape, so the same plan (count(*) over
# the covering index ix_member_org_stats), and the same answer: tests/test_statistics_prebuilt.py
# compares the two for every dimension and pair, SELF and SUBTREE, on both engines. A name or
# ID-number search, or a past day whose scope's tree moved since, takes the generic builder.

_M, _O, _A = models.Member.__table__.c, models.Organization.__table__.c, models.Account.__table__.c
_SCOPE_LOW = bindparam("scope_low", type_=_O.path.type)
_SCOPE_HIGH = bindparam("scope_high", type_=_O.path.type)
_SCOPE_ID = bindparam("scope_id", type_=_O.id.type)
# The default statuses as SQL literals (constants of the code, never input): an IN of bound values
# is expanded anew at every execution (SQLAlchemy's post-compile step: ~0.13 ms per cross-tab under
# cProfile, the largest piece of the prebuilt statement's execution in Python).
_DEFAULT_STATUSES = [literal_column(f"'{status}'", String()) for status in member_service.DEFAULT_STATUSES]
assert all(status.replace("_", "").isalpha() and status.isupper() for status in member_service.DEFAULT_STATUSES)
# Off only in tests (tests/test_statistics_prebuilt.py): every cross-tab through the generic builder.
PREBUILT = True


def _band_bounds(name: str, bands) -> list[tuple[str, Any, int]]:
    """(key, its bound parameter, the band's highest age) of each closed band of `bands`."""
    return [(key, bindparam(f"{name.lower()}_{i}", type_=models.Member.__table__.c.birth_date.type), highest)
            for i, (key, _label, highest) in enumerate(bands) if highest is not None]


def _core_key(name: str, dated: dict | None = None):
    """(today's SQL expression of dimension `name` over the table columns, the function of
    (organization, as_of) giving its parameters); as Dimension.expression for today's columns.
    `dated`: other expressions for the member's dated columns ("category", "status", "joined_on"),
    as MemberColumns gives them for a past day."""
    dated = dated or {}
    joined_on = dated.get("joined_on", _M.joined_on)

    def column(c):
        return func.coalesce(c, NONE), None

    if name in ("AGE_BAND", "PARTY_AGE_BAND"):
        c, bands = (_M.birth_date, AGE_BANDS) if name == "AGE_BAND" else (joined_on, PARTY_AGE_BANDS)
        bounds = _band_bounds(name, bands)
        expression = case((c.is_(None), NONE), *((c > bound, key) for key, bound, _ in bounds), else_=bands[-1][0])
        return expression, lambda organization, as_of: {
            bound.key: years_before(as_of, highest + 1) for _key, bound, highest in bounds}
    if name == "CHILD_ORGANIZATION":
        expression = case((_O.path == bindparam("scope_path", type_=_O.path.type),
                           bindparam("scope_key", type_=String())),
                          else_=first_segment_after(_O.path, bindparam("segment_start", type_=Integer())))
        return expression, lambda organization, as_of: {
            "scope_path": organization.path, "scope_key": str(organization.id), "segment_start": len(organization.path) + 1}
    if name == "JOIN_YEAR":
        return case((joined_on.is_(None), NONE), else_=cast(cast(extract("year", joined_on), Integer), String)), None
    if name == "LEVEL":
        return cast(_O.depth, String), None
    if name == "HAS_ACCOUNT":
        return case((exists().where(_A.member_id == _M.id), "YES"), else_="NO"), None
    return column({"ORG_TYPE": _O.type, "GENDER": _M.gender, "ETHNICITY": _M.ethnicity_code,
                   "EDUCATION": _M.education_code, "CATEGORY": dated.get("category", _M.category),
                   "AFFILIATION": _M.affiliation, "STATUS": dated.get("status", _M.status),
                   "JOB_POSITION": _M.job_position_code,
                   "TECHNICAL_TITLE": _M.technical_title_code}[name])


def _keys(rows: str, columns: str | None, dated: dict | None = None) -> tuple[list, list]:
    """(the labelled keys k0[, k1], [their parameter functions]) of a shape (_core_key)."""
    keys, makers = [], []
    for label, name in (("k0", rows), ("k1", columns)):
        if name is None:
            continue
        expression, parameters = _core_key(name, dated)
        keys.append(expression.label(label))
        if parameters is not None:
            makers.append(parameters)
    return keys, makers


# ------------------------------------------------------------------ the member filter, prebuilt
#
# A member filter is prebuilt by its shape: which of its parts are set and how many values each
# list holds; its values are bound parameters (_filter_parameters), one per list value, so that
# the statement neither expands an IN at execution nor varies with the values (db.fast runs it).
# The rules are member_service's (FILTER_LISTS, FILTER_BOUNDS), which its conditions, the generic
# builder's, applies with literal values (tests/test_statistics_prebuilt.py compares the two on
# every part of the filter): a report's
# filter (正式党员, 35 岁及以上) on a kept day took the generic builder's ~4 ms of Python at 100
# members, 2.2x today's filtered cross-tab (bench.statistics --filtered). A name or ID-number
# search, or a list longer than MAX_FILTER_VALUES, takes the generic builder, and so does any new
# filtered shape once MAX_SHAPES of them are built, today's and a kept day's each (a client cannot
# grow the statements without end). The unfiltered shapes have their own caches, never full (a
# few hundred: subject x rows x columns x scope): a flood of filter shapes from one viewer left the
# dashboards' unfiltered tables generic for the life of the process when they shared one (found by
# a reviewer: tests/test_review_filter_prebuilt.py). A past day's filtered shapes, kept and not
# kept, share one. db.fast plans at most 2 x MAX_SHAPES filtered statements and the ~1,200
# unfiltered ones (today's ~410, a past day's ~390 kept and ~390 not kept): 1,706 at most, under
# its MAX_PLANS of 2,000.
_FILTER_LISTS = member_service.FILTER_LISTS
MAX_FILTER_VALUES = 16
MAX_SHAPES = 256


def _filter_shape(query: MemberQuery | None) -> tuple | None:
    """The prebuilt shape of a member filter (None: the generic builder's)."""
    if query is None:
        query = MemberQuery()
    if query.name_contains or query.id_number:
        return None
    lists = []
    for name in _FILTER_LISTS:
        values = getattr(query, name)
        if name == "statuses" and not values:  # no statuses (or none): the default ones
            values = None
        if values is not None and len(values) > MAX_FILTER_VALUES:
            return None
        lists.append(None if values is None else len(values))
    bounds = tuple(getattr(query, name) is not None for name, *_ in member_service.FILTER_BOUNDS)
    return tuple(lists), bounds, query.has_account


_NO_FILTER = _filter_shape(None)


def _filter_where(shape: tuple, status, category) -> list:
    """member_service.conditions of a filter shape over the tables' columns, with bound values;
    `status` and `category`: the member's columns, or a kept day's."""
    lists, bounds, has_account = shape
    columns = member_service.filter_list_columns(status, category, _M)
    where = []
    for name, n in zip(_FILTER_LISTS, lists):
        column = columns[name]
        if n is None:
            if name == "statuses":
                where.append(column.in_(_DEFAULT_STATUSES))
        else:
            where.append(column.in_([bindparam(f"f_{name}_{i}", type_=column.type) for i in range(n)]))
    for i, ((_name, column, compare, _), bound) in enumerate(zip(member_service.FILTER_BOUNDS, bounds)):
        if bound:  # by position: a field may have two bounds (joinedFrom)
            where.append(compare(_M[column], bindparam(f"f_bound_{i}", type_=_M[column].type)))
    if has_account is not None:
        where.append(member_service.has_account_condition(has_account, _M))
    return where


def _filter_parameters(query: MemberQuery | None, as_of: dt.date) -> dict[str, Any]:
    """The bound values of _filter_where for this filter; ages at `as_of`."""
    if query is None:
        return {}
    parameters: dict[str, Any] = {}
    for name in _FILTER_LISTS:
        for i, value in enumerate(getattr(query, name) or ()):
            parameters[f"f_{name}_{i}"] = value
    for i, (name, _, _, value) in enumerate(member_service.FILTER_BOUNDS):
        if getattr(query, name) is not None:
            parameters[f"f_bound_{i}"] = value(getattr(query, name), as_of)
    return parameters


def _build_today(subject: str, rows: str, columns: str | None, subtree: bool, shape: tuple = _NO_FILTER):
    """(statement, [parameter functions]) of a shape: _counts(spec, today's context) over the tables."""
    keys, makers = _keys(rows, columns)
    if subject == MEMBERS:
        m = models.Member.__table__
        stmt = (select(*keys, func.count().label("n"))
                .select_from(m.join(models.Organization.__table__, _O.id == _M.organization_id))
                .where(*_filter_where(shape, _M.status, _M.category)))
        scope = _M.organization_id == _SCOPE_ID
    else:
        stmt = select(*keys, func.count().label("n")).select_from(models.Organization.__table__).where(_O.status == "ACTIVE")
        scope = _O.id == _SCOPE_ID
    if subtree:
        scope = and_(_O.path >= _SCOPE_LOW, _O.path < _SCOPE_HIGH)
    return stmt.where(scope).group_by(*(text(k.name) for k in keys)), makers


# The statements built, by shape: unfiltered, and filtered (at most MAX_SHAPES).
_TODAY: dict[tuple, tuple] = {}
_TODAY_FILTERED: dict[tuple, tuple] = {}


def _today_statement(spec: CrossTabSpec, organization, as_of: dt.date):
    """(prebuilt statement, its parameters) of today's cross-tab; None: the generic builder's."""
    filtered = _filter_shape(spec.query) if spec.subject == MEMBERS else _NO_FILTER
    if not PREBUILT or filtered is None:
        return None
    bounded = filtered != _NO_FILTER
    return _prebuilt(_TODAY_FILTERED if bounded else _TODAY, _build_today,
                     (spec.subject, spec.rows, spec.columns, spec.subtree, filtered), spec, organization, as_of,
                     bounded, **_filter_parameters(spec.query, as_of))


def _prebuilt(cache: dict, build, shape: tuple, spec: CrossTabSpec, organization, as_of: dt.date,
              bounded: bool = False, **extra):
    """(the statement of `shape`, built once into `cache`, and its parameters for this request);
    None for a new shape past MAX_SHAPES in a `bounded` cache (the filtered shapes')."""
    built = cache.get(shape)
    if built is None:
        if bounded and len(cache) >= MAX_SHAPES:
            return None
        built = cache[shape] = build(*shape)
    stmt, makers = built
    if spec.subtree:
        parameters = {"scope_low": organization.path, "scope_high": upper_bound(organization.path), **extra}
    else:
        parameters = {"scope_id": organization.id, **extra}
    for make in makers:
        parameters.update(make(organization, as_of))
    return stmt, parameters


# A kept day's cross-tab, prebuilt too (a past day's member cross-tab whose day is kept
# and whose scope's tree has not changed since: db.services.history, "snapshots"): the generic
# builder's two parts over the tables' columns, counted in one GROUP BY over their UNION ALL. The
# members unchanged since the day from their member rows (last_fact_on <= day), the others from the
# day's kept rows joined to the member (its other attributes) and to the organization of that day
# (the scope); joinedOn only once reached. Built generically it cost ~4 ms of Python per request at
# 100 members, four times today's whole cross-tab (figures: README, statistics). One aggregate over
# the union rather than a sum over each part's aggregate: PostgreSQL plans it in 0.37-0.40 ms
# instead of 0.42-0.45 ms at 100 members (the planning is most of such a statement: every
# execution is planned, db.engine's force_custom_plan), and runs it ~10% faster at 10,043 (EXPLAIN
# ANALYZE, medians of 30, the bench data at 2025-12-31; the same rows).
#
# A day not kept (over today's tree too) is prebuilt the same way, the changed members' states
# read from their state periods (member_state_period: the period each stood in that day, an index
# range per organization of the scope, as a kept day's rows are read). Built generically it cost
# ~5 ms of Python per request, and at 100 members the day not kept took 2.6-4.8x today's
# cross-tab; prebuilt, 1.7-2.0x; at 10k members 2.1-2.4x while the changed members were found
# and then sought in the history one by one (_changed_state, still the statement with
# history.READ_PERIODS off; bench.statistics). Its two parts are each aggregated and summed, as
# the generic builder does: at the bench root one GROUP BY over their union took 1.62-1.74 s against 1.33-1.37 s (the
# rows part's 890,000 members then pass through the union instead of a parallel aggregate).
_KEPT_DAY = bindparam("kept_day", type_=models.Member.__table__.c.last_fact_on.type)


def _changed_state(subtree: bool):
    """Subquery (member_id, organization_id, category, status): the state at the end of the day
    (kept_day) of the members changed since it and placed that day in the scope (the scope's path
    range, or its id), from the history: member_columns(changed_only=True) over today's tree,
    with bound parameters."""
    o = models.Organization
    condition = and_(o.path >= _SCOPE_LOW, o.path < _SCOPE_HIGH) if subtree else o.id == _SCOPE_ID
    return history.state_of_members(_KEPT_DAY, history.changed_members(_KEPT_DAY, condition), "state",
                                    condition).subquery("state")


def _build_kept(rows: str, columns: str | None, subtree: bool, shape: tuple = _NO_FILTER, kept: bool = True,
                _periods: bool = True):
    """The past day's statement; `kept`: the changed members' states from the day's kept rows,
    otherwise from their periods (`_periods`, history.READ_PERIODS) or the history's seeks
    (_changed_state)."""
    m, o = models.Member.__table__, models.Organization.__table__
    periods = not kept and _periods
    if kept:
        s = models.MemberStateSnapshot.__table__
    elif periods:
        s = models.MemberStatePeriod.__table__
    else:
        s = _changed_state(subtree)
    joined_on = case((_M.joined_on <= _KEPT_DAY, _M.joined_on), else_=None)
    parts = []
    for dated in ({"joined_on": joined_on},
                  {"joined_on": joined_on, "category": s.c.category, "status": s.c.status}):
        keys, makers = _keys(rows, columns, dated)  # the same parameters in both parts
        if "status" not in dated:  # the members unchanged since the day: their rows
            stmt = (select(*keys).select_from(m.join(o, _O.id == _M.organization_id))
                    .where(*_filter_where(shape, _M.status, _M.category), _M.last_fact_on <= _KEPT_DAY))
            scope = _M.organization_id == _SCOPE_ID
        else:  # the others: the day's kept rows, or their history
            stmt = (select(*keys)
                    .select_from(s.join(m, _M.id == s.c.member_id).join(o, _O.id == s.c.organization_id))
                    .where(*_filter_where(shape, s.c.status, s.c.category)))
            if kept:
                stmt = stmt.where(s.c.day == _KEPT_DAY)
            elif periods:  # the period each changed member stood in that day
                stmt = stmt.where(s.c.valid_to > _KEPT_DAY, s.c.valid_from <= _KEPT_DAY)
            scope = s.c.organization_id == _SCOPE_ID
        if subtree:
            scope = and_(_O.path >= _SCOPE_LOW, _O.path < _SCOPE_HIGH)
        stmt = stmt.where(scope)
        if not kept:
            stmt = stmt.add_columns(func.count().label("n")).group_by(*(text(k.name) for k in keys))
        parts.append(stmt)
    counted = union_all(*parts).subquery("parts")
    keys = [counted.c.k0] + ([counted.c.k1] if columns is not None else [])
    if not kept:
        return select(*keys, func.sum(counted.c.n).label("n")).group_by(*keys), makers
    return select(*keys, func.count().label("n")).group_by(*keys), makers


_KEPT: dict[tuple, tuple] = {}
_KEPT_FILTERED: dict[tuple, tuple] = {}


def _kept_statement(spec: CrossTabSpec, organization, as_of: dt.date, kept: bool = True):
    """(prebuilt statement, its parameters) of a past day's member cross-tab over the scope's tree
    of today (the caller checked it), the day kept or (`kept` False) not; None: the generic
    builder's."""
    filtered = _filter_shape(spec.query)
    if not PREBUILT or filtered is None or spec.subject != MEMBERS or not history.READ_ROWS:
        return None
    bounded = filtered != _NO_FILTER
    return _prebuilt(_KEPT_FILTERED if bounded else _KEPT, _build_kept,
                     (spec.rows, spec.columns, spec.subtree, filtered, kept, kept or history.READ_PERIODS), spec,
                     organization, as_of, bounded,
                     kept_day=as_of, **_filter_parameters(spec.query, as_of))


class UnknownKey(StatInputError):
    pass


def _drill(table: Table, row: str, column: str | None, *columns, held: bool | None = True):
    """The statement of the members counted in a cell (or a whole row)."""
    spec = table.spec
    if spec.subject != MEMBERS:
        raise StatInputError("只有党员统计可以穿透查询", "row")
    if row not in {v.key for v in table.rows}:
        raise UnknownKey(f"行 {row!r} 不是这张表的行", "row")
    if column is not None and column not in {v.key for v in table.columns}:
        raise UnknownKey(f"列 {column!r} 不是这张表的列", "column")
    if table.drill_columns is None:
        table.drill_columns = member_columns(table.as_of, table.historical, table.organization, spec.subtree,
                                             table.same_tree)
    ctx = Context(organization=table.organization, as_of=table.as_of, paths=table.paths, cols=table.drill_columns)
    stmt = _scoped(spec, ctx, *columns).where(dimension(spec.rows, ctx.cols).condition(row, ctx))
    if column is not None and spec.columns is not None:
        stmt = stmt.where(dimension(spec.columns, ctx.cols).condition(column, ctx))
    if table.historical and table.branch is not None:
        # As of a past day a member is listed with its organization of that day; one since moved
        # (with its whole subtree) out of the caller's branch does not exist for the caller: the
        # member was counted, but is not listed (nor in totalCount), as memberBalance's lines do.
        # Listed, its node failed the guard's scope check: INTERNAL_SERVER_ERROR
        # (tests/test_review_statistics_hostile.py).
        # Where the scope's tree of that day is today's (same_tree, or SELF), every organization
        # counted is in the scope today, so in the branch: the condition would only repeat the
        # scope's path range, and PostgreSQL, multiplying the two ranges' selectivities, sized 484
        # organizations at 25 and ran the counting union once per organization (2 s, bench.past_drill).
        if spec.subtree and not table.same_tree:
            stmt = stmt.where(table.branch.holds(models.Organization.path))
        # ... and one whose organization of that day was not in the caller's branch that day (an
        # organization moved into the branch since) was never in the branch: listed, its record of
        # today (written by the branch that holds it now) was readable through here.
        # Only where the scope itself was outside the caller's branch that day (held:
        # balance.held_then), as its whole tree of that day was otherwise; and then none is listed
        # unless the branch's organization was inside the scope's tree that day (the walk down
        # the branch, branch_then: its plan ran the counting union once per organization, 1.2 s
        # over a 10k branch, bench.past_drill).
        # A member in the caller's branch today is listed all the same (the caller sees it anyway).
        if held is not True:
            from db.services.balance import listed

            stmt = stmt.where(listed(table.branch, held, table.as_of, "branch_then", models.Organization))
        # ... and one gone from the branch since is listed through the letter of the transfer that
        # took it out (balance.with_letters), or, without one, counted and not listed.
        from db.services.balance import listable_today

        stmt = stmt.where(listable_today(table.branch, models.Organization))
    return stmt


async def _held(session: AsyncSession, table: Table) -> bool | None:
    if not table.historical or table.branch is None:
        return True
    if table.held is _UNKNOWN:
        from db.services.balance import held_then

        table.held = await held_then(session, table.branch, table.organization.id, table.as_of)
    return table.held


async def drill_page(session: AsyncSession, table: Table, row: str, column: str | None, first: int,
                     after: str | None) -> Page:
    """A page of (member, organization path, organization id, letter) rows of the cell, in tree
    order (as member lists). As of a past day the organization is the member's organization of
    that day (in the scope, so in the caller's branch), not today's: every member counted is
    listed, one since transferred out of the caller's branch included, as the letter of that
    transfer shows it (`letter`, balance.with_letters; None for a member in the branch today)."""
    from db.services.balance import in_branch_now, with_letters

    order = MemberOrder()
    historical = table.historical and table.branch is not None
    now = (in_branch_now(table.branch) if historical else literal(True)).label("in_branch_now")
    stmt = _drill(table, row, column, models.Member, models.Organization.path, models.Organization.id, now,
                  held=await _held(session, table))
    page = await keyset_page(session, stmt, member_service.sort_keys(order), first, after,
                             lambda r: member_service.key_values(tuple(r)[:2], order))
    return await with_letters(session, table.branch, page)  # today: every member in the branch, no statement


def check_drill(table: Table, row: str, column: str | None) -> None:
    _drill(table, row, column, models.Member.id)


async def drill_count(session: AsyncSession, table: Table, row: str, column: str | None) -> int:
    stmt = _drill(table, row, column, func.count(models.Member.id), held=await _held(session, table))
    return int((await session.execute(stmt)).scalar_one())


# ------------------------------------------------------------------ saved tables (统计表格)


def filter_json(query: MemberQuery | None) -> str | None:
    if query is None:
        return None
    values = {}
    for f in fields(MemberQuery):
        value = getattr(query, f.name)
        if f.name == "subtree" or value is None:
            continue
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, dt.date):
            value = value.isoformat()
        values[f.name] = value
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


DATE_KEYS = ("joined_from", "joined_to")


def query_of(raw: str | None, subtree: bool) -> MemberQuery | None:
    if raw is None:
        return None
    values: dict[str, Any] = json.loads(raw)
    for key, value in list(values.items()):
        if isinstance(value, list):
            values[key] = tuple(value)
        elif key in DATE_KEYS and value is not None:
            values[key] = dt.date.fromisoformat(value)
    return MemberQuery(subtree=subtree, **values)


def spec_of(definition: models.StatDefinition, as_of: dt.date | None = None) -> CrossTabSpec:
    subtree = definition.scope == "SUBTREE"
    return CrossTabSpec(organization_id=definition.organization_id, rows=definition.rows,
                        columns=definition.columns, subject=definition.subject, subtree=subtree,
                        query=query_of(definition.filter_json, subtree), as_of=as_of)


async def save_definition(session: AsyncSession, actor: Actor, name: str | None,
                          spec: CrossTabSpec) -> tuple[models.StatDefinition, str]:
    """A new saved table; (it, its organization's path)."""
    name = (name or "").strip()
    if not name:
        raise StatInputError("请填写统计表格名称", "name")
    if len(name) > NAME_LIMIT:
        raise StatInputError(f"统计表格名称最多 {NAME_LIMIT} 个字", "name")
    if spec.query is not None and spec.query.id_number:
        raise StatInputError("统计表格不能按身份证号码筛选", ["crossTab", "filter", "idNumber"])
    # Saved tables are rerun "now": a saved asOf would be stale tomorrow; result(asOf:) chooses.
    check(replace(spec, as_of=None), prefix=["crossTab"])
    organization = await scope_organization(session, actor.branch, spec.organization_id,
                                            ["crossTab", "organizationId"])
    definition = models.StatDefinition(
        name=name, organization_id=organization.id, owner_account_id=actor.account_id, subject=spec.subject,
        scope="SUBTREE" if spec.subtree else "SELF", rows=spec.rows, columns=spec.columns,
        filter_json=filter_json(spec.query), created_at=dt.datetime.now(dt.timezone.utc))
    session.add(definition)
    await session.flush()
    return definition, organization.path


async def get_definition(session: AsyncSession, branch: Branch, definition_id: int | None,
                         field_path: list[str] | str | None = "definitionId") -> models.StatDefinition:
    if branch.is_self_only:
        raise DomainError("NOT_FOUND", "统计表格不存在或不在本账户的管辖范围内", field_path)
    return (await branch_get(session, branch, models.StatDefinition, definition_id, "统计表格", field_path))[0]


async def delete_definition(session: AsyncSession, actor: Actor, definition_id: int | None) -> None:
    """Only its owner or an ADMIN (of a branch holding it) may delete a saved table."""
    definition = await get_definition(session, actor.branch, definition_id)
    if definition.owner_account_id != actor.account_id and actor.role != "ADMIN":
        raise DomainError("NOT_ALLOWED", "只有创建者或管理员可以删除该统计表格", "definitionId")
    # A conditional DELETE, not an ORM delete: two requests deleting the same table at once both
    # read it; the second's DELETE then matches no row (PostgreSQL waits for the first's row lock
    # and re-evaluates) and answers NOT_FOUND, where an ORM delete raised StaleDataError (a 500).
    d = models.StatDefinition
    gone = await session.execute(delete(d).where(d.id == definition.id).execution_options(synchronize_session=False))
    if gone.rowcount != 1:
        raise DomainError("NOT_FOUND", "统计表格不存在或不在本账户的管辖范围内", "definitionId")
    touch(session, organizations=[definition.organization_id])


def definitions_statement(branch: Branch):
    """Saved tables whose organization lies in the branch, each with that organization's path."""
    d, o = models.StatDefinition, models.Organization
    if branch.is_self_only:
        return select(d, o.path).join(o, o.id == d.organization_id).where(false())
    return select(d, o.path).join(o, o.id == d.organization_id).where(branch.holds(o.path))


async def list_definitions(session: AsyncSession, branch: Branch, first: int,
                           after_id: int | None) -> list[tuple[models.StatDefinition, str]]:
    """Oldest first, `first` of them after the definition `after_id`."""
    d = models.StatDefinition
    stmt = definitions_statement(branch)
    if after_id is not None:
        stmt = stmt.where(d.id > after_id)
    return [tuple(r) for r in (await session.execute(stmt.order_by(d.id).limit(first))).all()]


async def definitions_by_id(session: AsyncSession, branch: Branch, ids: Sequence[int]) -> dict[int, tuple]:
    d = models.StatDefinition
    stmt = definitions_statement(branch).where(d.id.in_(ids))
    return {row[0].id: tuple(row) for row in await session.execute(stmt)}
