"""Exports (导出): the member roster (党员名册) as rows, and cross-tabs, saved tables and the member
balance (党员增减) as reports (db.services.sheets writes the files).

The roster lists exactly the members memberCount counts with the same filter and scope: its
statement is db.services.members.members_of (the filter's SQL and the branch condition of
count_by_anchor), in tree order (organization path, member id), read in partitions from a server
side cursor so that a 1,000,000-row roster never sits in memory: bench/exports.py, the CSV of all
1,000,000 demo members on PostgreSQL, server peak RSS 97 MB against 86 MB before the download. Cells carry labels, not codes (学历 大学本科, not 21); ID numbers masked for a
caller who sees them masked in GraphQL (Viewer.sees_id_numbers); every text cell neutralised
against formula injection (sheets.neutralise). Statistics reuse db.services.statistics.cross_tab
and db.services.balance.balance: the same numbers the GraphQL fields answer.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, AsyncIterator, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from db import codes, idnumber, models
from db.branch import Branch
from db.services import balance as balance_service
from db.services import members as member_service
from db.services import statistics
from db.services.members import MemberQuery
from db.services.sheets import Report, neutralise

# GraphQL Member field → the roster's Chinese header; the default roster is every one, in this order.
ROSTER_COLUMNS: dict[str, str] = {
    "name": "姓名", "gender": "性别", "idNumber": "身份证号码", "birthDate": "出生日期",
    "ethnicity": "民族", "nativePlace": "籍贯", "education": "学历", "degree": "学位",
    "jobPosition": "工作岗位", "technicalTitle": "专业技术职务", "phone": "联系电话",
    "category": "人员类别", "affiliation": "管理关系", "status": "党籍状态",
    "appliedOn": "申请入党日期", "activistOn": "确定积极分子日期", "candidateOn": "确定发展对象日期",
    "joinedOn": "入党日期", "confirmedOn": "转正日期", "reviewNote": "人工审核说明",
    "organization": "所在党组织",
}
DEFAULT_COLUMNS: tuple[str, ...] = tuple(ROSTER_COLUMNS)
# Column widths (characters) in the XLSX roster.
WIDTHS = {"idNumber": 22, "organization": 36, "nativePlace": 16, "reviewNote": 30, "phone": 16}
CODED = {"ethnicity": ("ethnicity", "ethnicity_code"), "education": ("education", "education_code"),
         "degree": ("degree", "degree_code"), "jobPosition": ("job_position", "job_position_code"),
         "technicalTitle": ("technical_title", "technical_title_code")}
ENUMS = {"gender": ("gender", statistics.GENDERS), "category": ("category", statistics.CATEGORIES),
         "affiliation": ("affiliation", statistics.AFFILIATIONS), "status": ("status", statistics.STATUSES)}
PLAIN = {"name": "name", "birthDate": "birth_date", "nativePlace": "native_place", "phone": "phone",
         "appliedOn": "applied_on", "activistOn": "activist_on", "candidateOn": "candidate_on",
         "joinedOn": "joined_on", "confirmedOn": "confirmed_on", "reviewNote": "review_note"}
ORGANIZATION_NAME = "roster_organization_name"

# Rows fetched per round trip of the server-side cursor.
PARTITION = 2000

DIMENSION_LABELS = {
    "CHILD_ORGANIZATION": "下级党组织", "ORG_TYPE": "党组织类别", "LEVEL": "层级", "GENDER": "性别",
    "ETHNICITY": "民族", "EDUCATION": "学历", "AGE_BAND": "年龄段", "PARTY_AGE_BAND": "党龄段",
    "JOIN_YEAR": "入党年份", "CATEGORY": "人员类别", "AFFILIATION": "管理关系", "STATUS": "党籍状态",
    "JOB_POSITION": "工作岗位", "TECHNICAL_TITLE": "专业技术职务", "HAS_ACCOUNT": "是否有账户",
}
SCOPE_LABELS = {True: "本级及下级", False: "本级"}


class UnknownColumn(ValueError):
    pass


def roster_columns(names: Sequence[str] | None) -> list[str]:
    """The asked columns (GraphQL Member field names) or the default roster; UnknownColumn."""
    if not names:
        return list(DEFAULT_COLUMNS)
    unknown = [n for n in names if n not in ROSTER_COLUMNS]
    if unknown:
        raise UnknownColumn(f"未知的列：{', '.join(unknown)}；可选：{', '.join(ROSTER_COLUMNS)}")
    return list(dict.fromkeys(names))


def roster_header(columns: Sequence[str]) -> list[str]:
    return [ROSTER_COLUMNS[c] for c in columns]


def _cell_function(column: str, masked: bool):
    if column == "idNumber":
        return (lambda r: idnumber.mask(r.id_number)) if masked else (lambda r: r.id_number)
    if column in CODED:
        table, attribute = CODED[column]
        return lambda r: None if getattr(r, attribute) is None else (
            codes.label(table, getattr(r, attribute)) or getattr(r, attribute))
    if column in ENUMS:
        attribute, labels = ENUMS[column]
        return lambda r: labels.get(getattr(r, attribute), getattr(r, attribute))
    if column == "organization":
        return lambda r: getattr(r, ORGANIZATION_NAME)
    attribute = PLAIN[column]
    return lambda r: getattr(r, attribute)


def row_writer(columns: Sequence[str], masked: bool):
    """A function from a roster row to its cells (labels, masked numbers, neutralised text)."""
    functions = [_cell_function(c, masked) for c in columns]
    return lambda row: [neutralise(f(row)) for f in functions]


_ROSTER_MEMBER_COLUMNS = tuple(models.Member.__table__.c)


async def roster_organization(session: AsyncSession, branch: Branch, organization_id: int | None):
    """The roster's organization if the branch holds it; DomainError NOT_FOUND otherwise."""
    return await statistics.scope_organization(session, branch, organization_id)


