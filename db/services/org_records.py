"""Organization records: 民主生活会/组织生活会, 民主评议, 党务公开, 专题活动, 党组织惩戒."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from db import clock, models
from db.branch import Actor
from db.errors import DomainError, Problems
from db.services import organizations

KINDS = ("MEETING", "EVALUATION", "DISCLOSURE", "SPECIAL_ACTIVITY", "PUNISHMENT")


async def add(session: AsyncSession, actor: Actor, organization_id: int, kind: str, title: str,
              held_on: dt.date, content: str | None) -> tuple[models.OrgRecord, str]:
    organization = await organizations.get(session, actor.branch, organization_id, "organizationId")
    problems = Problems()
    title = (title or "").strip()
    if kind not in KINDS:
        problems.add("INVALID", "未知的记录类别", ["kind"])
    if not title:
        problems.add("INVALID", "标题不能为空", ["title"])
    elif len(title) > 200:
        problems.add("INVALID", "标题不能超过 200 个字", ["title"])
    if held_on > clock.today():
        problems.add("INVALID", "日期不能晚于今天", ["heldOn"])
    if organization.established_on and held_on < organization.established_on:
        problems.add("INVALID", "日期不能早于该党组织的成立日期", ["heldOn"])
    problems.raise_if_any()
    # Lock (KEY SHARE, what the record's foreign key takes anyway), then check ACTIVE: a
    # concurrent revoke (FOR UPDATE) waits for this record or this sees it REVOKED.
    await organizations.lock(session, actor, organization, organizations.KEY_SHARE, "organizationId")
    if organization.status != "ACTIVE":
        raise DomainError("NOT_ALLOWED", "已撤销的党组织不能新增记录", "organizationId")
    record = models.OrgRecord(organization_id=organization.id, kind=kind, title=title, held_on=held_on,
                              content=(content or "").strip() or None)
    session.add(record)
    await session.flush()
    return record, organization.path
