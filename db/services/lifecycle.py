"""A member's life after entry: updates and corrections, approval (待审), development (发展), party
status (党籍异动) and inflow conversion.

Every change of organization, category or status is written twice in one transaction: as a dated
fact (db.services.history) and into the member row's cached columns. Check-then-act rules lock
the member row first (FOR UPDATE, re-read under the lock: `lock_members`), in id order, before any
organization row (the order of every member write, db.services.organizations); status changes are
compare-and-set besides (members.set_status).

Each write names the organization it affects: the member's `organization_id` (returned rows carry
it), for the response cache to invalidate."""
from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from db import clock, idnumber, models
from db.branch import Actor, Branch, members as members_in
from db.branch import get as branch_get
from db.changes import touch
from db.pagination import Page, keyset_page
from db.tree import within
from db.errors import DomainError, Problems
from db.services import history
from db.services import members as member_service
from db.services.members import (
    CAMEL, CATEGORIES, DATE_FIELDS, completeness_percent_of, validate_fields,
)

# Statuses of a member on the party roll (in the organization's lists and counts, able to change).
ON_ROLL = ("ACTIVE", "FLOWING_OUT")
LEAVING_KINDS = ("DEATH", "WITHDRAWAL", "REMOVAL", "EXPULSION", "PROBATION_CANCELLED")
STATUS_CHANGE_KINDS = LEAVING_KINDS + ("SUSPENDED", "RESTORED", "PROBATION_EXTENDED")
REASON_LIMIT = 2000
# Every member column updateMember may set (the ID number and the category are not among them).
EDITABLE = tuple(name for name in CAMEL if name not in ("id_number", "category"))


def _today() -> dt.date:
    return clock.today()


async def lock_members(session: AsyncSession, member_ids: Sequence[int]) -> dict[int, models.Member]:
    """FOR UPDATE on the members, in id order, re-read under the lock."""
    m = models.Member
    rows = await session.scalars(select(m).where(m.id.in_(sorted(set(member_ids)))).order_by(m.id)
                                 .with_for_update().execution_options(populate_existing=True))
    return {row.id: row for row in rows}


async def _member_with_path(session: AsyncSession, actor: Actor, member_id: int | None,
                            field: list[str] | str) -> tuple[models.Member, str]:
    member, organization = await _get(session, actor, member_id, field)
    await lock_members(session, [member.id])
    if member.organization_id != organization.id:  # moved meanwhile: read its organization again
        member, organization = await _get(session, actor, member.id, field)
    return member, organization.path


async def _get(session, actor, member_id, field):
    return await branch_get(session, actor.branch, models.Member, member_id, "党员", field)


async def members_by_index(session: AsyncSession, actor: Actor, member_ids: Sequence[int | None],
                           field: str = "memberIds") -> list[tuple[models.Member, str]]:
    """The members of a batch input, in input order, locked (FOR UPDATE, id order), with their
    organization's path. Every absent, foreign or repeated id is reported at once, named by its
    list index (`memberIds.3`); one of them fails the whole batch."""
    problems = Problems()
    wanted = [pk for pk in member_ids if pk is not None]
    found: dict[int, tuple[models.Member, str]] = {}
    if wanted:
        # Lock only what the caller reaches, then read it again under the lock (with its
        # organization now): a member moved out of the branch meanwhile is NOT_FOUND.
        reached = list(await session.scalars(members_in(actor.branch, models.Member.id)
                                             .where(models.Member.id.in_(wanted))))
        await lock_members(session, reached)
        stmt = members_in(actor.branch, models.Member, models.Organization.path).where(models.Member.id.in_(reached))
        found = {m.id: (m, path) for m, path in await session.execute(stmt)}
    seen: set[int] = set()
    for index, pk in enumerate(member_ids):
        if pk is None or pk not in found:
            problems.add("NOT_FOUND", "党员不存在或不在本账户的管辖范围内", [field, str(index)])
        elif pk in seen:
            problems.add("INVALID", "重复的党员", [field, str(index)])
        seen.add(pk)
    if not member_ids:
        problems.add("INVALID", "请至少选择一名党员", [field])
    problems.raise_if_any()
    return [found[pk] for pk in member_ids]


def _values_of(member: models.Member) -> dict[str, Any]:
    return {name: getattr(member, name) for name in CAMEL}


async def probation_extended(session: AsyncSession, member_id: int) -> bool:
    s = models.StatusChange
    return (await session.execute(select(s.id).where(s.member_id == member_id, s.kind == "PROBATION_EXTENDED")
                                  .limit(1))).first() is not None


