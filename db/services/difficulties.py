"""困难党员: difficulties recorded for members, revoked rather than deleted."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from db import clock, codes, models
from db.branch import Actor, Branch
from db.branch import get as branch_get
from db.changes import touch
from db.errors import DomainError, Problems

KIND_TABLE = "difficulty_kind"


async def add(session: AsyncSession, actor: Actor, member_id: int, kind_code: str, description: str | None,
              recorded_on: dt.date) -> tuple[models.Difficulty, str]:
    member, organization = await branch_get(session, actor.branch, models.Member, member_id, "党员", "memberId")
    problems = Problems()
    if not codes.is_valid(KIND_TABLE, kind_code or ""):
        problems.add("INVALID", f"困难类型代码 {kind_code} 不在代码表中", ["kindCode"])
    if recorded_on > clock.today():
        problems.add("INVALID", "登记日期不能晚于今天", ["recordedOn"])
    if organization.established_on and recorded_on < organization.established_on:
        problems.add("INVALID", "登记日期不能早于党组织的成立日期", ["recordedOn"])
    problems.raise_if_any()
    difficulty = models.Difficulty(member_id=member.id, organization_id=organization.id, kind_code=kind_code,
                                   description=(description or "").strip() or None, recorded_on=recorded_on)
    session.add(difficulty)
    await session.flush()
    return difficulty, organization.path


async def get(session: AsyncSession, branch: Branch, difficulty_id: int | None,
              field: str) -> tuple[models.Difficulty, str]:
    difficulty, organization = await branch_get(session, branch, models.Difficulty, difficulty_id,
                                                "困难党员记录", field)
    return difficulty, organization.path


async def revoke(session: AsyncSession, actor: Actor, difficulty_id: int, date: dt.date) -> tuple[models.Difficulty, str]:
    difficulty, path = await get(session, actor.branch, difficulty_id, "difficultyId")
    if difficulty.revoked_on is not None:
        raise DomainError("CONFLICT", "该困难记录已撤销", "difficultyId")
    if date < difficulty.recorded_on:
        raise DomainError("INVALID", "撤销日期不能早于登记日期", "date")
    if date > clock.today():
        raise DomainError("INVALID", "撤销日期不能晚于今天", "date")
    # Compare-and-set: only while still open. Two revocations at once (PostgreSQL, READ
    # COMMITTED) both read it open; the second UPDATE waits for the first's row lock, re-checks
    # its WHERE, matches nothing, and gets CONFLICT instead of overwriting the first one's date.
    d = models.Difficulty
    row = (await session.execute(
        update(d).where(d.id == difficulty.id, d.revoked_on.is_(None)).values(revoked_on=date)
        .returning(d.id).execution_options(synchronize_session=False))).first()
    if row is None:
        raise DomainError("CONFLICT", "该困难记录已撤销", "difficultyId")
    touch(session, organizations=[difficulty.organization_id])
    set_committed_value(difficulty, "revoked_on", date)
    return difficulty, path
