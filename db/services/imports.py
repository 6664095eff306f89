"""Bulk import of members (批量导入) from a spreadsheet in the roster's own columns.

Every row is judged by db.services.members.validate_entry, the function createMember calls (one
rule set, not a copy), after the cells are turned into createMember's input: codes given as code
or label (学历 "21" or "大学本科"), categories and affiliations as label or enum name, dates as
Excel dates or text (2010-07-01, 2010/7/1, 2010.07.01, 20100701). Columns the roster derives
(性别 and 出生日期 come from the ID number; 党籍状态, 所在党组织) are read and ignored; an unknown
header is a bad file. ID numbers are checked against each other in the file and, in chunks of
1,000, against the database, as createMember's duplicate rule does one at a time.

All or nothing: when any row is bad nothing is written and every bad row is reported. The write
comes after the whole file is validated, in ONE short write transaction (on SQLite the one
writer lock is held only for the inserts, not for reading and validating the file): members in
batches of BATCH rows by a multi-row INSERT ... RETURNING id, then their placements, category
steps and status steps likewise, and the rollups (direct count, subtree deltas, data-version
marks) once per batch (members.count_change with members=n). A row someone else inserts
meanwhile with the same ID number fails the unique index and the whole import rolls back.

Measured with bench/imports.py, 100,000 CSV rows through the app in one process, 2026-11-30 at
load 13-16 on 2 cores (wall clock ~10-25 times the CPU): SQLite 13.6 s of CPU for the import
(~7,400 rows/s of CPU; 5.4 s of it the dry run's parse and validation), 134 s wall; PostgreSQL
10.9 s of CPU plus the database's, 276 s wall. The write transaction alone was 1.2 s of CPU per
10,000 rows on SQLite (profiled) once the members got explicit ids: INSERT ... RETURNING in
parameter order had run one statement per row there (30,000 round trips to aiosqlite's thread for
10,000 rows, 3.6 s). So SQLite's write lock is held ~12 s of CPU for 100,000 rows: short against
the file's parse and validation, not short in absolute terms (commits in chunks undone as a
whole would shorten it; not built). Memory: 100,000 validated rows held ~65 MB.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import codes, models
from db.branch import Actor, Branch
from db.errors import DomainError
from db.session import holds_snapshot_lock
from db.services import history, organizations
from db.services import members as member_service
from db.services.exports import ROSTER_COLUMNS
from db.services.sheets import BadFile, Table, unescape
from db.services.statistics import AFFILIATIONS, CATEGORIES

BATCH = 1000
CHECK_CHUNK = 1000

# Header → createMember's input field (snake_case) for the columns the import reads.
INPUT_COLUMNS = {
    "姓名": "name", "身份证号码": "id_number", "民族": "ethnicity_code", "籍贯": "native_place",
    "学历": "education_code", "学位": "degree_code", "工作岗位": "job_position_code",
    "专业技术职务": "technical_title_code", "联系电话": "phone", "人员类别": "category",
    "管理关系": "affiliation", "申请入党日期": "applied_on", "确定积极分子日期": "activist_on",
    "确定发展对象日期": "candidate_on", "入党日期": "joined_on", "转正日期": "confirmed_on",
    "人工审核说明": "review_note",
}
# Roster columns the import accepts and ignores (derived, or decided by the import itself).
IGNORED_COLUMNS = {ROSTER_COLUMNS[c] for c in ("gender", "birthDate", "status", "organization")}
REQUIRED_COLUMNS = ("姓名", "身份证号码", "人员类别")
assert set(INPUT_COLUMNS) | IGNORED_COLUMNS == set(ROSTER_COLUMNS.values())

CODE_TABLES = {"ethnicity_code": "ethnicity", "education_code": "education", "degree_code": "degree",
               "job_position_code": "job_position", "technical_title_code": "technical_title"}
DATE_FIELDS = ("applied_on", "activist_on", "candidate_on", "joined_on", "confirmed_on")
HEADER_OF = {f: h for h, f in INPUT_COLUMNS.items()}
# createMember's problem paths → this file's columns.
FIELD_OF_CAMEL = {camel: snake for snake, camel in member_service.CAMEL.items()}
DATE_TEXT = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _by_label(labels: dict[str, str]) -> dict[str, str]:
    return {**{label: key for key, label in labels.items()}, **{key: key for key in labels}}


CATEGORY_OF = _by_label(CATEGORIES)
AFFILIATION_OF = _by_label(AFFILIATIONS)


def _code_of(table: str, value: str) -> str:
    """A code given as code or label; anything else is passed on as the code (validate_fields
    then says it is not in the code table)."""
    if codes.is_valid(table, value):
        return value
    for code, label in codes.entries(table):
        if label == value:
            return code
    return value


@dataclass
class RowError:
    row: int | None
    column: str | None
    value: Any
    message: str

    def as_json(self) -> dict:
        value = self.value
        if isinstance(value, (dt.date, dt.datetime)):
            value = value.isoformat()
        elif value is not None and not isinstance(value, (str, int, float, bool)):
            value = str(value)
        return {"row": self.row, "column": self.column, "value": value, "message": self.message}


@dataclass
class Entry:
    row: int
    values: dict[str, Any]
    affiliation: str
    since: dt.date


@dataclass
class Checked:
    """A validated file: the entries to write, or the errors (then nothing is written)."""

    entries: list[Entry] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0


class Refused(Exception):
    """The import as a whole cannot go on (the organization, its state): a 4xx answer."""

    def __init__(self, code: str, message: str, status: int):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def check_header(header: Sequence[str]) -> dict[int, str]:
    """Column index → input field; BadFile for an unknown, repeated or missing header."""
    if not any(header):
        raise BadFile("第一行须是表头（导出名册的中文列名）")
    fields: dict[int, str] = {}
    seen: set[str] = set()
    for index, text in enumerate(header):
        if not text:
            continue
        if text in seen:
            raise BadFile(f"表头“{text}”重复", column=text)
        seen.add(text)
        if text in INPUT_COLUMNS:
            fields[index] = INPUT_COLUMNS[text]
        elif text not in IGNORED_COLUMNS:
            raise BadFile(f"未知的表头“{text}”；可用的列：{'、'.join(ROSTER_COLUMNS.values())}", column=text)
    missing = [h for h in REQUIRED_COLUMNS if h not in seen]
    if missing:
        raise BadFile(f"缺少必需的列：{'、'.join(missing)}", column=missing[0])
    return fields


def _text(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        return str(raw)
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, (dt.datetime, dt.date)):
        return raw.date().isoformat() if isinstance(raw, dt.datetime) else raw.isoformat()
    text = str(raw).strip()
    return text or None


def _date(raw: Any) -> dt.date:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    text = _text(raw) or ""
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    match = DATE_TEXT.fullmatch(text)
    if match is None:
        raise ValueError
    return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))


def row_input(number: int, cells: list[Any], fields: dict[int, str],
              errors: list[RowError]) -> tuple[dict[str, Any], str] | None:
    """createMember's input (fields, affiliation) of one row; None (errors added) when a cell
    cannot be read as its column's type."""
    given: dict[str, Any] = {}
    affiliation = "DIRECT"
    bad = False
    for index, name in fields.items():
        raw = cells[index] if index < len(cells) else None
        header = HEADER_OF[name]
        if isinstance(raw, str):
            if raw.strip().startswith(FORMULA_START):
                errors.append(RowError(number, header, raw, "单元格以 = + - @ 开头，可能是公式注入，已拒绝"
                                                             "（确为文本请在开头加单引号 '）"))
                bad = True
                continue
            raw = unescape(raw.strip())
        if name in DATE_FIELDS:
            if raw is None or raw == "":
                given[name] = None
                continue
            try:
                given[name] = _date(raw)
            except ValueError:
                errors.append(RowError(number, header, raw, "日期格式应为 YYYY-MM-DD"))
                bad = True
            continue
        text = _text(raw)
        if name == "category":
            if text is not None and text not in CATEGORY_OF:
                errors.append(RowError(number, header, raw, f"未知的人员类别；可选：{'、'.join(CATEGORIES.values())}"))
                bad = True
                continue
            given[name] = CATEGORY_OF.get(text) if text is not None else None
        elif name == "affiliation":
            if text is not None:
                affiliation = AFFILIATION_OF.get(text, text)
        elif name in CODE_TABLES:
            given[name] = _code_of(CODE_TABLES[name], text) if text is not None else None
        else:
            given[name] = text
    return None if bad else (given, affiliation)