def _touch(member: models.Member, changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        set_committed_value(member, key, value)


async def _write_member(session: AsyncSession, member: models.Member, changes: dict[str, Any],
                        expected_version: int | None = None, field: str = "expectedVersion") -> None:
    """UPDATE the member's columns, version + 1, compare-and-set on the version it was read at
    (under the caller's row lock that is a backstop: the version cannot have moved)."""
    m = models.Member
    now = dt.datetime.now(dt.timezone.utc)
    version = member.version if expected_version is None else expected_version
    row = (await session.execute(
        update(m).where(m.id == member.id, m.version == version)
        .values(**changes, version=m.version + 1, updated_at=now)
        .returning(m.version).execution_options(synchronize_session=False))).first()
    if row is None:
        raise DomainError("CONFLICT", "该党员已被他人修改，请刷新后重试", field)
    touch(session, organizations=[member.organization_id], members=[member.id])
    _touch(member, {**changes, "version": row[0], "updated_at": now})


# ------------------------------------------------------------------ updateMember, correctIdNumber


async def _apply_field_changes(session: AsyncSession, member: models.Member, changes: dict[str, Any],
                               entry: bool = False) -> dict:
    """Validate the record as it would be after `changes` (MemberFields, snake_case) and return the
    columns to write; the development dates of reached categories move their category steps
    (a correction of the recorded fact, db.services.history)."""
    problems = Problems()
    given_id = changes.pop("id_number", None)
    if entry:
        return await _apply_entry_changes(session, member, {**changes, "id_number": given_id or member.id_number})
    if given_id is not None:
        try:
            same = idnumber.parse(given_id)[0] == member.id_number
        except idnumber.InvalidIdNumber:
            same = False
        if not same:
            problems.add("NOT_ALLOWED", "身份证号码不能在此修改，请由管理员更正（correctIdNumber）", ["fields", "idNumber"])
    category = changes.pop("category", None)
    if category is not None and category != member.category:
        problems.add("NOT_ALLOWED", "党员类别请通过发展（promoteMember）变更", ["fields", "category"])
    rank = CATEGORIES.index(member.category)
    for name in DATE_FIELDS:
        if name not in changes:
            continue
        step_rank = DATE_FIELDS.index(name)
        if step_rank > rank and changes[name] is not None:
            problems.add("INVALID", "尚未发展到该阶段，不能填写此日期", ["fields", CAMEL[name]])
        elif step_rank <= rank and changes[name] is None and getattr(member, name) is not None:
            problems.add("INVALID", "已记录的发展日期不能清空", ["fields", CAMEL[name]])
    merged = {**_values_of(member), **changes}
    try:
        values = validate_fields(merged, probation_extended=await probation_extended(session, member.id))
    except DomainError as exc:
        problems.items.extend(exc.problems)
    problems.raise_if_any()
    columns = {name: values[name] for name in EDITABLE if values[name] != getattr(member, name)}
    if columns:
        columns["completeness"] = completeness_percent_of(values)
    await _check_steps_before_status_records(session, member, columns)
    await _move_category_steps(session, member, columns)
    return columns


# A corrected development date moves its category step; these 党籍异动 records rest on the steps
# before them: no step after the member's leaving, and the probationary step (joinedOn) not after
# a probation's extension or cancellation (the member was probationary by then).
_STEP_BOUNDS = {name: LEAVING_KINDS for name in history.CATEGORY_DATES.values()}
_STEP_BOUNDS["joined_on"] = LEAVING_KINDS + ("PROBATION_EXTENDED",)


async def _check_steps_before_status_records(session: AsyncSession, member: models.Member,
                                             columns: dict[str, Any]) -> None:
    moved = {name: columns[name] for name in _STEP_BOUNDS if columns.get(name) is not None}
    if not moved:
        return
    s = models.StatusChange
    first = dict((await session.execute(select(s.kind, func.min(s.date)).where(s.member_id == member.id)
                                        .group_by(s.kind))).all())
    problems = Problems()
    for name, day in moved.items():
        bounds = [first[kind] for kind in _STEP_BOUNDS[name] if kind in first]
        if bounds and day > min(bounds):
            problems.add("INVALID", f"发展日期不能晚于该党员的党籍异动记录（{min(bounds).isoformat()}）",
                         ["fields", CAMEL[name]])
    problems.raise_if_any()


async def _apply_entry_changes(session: AsyncSession, member: models.Member, changes: dict[str, Any]) -> dict:
    """A rejected entry was never a member: whatever was entered wrong may be corrected before it
    goes up again, the ID number and the category included, and its category steps are written
    again from the corrected dates (as createMember writes them)."""
    merged = {**_values_of(member), **changes}
    values = validate_fields(merged)
    if values["id_number"] != member.id_number:
        taken = (await session.execute(select(models.Member.id).where(
            models.Member.id_number == values["id_number"], models.Member.id != member.id).limit(1))).first()
        if taken:
            raise DomainError("DUPLICATE", "该身份证号码的党员已存在", ["fields", "idNumber"])
    columns = {name: values[name] for name in (*CAMEL, "birth_date", "gender") if values[name] != getattr(member, name)}
    if columns:
        columns["completeness"] = completeness_percent_of(values)
    c = models.MemberCategoryStep
    touch(session, organizations=[member.organization_id], members=[member.id])
    await session.execute(delete(c).where(c.member_id == member.id).execution_options(synchronize_session=False))
    history.add_category_steps(session, member.id,
                               history.initial_category_steps(values, await _placement_start(session, member.id)))
    await session.flush()
    # The steps deleted above (a Core DELETE, unseen by history's flush hook) may have held the
    # member's latest fact: its date (and its kept days' states) are read again from the facts.
    await history.refresh_member(session, [member.id])
    return columns


async def _move_category_steps(session: AsyncSession, member: models.Member, columns: dict[str, Any]) -> None:
    c = models.MemberCategoryStep
    for category, name in history.CATEGORY_DATES.items():
        if name not in columns or columns[name] is None:
            continue
        step = (await session.scalars(select(c).where(c.member_id == member.id, c.category == category)
                                      .order_by(c.id.desc()).limit(1))).first()
        if step is None:
            history.add_category_steps(session, member.id, [(category, columns[name])])
        else:
            step.effective_on = columns[name]
    await session.flush()


async def update_member(session: AsyncSession, actor: Actor, member_id: int, expected_version: int | None,
                        changes: dict[str, Any]) -> tuple[models.Member, str]:
    """updateMember: any field but the ID number and the category. Lock, then check the version
    (CONFLICT when another write came first), then validate the whole record as it would be."""
    member, path = await _member_with_path(session, actor, member_id, "memberId")
    if expected_version is not None and member.version != expected_version:
        raise DomainError("CONFLICT", "该党员已被他人修改，请刷新后重试", "expectedVersion")
    columns = await _apply_field_changes(session, member, dict(changes))
    await _write_member(session, member, columns, expected_version)
    return member, path


async def correct_id_number(session: AsyncSession, actor: Actor, member_id: int, new_id_number: str,
                            reason: str | None) -> tuple[models.Member, str]:
    """correctIdNumber (ADMIN): the one way to change an ID number; birth date and gender follow
    it, the record is checked again, and the correction is kept with its reason."""
    member, path = await _member_with_path(session, actor, member_id, "memberId")
    problems = Problems()
    reason = (reason or "").strip()
    if not reason:
        problems.add("INVALID", "请填写更正原因", ["reason"])
    elif len(reason) > REASON_LIMIT:
        problems.add("INVALID", f"不能超过 {REASON_LIMIT} 个字符", ["reason"])
    number = birth = gender = None
    try:
        number, birth, gender = idnumber.parse(new_id_number or "")
    except idnumber.InvalidIdNumber as exc:
        problems.add("INVALID", str(exc), ["newIdNumber"])
    if number is not None and number == member.id_number:
        problems.add("INVALID", "新身份证号码与原号码相同", ["newIdNumber"])
    problems.raise_if_any()
    merged = {**_values_of(member), "id_number": number}
    try:
        validate_fields(merged, probation_extended=await probation_extended(session, member.id))
    except DomainError as exc:
        raise DomainError.of([type(p)(p.code, p.message, ["newIdNumber"]) for p in exc.problems]) from exc
    taken = (await session.execute(select(models.Member.id).where(models.Member.id_number == number,
                                                                  models.Member.id != member.id).limit(1))).first()
    if taken:
        raise DomainError("DUPLICATE", "该身份证号码的党员已存在", "newIdNumber")
    session.add(models.MemberCorrection(member_id=member.id, field="idNumber", old_value=member.id_number,
                                        new_value=number, reason=reason, account_id=actor.account_id))
    await _write_member(session, member, {"id_number": number, "birth_date": birth, "gender": gender})
    return member, path


# ------------------------------------------------------------------ development (发展)

NEXT_CATEGORY = dict(zip(CATEGORIES, CATEGORIES[1:]))


async def promote(session: AsyncSession, actor: Actor, member_id: int, to: str,
                  date: dt.date) -> tuple[models.Member, str]:
    """promoteMember: one step up (APPLICANT → ACTIVIST → CANDIDATE → PROBATIONARY → FULL) with
    the step's date, which fills the step's date field; the record is checked as it would be
    (dates in order, the age rule at admission, the probation year at confirmation)."""
    member, path = await _member_with_path(session, actor, member_id, "memberId")
    if member.status not in ON_ROLL:
        raise DomainError("NOT_ALLOWED", "只有在册的党员（含入党申请人等）可以发展", "memberId")
    if NEXT_CATEGORY.get(member.category) != to:
        if to in CATEGORIES and CATEGORIES.index(to) <= CATEGORIES.index(member.category):
            raise DomainError("NOT_ALLOWED", "只能向上发展到下一阶段", "to")
        raise DomainError("NOT_ALLOWED", "发展须逐级进行，不能跳过阶段", "to")
    column = history.CATEGORY_DATES[to]
    merged = {**_values_of(member), "category": to, column: date}
    try:
        # The one validation of a record (dates in order and not in the future, the age rule at
        # admission, the probation year at confirmation), of the record as it would be; the new
        # step's date is what makes it fail, so that is the field named.
        values = validate_fields(merged, probation_extended=await probation_extended(session, member.id))
    except DomainError as exc:
        raise DomainError.of([type(p)(p.code, p.message, ["date"]) for p in exc.problems]) from exc
    m = models.Member
    row = (await session.execute(
        update(m).where(m.id == member.id, m.category == member.category)
        .values(category=to, **{column: date}, completeness=completeness_percent_of(values),
                version=m.version + 1, updated_at=dt.datetime.now(dt.timezone.utc))
        .returning(m.version).execution_options(synchronize_session=False))).first()
    if row is None:
        raise DomainError("CONFLICT", "该党员已被他人发展，请刷新后重试", "memberId")
    touch(session, organizations=[member.organization_id], members=[member.id])
    _touch(member, {"category": to, column: date, "completeness": completeness_percent_of(values),
                    "version": row[0]})
    history.add_category_steps(session, member.id, [(to, date)])
    await session.flush()
    return member, path


# ------------------------------------------------------------------ party status (党籍异动)


async def _suspended(session: AsyncSession, member_id: int) -> bool:
    s = models.StatusChange
    last = (await session.execute(
        select(s.kind).where(s.member_id == member_id, s.kind.in_(("SUSPENDED", "RESTORED")))
        .order_by(s.date.desc(), s.id.desc()).limit(1))).scalar_one_or_none()
    return last == "SUSPENDED"


async def record_status_change(session: AsyncSession, actor: Actor, member_id: int, kind: str, date: dt.date,
                               reason: str | None) -> tuple[models.StatusChange, models.Member, str]:
    """recordStatusChange. DEATH, WITHDRAWAL, REMOVAL, EXPULSION and PROBATION_CANCELLED make the
    member LEFT on `date` (compare-and-set, members.set_status): out of default lists and counts,
    the record kept, every open leader position and an open flow (流动) ended on that date. A back-dated change takes
    effect on its date in the history; it may not precede the member's latest recorded fact."""
    member, path = await _member_with_path(session, actor, member_id, "memberId")
    problems = Problems()
    reason = (reason or "").strip() or None
    if kind not in STATUS_CHANGE_KINDS:
        problems.add("INVALID", "未知的党籍异动类型", ["kind"])
    if reason is not None and len(reason) > REASON_LIMIT:
        problems.add("INVALID", f"不能超过 {REASON_LIMIT} 个字符", ["reason"])
    if date > _today():
        problems.add("INVALID", "日期不能晚于今天", ["date"])
    latest = await history.latest_fact_date(session, member.id)
    if latest is not None and date < latest:
        problems.add("INVALID", f"日期不能早于该党员最近一次变动的日期（{latest.isoformat()}）", ["date"])
    problems.raise_if_any()
    if member.status not in ON_ROLL:
        raise DomainError("NOT_ALLOWED", "该党员不在册（待审、未通过、已转出或已离开党组织），不能登记党籍异动", "memberId")
    if kind in ("PROBATION_CANCELLED", "PROBATION_EXTENDED") and member.category != "PROBATIONARY":
        raise DomainError("NOT_ALLOWED", "只有预备党员可以取消预备党员资格或延长预备期", "kind")
    if kind == "PROBATION_EXTENDED":
        if await probation_extended(session, member.id):
            raise DomainError("NOT_ALLOWED", "预备期只能延长一次", "kind")
        if member.joined_on and date > member_service._years_after(member.joined_on, 1):
            raise DomainError("INVALID", "延长预备期须在预备期满（入党一年）之前决定", "date")
    suspended = await _suspended(session, member.id)
    if kind == "SUSPENDED" and suspended:
        raise DomainError("NOT_ALLOWED", "该党员已被停止党籍", "kind")
    if kind == "RESTORED" and not suspended:
        raise DomainError("NOT_ALLOWED", "只有被停止党籍的党员可以恢复党籍", "kind")
    change = models.StatusChange(member_id=member.id, organization_id=member.organization_id, kind=kind,
                                 date=date, reason=reason)
    session.add(change)
    if kind in LEAVING_KINDS:
        await member_service.set_status(session, member, "LEFT", effective_on=date)
        # A member away (流出) who leaves: the open flow ends that day (touched with the member).
        f = models.Flow
        await session.execute(update(f).where(f.member_id == member.id, f.returned_on.is_(None))
                              .values(returned_on=date).execution_options(synchronize_session=False))
        p = models.LeaderPosition
        # Each open position ends on the date (one that began after it, on its own first day).
        await session.execute(
            update(p).where(p.member_id == member.id, p.until.is_(None), p.since <= date).values(until=date)
            .execution_options(synchronize_session=False))
        await session.execute(
            update(p).where(p.member_id == member.id, p.until.is_(None)).values(until=p.since)
            .execution_options(synchronize_session=False))
    await session.flush()
    return change, member, path


# ------------------------------------------------------------------ approval (待审)


def _decides(actor: Actor, organization_path: str) -> bool:
    """An account decides entries of organizations strictly below its own (the parent approves)."""
    return actor.branch.holds_path(organization_path) and organization_path != actor.branch.path


async def _placement_start(session: AsyncSession, member_id: int) -> dt.date:
    p = models.MemberPlacement
    return (await session.execute(select(func.max(p.valid_from)).where(p.member_id == member_id,
                                                                      p.valid_to.is_(None)))).scalar_one()


async def decide(session: AsyncSession, actor: Actor, member_ids: Sequence[int | None], approve: bool,
                 reason: str | None) -> list[tuple[models.Member, str]]:
    """approveMembers / rejectMembers, all or nothing. Only an account of a strict ancestor
    decides (the entry's own organization submitted it); an entry no longer PENDING_APPROVAL is
    CONFLICT. The decision takes effect from the entry's placement start: it confirms or refuses
    the entered facts (the PENDING_APPROVAL step stays in the history, superseded)."""
    problems = Problems()
    reason = (reason or "").strip() or None
    if not approve and reason is None:
        problems.add("INVALID", "退回须填写原因", ["reason"])
    if reason is not None and len(reason) > REASON_LIMIT:
        problems.add("INVALID", f"不能超过 {REASON_LIMIT} 个字符", ["reason"])
    try:
        rows = await members_by_index(session, actor, member_ids)
    except DomainError as exc:
        problems.items.extend(exc.problems)
        rows = []
    for index, (member, path) in enumerate(rows):
        field = ["memberIds", str(index)]
        if not _decides(actor, path):
            problems.add("NOT_ALLOWED", "本级录入的党员须由上级党组织审批", field)
        elif member.status != "PENDING_APPROVAL":
            problems.add("CONFLICT", "该党员已不是待审状态", field)
    problems.raise_if_any()
    # Organization rows (the count rollups) in one order, id order, whatever the input order: two
    # batches over members of the same organizations never wait for each other crosswise.
    for index, (member, _path) in sorted(enumerate(rows), key=lambda item: (item[1][0].organization_id, item[0])):
        since = await _placement_start(session, member.id)
        await member_service.set_status(
            session, member, "ACTIVE" if approve else "REJECTED", effective_on=since,
            field=["memberIds", str(index)], extra={"rejection_reason": None if approve else reason})
    await session.flush()
    return rows


async def resubmit(session: AsyncSession, actor: Actor, member_id: int,
                   changes: dict[str, Any] | None) -> tuple[models.Member, str]:
    """resubmitMember: a REJECTED entry, optionally corrected (any field, the ID number and the
    category included: it never was a member), goes up for approval again."""
    member, path = await _member_with_path(session, actor, member_id, "memberId")
    if member.status != "REJECTED":
        raise DomainError("CONFLICT", "只有审批未通过的党员可以重新提交", "memberId")
    if changes:
        columns = await _apply_field_changes(session, member, dict(changes), entry=True)
        if columns:
            await _write_member(session, member, columns)
    since = await _placement_start(session, member.id)
    await member_service.set_status(session, member, "PENDING_APPROVAL", effective_on=since,
                                    extra={"rejection_reason": None})
    return member, path


async def delete_rejected(session: AsyncSession, actor: Actor, member_ids: Sequence[int | None]) -> list[int]:
    """deleteRejectedMembers: REJECTED entries only, all or nothing; the entries and everything
    hanging from them go (they never were members: counted nowhere). Returns the organizations
    affected."""
    rows = await members_by_index(session, actor, member_ids)
    problems = Problems()
    ids = [member.id for member, _ in rows]
    linked = set(await session.scalars(select(models.Account.member_id).where(models.Account.member_id.in_(ids))))
    for index, (member, _path) in enumerate(rows):
        if member.status != "REJECTED":
            problems.add("CONFLICT", "只能删除审批未通过的党员", ["memberIds", str(index)])
        elif member.id in linked:
            problems.add("NOT_ALLOWED", "该党员已关联账户，请先处理账户", ["memberIds", str(index)])
    problems.raise_if_any()
    touch(session, organizations=[member.organization_id for member, _ in rows],
          members=[member.id for member, _ in rows])
    for entity in (models.MemberPlacement, models.MemberCategoryStep, models.MemberStatusStep, models.StatusChange,
                   models.MemberRecord, models.MemberCorrection, models.Difficulty, models.LeaderPosition,
                   models.Flow, models.RepresentativeTerm, models.Volunteer):
        await session.execute(delete(entity).where(entity.member_id.in_(ids))
                              .execution_options(synchronize_session=False))
    m = models.Member
    deleted = (await session.execute(delete(m).where(m.id.in_(ids), m.status == "REJECTED")
                                     .execution_options(synchronize_session=False))).rowcount
    if deleted != len(ids):
        raise DomainError("CONFLICT", "党员状态已被他人修改，请刷新后重试", "memberIds")
    return sorted({member.organization_id for member, _ in rows})


# ------------------------------------------------------------------ inflow (流入党员)


async def convert_inflow(session: AsyncSession, actor: Actor, member_id: int) -> tuple[models.Member, str]:
    """convertInflowToDirect: a member managed here whose relationship was elsewhere (INFLOW)
    now has it here (DIRECT)."""
    member, path = await _member_with_path(session, actor, member_id, "memberId")
    if member.affiliation != "INFLOW":
        raise DomainError("CONFLICT", "该党员不是流入党员", "memberId")
    if member.status not in ON_ROLL:
        raise DomainError("NOT_ALLOWED", "该党员不在册，不能转为直管", "memberId")
    m = models.Member
    row = (await session.execute(
        update(m).where(m.id == member.id, m.affiliation == "INFLOW")
        .values(affiliation="DIRECT", version=m.version + 1, updated_at=dt.datetime.now(dt.timezone.utc))
        .returning(m.version).execution_options(synchronize_session=False))).first()
    if row is None:
        raise DomainError("CONFLICT", "该党员已被他人转为直管", "memberId")
    touch(session, organizations=[member.organization_id], members=[member.id])
    _touch(member, {"affiliation": "DIRECT", "version": row[0]})
    return member, path



# ------------------------------------------------------------------ pendingApprovals (read)


def _pending(branch: Branch, anchor_path: str, *columns):
    o = models.Organization
    return members_in(branch, *columns).where(models.Member.status == "PENDING_APPROVAL",
                                              within(o.path, anchor_path), o.path != branch.path)


async def pending_page(session: AsyncSession, branch: Branch, anchor_path: str, first: int,
                       after: str | None) -> Page:
    """待审党员 for an account: entries of organizations strictly below its own (those it decides),
    within `anchor_path`'s subtree, in tree order."""
    order = member_service.MemberOrder()
    return await keyset_page(session, _pending(branch, anchor_path, models.Member, models.Organization.path),
                             member_service.sort_keys(order), first, after,
                             lambda row: member_service._key_values(row, order))


async def count_pending(session: AsyncSession, branch: Branch, anchor_path: str) -> int:
    return (await session.execute(_pending(branch, anchor_path, func.count(models.Member.id)))).scalar_one()
