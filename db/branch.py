"""The one place where a caller's reach becomes SQL.

A Branch is what an account may see: its organization and every descendant (本级及下级), or, for a
MEMBER account, its own member record, what hangs from it and its own organization. Every read of
scoped rows starts from `organizations()`, `members()`, `accounts()` or `hanging()` below, so the
branch filter is always in the SQL, on an index, and an object outside the branch simply does not
come back: not as a row, and not in a count or a cursor either.

A MEMBER's branch is "self only" and fails closed: it reaches only the tables in SELF_READABLE
(the GraphQL types with @auth(allowSelf: true)), and of those only what hangs from its own member
record; a self-only branch without a member record reaches nothing at all. It is never widened to
the organization's subtree, whatever the account row says.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, bindparam, case, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from db import fast, models
from db.errors import not_found
from db.tree import contains, upper_bound, within, within_subtree_of

# What a MEMBER account may read (the types whose @auth has allowSelf: true): its own member
# record, its difficulties, records, status changes and change requests, its account and its own
# organization. Every other table
# (leader positions, organization records, organization events, ...) yields no row and counts 0
# for a self-only branch. tests/test_member_reach.py walks the schema so that a new field fails
# there until its rows come through here.
SELF_READABLE = frozenset({models.Organization, models.Member, models.Difficulty, models.Account,
                           models.MemberRecord, models.StatusChange, models.ChangeRequest, models.Transfer,
                           models.Flow, models.RepresentativeTerm, models.Volunteer})


# The organization a row is counted or listed for ("anchor"), joined by its subtree range, so that
# one statement serves a list of organizations. One alias object and one join condition for every
# statement: a fresh alias of the whole table per call made SQLAlchemy collect its columns again
# each time (FromClause.c: 8.8% of W1's CPU in a py-spy profile, more than running the statement).
ANCHOR = models.Organization.__table__.alias("anchor")
IN_ANCHOR_SUBTREE = within_subtree_of(models.Organization.path, ANCHOR.c.path)


@dataclass(frozen=True)
class Branch:
    path: str
    # Set for MEMBER accounts: the branch shrinks to this member and its organization.
    self_member_id: int | None = None
    # A MEMBER's branch is self-only even when its member id is missing (then it holds nothing).
    self_only: bool = False

    def __post_init__(self):
        if self.self_member_id is not None:
            object.__setattr__(self, "self_only", True)

    @classmethod
    def of_member(cls, organization_path: str, member_id: int | None) -> "Branch":
        """A MEMBER account's branch: its own record; nothing at all without one (fail closed)."""
        return cls(path=organization_path, self_member_id=member_id, self_only=True)

    @property
    def is_self_only(self) -> bool:
        return self.self_only

    @property
    def is_empty(self) -> bool:
        return self.self_only and self.self_member_id is None

    def holds(self, path_column):
        """SQL: an organization path (column) lies in the branch."""
        if self.is_empty:
            return false()
        if self.is_self_only:
            return path_column == self.path
        return within(path_column, self.path)

    def bounds(self) -> dict[str, str]:
        """The parameters of IN_STAFF_BRANCH (below) for this branch; staff branches only."""
        if self.is_self_only:
            raise ValueError("a self-only branch is not a range")
        return {"branch_lower": self.path, "branch_upper": upper_bound(self.path)}

    def organization_condition(self):
        return self.holds(models.Organization.path)

    def holds_path(self, path: str) -> bool:
        if self.is_empty:
            return False
        if self.is_self_only:
            return path == self.path
        return contains(self.path, path)

    def own_member(self, member_id_column):
        """SQL: the member id column names the branch's own member (self-only branches)."""
        if self.self_member_id is None:
            return false()
        return member_id_column == self.self_member_id

    def reaches(self, entity):
        """SQL: the extra condition a self-only branch puts on rows of `entity`: nothing of a
        table a MEMBER may not read, and of the others only what hangs from its own record."""
        if not self.is_self_only:
            return true()
        if entity not in SELF_READABLE or self.is_empty:
            return false()
        if entity is models.Member:
            return self.own_member(models.Member.id)
        member_id = getattr(entity, "member_id", None)
        return self.own_member(member_id) if member_id is not None else true()


