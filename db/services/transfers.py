"""组织关系转接: members moving between organizations, and out of the system.

- transferMembers (one or many, all or nothing): to an organization in the system, the transfer is
  PENDING and the member TRANSFERRING (still counted at the sender: TRANSFERRING is a counted
  status, so no count moves); to an external destination it is COMPLETED at once and the member
  TRANSFERRED_OUT on the date (out of counts from that day; its leader positions end that day).
- acceptTransfer (the receiver): the member's placement at the sender ends and one at the receiver
  starts on the decision date (history: half-open placements, so from the end of that day the
  member counts at the receiver, as-of statistics and the member balance see the move on its
  date), ACTIVE there; its leader positions end on that date; its MEMBER account moves along.
- rejectTransfer (the receiver, with a reason) and cancelTransfer (the sender): ACTIVE again at
  the sender, dated; the receiver loses sight of the member (db.branch.in_sight).
- The side that no longer reads the member (the sender after acceptance, the receiver after a
  rejection or cancellation) reads the transfer's member as the letter shows it: the copy of
  the letter's fields taken when sending (transfer.member_*, db.branch.letter_snapshot), which is
  also what the letter text prints, so a letter never changes after it is sent.

Concurrency: every decision locks the member row first (FOR UPDATE, the order of every member
write), then the transfer row (FOR UPDATE) and re-reads it: two accepts, or a cancel against an
accept, queue on the member; the second finds the transfer no longer PENDING (CONFLICT). The
status changes are compare-and-set besides (members.set_status, and the move below on
status = 'TRANSFERRING'); one PENDING transfer per member is also a partial unique index.
Letter numbers come from a per-year counter row (UPDATE ... RETURNING under its lock): consecutive,
never the same twice.

Who may act: the sender's branch sends and cancels (the members must be in the caller's branch);
the receiver's branch accepts and rejects (the receiving organization must be in the caller's
branch). The destination is any active organization (named through the directory).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from db import clock, idnumber, models
from db.branch import (
    TRANSFER_FROM, TRANSFER_TO, Actor, Branch, directory, directory_organization, letter_snapshot,
    transfer_sight_path, transfers as transfers_in, transfers_with_member_sight,
)
from db.changes import UNTRACKED, touch
from db.errors import DomainError, Problems
from db.pagination import Page, SortKey, keyset_page
from db.services import history, leadership, lifecycle
from db.services import members as member_service
from db.tree import within

STATUSES = ("PENDING", "ACCEPTED", "REJECTED", "CANCELLED", "COMPLETED")
DEFAULT_VALID_DAYS = 90
REASON_LIMIT = 2000
DESTINATION_LIMIT = 200
DIRECTORY_LIMIT = 20
CATEGORY_NAMES = {"APPLICANT": "入党申请人", "ACTIVIST": "入党积极分子", "CANDIDATE": "发展对象",
                  "PROBATIONARY": "预备党员", "FULL": "正式党员"}


def _today() -> dt.date:
    return clock.today()


# ------------------------------------------------------------------ the directory (组织目录)


@dataclass(frozen=True)
class Ref:
    """An organization as the directory names it: id, code, name and the names of its ancestors
    and itself, top first."""
    id: int
    code: str
    name: str
    path_names: tuple[str, ...]


def _path_ids(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


async def refs(session: AsyncSession, rows: Sequence) -> dict[int, Ref]:
    """Refs of organizations given as rows with id, code, name, path: one statement for the
    names of all their ancestors."""
    wanted = sorted({i for row in rows for i in _path_ids(row.path)})
    names: dict[int, str] = {}
    if wanted:
        o = models.Organization.__table__.c
        names = dict((await session.execute(select(o.id, o.name).where(o.id.in_(wanted)))).all())
    return {row.id: Ref(row.id, row.code, row.name, tuple(names.get(i, "") for i in _path_ids(row.path)))
            for row in rows}


async def search_directory(session: AsyncSession, search: str, first: int | None) -> list[Ref]:
    """Active organizations anywhere whose name or code contains `search` (at least 2
    characters), in tree order, at most 20."""
    text = (search or "").strip()
    if len(text) < 2:
        raise DomainError("INVALID", "请至少输入 2 个字符", "search")
    if len(text) > 100:
        raise DomainError("INVALID", "不能超过 100 个字符", "search")
    limit = DIRECTORY_LIMIT if first is None else first
    if limit < 1 or limit > DIRECTORY_LIMIT:
        raise DomainError("INVALID", f"first 须在 1 到 {DIRECTORY_LIMIT} 之间", "first")
    o = models.Organization.__table__.c
    rows = (await session.execute(
        directory().where(or_(o.name.contains(text, autoescape=True), o.code.contains(text, autoescape=True)))
        .order_by(o.path).limit(limit))).all()
    found = await refs(session, rows)
    return [found[row.id] for row in rows]


# ------------------------------------------------------------------ what a reader gets


@dataclass
class TransferView:
    """A transfer as a reader of `sight_path`'s branch gets it, with what names its two ends. What
    the letter prints of the member is the transfer's own copy (transfer.member_*, frozen when
    sent). `member_in_sight`: whether the reader reads the member itself, or only as the letter
    shows it (db.branch, the letter reach); `sight_organization_id`: the reader's end of it."""
    transfer: models.Transfer
    sight_path: str
    from_ref: Ref
    to_ref: Ref | None
    member_in_sight: bool
    sight_organization_id: int

    @property
    def member_name(self) -> str:
        return self.transfer.member_name

    @property
    def member_id_number(self) -> str:
        return self.transfer.member_id_number

    @property
    def member_category(self) -> str:
        return self.transfer.member_category