async def roster_rows(session: AsyncSession, branch: Branch, organization: models.Organization,
                      query: MemberQuery, columns: Sequence[str], masked: bool) -> AsyncIterator[list[list[Any]]]:
    """The roster's rows (cells), in partitions, streamed from the database."""
    stmt = member_service.members_of(branch, organization.id, query, *_ROSTER_MEMBER_COLUMNS,
                                     models.Organization.name.label(ORGANIZATION_NAME))
    stmt = stmt.order_by(models.Organization.path, models.Member.id).execution_options(yield_per=PARTITION)
    write = row_writer(columns, masked)
    result = await session.stream(stmt)
    try:
        async for partition in result.partitions(PARTITION):
            yield [write(row) for row in partition]
    finally:
        await result.close()


# ------------------------------------------------------------------ statistics as reports

def _generated() -> str:
    return dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _heading(organization: models.Organization, subtree: bool, as_of: dt.date, extra=()) -> list[tuple[str, str]]:
    return [("党组织", organization.name), ("统计范围", SCOPE_LABELS[subtree]), *extra,
            ("统计日期", as_of.isoformat()), ("生成时间", _generated())]


def cross_tab_title(spec: statistics.CrossTabSpec) -> str:
    what = "党员统计" if spec.subject == statistics.MEMBERS else "党组织统计"
    dims = DIMENSION_LABELS[spec.rows] + (f" × {DIMENSION_LABELS[spec.columns]}" if spec.columns else "")
    return f"{what}：{dims}"


def cross_tab_report(table: statistics.Table, title: str | None = None) -> Report:
    """A cross-tab as a report: a row per row value with its total, a 合计 row last."""
    spec = table.spec
    column_head = [c.label for c in table.columns]
    with_total = spec.columns is not None
    header = [DIMENSION_LABELS[spec.rows] + (f" \\ {DIMENSION_LABELS[spec.columns]}" if with_total else ""),
              *column_head, *(["合计"] if with_total else [])]
    rows = [[value.label, *cells, *([total] if with_total else [])]
            for value, cells, total in zip(table.rows, table.cells, table.row_totals)]
    rows.append(["合计", *table.column_totals, *([table.total] if with_total else [])])
    return Report(title=title or cross_tab_title(spec),
                  heading=_heading(table.organization, spec.subtree, table.as_of),
                  header=header, rows=rows, bold_rows={len(rows) - 1})


async def cross_tab(session: AsyncSession, branch: Branch, spec: statistics.CrossTabSpec) -> Report:
    return cross_tab_report(await statistics.cross_tab(session, branch, spec))


async def saved_table(session: AsyncSession, branch: Branch, definition_id: int | None,
                      as_of: dt.date | None) -> Report:
    definition = await statistics.get_definition(session, branch, definition_id)
    table = await statistics.cross_tab(session, branch, statistics.spec_of(definition, as_of))
    return cross_tab_report(table, title=definition.name)


async def member_balance(session: AsyncSession, branch: Branch, organization_id: int | None, subtree: bool,
                         start: dt.date, end: dt.date) -> Report:
    """党员增减 in the layout of the annual report: the start count, the increases (total, then each
    kind), the decreases likewise, the end count."""
    organization, first, kinds, last = await balance_service.balance(session, branch, organization_id, subtree,
                                                                     start, end)
    increases = {k: int(kinds.get(k, 0)) for k in balance_service.INCREASES}
    decreases = {k: int(kinds.get(k, 0)) for k in balance_service.DECREASES}
    rows: list[list[Any]] = [[f"期初党员数（{start.isoformat()}）", first],
                             ["增加党员合计", sum(increases.values())]]
    bold = {0, 1}
    rows += [[f"    其中：{balance_service.INCREASES[k]}", n] for k, n in increases.items()]
    bold.add(len(rows))
    rows.append(["减少党员合计", sum(decreases.values())])
    rows += [[f"    其中：{balance_service.DECREASES[k]}", n] for k, n in decreases.items()]
    bold.add(len(rows))
    rows.append([f"期末党员数（{end.isoformat()}）", last])
    return Report(title="党员增减情况", header=["项目", "人数"], rows=rows, bold_rows=bold,
                  heading=_heading(organization, subtree, end,
                                   extra=[("统计期间", f"{start.isoformat()} 至 {end.isoformat()}")]))
