"""Organizations: reads within a branch, creation and updates.

Concurrency. On PostgreSQL (READ COMMITTED, many connections) every rule that reads a row and then
acts on what it read locks that row first and reads it again under the lock (`lock_*` below); on
SQLite every write transaction begins IMMEDIATE, so writers are serialised and the locks render as
nothing. Lock strengths (PostgreSQL row locks, weakest first):
- FOR KEY SHARE: what a foreign-key check takes on the referenced row. A new organization takes it
  on its parent's whole ancestor chain: its path and code are copied from the parent, so no
  ancestor may move until it commits; concurrent creations do not wait for each other.
- FOR NO KEY UPDATE: rows a write will change (createMember's rollup, appointLeader) and the
  ancestor chains a move reads its cycle check from. It does not block foreign-key checks.
- FOR UPDATE: the organization being revoked (blocks new children and members, whose FK check
  takes KEY SHARE) and the organization being moved (blocks creations anywhere in its subtree).
Order, to avoid deadlocks: member rows before organization rows before leader positions, and
organizations top-down (depth, then id), the order in which every chain starts at the root."""
from __future__ import annotations

import datetime as dt
import re
import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import clock, models
from db.branch import Actor, Branch
from db.branch import get as branch_get
from db.changes import touch
from db.errors import DomainError, Problems, not_found
from db.tree import CODE_SUFFIX_DIGITS, ancestor_ids, child_path, within

ORG_TYPES = ("COMMITTEE", "WORKING_COMMITTEE", "GENERAL_BRANCH", "BRANCH", "JOINT_BRANCH", "PROVISIONAL")
# [0-9], not \d (which takes any Unicode digit); used with fullmatch (a "$" admits a final newline).
CODE_SUFFIX = re.compile(rf"[0-9]{{{CODE_SUFFIX_DIGITS}}}")
ROOT_CODE = re.compile(r"[0-9]{1,30}")
# Column widths of the optional text fields (INVALID beyond them, never a database error).
TEXT_LIMITS = {"short_name": ("shortName", 100), "contact_phone": ("contactPhone", 40), "address": ("address", 300)}
NAME_MAX = 200
UPDATABLE = ("short_name", "type", "requires_approval", "contact_phone", "address")


async def get(session: AsyncSession, branch: Branch, organization_id: int | None,
              field: list[str] | str | None = None) -> models.Organization:
    """The organization, if it exists inside the branch; otherwise NOT_FOUND."""
    return (await branch_get(session, branch, models.Organization, organization_id, "党组织", field))[0]


# ------------------------------------------------------------ row locks (see the module docstring)

KEY_SHARE = {"read": True, "key_share": True}
NO_KEY_UPDATE = {"key_share": True}
FOR_UPDATE: dict = {}


async def _lock_ids(session: AsyncSession, ids, strength: dict) -> None:
    """Lock the organizations `ids` top-down (depth, id) and refresh them in the session."""
    o = models.Organization
    await session.execute(
        select(o).where(o.id.in_(sorted(ids))).order_by(o.depth, o.id)
        .with_for_update(**strength).execution_options(populate_existing=True))


async def lock(session: AsyncSession, actor: Actor, organization: models.Organization, strength: dict,
               field: list[str] | str | None = None) -> models.Organization:
    """Lock one organization, re-read it under the lock, and check that it is still in the
    caller's branch (a concurrent move may have taken it out)."""
    await _lock_ids(session, [organization.id], strength)
    if not actor.branch.holds_path(organization.path):
        raise not_found("党组织", field)
    return organization


async def lock_chains(session: AsyncSession, actor: Actor, organizations: list[models.Organization],
                      strength: dict, field: list[str] | str | None = None) -> None:
    """Lock every organization from the root down to each of `organizations` (their ancestor
    chains, themselves included) and re-read them. A chain read before the lock may have changed
    by a move that committed meanwhile: lock again until the locked rows cover the chains."""
    locked: set[int] = set()
    for _ in range(10):
        wanted = set().union(*(ancestor_ids(row.path) for row in organizations))
        if wanted <= locked:
            break
        locked |= wanted
        await _lock_ids(session, locked, strength)
    else:  # the tree kept moving under us
        raise DomainError("CONFLICT", "党组织的隶属关系正在被他人调整，请稍后重试", field)
    for row in organizations:
        if not actor.branch.holds_path(row.path):
            raise not_found("党组织", field)