def letter_text(view: TransferView, id_number: str) -> str:
    """介绍信 (the introduction letter), ready to print."""
    t = view.transfer
    to_name = view.to_ref.name if view.to_ref is not None else (t.external_destination or "")
    category = CATEGORY_NAMES.get(view.member_category, view.member_category)
    lines = [
        "中国共产党党员组织关系介绍信",
        f"编号：{t.letter_number}",
        "",
        f"{to_name}：",
        f"    {view.member_name}同志（{category}，身份证号码 {id_number}）的党员组织关系，"
        f"由{view.from_ref.name}转到你处，请接洽。",
    ]
    if t.reason:
        lines.append(f"    转接原因：{t.reason}")
    lines += [
        f"    本介绍信有效期至 {t.valid_until.isoformat()}。",
        "",
        f"{view.from_ref.name}",
        f"{t.requested_on.isoformat()}",
    ]
    return "\n".join(lines)


async def _views(session: AsyncSession, rows: Sequence) -> list[TransferView]:
    """Rows of (transfer, sight_path, member_in_sight) → views, the ends' refs in one statement
    (plus one for their ancestors' names)."""
    org_ids = {i for row in rows for i in (row[0].from_organization_id, row[0].to_organization_id) if i is not None}
    found: dict[int, Ref] = {}
    paths: dict[int, str] = {}
    if org_ids:
        o = models.Organization.__table__.c
        org_rows = (await session.execute(select(o.id, o.code, o.name, o.path).where(o.id.in_(sorted(org_ids))))).all()
        found = await refs(session, org_rows)
        paths = {r.id: r.path for r in org_rows}
    views = []
    for transfer, sight_path, in_sight in rows:
        own_end = transfer.from_organization_id
        if paths.get(own_end) != sight_path and transfer.to_organization_id is not None:
            own_end = transfer.to_organization_id
        views.append(TransferView(
            transfer=transfer, sight_path=sight_path, from_ref=found[transfer.from_organization_id],
            to_ref=found.get(transfer.to_organization_id) if transfer.to_organization_id else None,
            member_in_sight=bool(in_sight), sight_organization_id=own_end))
    return views


def _visible(branch: Branch):
    """transfers(branch) with the columns of a view."""
    return transfers_with_member_sight(branch, models.Transfer, transfer_sight_path(branch))


async def views_by_id(session: AsyncSession, branch: Branch, ids: Sequence[int]) -> dict[int, TransferView]:
    rows = (await session.execute(_visible(branch).where(models.Transfer.id.in_(list(ids))))).all()
    return {view.transfer.id: view for view in await _views(session, rows)}


async def views_of_members(session: AsyncSession, branch: Branch, member_ids: Sequence[int]) -> dict[int, list]:
    """Each member's transfers the branch reads, oldest first."""
    t = models.Transfer
    rows = (await session.execute(_visible(branch).where(t.member_id.in_(list(member_ids)))
                                  .order_by(t.member_id, t.id))).all()
    grouped: dict[int, list] = {}
    for view in await _views(session, rows):
        grouped.setdefault(view.transfer.member_id, []).append(view)
    return grouped


@dataclass(frozen=True)
class TransferQuery:
    anchor_path: str
    subtree: bool = False
    direction: str | None = None  # INCOMING, OUTGOING, or either
    statuses: tuple[str, ...] | None = None
    overdue: bool = False


