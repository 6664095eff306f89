"""班子: leadership terms and office holders (书记, 副书记, 委员)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import clock, models
from db.branch import Actor, Branch
from db.branch import get as branch_get
from db.errors import DomainError, Problems
from db.services import members as member_service
from db.services import organizations

ELECTION_METHODS = ("COMPETITIVE", "NON_COMPETITIVE", "APPOINTED")
TITLES = ("SECRETARY", "DEPUTY_SECRETARY", "COMMITTEE_MEMBER")
# Who may hold a position: an ACTIVE, DIRECT member of that very organization, admitted.
LEADER_CATEGORIES = ("FULL", "PROBATIONARY")


def _not_before_established(problems: Problems, organization: models.Organization, day: dt.date | None,
                            field: str) -> None:
    if day is not None and organization.established_on and day < organization.established_on:
        problems.add("INVALID", "日期不能早于该党组织的成立日期", [field])


async def set_term(session: AsyncSession, actor: Actor, organization_id: int, election_method: str,
                   elected_on: dt.date, term_ends_on: dt.date,
                   last_changed_on: dt.date | None) -> models.Organization:
    organization = await organizations.get(session, actor.branch, organization_id, "organizationId")
    problems = Problems()
    if election_method not in ELECTION_METHODS:
        problems.add("INVALID", "未知的选举方式", ["electionMethod"])
    if elected_on > clock.today():
        problems.add("INVALID", "选举日期不能晚于今天", ["electedOn"])
    _not_before_established(problems, organization, elected_on, "electedOn")
    if term_ends_on <= elected_on:
        problems.add("INVALID", "届满日期须晚于选举日期", ["termEndsOn"])
    if last_changed_on is not None and last_changed_on < elected_on:
        problems.add("INVALID", "最近调整日期不能早于选举日期", ["lastChangedOn"])
    problems.raise_if_any()
    # Lock (NO KEY UPDATE), then check: the status and the version are this row's now.
    await organizations.lock(session, actor, organization, organizations.NO_KEY_UPDATE, "organizationId")
    if organization.status != "ACTIVE":
        raise DomainError("NOT_ALLOWED", "已撤销的党组织不能换届", "organizationId")
    session.add(models.LeadershipTerm(organization_id=organization.id, election_method=election_method,
                                      elected_on=elected_on, term_ends_on=term_ends_on,
                                      last_changed_on=last_changed_on))
    organization.election_method = election_method
    organization.elected_on = elected_on
    organization.term_ends_on = term_ends_on
    organization.leadership_changed_on = last_changed_on
    organization.version += 1
    await session.flush()
    return organization


async def lock_member(session: AsyncSession, member: models.Member) -> models.Member:
    """FOR SHARE on the member's row, re-read under the lock."""
    await session.execute(select(models.Member).where(models.Member.id == member.id)
                          .with_for_update(read=True).execution_options(populate_existing=True))
    return member


async def appoint(session: AsyncSession, actor: Actor, organization_id: int, member_id: int, title: str,
                  since: dt.date) -> models.LeaderPosition:
    """Appointing a secretary ends the current secretary's position on the new one's `since`."""
    organization = await organizations.get(session, actor.branch, organization_id, "organizationId")
    member = await member_service.get(session, actor.branch, member_id, "memberId")
    # Lock, then check (member rows before organization rows, the order of every member write):
    # FOR SHARE on the member, so a concurrent status change or transfer cannot slip between the
    # "ACTIVE, direct member here" check and the appointment; FOR NO KEY UPDATE on the
    # organization, which serialises every appointment and end of a position in it. Two
    # secretaries appointed at once: the second waits, then reads the first as the current one
    # and ends its position properly. The partial unique index "one open SECRETARY per
    # organization" (uq_leader_position_open_secretary) is the backstop: should anything get
    # past the lock, the insert fails and the caller gets DUPLICATE, never two secretaries.
    await lock_member(session, member)
    await organizations.lock(session, actor, organization, organizations.NO_KEY_UPDATE, "organizationId")
    problems = Problems()
    if title not in TITLES:
        problems.add("INVALID", "未知的职务", ["title"])
    if since > clock.today():
        problems.add("INVALID", "任职日期不能晚于今天", ["since"])
    _not_before_established(problems, organization, since, "since")
    problems.raise_if_any()
    if organization.status != "ACTIVE":
        raise DomainError("NOT_ALLOWED", "已撤销的党组织不能任命班子成员", "organizationId")
    if (member.organization_id != organization.id or member.status != "ACTIVE"
            or member.affiliation != "DIRECT" or member.category not in LEADER_CATEGORIES):
        raise DomainError("NOT_ALLOWED", "班子成员须是本党组织直管、在册的正式党员或预备党员", "memberId")
    p = models.LeaderPosition
    open_positions = list((await session.execute(
        select(p).where(p.organization_id == organization.id, p.until.is_(None)))).scalars())
    if any(q.member_id == member.id and q.title == title for q in open_positions):
        raise DomainError("DUPLICATE", "该党员已担任此职务", "memberId")
    if title == "SECRETARY":
        for current in (q for q in open_positions if q.title == "SECRETARY"):
            if since < current.since:
                raise DomainError("INVALID", "新书记的任职日期不能早于现任书记的任职日期", "since")
            current.until = since
        await session.flush()  # end the current secretary before the index sees the new one
    position = p(organization_id=organization.id, member_id=member.id, title=title, since=since)
    session.add(position)
    organization.leadership_changed_on = max(filter(None, (organization.leadership_changed_on, since)))
    await session.flush()
    return position


async def get_position(session: AsyncSession, branch: Branch, position_id: int | None,
                       field: str) -> tuple[models.LeaderPosition, models.Organization]:
    return await branch_get(session, branch, models.LeaderPosition, position_id, "班子职务", field)


async def end_position(session: AsyncSession, actor: Actor, position_id: int, until: dt.date) -> models.LeaderPosition:
    position, organization = await get_position(session, actor.branch, position_id, "positionId")
    # Lock, then check (organization before position, as appoint does): two requests ending one
    # position cannot both find it open; the later one gets CONFLICT.
    await organizations.lock(session, actor, organization, organizations.NO_KEY_UPDATE, "positionId")
    await session.execute(select(models.LeaderPosition).where(models.LeaderPosition.id == position.id)
                          .with_for_update(key_share=True).execution_options(populate_existing=True))
    if position.until is not None:
        raise DomainError("CONFLICT", "该职务已经结束", "positionId")
    if until < position.since:
        raise DomainError("INVALID", "离任日期不能早于任职日期", "until")
    if until > clock.today():
        raise DomainError("INVALID", "离任日期不能晚于今天", "until")
    position.until = until
    organization.leadership_changed_on = max(filter(None, (organization.leadership_changed_on, until)))
    await session.flush()
    return position


async def end_member_positions(session: AsyncSession, member_id: int, date: dt.date) -> None:
    """A member who leaves its organization (transferred out, accepted elsewhere) holds none of
    its positions any longer: each open one ends on `date` (one that began after it, on its own
    first day). Core UPDATEs: the member's organization is touched by the caller's status change."""
    p = models.LeaderPosition
    await session.execute(
        update(p).where(p.member_id == member_id, p.until.is_(None), p.since <= date).values(until=date)
        .execution_options(synchronize_session=False))
    await session.execute(
        update(p).where(p.member_id == member_id, p.until.is_(None)).values(until=p.since)
        .execution_options(synchronize_session=False))