def check_lengths(problems: Problems, values: dict, limits: dict[str, tuple[str, int]],
                  prefix: tuple[str, ...] = ()) -> None:
    """INVALID for each text value longer than its limit; `limits`: key → (input name, max)."""
    for key, (name, limit) in limits.items():
        value = values.get(key)
        if isinstance(value, str) and len(value) > limit:
            problems.add("INVALID", f"不能超过 {limit} 个字符", [*prefix, name])


def _check_name(problems: Problems, name: str | None, field: list[str]) -> str | None:
    name = (name or "").strip()
    if not name:
        problems.add("INVALID", "党组织名称不能为空", field)
        return None
    if len(name) > NAME_MAX:
        problems.add("INVALID", f"党组织名称不能超过 {NAME_MAX} 个字", field)
        return None
    return name


async def name_taken(session: AsyncSession, name: str, except_id: int | None = None) -> bool:
    stmt = select(models.Organization.id).where(models.Organization.name == name)
    if except_id is not None:
        stmt = stmt.where(models.Organization.id != except_id)
    return (await session.execute(stmt.limit(1))).first() is not None


async def _insert(session: AsyncSession, *, parent: models.Organization | None, code: str, name: str,
                  type: str, short_name: str | None, requires_approval: bool,
                  established_on: dt.date | None, contact_phone: str | None,
                  address: str | None) -> models.Organization:
    organization = models.Organization(
        parent_id=parent.id if parent else None,
        # The path holds the organization's own id, known only after the insert.
        path=f"~{uuid.uuid4().hex}",
        depth=parent.depth + 1 if parent else 0,
        code=code, name=name, short_name=short_name, type=type, status="ACTIVE",
        requires_approval=requires_approval, established_on=established_on,
        contact_phone=contact_phone, address=address, version=1,
    )
    session.add(organization)
    await session.flush()
    organization.path = child_path(parent.path if parent else None, organization.id)
    since = established_on or clock.today()
    session.add(models.OrganizationParentPeriod(
        organization_id=organization.id, parent_id=organization.parent_id, valid_from=since))
    session.add(models.OrganizationEvent(
        organization_id=organization.id, kind="CREATED", date=since, after=name))
    await session.flush()
    return organization


async def create(session: AsyncSession, actor: Actor, *, parent_id: int | None, name: str,
                 type: str, code_suffix: str, short_name: str | None = None,
                 requires_approval: bool = False, established_on: dt.date | None = None,
                 contact_phone: str | None = None, address: str | None = None) -> models.Organization:
    parent = await get(session, actor.branch, parent_id, "parentId")
    # Lock (KEY SHARE on the parent's ancestor chain): the status checked below and the path and
    # code copied from the parent hold until commit; a revoke or a move of any of them waits.
    await lock_chains(session, actor, [parent], KEY_SHARE, "parentId")
    problems = Problems()
    name = _check_name(problems, name, ["name"])
    if not CODE_SUFFIX.fullmatch(code_suffix or ""):
        problems.add("INVALID", f"代码后缀必须是 {CODE_SUFFIX_DIGITS} 位数字", ["codeSuffix"])
    if type not in ORG_TYPES:
        problems.add("INVALID", "未知的党组织类别", ["type"])
    check_lengths(problems, {"short_name": short_name, "contact_phone": contact_phone, "address": address},
                  TEXT_LIMITS)
    if established_on and established_on > clock.today():
        problems.add("INVALID", "成立日期不能晚于今天", ["establishedOn"])
    if established_on and parent.established_on and established_on < parent.established_on:
        problems.add("INVALID", "成立日期不能早于上级党组织的成立日期", ["establishedOn"])
    problems.raise_if_any()
    if parent.status != "ACTIVE":
        raise DomainError("NOT_ALLOWED", "上级党组织已撤销，不能在其下新建党组织", "parentId")
    code = parent.code + code_suffix
    if (await session.execute(select(models.Organization.id).where(models.Organization.code == code))).first():
        raise DomainError("DUPLICATE", f"党组织代码 {code} 已被同级党组织使用", "codeSuffix")
    if await name_taken(session, name):
        raise DomainError("DUPLICATE", f"党组织名称“{name}”已存在", "name")
    return await _insert(
        session, parent=parent, code=code, name=name, type=type, short_name=short_name,
        requires_approval=requires_approval, established_on=established_on,
        contact_phone=contact_phone, address=address)