# Statements built once (issue 7): a staff branch's range as bound parameters, so a hot statement
# is one object for every request and every branch. SQLAlchemy memoizes a statement object's cache
# key; building the same statement per request and working out its key again was ~5% of the
# server's CPU on W1 (py-spy, bench/compare.py, c=16), with the building itself more.
# Table columns, not the ORM attributes: a statement that mentions none runs on SQLAlchemy's Core
# path (no ORM compile state or result set-up).
_PATH = models.Organization.__table__.c.path
BRANCH_LOWER = bindparam("branch_lower", type_=_PATH.type)
BRANCH_UPPER = bindparam("branch_upper", type_=_PATH.type)
IN_STAFF_BRANCH = (_PATH >= BRANCH_LOWER) & (_PATH < BRANCH_UPPER)


def staff_organizations(*columns) -> Select:
    """`organizations(branch)` for any staff branch (not self-only), built once: execute it with
    `branch.bounds()` among the parameters. Selects `columns` (default: the ORM entity)."""
    return select(*(columns or (models.Organization,))).where(IN_STAFF_BRANCH)


# The whole tree, for system jobs (CLI, demo, migrations) that act for no account.
SYSTEM = Branch(path="/")


def organizations(branch: Branch) -> Select:
    return select(models.Organization).where(branch.organization_condition(),
                                             branch.reaches(models.Organization))


def members(branch: Branch, *columns) -> Select:
    """Members in the branch, joined to their organization (whose path gives tree order)."""
    stmt = select(*(columns or (models.Member,))).join(
        models.Organization, models.Organization.id == models.Member.organization_id
    )
    if branch.is_self_only:
        return stmt.where(branch.reaches(models.Member))
    if branch.path == "/":
        return stmt
    return stmt.where(within(models.Organization.path, branch.path))


def owned_by_member(branch: Branch, member_id_column):
    """Rows hanging from a member (difficulties, ...): a MEMBER account reaches only its own."""
    if branch.is_self_only:
        return branch.own_member(member_id_column)
    return member_id_column.is_not(None)


def hanging(branch: Branch, entity, *columns) -> Select:
    """Rows of `entity` (anything with an organization_id) whose organization is in the branch,
    selected with `columns` (default: the row and its organization). A self-only branch gets
    only the rows it may read (see Branch.reaches): none of a table outside SELF_READABLE."""
    return (select(*(columns or (entity, models.Organization)))
            .join(models.Organization, models.Organization.id == entity.organization_id)
            .where(branch.organization_condition(), branch.reaches(entity)))


# Rows that hang from a member and go where the member goes: read through the member's current
# organization (a member transferred to another branch takes its records along).
VIA_MEMBER = frozenset({models.MemberRecord, models.StatusChange, models.ChangeRequest, models.Flow,
                        models.RepresentativeTerm, models.Volunteer})


def via_member(branch: Branch, entity, *columns) -> Select:
    """Rows of `entity` (with a member_id) whose member's current organization lies in the
    branch, selected with `columns` (default: the row and that organization)."""
    return (select(*(columns or (entity, models.Organization)))
            .join(models.Member, models.Member.id == entity.member_id)
            .join(models.Organization, models.Organization.id == models.Member.organization_id)
            .where(branch.organization_condition(), branch.reaches(entity)))


async def via_member_by_id(session, branch: Branch, entity, ids) -> dict[int, tuple]:
    """{id: (row, its member's organization path)} of the rows of `entity` with these ids that
    the branch reaches through their member (the loaders of flows, seats, volunteer records)."""
    stmt = via_member(branch, entity, entity, models.Organization.path).where(entity.id.in_(ids))
    return {row.id: (row, path) for row, path in await session.execute(stmt)}