def _listed(branch: Branch, query: TransferQuery, *columns):
    t = models.Transfer
    stmt = _visible(branch) if not columns else transfers_in(branch, *columns)

    def at(alias):
        return within(alias.c.path, query.anchor_path) if query.subtree else alias.c.path == query.anchor_path

    if query.direction == "INCOMING":
        stmt = stmt.where(at(TRANSFER_TO))
    elif query.direction == "OUTGOING":
        stmt = stmt.where(at(TRANSFER_FROM))
    else:
        stmt = stmt.where(or_(at(TRANSFER_FROM), at(TRANSFER_TO)))
    if query.statuses is not None:
        stmt = stmt.where(t.status.in_(query.statuses))
    if query.overdue:
        stmt = stmt.where(t.status == "PENDING", t.valid_until < _today())
    return stmt


ORDER = [SortKey(models.Transfer.id, descending=True)]


async def page(session: AsyncSession, branch: Branch, query: TransferQuery, first: int, after: str | None) -> Page:
    """Transfers at the anchor (SELF) or in its subtree, newest first."""
    result = await keyset_page(session, _listed(branch, query), ORDER, first, after, lambda row: (row[0].id,))
    views = await _views(session, result.rows)
    return Page(rows=views, cursors=result.cursors, has_next_page=result.has_next_page)


async def count(session: AsyncSession, branch: Branch, query: TransferQuery) -> int:
    return (await session.execute(_listed(branch, query, func.count(models.Transfer.id)))).scalar_one()


# ------------------------------------------------------------------ letter numbers


def _insert_ignore(session: AsyncSession, table, values: dict):
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).values(**values).on_conflict_do_nothing()


async def next_letter(session: AsyncSession, year: int) -> tuple[int, str]:
    """The next letter number of `year`: (sequence, "转〔2026〕000123号"). The counter row is
    created on the year's first letter (a concurrent creation is ignored), then incremented under
    its row lock: concurrent transfers queue there and get consecutive numbers."""
    c = models.TransferLetterCounter
    await session.execute(_insert_ignore(session, c.__table__, {"year": year, "last": 0})
                          .execution_options(**{UNTRACKED: True}))
    seq = (await session.execute(update(c).where(c.year == year).values(last=c.last + 1).returning(c.last)
                                 .execution_options(synchronize_session=False, **{UNTRACKED: True}))).scalar_one()
    return seq, f"转〔{year}〕{seq:06d}号"


# ------------------------------------------------------------------ transferMembers


def _reason(problems: Problems, reason: str | None, field: str, required: bool = False) -> str | None:
    reason = (reason or "").strip() or None
    if reason is None and required:
        problems.add("INVALID", "请填写原因", [field])
    if reason is not None and len(reason) > REASON_LIMIT:
        problems.add("INVALID", f"不能超过 {REASON_LIMIT} 个字符", [field])
    return reason


async def _lock_destination(session: AsyncSession, organization_id: int | None) -> models.Organization:
    """The receiving organization, FOR KEY SHARE (a concurrent revoke, FOR UPDATE, waits or is
    seen), re-read under the lock; NOT_FOUND when absent, NOT_ALLOWED when revoked."""
    destination = None
    if organization_id is not None:
        destination = (await session.scalars(directory_organization(organization_id)
                                             .with_for_update(read=True, key_share=True)
                                             .execution_options(populate_existing=True))).first()
    if destination is None:
        raise DomainError("NOT_FOUND", "接收党组织不存在", "toOrganizationId")
    if destination.status != "ACTIVE":
        raise DomainError("NOT_ALLOWED", "接收党组织已撤销", "toOrganizationId")
    return destination