async def create_root(session: AsyncSession, *, name: str, code: str,
                      type: str = "COMMITTEE", established_on: dt.date | None = None) -> models.Organization:
    """The top of the tree (bootstrap). Refuses when a root exists."""
    problems = Problems()
    name = _check_name(problems, name, ["name"])
    if not ROOT_CODE.fullmatch(code or ""):
        problems.add("INVALID", "根党组织代码必须由数字组成", ["code"])
    problems.raise_if_any()
    if await root(session) is not None:
        raise DomainError("NOT_ALLOWED", "根党组织已存在", None)
    return await _insert(
        session, parent=None, code=code, name=name, type=type, short_name=None,
        requires_approval=False, established_on=established_on, contact_phone=None, address=None)


async def root(session: AsyncSession) -> models.Organization | None:
    return (await session.execute(
        select(models.Organization).where(models.Organization.parent_id.is_(None)).limit(1)
    )).scalar_one_or_none()


async def update_fields(session: AsyncSession, actor: Actor, organization_id: int,
                        expected_version: int | None, changes: dict) -> models.Organization:
    """Change the given fields (keys from UPDATABLE); `expectedVersion` guards lost updates."""
    organization = await get(session, actor.branch, organization_id, "organizationId")
    problems = Problems()
    if changes.get("type") is not None and changes["type"] not in ORG_TYPES:
        problems.add("INVALID", "未知的党组织类别", ["type"])
    check_lengths(problems, changes, TEXT_LIMITS)
    problems.raise_if_any()
    if changes.get("requires_approval") is None:
        changes.pop("requires_approval", None)
    if changes.get("type") is None:
        changes.pop("type", None)
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ValueError(f"not updatable: {unknown}")
    stmt = (update(models.Organization)
            .where(models.Organization.id == organization.id)
            .values(**changes, version=models.Organization.version + 1)
            .execution_options(synchronize_session=False))
    if expected_version is not None:
        stmt = stmt.where(models.Organization.version == expected_version)
    result = await session.execute(stmt)
    if result.rowcount == 0:
        raise DomainError("CONFLICT", "该党组织已被他人修改，请刷新后重试", "expectedVersion")
    touch(session, organizations=[organization.id])  # no path, code or depth changes here
    await session.refresh(organization)
    return organization


async def count_in_branch(session: AsyncSession, branch: Branch) -> int:
    return (await session.execute(
        select(func.count()).select_from(models.Organization).where(within(models.Organization.path, branch.path))
    )).scalar_one()


# ------------------------------------------------------------ tree changes


def _check_event_date(problems: Problems, organization: models.Organization, day: dt.date, field: str) -> None:
    if day > clock.today():
        problems.add("INVALID", "日期不能晚于今天", [field])
    if organization.established_on and day < organization.established_on:
        problems.add("INVALID", "日期不能早于该党组织的成立日期", [field])


async def _below_caller(session: AsyncSession, actor: Actor, organization_id: int, action: str) -> models.Organization:
    """The organization, which must lie strictly below the caller's own (an organization cannot
    move or revoke itself: that is its superior's decision)."""
    organization = await get(session, actor.branch, organization_id, "organizationId")
    if organization.path == actor.branch.path:
        raise DomainError("NOT_ALLOWED", f"不能{action}本账户所在的党组织，须由上级党组织办理", "organizationId")
    return organization


async def _bump(session: AsyncSession, organization: models.Organization, **values) -> None:
    for key, value in values.items():
        setattr(organization, key, value)
    organization.version += 1
    await session.flush()