# ------------------------------------------------------------------ sight across branches (转接)
#
# THE one rule by which a member outside the branch is read (issue 11): a staff branch also sees a
# member while a PENDING transfer is taking it to an organization in the branch (the receiver
# reads whom it is asked to accept: its record, masked as for the reader's role, and its records),
# and loses that sight when the transfer is decided against or cancelled (no longer PENDING), or
# gains it for good when accepted (the member is then in the branch); the side that loses sight
# still reads the transfer's member as the letter shows it (the letter reach, below). Reads only: every write
# fetches members through members()/get(), which know nothing of transfers, so a receiver can
# change nothing of the member before accepting it. Lists and counts are anchored at
# organizations and go through members(): an arriving member is never listed or counted at the
# receiver before acceptance (TRANSFERRING counts at the sender), so nothing is counted twice.
# The path a member is reached through (its own organization's, or the receiving one's) is what
# the GraphQL objects carry as their scope_path, so the @auth guard applies the same rule.
# Cost (SQLite, 20,000 members, 200 pending transfers, a load of 50 members by id, warm): 0.72 ms
# against 0.48 ms for members() alone: a correlated probe of the pending transfer per member row.
TRANSFER_TO = models.Organization.__table__.alias("transfer_to")
TRANSFER_FROM = models.Organization.__table__.alias("transfer_from")


def _arriving_path(branch: Branch):
    """SQL (correlated to models.Member): the path of the organization in the branch a PENDING
    transfer is taking the member to; NULL when none (at most one PENDING per member)."""
    t = models.Transfer.__table__.c
    return (select(TRANSFER_TO.c.path)
            .select_from(models.Transfer.__table__.join(TRANSFER_TO, TRANSFER_TO.c.id == t.to_organization_id))
            .where(t.member_id == models.Member.id, t.status == "PENDING", within(TRANSFER_TO.c.path, branch.path))
            .correlate(models.Member).limit(1).scalar_subquery())


def in_sight(branch: Branch):
    """(condition, path) over a statement that joins a member to its organization: the member is
    read by the branch (see above), and the path of the organization it is reached through."""
    if branch.is_self_only:
        return branch.reaches(models.Member), models.Organization.path
    own = branch.organization_condition()
    arriving = _arriving_path(branch)
    return or_(own, arriving.is_not(None)), case((own, models.Organization.path), else_=arriving)


def members_in_sight(branch: Branch, *columns) -> Select:
    """(member, the path it is reached through, *columns) of every member the branch reads."""
    condition, path = in_sight(branch)
    return (select(models.Member, path.label("sight_path"), *columns)
            .join(models.Organization, models.Organization.id == models.Member.organization_id)
            .where(condition))


def via_member_in_sight(branch: Branch, entity, *columns) -> Select:
    """via_member for reads: rows of `entity` whose member the branch reads (in_sight), selected
    with `columns` (default: the row and the path the member is reached through)."""
    condition, path = in_sight(branch)
    return (select(*(columns or (entity, path.label("sight_path"))))
            .join(models.Member, models.Member.id == entity.member_id)
            .join(models.Organization, models.Organization.id == models.Member.organization_id)
            .where(condition, branch.reaches(entity)))


def transfer_sight_path(branch: Branch):
    """SQL: the path a transfer is read through: its sender's when that is in the branch, else its
    receiver's (over a statement built by transfers())."""
    return case((branch.holds(TRANSFER_FROM.c.path), TRANSFER_FROM.c.path), else_=TRANSFER_TO.c.path).label("sight_path")


def transfers(branch: Branch, *columns) -> Select:
    """Transfers the branch reads: each side reads its own (sent from an organization in the
    branch, or addressed to one); a MEMBER its own. Default columns: the transfer and the path of
    the side in the branch (the sender's when both are)."""
    t = models.Transfer
    from_in = branch.holds(TRANSFER_FROM.c.path)
    stmt = (select(*(columns or (t, transfer_sight_path(branch))))
            .join(TRANSFER_FROM, TRANSFER_FROM.c.id == t.from_organization_id)
            .outerjoin(TRANSFER_TO, TRANSFER_TO.c.id == t.to_organization_id))
    if branch.is_self_only:
        return stmt.where(branch.reaches(t))
    return stmt.where(or_(from_in, branch.holds(TRANSFER_TO.c.path)))