async def send(session: AsyncSession, actor: Actor, member_ids: Sequence[int | None], to_organization_id: int | None,
               external_destination: str | None, date: dt.date, reason: str | None,
               valid_days: int = DEFAULT_VALID_DAYS) -> list[TransferView]:
    """transferMembers, all or nothing."""
    problems = Problems()
    external = (external_destination or "").strip() or None
    if (to_organization_id is None) == (external is None):
        problems.add("INVALID", "请指定接收党组织或系统外的接收单位（二者选一）", ["toOrganizationId"])
    if external is not None and len(external) > DESTINATION_LIMIT:
        problems.add("INVALID", f"不能超过 {DESTINATION_LIMIT} 个字符", ["externalDestination"])
    if date > _today():
        problems.add("INVALID", "日期不能晚于今天", ["date"])
    reason = _reason(problems, reason, "reason")
    try:
        rows = await lifecycle.members_by_index(session, actor, member_ids)
    except DomainError as exc:
        problems.items.extend(exc.problems)
        rows = []
    problems.raise_if_any()
    destination = await _lock_destination(session, to_organization_id) if external is None else None
    for index, (member, _path) in enumerate(rows):
        field = ["memberIds", str(index)]
        if member.status == "TRANSFERRING":
            problems.add("CONFLICT", "该党员已有待接收的转接", field)
        elif member.status != "ACTIVE":
            problems.add("NOT_ALLOWED", "只有状态正常（ACTIVE）的党员可以转接", field)
        elif destination is not None and member.organization_id == destination.id:
            problems.add("INVALID", "不能转接到党员所在的党组织", field)
        else:
            latest = await history.latest_fact_date(session, member.id)
            if latest is not None and date < latest:
                problems.add("INVALID", f"日期不能早于该党员最近一次变动的日期（{latest.isoformat()}）", field)
    problems.raise_if_any()
    status = "PENDING" if destination is not None else "COMPLETED"
    created = []
    # Organization rows (the count rollups) in one order, as approveMembers does.
    for index, (member, _path) in sorted(enumerate(rows), key=lambda item: (item[1][0].organization_id, item[0])):
        seq, number = await next_letter(session, date.year)
        transfer = models.Transfer(
            member_id=member.id, from_organization_id=member.organization_id,
            to_organization_id=destination.id if destination is not None else None,
            external_destination=external, status=status, requested_on=date,
            decided_on=None if destination is not None else date, reason=reason, letter_year=date.year,
            letter_seq=seq, letter_number=number, valid_until=date + dt.timedelta(days=valid_days),
            **letter_snapshot(member))
        session.add(transfer)
        await member_service.set_status(session, member, "TRANSFERRING" if destination is not None else "TRANSFERRED_OUT",
                                        effective_on=date, field=["memberIds", str(index)])
        if destination is None:
            await leadership.end_member_positions(session, member.id, date)
        created.append((index, transfer, member))
    if destination is not None:
        touch(session, organizations=[destination.id])
    await session.flush()
    created.sort(key=lambda item: item[0])
    return await _own_views(session, actor, [transfer.id for _i, transfer, _m in created])


async def _own_views(session: AsyncSession, actor: Actor, ids: list[int]) -> list[TransferView]:
    found = await views_by_id(session, actor.branch, ids)
    return [found[i] for i in ids]


# ------------------------------------------------------------------ decisions


async def _decision(session: AsyncSession, actor: Actor, transfer_id: int | None, date: dt.date,
                    side: str) -> tuple[models.Transfer, models.Member]:
    """The transfer (visible to the caller, and the caller on `side`: "to" receives, "from"
    sends), its member and itself locked in that order and re-read; CONFLICT unless PENDING."""
    t = models.Transfer
    found = None
    if transfer_id is not None:
        found = (await session.execute(transfers_in(actor.branch, t.id, t.member_id, TRANSFER_FROM.c.path,
                                                    TRANSFER_TO.c.path).where(t.id == transfer_id))).first()
    if found is None:
        raise DomainError("NOT_FOUND", "转接不存在或不在本账户的管辖范围内", "transferId")
    _id, member_id, from_path, to_path = found
    if actor.branch.is_self_only:
        raise DomainError("NOT_ALLOWED", "党员账户不能处理转接", "transferId")
    if side == "to" and not (to_path and actor.branch.holds_path(to_path)):
        raise DomainError("NOT_ALLOWED", "只有接收党组织可以接收或退回转接", "transferId")
    if side == "from" and not actor.branch.holds_path(from_path):
        raise DomainError("NOT_ALLOWED", "只有转出党组织可以撤销转接", "transferId")
    member = (await lifecycle.lock_members(session, [member_id]))[member_id]
    transfer = (await session.scalars(select(t).where(t.id == transfer_id).with_for_update()
                                      .execution_options(populate_existing=True))).one()
    if transfer.status != "PENDING":
        raise DomainError("CONFLICT", "该转接已处理（不再是待接收状态）", "transferId")
    problems = Problems()
    if date > _today():
        problems.add("INVALID", "日期不能晚于今天", ["date"])
    if date < transfer.requested_on:
        problems.add("INVALID", f"日期不能早于转出日期（{transfer.requested_on.isoformat()}）", ["date"])
    problems.raise_if_any()
    return transfer, member