async def rename(session: AsyncSession, actor: Actor, organization_id: int, name: str, date: dt.date,
                 reason: str | None) -> models.Organization:
    organization = await get(session, actor.branch, organization_id, "organizationId")
    # Lock (NO KEY UPDATE): the status checked and the version bumped below are this row's now.
    await lock(session, actor, organization, NO_KEY_UPDATE, "organizationId")
    problems = Problems()
    name = _check_name(problems, name, ["name"])
    _check_event_date(problems, organization, date, "date")
    problems.raise_if_any()
    if organization.status != "ACTIVE":
        raise DomainError("NOT_ALLOWED", "已撤销的党组织不能更名", "organizationId")
    if name == organization.name:
        raise DomainError("INVALID", "新名称与现名称相同", "name")
    if await name_taken(session, name, except_id=organization.id):
        raise DomainError("DUPLICATE", f"党组织名称“{name}”已存在", "name")
    session.add(models.OrganizationEvent(organization_id=organization.id, kind="RENAMED", date=date,
                                         before=organization.name, after=name, reason=reason))
    await _bump(session, organization, name=name)
    return organization


async def _move_subtree_count(session: AsyncSession, old_path: str, new_path: str) -> None:
    """The subtree's members leave the old ancestors' subtree counts and join the new ones'.

    Summed after the path UPDATE above: that UPDATE locked every row of the subtree, waiting for
    any member write there (it holds its organization's row until commit), and this statement's
    snapshot sees those writes; a member write after it waits for this move and then sees the new
    path (db.services.members.count_change). The moved organizations' own subtree counts do not
    change."""
    from db.services.members import add_subtree_deltas

    o = models.Organization
    total = int(await session.scalar(select(func.coalesce(func.sum(o.direct_member_count), 0))
                                     .where(within(o.path, new_path))) or 0)
    old_chain, new_chain = ancestor_ids(old_path)[:-1], ancestor_ids(new_path)[:-1]
    await add_subtree_deltas(session, [i for i in old_chain if i not in new_chain], -total)
    await add_subtree_deltas(session, [i for i in new_chain if i not in old_chain], total)


async def move(session: AsyncSession, actor: Actor, organization_id: int, new_parent_id: int,
               code_suffix: str | None, date: dt.date, reason: str | None) -> models.Organization:
    """变更隶属关系: the organization moves under a new parent with its whole subtree.

    One UPDATE rewrites the path, depth and code prefix of every organization of the subtree (an
    index range); members keep their organization and so follow without being touched."""
    organization = await _below_caller(session, actor, organization_id, "调整隶属关系")
    new_parent = await get(session, actor.branch, new_parent_id, "newParentId")
    # Lock, then check. Two moves at once (A under B, B under A) each see no cycle in what they
    # read; so the cycle check reads the ancestor chains of both ends under FOR NO KEY UPDATE,
    # and every move locks the root's row first: moves serialise (as on SQLite), and a move
    # waits for the other to commit and then sees the cycle. FOR UPDATE on the moved
    # organization itself makes creations anywhere in its subtree wait (they hold KEY SHARE on
    # it), so none copies a path this move is rewriting.
    await lock_chains(session, actor, [organization, new_parent], NO_KEY_UPDATE, "newParentId")
    await lock(session, actor, organization, FOR_UPDATE, "organizationId")
    problems = Problems()
    if code_suffix is not None and not CODE_SUFFIX.fullmatch(code_suffix):
        problems.add("INVALID", f"代码后缀必须是 {CODE_SUFFIX_DIGITS} 位数字", ["codeSuffix"])
    _check_event_date(problems, organization, date, "date")
    if new_parent.established_on and date < new_parent.established_on:
        problems.add("INVALID", "日期不能早于新上级党组织的成立日期", ["date"])
    problems.raise_if_any()
    if new_parent.path.startswith(organization.path):
        raise DomainError("NOT_ALLOWED", "不能把党组织调整到它自己或它的下级党组织之下", "newParentId")
    if new_parent.id == organization.parent_id:
        raise DomainError("INVALID", "该党组织已隶属于这个上级党组织", "newParentId")
    if organization.status != "ACTIVE" or new_parent.status != "ACTIVE":
        raise DomainError("NOT_ALLOWED", "已撤销的党组织不能调整隶属关系", "newParentId")
    open_period = (await session.execute(
        select(models.OrganizationParentPeriod)
        .where(models.OrganizationParentPeriod.organization_id == organization.id,
               models.OrganizationParentPeriod.valid_to.is_(None)))).scalar_one_or_none()
    if open_period is not None and date < open_period.valid_from:
        raise DomainError("INVALID", "日期不能早于上一次隶属关系变更的日期", "date")
    suffix = code_suffix or organization.code[-CODE_SUFFIX_DIGITS:]
    new_code = new_parent.code + suffix
    if (await session.execute(select(models.Organization.id).where(models.Organization.code == new_code))).first():
        raise DomainError("DUPLICATE", f"党组织代码 {new_code} 已被新上级的下级党组织使用，请另给 codeSuffix",
                          "codeSuffix")
    # The old parent lies in the caller's branch (the organization is strictly below the caller).
    old_parent = await get(session, actor.branch, organization.parent_id, "organizationId")
    old_path, old_code = organization.path, organization.code
    new_path = child_path(new_parent.path, organization.id)
    # The old chain and the new one; readers below the organization see it as an ancestor's own write.
    touch(session, paths=[old_path], row_paths=[new_path])
    o = models.Organization
    await session.execute(
        update(o)
        .where(within(o.path, old_path))
        .values(path=new_path + func.substr(o.path, len(old_path) + 1),
                code=new_code + func.substr(o.code, len(old_code) + 1),
                depth=o.depth + (new_parent.depth + 1 - organization.depth))
        .execution_options(synchronize_session=False))
    await session.execute(
        update(o).where(o.id == organization.id)
        .values(parent_id=new_parent.id, version=o.version + 1)
        .execution_options(synchronize_session=False))
    await _move_subtree_count(session, old_path, new_path)
    if open_period is not None:
        open_period.valid_to = date
    session.add(models.OrganizationParentPeriod(organization_id=organization.id, parent_id=new_parent.id,
                                                valid_from=date))
    session.add(models.OrganizationEvent(organization_id=organization.id, kind="MOVED", date=date,
                                         before=old_parent.name, after=new_parent.name,
                                         before_organization_id=old_parent.id,
                                         after_organization_id=new_parent.id, reason=reason))
    await session.flush()
    await session.refresh(organization)
    return organization