# ------------------------------------------------------------------ the letter reach (介绍信)
#
# The sight rule's one limited reach: a side of a transfer that reads the transfer but no longer
# the member (the sender after acceptance: the member is now the receiver's; the receiver after a
# rejection or cancellation: the member stayed the sender's) still reads the member, but only as
# the transfer's letter shows it: LETTER_FIELDS, frozen on the transfer when it was sent
# (transfer.member_<field>), never the other branch's current record. Nothing hangs from a member
# read this way: no records, changes, flows, account, organization of the other branch
# (gql/auth/guard.py admits only the Member fields listed for the letter reach; everything a
# member reached so has is answered from the transfer, or empty). Cost: the sight column on a page
# of 50 transfers, +0.07 to +0.44 ms (SQLite, 20,000 members, 2,000 transfers: bench/transfer_sight.py).

# Member attributes the letter reach shows, each copied to transfer.member_<attribute> on sending.
LETTER_FIELDS = ("name", "gender", "birth_date", "ethnicity_code", "id_number", "category", "affiliation",
                 "joined_on")


def letter_snapshot(member: models.Member) -> dict:
    """transfer.member_<field> values for a transfer of `member` being sent now."""
    return {f"member_{name}": getattr(member, name) for name in LETTER_FIELDS}


def member_sight(branch: Branch):
    """SQL over transfers(branch) (joined to the transfer's member and that member's organization,
    see transfers_with_member_sight): 1 when the branch reads the member itself (in_sight), 0 when
    it reads it only through the letter reach."""
    if branch.is_self_only:
        condition, _path = in_sight(branch)
        return case((condition, 1), else_=0).label("member_in_sight")
    # in_sight's condition as a CASE, so the probe of a pending transfer runs only for members
    # outside the branch.
    return case((branch.organization_condition(), 1), (_arriving_path(branch).is_not(None), 1),
                else_=0).label("member_in_sight")


def transfers_with_member_sight(branch: Branch, *columns) -> Select:
    """transfers(branch, *columns, member_sight(branch)): each transfer says which reach its
    member is read through."""
    return (transfers(branch, *columns, member_sight(branch))
            .join(models.Member, models.Member.id == models.Transfer.member_id)
            .join(models.Organization, models.Organization.id == models.Member.organization_id))


def directory():
    """组织目录: the one read of organizations outside the caller's branch, and only of what
    names them (id, code, name, path), only of active ones: to pick and name the other end of a
    transfer (Query.organizationDirectory, OrganizationRef)."""
    o = models.Organization.__table__.c
    return select(o.id, o.code, o.name, o.path).where(o.status == "ACTIVE")


def directory_organization(organization_id: int) -> Select:
    """The organization `organization_id` as the directory names it (any branch, active or not):
    the receiving end of a transfer, to be locked and checked by db.services.transfers."""
    return select(models.Organization).where(models.Organization.id == organization_id)


def accounts(branch: Branch) -> Select:
    stmt = select(models.Account).join(
        models.Organization, models.Organization.id == models.Account.organization_id
    )
    if branch.is_self_only:
        return stmt.where(branch.reaches(models.Account))
    return stmt.where(within(models.Organization.path, branch.path))


def _scoped(branch: Branch, entity) -> Select:
    """Rows of `entity` the branch reaches, each with its organization."""
    if entity is models.Organization:
        return organizations(branch).add_columns(models.Organization)
    if entity is models.Member:
        return members(branch, models.Member, models.Organization)
    if entity is models.Account:
        return accounts(branch).add_columns(models.Organization)
    if entity in VIA_MEMBER:
        return via_member(branch, entity)
    return hanging(branch, entity)


# `_scoped(branch, entity).where(entity.id == pk)` for a staff branch (its range as parameters), built
# once per entity: the organization (crossTab's scope, every organization mutation) and the member
# are looked up by id on most requests, and building the statement and working out its cache key
# each time was ~5% of a cold crossTab's CPU (W3-100, py-spy --gil). Same rows: a staff branch's
# condition is its path range, `/` included.
GET_PK = bindparam("get_pk")
_STAFF_GET = {
    models.Organization: staff_organizations(models.Organization).add_columns(models.Organization)
    .where(models.Organization.id == GET_PK),
    models.Member: select(models.Member, models.Organization)
    .join(models.Organization, models.Organization.id == models.Member.organization_id)
    .where(IN_STAFF_BRANCH, models.Member.id == GET_PK),
}


