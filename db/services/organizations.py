"""Organizations: reads within a branch, creation and updates."""
from __future__ import annotations

import datetime as dt
import re
import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from db.branch import Actor, Branch, organizations
from db.errors import DomainError, Problems, not_found
from db.tree import CODE_SUFFIX_DIGITS, child_path, within

ORG_TYPES = ("COMMITTEE", "WORKING_COMMITTEE", "GENERAL_BRANCH", "BRANCH", "JOINT_BRANCH", "PROVISIONAL")
CODE_SUFFIX = re.compile(rf"^\d{{{CODE_SUFFIX_DIGITS}}}$")
ROOT_CODE = re.compile(r"^\d{1,30}$")
NAME_MAX = 200
UPDATABLE = ("short_name", "type", "requires_approval", "contact_phone", "address")


async def get(session: AsyncSession, branch: Branch, organization_id: int | None,
              field: list[str] | str | None = None) -> models.Organization:
    """The organization, if it exists inside the branch; otherwise NOT_FOUND."""
    row = None
    if organization_id is not None:
        row = (await session.execute(
            organizations(branch).where(models.Organization.id == organization_id)
        )).scalar_one_or_none()
    if row is None:
        raise not_found("党组织", field)
    return row


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
    since = established_on or dt.date.today()
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
    problems = Problems()
    name = _check_name(problems, name, ["name"])
    if not CODE_SUFFIX.match(code_suffix or ""):
        problems.add("INVALID", f"代码后缀必须是 {CODE_SUFFIX_DIGITS} 位数字", ["codeSuffix"])
    if type not in ORG_TYPES:
        problems.add("INVALID", "未知的党组织类别", ["type"])
    if established_on and established_on > dt.date.today():
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
    if not ROOT_CODE.match(code or ""):
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
    if "type" in changes and changes["type"] not in ORG_TYPES:
        raise DomainError("INVALID", "未知的党组织类别", "type")
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
    await session.refresh(organization)
    return organization


async def count_in_branch(session: AsyncSession, branch: Branch) -> int:
    return (await session.execute(
        select(func.count()).select_from(models.Organization).where(within(models.Organization.path, branch.path))
    )).scalar_one()