def _problem_column(problem_field: list[str] | None) -> str | None:
    if not problem_field:
        return None
    last = problem_field[-1]
    if last == "affiliation":
        return HEADER_OF["affiliation"]
    name = FIELD_OF_CAMEL.get(last)
    return HEADER_OF.get(name) if name else None


def validate_rows(table: Table, today: dt.date | None = None) -> Checked:
    """Every row of the file through createMember's rules (no database); duplicates in the file."""
    fields = check_header(table.header)
    columns = {f: i for i, f in fields.items()}
    checked = Checked()
    first_row: dict[str, int] = {}
    for number, cells in table.rows:
        checked.rows += 1
        errors_before = len(checked.errors)
        parsed = row_input(number, cells, fields, checked.errors)
        if parsed is None:
            continue
        given, affiliation = parsed
        try:
            values, since = member_service.validate_entry(given, affiliation, today=today)
        except DomainError as exc:
            for problem in exc.problems:
                column = _problem_column(problem.field)
                index = columns.get(INPUT_COLUMNS.get(column)) if column else None
                value = cells[index] if index is not None and index < len(cells) else None
                checked.errors.append(RowError(number, column, value, problem.message))
            continue
        earlier = first_row.setdefault(values["id_number"], number)
        if earlier != number:
            checked.errors.append(RowError(number, HEADER_OF["id_number"], values["id_number"],
                                           f"身份证号码与第 {earlier} 行重复"))
            continue
        if len(checked.errors) == errors_before:
            checked.entries.append(Entry(number, values, affiliation, since))
    if checked.rows == 0:
        raise BadFile("文件中没有数据行（只有表头）")
    return checked