async def _close(session: AsyncSession, transfer: models.Transfer, status: str, date: dt.date,
                 rejection_reason: str | None = None) -> None:
    """PENDING → `status`, compare-and-set (the row is locked: a backstop)."""
    t = models.Transfer
    done = (await session.execute(
        update(t).where(t.id == transfer.id, t.status == "PENDING")
        .values(status=status, decided_on=date, rejection_reason=rejection_reason)
        .returning(t.id).execution_options(synchronize_session=False))).first()
    if done is None:
        raise DomainError("CONFLICT", "该转接已处理（不再是待接收状态）", "transferId")
    for key, value in (("status", status), ("decided_on", date), ("rejection_reason", rejection_reason)):
        set_committed_value(transfer, key, value)
    touch(session, organizations=[transfer.from_organization_id, transfer.to_organization_id])


async def accept(session: AsyncSession, actor: Actor, transfer_id: int | None, date: dt.date) -> TransferView:
    """acceptTransfer: the member is placed in the receiver from `date` on, ACTIVE there."""
    transfer, member = await _decision(session, actor, transfer_id, date, "to")
    destination = await _lock_destination(session, transfer.to_organization_id)
    await _close(session, transfer, "ACCEPTED", date)
    m = models.Member
    moved = (await session.execute(
        update(m).where(m.id == member.id, m.status == "TRANSFERRING", m.organization_id == transfer.from_organization_id)
        .values(organization_id=destination.id, status="ACTIVE", version=m.version + 1,
                updated_at=dt.datetime.now(dt.timezone.utc))
        .returning(m.version).execution_options(synchronize_session=False))).first()
    if moved is None:
        raise DomainError("CONFLICT", "该党员的状态已被他人修改，请刷新后重试", "transferId")
    for key, value in (("organization_id", destination.id), ("status", "ACTIVE"), ("version", moved[0])):
        set_committed_value(member, key, value)
    # The member's own account (MEMBER role) belongs to the member's organization: it goes along.
    a = models.Account
    await session.execute(update(a).where(a.member_id == member.id).values(organization_id=destination.id)
                          .execution_options(synchronize_session=False))
    touch(session, organizations=[transfer.from_organization_id, destination.id])
    # The two count rows in id order: two acceptances in opposite directions (A to B, B to A)
    # updated them sender first and deadlocked (a reviewer's stress test on PostgreSQL).
    for organization_id, old, new in sorted([(transfer.from_organization_id, "TRANSFERRING", None),
                                             (destination.id, None, "ACTIVE")], key=lambda change: change[0]):
        await member_service.count_change(session, organization_id, old, new)
    p = models.MemberPlacement
    await session.execute(update(p).where(p.member_id == member.id, p.valid_to.is_(None)).values(valid_to=date)
                          .execution_options(synchronize_session=False))
    session.add(models.MemberPlacement(member_id=member.id, organization_id=destination.id, valid_from=date))
    history.add_status_step(session, member.id, "ACTIVE", date)
    await leadership.end_member_positions(session, member.id, date)
    await session.flush()
    return (await _own_views(session, actor, [transfer.id]))[0]


async def reject(session: AsyncSession, actor: Actor, transfer_id: int | None, date: dt.date,
                 reason: str | None) -> TransferView:
    """rejectTransfer (reason required): the member is ACTIVE again at the sender from `date`."""
    problems = Problems()
    reason = _reason(problems, reason, "reason", required=True)
    problems.raise_if_any()
    transfer, member = await _decision(session, actor, transfer_id, date, "to")
    await _close(session, transfer, "REJECTED", date, reason)
    await member_service.set_status(session, member, "ACTIVE", effective_on=date, field="transferId")
    await session.flush()
    return (await _own_views(session, actor, [transfer.id]))[0]


async def cancel(session: AsyncSession, actor: Actor, transfer_id: int | None, date: dt.date,
                 reason: str | None) -> TransferView:
    """cancelTransfer (the sender, while PENDING): the member is ACTIVE again from `date`."""
    problems = Problems()
    _reason(problems, reason, "reason")
    problems.raise_if_any()
    transfer, member = await _decision(session, actor, transfer_id, date, "from")
    await _close(session, transfer, "CANCELLED", date)
    await member_service.set_status(session, member, "ACTIVE", effective_on=date, field="transferId")
    await session.flush()
    return (await _own_views(session, actor, [transfer.id]))[0]


def masked(id_number: str, sees_id_numbers: bool) -> str:
    return id_number if sees_id_numbers else idnumber.mask(id_number)
