"""流动党员: a member away for a while (flowOut), the place and contact kept up to date
(updateFlow), and back (returnFromFlow).

A flow is a dated fact of the member history twice over: the flow row (since, returnedOn) and the
member's status steps, FLOWING_OUT on `since` and ACTIVE on the return date, written by
members.set_status in the same transaction. So `state_as_of` (crossTab asOf, memberBalance) sees
a member as flowing out on exactly the days of the flow, and the member row's cached status stays
the history's answer for today (db.tree's invariant "history").

At most one open flow per member, on both engines: flowOut locks the member row (FOR UPDATE, re-read
under the lock) and requires ACTIVE, and set_status is a compare-and-set from ACTIVE; the partial
unique index uq_flow_open_member (member_id WHERE returned_on IS NULL) is the backstop. Two
flowOuts of one member at once: the second waits at the lock, reads FLOWING_OUT, and gets
CONFLICT (tests/test_flows_representatives.py races them through the endpoint). Returning is a
conditional UPDATE (… WHERE returned_on IS NULL) under the same member lock: two returns at once,
one wins, the other CONFLICT.

A flow is read through the member's current organization (db.branch.via_member), like the
member's other records."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from db import clock, models
from db.branch import Actor, Branch, via_member, via_member_by_id
from db.branch import get as branch_get
from db.changes import touch
from db.errors import DomainError, Problems
from db.services import history
from db.services import members as member_service
from db.services.lifecycle import REASON_LIMIT, _member_with_path, lock_members

DESTINATION_LIMIT = 200
CONTACT_LIMIT = 200
EDITABLE = ("destination", "reason", "contact")


def _today() -> dt.date:
    return clock.today()


def _text(problems: Problems, value: str | None, limit: int, field: str, required: bool = False) -> str | None:
    value = (value or "").strip() or None
    if value is None and required:
        problems.add("INVALID", "不能为空", [field])
    elif value is not None and len(value) > limit:
        problems.add("INVALID", f"不能超过 {limit} 个字符", [field])
    return value


async def flow_out(session: AsyncSession, actor: Actor, member_id: int | None, destination: str | None,
                   since: dt.date, reason: str | None, contact: str | None) -> tuple[models.Flow, str]:
    """flowOut: an ACTIVE member becomes FLOWING_OUT from `since`, with where they went."""
    member, path = await _member_with_path(session, actor, member_id, "memberId")
    problems = Problems()
    destination = _text(problems, destination, DESTINATION_LIMIT, "destination", required=True)
    reason = _text(problems, reason, REASON_LIMIT, "reason")
    contact = _text(problems, contact, CONTACT_LIMIT, "contact")
    if since > _today():
        problems.add("INVALID", "流出日期不能晚于今天", ["since"])
    problems.raise_if_any()
    # The member's state first: a flow that began meanwhile is a CONFLICT, whatever the dates.
    if member.status == "FLOWING_OUT":
        raise DomainError("CONFLICT", "该党员已处于流出状态，请先登记返回", "memberId")
    if member.status != "ACTIVE":
        raise DomainError("NOT_ALLOWED", "只有状态正常（在册）的党员可以登记流出", "memberId")
    latest = await history.latest_fact_date(session, member.id)
    if latest is not None and since < latest:
        raise DomainError("INVALID", f"流出日期不能早于该党员最近一次变动的日期（{latest.isoformat()}）", "since")
    flow = models.Flow(member_id=member.id, destination=destination, reason=reason, contact=contact, since=since)
    session.add(flow)
    await member_service.set_status(session, member, "FLOWING_OUT", effective_on=since)
    await session.flush()
    return flow, path


async def get(session: AsyncSession, branch: Branch, flow_id: int | None, field: str) -> tuple[models.Flow, str]:
    flow, organization = await branch_get(session, branch, models.Flow, flow_id, "流动记录", field)
    return flow, organization.path


async def update_flow(session: AsyncSession, actor: Actor, flow_id: int | None,
                      changes: dict[str, Any]) -> tuple[models.Flow, str]:
    """updateFlow: the destination, reason or contact of an open flow. A field left out (or a
    null destination) stays as it is; a null reason or contact clears it."""
    flow, path = await get(session, actor.branch, flow_id, "flowId")
    problems = Problems()
    values: dict[str, Any] = {}
    if changes.get("destination") is not None:
        values["destination"] = _text(problems, changes["destination"], DESTINATION_LIMIT, "destination", True)
    if "reason" in changes:
        values["reason"] = _text(problems, changes["reason"], REASON_LIMIT, "reason")
    if "contact" in changes:
        values["contact"] = _text(problems, changes["contact"], CONTACT_LIMIT, "contact")
    problems.raise_if_any()
    if flow.returned_on is not None:
        raise DomainError("CONFLICT", "该党员已返回，流动记录不能再修改", "flowId")
    if not values:
        return flow, path
    f = models.Flow
    row = (await session.execute(
        update(f).where(f.id == flow.id, f.returned_on.is_(None)).values(**values).returning(f.id)
        .execution_options(synchronize_session=False))).first()
    if row is None:
        raise DomainError("CONFLICT", "该党员已返回，流动记录不能再修改", "flowId")
    touch(session, members=[flow.member_id])
    for key, value in values.items():
        set_committed_value(flow, key, value)
    return flow, path


async def return_from_flow(session: AsyncSession, actor: Actor, flow_id: int | None,
                           date: dt.date) -> tuple[models.Flow, str]:
    """returnFromFlow: the flow ends on `date` and the member is ACTIVE again from that day."""
    flow, _path = await get(session, actor.branch, flow_id, "flowId")
    await lock_members(session, [flow.member_id])
    # Under the member's lock: the member (still in the branch?) and the flow as they are now.
    member, organization = await branch_get(session, actor.branch, models.Member, flow.member_id, "党员", "flowId")
    await session.refresh(flow)
    path = organization.path
    if flow.returned_on is not None:
        raise DomainError("CONFLICT", "该党员已登记返回", "flowId")
    problems = Problems()
    if date > _today():
        problems.add("INVALID", "返回日期不能晚于今天", ["date"])
    if date < flow.since:
        problems.add("INVALID", "返回日期不能早于流出日期", ["date"])
    latest = await history.latest_fact_date(session, member.id)
    if latest is not None and date < latest:
        problems.add("INVALID", f"返回日期不能早于该党员最近一次变动的日期（{latest.isoformat()}）", ["date"])
    problems.raise_if_any()
    f = models.Flow
    row = (await session.execute(
        update(f).where(f.id == flow.id, f.returned_on.is_(None)).values(returned_on=date).returning(f.id)
        .execution_options(synchronize_session=False))).first()
    if row is None:
        raise DomainError("CONFLICT", "该党员已登记返回", "flowId")
    touch(session, members=[member.id])
    set_committed_value(flow, "returned_on", date)
    if member.status == "FLOWING_OUT":
        await member_service.set_status(session, member, "ACTIVE", effective_on=date, field="flowId")
    await session.flush()
    return flow, path


# ------------------------------------------------------------------ reads


async def flows_of_members(session: AsyncSession, branch: Branch, member_ids) -> dict[int, list]:
    """Member.flows, oldest first."""
    f = models.Flow
    stmt = via_member(branch, f, f, models.Organization.path).where(f.member_id.in_(member_ids)).order_by(f.since, f.id)
    grouped: dict[int, list] = {}
    for flow, path in await session.execute(stmt):
        grouped.setdefault(flow.member_id, []).append((flow, path))
    return grouped


async def flows_by_id(session: AsyncSession, branch: Branch, ids) -> dict[int, tuple]:
    return await via_member_by_id(session, branch, models.Flow, ids)
