"""子信息集: a member's rewards, punishments, party positions, trips abroad, activities, dues and
evaluations; 批量录入 (the same record for many members at once) and 查询未录入 (members with no
record of a kind since a date).

Records are read through the member's current organization (db.branch.via_member; reads through
db.branch.via_member_in_sight, which adds the receiver of a pending transfer). A batch is
all or nothing: one absent or foreign id fails it, named by its list index. Each write affects the
organizations of its members (returned with the rows), for the response cache."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any, Sequence

from sqlalchemy import delete, exists, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import clock, codes, models
from db.branch import Actor, Branch, members as members_in, via_member, via_member_in_sight
from db.changes import touch
from db.errors import DomainError, Problems
from db.pagination import Page, SortKey, keyset_page, pages_by_anchor
from db.services.members import MemberOrder, MemberQuery, anchored, sort_keys, _key_values

R = models.MemberRecord
KINDS = ("REWARD", "PUNISHMENT", "POSITION", "ABROAD", "ACTIVITY", "DUES", "EVALUATION")
# The code table of each kind that has one.
CODE_TABLES = {"REWARD": "reward", "PUNISHMENT": "punishment", "POSITION": "party_position"}
EVALUATION_RESULTS = ("优秀", "合格", "基本合格", "不合格")
TEXT_LIMITS = {"title": 200, "approved_by": 200, "note": 2000}
CAMEL = {"code": "code", "title": "title", "date": "date", "until": "until", "amount": "amount",
         "approved_by": "approvedBy", "result": "result", "note": "note"}
MAX_BATCH = 5000
MAX_AMOUNT = Decimal("9999999999.99")


def validate(kind: str, fields: dict[str, Any], *, today: dt.date | None = None) -> dict[str, Any]:
    """The row values of a record of `kind` (MemberRecordFields, snake_case); every problem at once,
    at ["fields", name]. Kind-specific: DUES an amount > 0 and a month (stored as its first day);
    REWARD and PUNISHMENT a code of their table and approvedBy; EVALUATION a result."""
    today = today or clock.today()
    problems = Problems()

    def at(name: str) -> list[str]:
        return ["fields", CAMEL[name]]

    values: dict[str, Any] = {}
    for name in ("code", "title", "approved_by", "result", "note"):
        value = fields.get(name)
        if isinstance(value, str):
            value = value.strip() or None
        values[name] = value
        if name in TEXT_LIMITS and value is not None and len(value) > TEXT_LIMITS[name]:
            problems.add("INVALID", f"不能超过 {TEXT_LIMITS[name]} 个字符", at(name))
    if kind not in KINDS:
        problems.add("INVALID", "未知的记录类型", ["kind"])
    day, until, amount = fields.get("date"), fields.get("until"), fields.get("amount")
    if day is None:
        problems.add("INVALID", "请填写日期", at("date"))
    elif kind == "DUES":
        day = day.replace(day=1)
    if day is not None and day > today:
        problems.add("INVALID", "日期不能晚于今天", at("date"))
    if until is not None and day is not None and until < day:
        problems.add("INVALID", "结束日期不能早于开始日期", at("until"))
    values.update(date=day, until=until)
    table = CODE_TABLES.get(kind)
    if values["code"] is not None:
        if table is None:
            problems.add("INVALID", "该类记录没有代码", at("code"))
        elif not codes.is_valid(table, values["code"]):
            problems.add("INVALID", f"代码 {values['code']} 不在代码表中", at("code"))
    elif kind in ("REWARD", "PUNISHMENT"):
        problems.add("INVALID", "请选择奖惩代码", at("code"))
    if kind in ("REWARD", "PUNISHMENT") and values["approved_by"] is None:
        problems.add("INVALID", "请填写批准机关", at("approved_by"))
    if kind == "DUES":
        if amount is None or amount <= 0:
            problems.add("INVALID", "党费金额须大于零", at("amount"))
        elif amount > MAX_AMOUNT or amount != amount.quantize(Decimal("0.01")):
            problems.add("INVALID", "党费金额须为不超过两位小数的金额", at("amount"))
    elif amount is not None:
        problems.add("INVALID", "只有党费记录填写金额", at("amount"))
    if kind == "EVALUATION":
        if values["result"] not in EVALUATION_RESULTS:
            problems.add("INVALID", "评议结果须为 优秀、合格、基本合格 或 不合格", at("result"))
    elif values["result"] is not None:
        problems.add("INVALID", "只有民主评议记录填写结果", at("result"))
    values["amount"] = amount
    problems.raise_if_any()
    return values


async def add(session: AsyncSession, actor: Actor, member_ids: Sequence[int | None], kind: str,
              fields: dict[str, Any]) -> list[tuple[models.MemberRecord, str]]:
    """addMemberRecords: the same record for every member of the batch, in one INSERT."""
    problems = Problems()
    try:
        values = validate(kind, fields)
    except DomainError as exc:
        problems.items.extend(exc.problems)
        values = None
    if not member_ids:
        problems.add("INVALID", "请至少选择一名党员", ["memberIds"])
    if len(member_ids) > MAX_BATCH:
        problems.add("INVALID", f"一次最多 {MAX_BATCH} 名党员", ["memberIds"])
        problems.raise_if_any()
    wanted = [pk for pk in member_ids if pk is not None]
    paths: dict[int, str] = {}
    affected: set[int] = set()  # the organizations this write changes (their members' records)
    if wanted:
        stmt = (members_in(actor.branch, models.Member.id, models.Organization.path, models.Member.organization_id)
                .where(models.Member.id.in_(await _lock_members(session, actor.branch, wanted))))
        for member_id, path, organization_id in await session.execute(stmt):
            paths[member_id] = path
            affected.add(organization_id)
    seen: set[int] = set()
    for index, pk in enumerate(member_ids):
        if pk is None or pk not in paths:
            problems.add("NOT_FOUND", "党员不存在或不在本账户的管辖范围内", ["memberIds", str(index)])
        elif pk in seen:
            problems.add("INVALID", "重复的党员", ["memberIds", str(index)])
        seen.add(pk)
    problems.raise_if_any()
    rows = [{"member_id": pk, "kind": kind, **values} for pk in member_ids]
    touch(session, organizations=affected, members=member_ids)
    records = list(await session.scalars(insert(R).returning(R, sort_by_parameter_order=True), rows))
    return [(record, paths[record.member_id]) for record in records]


async def _lock_members(session: AsyncSession, branch: Branch, member_ids) -> list[int]:
    """The members of `member_ids` the branch reaches, locked (FOR NO KEY UPDATE, id order) before a
    write of their records; the caller reads them again under the lock. Without it a record was
    written for a member whose transfer was accepted meanwhile (on PostgreSQL the INSERT's foreign
    key takes only KEY SHARE, which the acceptance's UPDATE does not wait for): the old branch
    wrote to a member that had just left it, and marked the old branch's versions while the new
    one read the record (found by a reviewer, tests/test_review_cache_sight.py). NO KEY UPDATE, as
    db.services.history's: the fact inserts of another writer hold the row FOR KEY SHARE."""
    m = models.Member
    reached = list(await session.scalars(members_in(branch, m.id).where(m.id.in_(sorted(set(member_ids))))))
    if reached:
        await session.execute(select(m.id).where(m.id.in_(sorted(reached))).order_by(m.id)
                              .with_for_update(key_share=True))
    return reached


async def _get(session: AsyncSession, branch: Branch, record_id: int | None,
               field: list[str] | str) -> tuple[models.MemberRecord, models.Organization]:
    """The record and its member's current organization, if the branch reaches it; else NOT_FOUND."""
    from db.branch import get as branch_get

    return await branch_get(session, branch, R, record_id, "党员记录", field)


async def update(session: AsyncSession, actor: Actor, record_id: int,
                 fields: dict[str, Any]) -> tuple[models.MemberRecord, str]:
    """updateMemberRecord: the record's fields, checked as a whole for its kind."""
    record, organization = await _get(session, actor.branch, record_id, "recordId")
    # The member locked, then the record read again: an UPDATE of a record touches no member row,
    # so a transfer sent meanwhile committed after this write's marks were resolved (its member's
    # organization only) and the receiver kept a stale cached record (a reviewer).
    await _lock_members(session, actor.branch, [record.member_id])  # gone from the branch: NOT_FOUND next
    record, organization = await _get(session, actor.branch, record_id, "recordId")
    path = organization.path  # organization.id: the organization this write changes
    values = validate(record.kind, fields)
    for name, value in values.items():
        setattr(record, name, value)
    await session.flush()
    return record, path


async def delete_many(session: AsyncSession, actor: Actor, record_ids: Sequence[int | None]) -> list[int]:
    """deleteMemberRecords, all or nothing; returns the organizations whose members' records went
    (the organizations this write changes)."""
    problems = Problems()
    wanted = [pk for pk in record_ids if pk is not None]
    found: dict[int, int] = {}
    owners: set[int] = set()
    if wanted:
        reached = dict((await session.execute(via_member(actor.branch, R, R.id, R.member_id)
                                              .where(R.id.in_(wanted)))).all())
        await _lock_members(session, actor.branch, reached.values())
        for pk, member_id, organization_id in await session.execute(
                via_member(actor.branch, R, R.id, R.member_id, models.Member.organization_id).where(R.id.in_(wanted))):
            found[pk] = organization_id
            owners.add(member_id)
    seen: set[int] = set()
    for index, pk in enumerate(record_ids):
        if pk is None or pk not in found:
            problems.add("NOT_FOUND", "党员记录不存在或不在本账户的管辖范围内", ["recordIds", str(index)])
        elif pk in seen:
            problems.add("INVALID", "重复的记录", ["recordIds", str(index)])
        seen.add(pk)
    if not record_ids:
        problems.add("INVALID", "请至少选择一条记录", ["recordIds"])
    problems.raise_if_any()
    touch(session, organizations=found.values(), members=owners)
    await session.execute(delete(R).where(R.id.in_(wanted)).execution_options(synchronize_session=False))
    return sorted(set(found.values()))


# ------------------------------------------------------------------ reads


def _records(branch: Branch, kind: str | None):
    stmt = via_member_in_sight(branch, R)
    return stmt.where(R.kind == kind) if kind is not None else stmt


RECORD_KEYS = [SortKey(R.date, descending=True), SortKey(R.id, descending=True)]


async def record_pages(session: AsyncSession, branch: Branch, member_ids: Sequence[int], kind: str | None,
                       first: int, after: str | None) -> dict[int, Page]:
    """Member.records: newest first, one page per member, in one statement."""
    return await pages_by_anchor(session, _records(branch, kind), R.member_id, RECORD_KEYS, member_ids, first,
                                 after, lambda row: [row[0].date, row[0].id])


async def count_records(session: AsyncSession, branch: Branch, member_ids: Sequence[int],
                        kind: str | None) -> dict[int, int]:
    stmt = (via_member_in_sight(branch, R, R.member_id, func.count(R.id))
            .where(R.member_id.in_(member_ids)).group_by(R.member_id))
    if kind is not None:
        stmt = stmt.where(R.kind == kind)
    return dict((await session.execute(stmt)).all())


async def records_by_id(session: AsyncSession, branch: Branch, ids: Sequence[int]) -> dict[int, tuple]:
    return {r.id: (r, path) for r, path in await session.execute(_records(branch, None).where(R.id.in_(ids)))}


def _without(kind: str, since: dt.date):
    return ~exists().where(R.member_id == models.Member.id, R.kind == kind, R.date >= since)


async def members_without_record(session: AsyncSession, branch: Branch, organization_id: int, subtree: bool,
                                 kind: str, since: dt.date, first: int, after: str | None) -> Page:
    """查询未录入: members of the organization (or its subtree) in the default statuses with no
    record of `kind` dated on or after `since`, in tree order."""
    stmt, anchor = anchored(branch, MemberQuery(subtree=subtree), models.Member, models.Organization.path)
    stmt = stmt.where(anchor == organization_id, _without(kind, since))
    order = MemberOrder()
    return await keyset_page(session, stmt, sort_keys(order), first, after, lambda row: _key_values(row, order))


async def count_members_without_record(session: AsyncSession, branch: Branch, organization_id: int,
                                       subtree: bool, kind: str, since: dt.date) -> int:
    stmt, anchor = anchored(branch, MemberQuery(subtree=subtree), func.count(models.Member.id))
    return (await session.execute(stmt.where(anchor == organization_id, _without(kind, since)))).scalar_one()


# ------------------------------------------------------------------ status changes (read)


async def status_changes_of_members(session: AsyncSession, branch: Branch,
                                    member_ids: Sequence[int]) -> dict[int, list]:
    s = models.StatusChange
    stmt = (via_member_in_sight(branch, s).where(s.member_id.in_(member_ids))
            .order_by(s.date, s.id))
    grouped = defaultdict(list)
    for change, path in await session.execute(stmt):
        grouped[change.member_id].append((change, path))
    return grouped


async def status_changes_by_id(session: AsyncSession, branch: Branch, ids: Sequence[int]) -> dict[int, tuple]:
    s = models.StatusChange
    stmt = via_member_in_sight(branch, s).where(s.id.in_(ids))
    return {c.id: (c, path) for c, path in await session.execute(stmt)}