async def check_taken(session: AsyncSession, checked: Checked) -> None:
    """createMember's duplicate rule for every entry, in chunks: an ID number some member has."""
    m = models.Member
    entries = checked.entries
    kept: list[Entry] = []
    for start in range(0, len(entries), CHECK_CHUNK):
        chunk = entries[start:start + CHECK_CHUNK]
        taken = set(await session.scalars(select(m.id_number).where(m.id_number.in_([e.values["id_number"]
                                                                                      for e in chunk]))))
        for entry in chunk:
            if entry.values["id_number"] in taken:
                checked.errors.append(RowError(entry.row, HEADER_OF["id_number"], entry.values["id_number"],
                                               member_service.DUPLICATE_ID_NUMBER))
            else:
                kept.append(entry)
    checked.entries = kept
    checked.errors.sort(key=lambda e: (e.row or 0))


async def target(session: AsyncSession, branch: Branch, organization_id: int | None) -> models.Organization:
    """The organization the members go into: in the caller's branch (else Refused 404), ACTIVE."""
    try:
        organization = await organizations.get(session, branch, organization_id, "organizationId")
        member_service.check_organization_accepts(organization)
    except DomainError as exc:
        problem = exc.problems[0]
        raise Refused(problem.code, problem.message, 404 if problem.code == "NOT_FOUND" else 409) from exc
    return organization


async def write(session: AsyncSession, actor: Actor, organization_id: int, entries: Sequence[Entry]) -> int:
    """Insert the validated entries (one write transaction: the caller's). Locks the organization
    as createMember does, re-checks that it takes members, then writes BATCH rows at a time."""
    organization = await target(session, actor.branch, organization_id)
    await organizations.lock(session, actor, organization, organizations.NO_KEY_UPDATE, "organizationId")
    member_service.check_organization_accepts(organization)
    now = dt.datetime.now(dt.timezone.utc)
    status = member_service.entry_status(organization)
    member_table = models.Member.__table__
    for start in range(0, len(entries), BATCH):
        batch = entries[start:start + BATCH]
        rows = [member_service.entry_row(e.values, organization, e.affiliation, now) for e in batch]
        for row, entry in zip(rows, batch):
            # member.last_fact_on (db.services.history: a bulk insert outside the ORM sets it itself):
            # the latest of the facts written below, the placement's start and the category steps.
            row["last_fact_on"] = max([entry.since] + [d for _, d in history.initial_category_steps(entry.values,
                                                                                                   entry.since)])
        if session.bind.dialect.name == "sqlite":
            # The transaction holds SQLite's one write lock (BEGIN IMMEDIATE): the ids after the
            # largest are ours. INSERT ... RETURNING in parameter order ran one row per statement
            # here (10,000 rows: 30,000 round trips to aiosqlite's thread).
            first = (await session.scalar(select(func.max(member_table.c.id)))) or 0
            ids = list(range(first + 1, first + 1 + len(rows)))
            for member_id, row in zip(ids, rows):
                row["id"] = member_id
            await session.execute(insert(member_table), rows)
        else:
            ids = list(await session.scalars(insert(member_table).returning(member_table.c.id,
                                                                            sort_by_parameter_order=True), rows))
        placements, steps, statuses = [], [], []
        for member_id, entry in zip(ids, batch):
            placements.append({"member_id": member_id, "organization_id": organization.id,
                               "valid_from": entry.since, "valid_to": None})
            steps += [{"member_id": member_id, "category": c, "effective_on": d}
                      for c, d in history.initial_category_steps(entry.values, entry.since)]
            statuses.append({"member_id": member_id, "status": status, "effective_on": entry.since})
        await session.execute(insert(models.MemberPlacement.__table__), placements)
        await session.execute(insert(models.MemberCategoryStep.__table__), steps)
        await session.execute(insert(models.MemberStatusStep.__table__), statuses)
        # Their states on the kept days (db.services.history, "snapshots"): a member entered with a
        # past `since` was placed on days already kept. Unseen by the flush hook (Core inserts).
        await session.run_sync(lambda sync, ids=ids: history.refresh_snapshots(
            sync.connection(), ids, locked=holds_snapshot_lock(sync), new=frozenset(ids)))
        await member_service.count_change(session, organization.id, None, status, members=len(batch))
    return len(entries)


