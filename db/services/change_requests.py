"""党员自助 requests: a MEMBER asks, an OPERATOR+ of the member's branch decides.

A request stores what was asked (JSON of this module's field names) and changes nothing until it
is approved; approval applies it through the service that does the same change for staff, in the
same transaction as the decision, as the deciding account (so every rule of that service holds,
the branch check included):
- PROFILE: lifecycle.update_member (updateMember), with the fields a member may ask to change
  (SELF_EDITABLE: contact and background, not the name, ID number, category or dates);
- DUES: member_records.add (addMemberRecords) of a DUES record for the month of the request
  (党费缴纳: the member reports the month's payment, the branch confirms it);
- TRANSFER: apply_transfer_request (the transfers service of issue 11, wired at merge).
A rejection keeps its reason. One PENDING request per kind per member: checked here, with a
unique partial index as the backstop under concurrent submissions (IntegrityError → DUPLICATE in
gql.resolvers.write). A decision locks the request row (FOR UPDATE) and acts only on PENDING, so two
concurrent decisions apply the change once: the second sees the first's status (CONFLICT).

Who reaches which request is db.branch's business (ChangeRequest is in VIA_MEMBER and
SELF_READABLE): a MEMBER its own, staff those of members now in their branch.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import clock, codes, models
from db.branch import Actor, Branch, via_member
from db.branch import get as branch_get
from db.errors import DomainError, Problems, not_found
from db.pagination import SortKey, keyset_page
from db.services import lifecycle, member_records
from db.services import members as member_service
from db.tree import within

KINDS = ("PROFILE", "DUES", "TRANSFER")
STATUSES = ("PENDING", "APPROVED", "REJECTED")
# The MemberFields a member may ask to change about itself.
SELF_EDITABLE = ("ethnicity_code", "native_place", "education_code", "degree_code", "job_position_code",
                 "technical_title_code", "phone")
MAX_TEXT = 500


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


async def _own_member(session: AsyncSession, actor: Actor) -> tuple[models.Member, models.Organization]:
    """The requesting account's own member record, through its self-only branch; a staff account
    has none (it changes members directly)."""
    if not actor.branch.is_self_only:
        raise DomainError("NOT_ALLOWED", "只有党员本人（MEMBER 账户）可以提出申请")
    return await branch_get(session, actor.branch, models.Member, actor.branch.self_member_id, "党员")


async def _submit(session: AsyncSession, member: models.Member, kind: str, payload: dict[str, Any]) -> models.ChangeRequest:
    c = models.ChangeRequest
    if (await session.execute(select(c.id).where(c.member_id == member.id, c.kind == kind,
                                                 c.status == "PENDING"))).first():
        raise DomainError("DUPLICATE", "已有一个待审批的同类申请，请等待审批后再提交")
    request = models.ChangeRequest(member_id=member.id, kind=kind, status="PENDING",
                                   payload=json.dumps(payload, ensure_ascii=False, sort_keys=True),
                                   submitted_at=_now())
    session.add(request)
    await session.flush()
    return request


async def request_profile_change(session: AsyncSession, actor: Actor,
                                 fields: dict[str, Any]) -> tuple[models.ChangeRequest, str]:
    """`fields`: MemberFields (snake_case) the member sent."""
    member, organization = await _own_member(session, actor)
    problems = Problems()
    wanted: dict[str, Any] = {}
    for name, value in fields.items():
        at = ["fields", member_service.CAMEL.get(name, name)]
        if name not in SELF_EDITABLE:
            problems.add("NOT_ALLOWED", "该项不能由本人申请修改，请联系党组织", at)
            continue
        if isinstance(value, str):
            value = value.strip() or None
        table = member_service.CODED_FIELDS.get(name)
        if table is not None and value is not None and not codes.is_valid(table, value):
            problems.add("INVALID", f"代码 {value} 不在代码表中", at)
        limit = member_service.TEXT_LIMITS.get(name)
        if limit is not None and value is not None and len(value) > limit:
            problems.add("INVALID", f"不能超过 {limit} 个字符", at)
        if value != getattr(member, name):
            wanted[name] = value
    if not fields:
        problems.add("INVALID", "请填写要修改的内容", ["fields"])
    elif not wanted and not problems.items:
        problems.add("INVALID", "所填内容与现有信息相同", ["fields"])
    problems.raise_if_any()
    return await _submit(session, member, "PROFILE", wanted), organization.path


async def request_dues(session: AsyncSession, actor: Actor, monthly_amount: Decimal,
                       today: dt.date | None = None) -> tuple[models.ChangeRequest, str]:
    """A dues payment for the current month (the DUES record's own checks: > 0, two decimals)."""
    member, organization = await _own_member(session, actor)
    month = (today or clock.today()).replace(day=1)
    try:
        values = member_records.validate("DUES", {"date": month, "amount": monthly_amount})
    except DomainError as exc:
        for problem in exc.problems:
            problem.field = ["monthlyAmount"] if problem.field == ["fields", "amount"] else problem.field
        raise
    payload = {"month": values["date"].isoformat(), "amount": str(values["amount"])}
    return await _submit(session, member, "DUES", payload), organization.path


async def request_transfer(session: AsyncSession, actor: Actor, to_organization_id: int | None,
                           external_destination: str | None, reason: str | None) -> tuple[models.ChangeRequest, str]:
    """A transfer out: to an organization in the system (any active one: the destination lies
    outside the member's reach by nature) or to an external destination (市外/省外), one of both."""
    member, organization = await _own_member(session, actor)
    external = (external_destination or "").strip() or None
    reason = (reason or "").strip() or None
    problems = Problems()
    if (to_organization_id is None) == (external is None):
        problems.add("INVALID", "请填写转入党组织或系统外的接收单位（二选一）", ["toOrganizationId"])
    if external is not None and len(external) > 300:
        problems.add("INVALID", "不能超过 300 个字符", ["externalDestination"])
    if reason is not None and len(reason) > MAX_TEXT:
        problems.add("INVALID", f"不能超过 {MAX_TEXT} 个字符", ["reason"])
    problems.raise_if_any()
    if to_organization_id is not None:
        o = models.Organization
        status = (await session.execute(select(o.status).where(o.id == to_organization_id))).scalar_one_or_none()
        if status != "ACTIVE":
            raise DomainError("NOT_FOUND", "转入党组织不存在或已撤销", "toOrganizationId")
        if to_organization_id == member.organization_id:
            raise DomainError("INVALID", "转入党组织不能是本人所在党组织", "toOrganizationId")
    payload = {"to_organization_id": to_organization_id, "external_destination": external, "reason": reason}
    return await _submit(session, member, "TRANSFER", payload), organization.path


async def apply_transfer_request(session: AsyncSession, actor: Actor, member: models.Member,
                                 payload: dict[str, Any]) -> None:
    """An approved TRANSFER request becomes a real transfer (组织关系转接) of `member`, sent by the
    deciding account on the day of the decision, in the decision's transaction: the same rules
    as transferMembers (an ACTIVE member, not to its own organization, no other pending transfer),
    and a refusal leaves the request PENDING."""
    from db.services import transfers  # transfers imports members and lifecycle: no cycle at import time

    await transfers.send(session, actor, [member.id], payload.get("to_organization_id"),
                         payload.get("external_destination"), clock.today(), payload.get("reason"))


async def _apply(session: AsyncSession, actor: Actor, request: models.ChangeRequest) -> None:
    payload = json.loads(request.payload)
    if request.kind == "PROFILE":
        await lifecycle.update_member(session, actor, request.member_id, None, payload)
        if "phone" in payload:
            # The account signs in by the member's phone too (db.services.accounts.claimable).
            for account in await session.scalars(select(models.Account).where(
                    models.Account.member_id == request.member_id)):
                account.phone = payload["phone"]
    elif request.kind == "DUES":
        await member_records.add(session, actor, [request.member_id], "DUES",
                                 {"date": dt.date.fromisoformat(payload["month"]),
                                  "amount": Decimal(payload["amount"])})
    elif request.kind == "TRANSFER":
        member = await member_service.get(session, actor.branch, request.member_id)
        await apply_transfer_request(session, actor, member, payload)
    else:  # pragma: no cover - the column holds KINDS only
        raise DomainError("INVALID", "未知的申请类型")


async def decide(session: AsyncSession, actor: Actor, request_id: int | None, approve: bool,
                 reason: str | None) -> tuple[models.ChangeRequest, str]:
    """decideChangeRequest: lock the request (in the caller's branch), then apply it exactly when
    approved, or keep the rejection's reason (required)."""
    reason = (reason or "").strip() or None
    if actor.branch.is_self_only:
        raise not_found("申请", "requestId")
    if not approve and reason is None:
        raise DomainError("INVALID", "驳回须填写理由", "reason")
    if reason is not None and len(reason) > MAX_TEXT:
        raise DomainError("INVALID", f"不能超过 {MAX_TEXT} 个字符", "reason")
    c = models.ChangeRequest
    row = None
    if request_id is not None:
        row = (await session.execute(
            via_member(actor.branch, c).where(c.id == request_id)
            .with_for_update(of=c).execution_options(populate_existing=True))).first()
    if row is None:
        raise not_found("申请", "requestId")
    request, organization = row
    if request.status != "PENDING":
        raise DomainError("CONFLICT", "该申请已处理", "requestId")
    if approve:
        await _apply(session, actor, request)
    request.status = "APPROVED" if approve else "REJECTED"
    request.rejection_reason = None if approve else reason
    request.decided_at = _now()
    request.decided_by_id = actor.account_id
    await session.flush()
    return request, organization.path


# ------------------------------------------------------------------ reads


def _requests(branch: Branch, anchor_path: str | None, statuses: Sequence[str] | None):
    c = models.ChangeRequest
    stmt = via_member(branch, c)
    if anchor_path is not None:
        stmt = stmt.where(within(models.Organization.path, anchor_path))
    if statuses:
        stmt = stmt.where(c.status.in_(statuses))
    return stmt


async def page(session: AsyncSession, branch: Branch, anchor_path: str | None, statuses: Sequence[str] | None,
               first: int, after: str | None):
    """Requests of members now in the branch (under `anchor_path` when given), newest first."""
    keys = [SortKey(models.ChangeRequest.id, descending=True)]
    return await keyset_page(session, _requests(branch, anchor_path, statuses), keys, first, after,
                             lambda row: [row[0].id], shape=lambda row: (row[0], row[1].path))


async def count(session: AsyncSession, branch: Branch, anchor_path: str | None, statuses: Sequence[str] | None) -> int:
    stmt = _requests(branch, anchor_path, statuses).with_only_columns(func.count(models.ChangeRequest.id))
    return (await session.execute(stmt)).scalar_one()


async def by_id(session: AsyncSession, branch: Branch, ids: Sequence[int]) -> dict[int, tuple]:
    c = models.ChangeRequest
    rows = await session.execute(via_member(branch, c).where(c.id.in_(ids)))
    return {request.id: (request, organization.path) for request, organization in rows}