async def revoke(session: AsyncSession, actor: Actor, organization_id: int, date: dt.date,
                 reason: str) -> models.Organization:
    """撤销: only from a strictly higher level, and only once nobody remains in the subtree."""
    organization = await _below_caller(session, actor, organization_id, "撤销")
    # Lock (FOR UPDATE), then check: a createMember or createOrganization here holds a lock on
    # this row (NO KEY UPDATE, KEY SHARE) from its ACTIVE check to its commit, and so does a move
    # into this subtree; the revoke waits for them, and its checks below (statements that start
    # after the lock, so they see what those committed) find the new member or child.
    await lock(session, actor, organization, FOR_UPDATE, "organizationId")
    problems = Problems()
    if not (reason or "").strip():
        problems.add("INVALID", "请填写撤销原因", ["reason"])
    _check_event_date(problems, organization, date, "date")
    problems.raise_if_any()
    if organization.status != "ACTIVE":
        raise DomainError("NOT_ALLOWED", "该党组织已撤销", "organizationId")
    o, m = models.Organization, models.Member
    active_child = (await session.execute(
        select(o.id).where(within(o.path, organization.path), o.id != organization.id, o.status == "ACTIVE").limit(1)
    )).first()
    if active_child:
        raise DomainError("NOT_ALLOWED", "该党组织还有未撤销的下级党组织", "organizationId")
    remaining = (await session.execute(
        select(m.id).join(o, o.id == m.organization_id)
        .where(within(o.path, organization.path), m.status.not_in(("LEFT", "TRANSFERRED_OUT"))).limit(1)
    )).first()
    if remaining:
        raise DomainError("NOT_ALLOWED", "该党组织还有党员，须先转出或办理离开", "organizationId")
    session.add(models.OrganizationEvent(organization_id=organization.id, kind="REVOKED", date=date,
                                         reason=reason.strip()))
    await _bump(session, organization, status="REVOKED", revoked_on=date, revoke_reason=reason.strip())
    return organization