async def get(session: AsyncSession, branch: Branch, entity, pk: int | None, what: str,
              field: list[str] | str | None = None):
    """(row, its organization) for the `entity` row `pk` if the branch reaches it; otherwise
    NOT_FOUND ("…不存在或不在本账户的管辖范围内"), alike for absent and foreign ids.

    The one way to fetch an object by an id: services and resolvers never call `session.get`
    (tests/test_scoped_lookups.py fails on any), so an id a client chose cannot reach a row
    outside the caller's branch by way of a forgotten filter."""
    row = None
    if pk is not None:
        prebuilt = _STAFF_GET.get(entity) if not branch.is_self_only else None
        if prebuilt is not None:
            row = (await session.execute(prebuilt, {**branch.bounds(), "get_pk": pk})).first()
        else:
            row = (await session.execute(_scoped(branch, entity).where(entity.id == pk))).first()
    if row is None:
        raise not_found(what, field)
    return row[0], row[1]


# An organization's columns as a Core row (no ORM entity: the crossTab's scope reads a few
# attributes, and loading the entity (twice, as `get` selects it) went through the ORM's compile
# state, loading and identity map on every request); with CHILD_ORGANIZATION, its direct children in
# the same statement, for the labels (one round trip instead of two). A child of an organization in
# the branch is in the branch; the organization itself must be among the rows, or NOT_FOUND (a
# branch below it holds some of its children, never it).
_ORGANIZATION = models.Organization.__table__
_STAFF_ROW = select(*_ORGANIZATION.c).where(IN_STAFF_BRANCH, _ORGANIZATION.c.id == GET_PK)
_STAFF_ROW_AND_CHILDREN = select(*_ORGANIZATION.c).where(
    IN_STAFF_BRANCH, or_(_ORGANIZATION.c.id == GET_PK, _ORGANIZATION.c.parent_id == GET_PK))


# organization_row's statements with a caller's extra columns, built once per tuple of them.
_WITH_EXTRA: dict[int, tuple] = {}


async def organization_row(session: AsyncSession, branch: Branch, pk: int | None, what: str,
                           field: list[str] | str | None = None, children: bool = False,
                           extra: tuple = (), parameters: dict | None = None):
    """(the organization `pk` as a row of its columns (attributes named as models.Organization's),
    its direct children's rows or None) if the branch reaches it; NOT_FOUND otherwise, as `get`.
    Staff branches by their range; a self-only branch through `get` (its entity, no children).

    `extra`: labelled columns added to every row (they may read the row's organization columns and
    `get_pk`; per-row work the children rows need not do belongs behind a CASE on `get_pk`), asked
    in the same round trip, with their own `parameters`: a module-level tuple, its statements built
    once and kept per tuple. Only a staff branch's rows carry them (a self-only branch's entity
    does not: its callers refuse it first)."""
    if branch.is_self_only or pk is None:
        return (await get(session, branch, models.Organization, pk, what, field))[0], None
    parameters = {**(parameters or {}), **branch.bounds(), "get_pk": pk}
    stmts = (_STAFF_ROW, _STAFF_ROW_AND_CHILDREN)
    if extra:
        stmts = _WITH_EXTRA.get(id(extra))
        if stmts is None:
            stmts = _WITH_EXTRA[id(extra)] = (
                _STAFF_ROW.add_columns(*extra), _STAFF_ROW_AND_CHILDREN.add_columns(*extra), extra)
    if not children:
        found = await fast.rows(session, stmts[0], parameters)
        row = found[0] if found else None
        if row is None:
            raise not_found(what, field)
        return row, None
    found, below = None, []
    for row in await fast.rows(session, stmts[1], parameters):
        if row.id == pk:
            found = row
        else:
            below.append(row)
    if found is None:
        raise not_found(what, field)
    return found, below


@dataclass(frozen=True)
class Actor:
    """Who performs a service call: an account, or the system (CLI, demo generator)."""

    account_id: int | None
    role: str
    organization_id: int | None
    branch: Branch


SYSTEM_ACTOR = Actor(account_id=None, role="ADMIN", organization_id=None, branch=SYSTEM)
