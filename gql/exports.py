"""HTTP exports beside /graphql (GET, the same bearer token): the roster as XLSX or CSV, a
cross-tab, a saved table and the member balance as XLSX or DOCX. Query parameters → the same
plain values the GraphQL resolvers build (the member filter through gql.resolvers.member.member_query,
so a VIEWER's idNumber filter is refused here as there) → db.services.exports.

Roles: VIEWER and above (a VIEWER gets ID numbers masked, as in GraphQL); a MEMBER account or a
password that must be changed first is 403; an organization or saved table outside the caller's
branch is 404, exactly like an absent one. Errors are JSON in the shape of GraphQL request errors
({"errors": [{"message", "extensions": {"code"}}]}), never a file.

The roster streams: a session of its own is opened for the response (the request's lifetime
is the download's), rows come in partitions from a server-side cursor, CSV goes out row batch by
row batch, XLSX is appended to openpyxl's write-only sheet in a worker thread and the finished
file is streamed from disk. Peak memory is measured by bench/exports.py.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import urllib.parse
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from db import clock
from db.errors import DomainError
from db.services import audit, exports, sheets, statistics
from db.services.members import AFFILIATIONS, CATEGORIES, STATUSES
from db.session import begin_read
from gql.auth.errors import AppError
from gql.auth.text import control_character
from gql.auth.viewer import Viewer
from gql.context import viewer_for_request
from gql.db import Db, uncancellable
from gql.ids import pk_of
from gql.resolvers.member import member_query

log = logging.getLogger("dangjian.exports")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CSV = "text/csv; charset=utf-8"


async def record_export(request, viewer: Viewer, what: str, parameters: dict[str, Any], rows: int | None) -> None:
    """The export in the audit trail (who, what with its parameters, how many rows), in a short
    write transaction of its own once the last row went out (a roster) or the file was built
    (statistics): a download cut short is not recorded as done."""
    client = request.client
    async with request.app.state.sessionmaker() as session, session.begin():
        await audit.record(session, actor=viewer.actor, action=f"export:{what}"[:64],
                           organization=viewer.organization_id,
                           changes={"parameters": {k: str(v) for k, v in parameters.items()}, "rows": rows},
                           address=client.host if client else None)


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status)


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.response = error(status, code, message)


def not_found(what: str = "党组织") -> HttpError:
    return HttpError(404, "NOT_FOUND", f"{what}不存在或不在本账户的管辖范围内")


def bad_input(message: str) -> HttpError:
    return HttpError(400, "BAD_USER_INPUT", message)


async def signed_in(request: Request, required: str) -> Viewer:
    """The caller, at least `required` (VIEWER, OPERATOR, ADMIN); 401 / 403 otherwise."""
    db = Db(request.app.state.sessionmaker)
    try:
        viewer = await viewer_for_request(db, request.headers.get("authorization"))
    finally:
        await db.close()
    if viewer is None:
        raise HttpError(401, "UNAUTHENTICATED", "请先登录（缺少或已失效的访问令牌）")
    if viewer.must_change_password:
        raise HttpError(403, "FORBIDDEN", "密码已被重置，请先修改密码（changePassword）")
    if viewer.role not in ("VIEWER", "OPERATOR", "ADMIN") or not viewer.has_role(required):
        raise HttpError(403, "FORBIDDEN", "当前账户的角色无权执行此操作")
    return viewer


def _control_characters(request: Request) -> None:
    """The text rules of GraphQL requests (gql.auth.text) for the query parameters and the path:
    a NUL in nameContains or a code list reached PostgreSQL ("invalid byte sequence": a 500) where
    SQLite answered (tests/test_review_statistics_hostile.py). The value is never echoed."""
    items = [*request.query_params.multi_items(), *request.path_params.items()]
    for name, value in items:
        for text in (name, value):
            if isinstance(text, str) and control_character(text):
                raise bad_input(f"参数 {name if not control_character(name) else ''} 含有不允许的控制字符")


def handled(handler):
    async def run(request: Request) -> Response:
        try:
            _control_characters(request)
            return await handler(request)
        except HttpError as exc:
            return exc.response
        except AppError as exc:  # Forbidden / BadUserInput raised by the shared resolver helpers
            code = exc.extensions["code"]
            return error(403 if code == "FORBIDDEN" else 400, code, exc.message)
    return run


# ------------------------------------------------------------------ parameters

def values(request: Request, name: str) -> list[str] | None:
    """A list parameter: repeated (?genders=MALE&genders=FEMALE) or comma-separated."""
    raw = request.query_params.getlist(name)
    if not raw:
        return None
    return [v.strip() for item in raw for v in item.split(",") if v.strip()]


def one(request: Request, name: str) -> str | None:
    raw = request.query_params.getlist(name)
    if len(raw) > 1:
        raise bad_input(f"{name} 只能给一个值")
    return raw[0].strip() if raw and raw[0].strip() else None


def enum_list(request: Request, name: str, allowed) -> tuple[str, ...] | None:
    given = values(request, name)
    if given is None:
        return None
    unknown = [v for v in given if v not in allowed]
    if unknown:
        raise bad_input(f"{name} 的值 {', '.join(unknown)} 无效；可选：{', '.join(allowed)}")
    return tuple(given)


def integer(request: Request, name: str) -> int | None:
    raw = one(request, name)
    if raw is None:
        return None
    if not raw.lstrip("-").isdigit() or len(raw) > 6:
        raise bad_input(f"{name} 须是整数")
    return int(raw)


def date(request: Request, name: str) -> dt.date | None:
    raw = one(request, name)
    if raw is None:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise bad_input(f"{name} 须是 YYYY-MM-DD 格式的日期") from None


def boolean(request: Request, name: str) -> bool | None:
    raw = one(request, name)
    if raw is None:
        return None
    if raw.lower() not in ("true", "false"):
        raise bad_input(f"{name} 须是 true 或 false")
    return raw.lower() == "true"


def scope(request: Request, default: str = "SUBTREE") -> str:
    raw = one(request, "scope") or default
    if raw not in ("SELF", "SUBTREE"):
        raise bad_input("scope 须是 SELF 或 SUBTREE")
    return raw


@dataclass
class FilterParams:
    """The MemberFilter's fields from query parameters (plain values, as member_query reads them)."""

    scope: str | None = None
    name_contains: str | None = None
    id_number: str | None = None
    categories: tuple[str, ...] | None = None
    affiliations: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None
    genders: tuple[str, ...] | None = None
    education_codes: tuple[str, ...] | None = None
    ethnicity_codes: tuple[str, ...] | None = None
    job_position_codes: tuple[str, ...] | None = None
    min_age: int | None = None
    max_age: int | None = None
    joined_from: dt.date | None = None
    joined_to: dt.date | None = None
    has_account: bool | None = None
    completeness_below: int | None = None


def member_filter(request: Request, viewer: Viewer, default_scope: str = "SUBTREE"):
    params = FilterParams(
        scope=scope(request, default_scope), name_contains=one(request, "nameContains"),
        id_number=one(request, "idNumber"),
        categories=enum_list(request, "categories", CATEGORIES),
        affiliations=enum_list(request, "affiliations", AFFILIATIONS),
        statuses=enum_list(request, "statuses", STATUSES),
        genders=enum_list(request, "genders", ("MALE", "FEMALE")),
        education_codes=_tuple(values(request, "educationCodes")),
        ethnicity_codes=_tuple(values(request, "ethnicityCodes")),
        job_position_codes=_tuple(values(request, "jobPositionCodes")),
        min_age=integer(request, "minAge"), max_age=integer(request, "maxAge"),
        joined_from=date(request, "joinedFrom"), joined_to=date(request, "joinedTo"),
        has_account=boolean(request, "hasAccount"), completeness_below=integer(request, "completenessBelow"))
    return member_query(viewer, params)


def _tuple(items):
    return tuple(items) if items is not None else None


FILTER_PARAMETERS = {"scope", "nameContains", "idNumber", "categories", "affiliations", "statuses", "genders",
                     "educationCodes", "ethnicityCodes", "jobPositionCodes", "minAge", "maxAge", "joinedFrom",
                     "joinedTo", "hasAccount", "completenessBelow"}


def no_unknown(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params.keys()) - allowed)
    if unknown:
        raise bad_input(f"未知的参数：{', '.join(unknown)}")


def organization_pk(request: Request, viewer: Viewer) -> int:
    raw = one(request, "organizationId")
    if raw is None:
        return viewer.organization_id
    pk = pk_of(raw, "Organization")
    if pk is None:
        raise not_found()
    return pk


def attachment(name: str) -> dict[str, str]:
    quoted = urllib.parse.quote(name)
    return {"Content-Disposition": f"attachment; filename=\"export\"; filename*=UTF-8''{quoted}",
            "Cache-Control": "no-store"}


# ------------------------------------------------------------------ the roster

ROSTER_PARAMETERS = FILTER_PARAMETERS | {"organizationId", "columns"}


@handled
async def roster(request: Request) -> Response:
    kind = request.path_params["kind"]
    if kind not in ("xlsx", "csv"):
        raise HttpError(404, "NOT_FOUND", "只提供 members.xlsx 和 members.csv")
    viewer = await signed_in(request, "VIEWER")
    no_unknown(request, ROSTER_PARAMETERS)
    query = member_filter(request, viewer)
    pk = organization_pk(request, viewer)
    try:
        columns = exports.roster_columns(values(request, "columns"))
    except exports.UnknownColumn as exc:
        raise bad_input(str(exc)) from exc
    masked = not viewer.sees_id_numbers
    session = request.app.state.sessionmaker()
    try:
        await begin_read(session)
        organization = await exports.roster_organization(session, viewer.branch, pk)
    except DomainError:
        await session.close()
        raise not_found() from None
    except BaseException:
        await session.close()
        raise
    parameters = {"organizationId": pk, "kind": kind, "columns": columns, "query": repr(query)}
    header = exports.roster_header(columns)
    filename = f"党员名册-{organization.name}-{clock.today().isoformat()}.{kind}"
    rows = exports.roster_rows(session, viewer.branch, organization, query, columns, masked)

    async def csv_body():
        count = 0
        try:
            yield sheets.csv_bytes([header], bom=True)
            async for partition in rows:
                count += len(partition)
                yield sheets.csv_bytes(partition)
            # The streaming session's connection back before the audit entry takes one: holding
            # both, as many downloads ending together as the pool holds waited for each other
            # until the pool's timeout (a reviewer's test, a pool of two).
            await rows.aclose()
            await session.close()
            await record_export(request, viewer, "members.csv", parameters, count)
        finally:
            await rows.aclose()
            await session.close()

    async def xlsx_body():
        count = 0
        book = sheets.XlsxRows("党员名册", [exports.WIDTHS.get(c, 14) for c in columns])
        try:
            book.append([header])
            async for partition in rows:
                count += len(partition)
                await asyncio.to_thread(book.append, partition)
            await rows.aclose()
            await session.close()  # the connection goes back before the file is sent
            path = await asyncio.to_thread(book.finish)
            chunks = sheets.file_chunks(path)
            while chunk := await asyncio.to_thread(next, chunks, b""):
                yield chunk
            await record_export(request, viewer, "members.xlsx", parameters, count)
        finally:
            await rows.aclose()
            await session.close()
            book.close()

    body = csv_body() if kind == "csv" else xlsx_body()
    return ClosingStreamingResponse(body, media_type=CSV if kind == "csv" else XLSX, headers=attachment(filename))


class ClosingStreamingResponse(StreamingResponse):
    """A StreamingResponse that closes its body generator however the stream ends. A client gone
    while the response waited in `send` (its socket full) leaves the generator suspended at its
    `yield`: Starlette drops it there, and its `finally` (the roster's session close) ran only when
    the cyclic garbage collector found the generator, its connection idle in its transaction until
    then (a reviewer's test: 5 s later still checked out; with the collector paused, the next query
    on a pool of one failed on the pool's timeout). Run to its end when the request is cancelled."""

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await uncancellable(close())


# ------------------------------------------------------------------ statistics

def report_response(report: sheets.Report, kind: str, stem: str) -> Response:
    if kind == "xlsx":
        data, media = sheets.report_xlsx(report), XLSX
    else:
        data, media = sheets.report_docx(report), DOCX
    return Response(data, media_type=media, headers=attachment(f"{stem}-{clock.today().isoformat()}.{kind}"))


def _report_kind(request: Request) -> str:
    kind = request.path_params["kind"]
    if kind not in ("xlsx", "docx"):
        raise HttpError(404, "NOT_FOUND", "统计表只提供 .xlsx 和 .docx")
    return kind


async def _read(request: Request, work):
    db = Db(request.app.state.sessionmaker)
    try:
        return await db.read(work)
    finally:
        await db.close()


def _dimension(request: Request, name: str, required: bool) -> str | None:
    raw = one(request, name)
    if raw is None:
        if required:
            raise bad_input(f"缺少参数 {name}")
        return None
    if raw not in statistics.DIMENSIONS:
        raise bad_input(f"{name} 须是以下之一：{', '.join(statistics.DIMENSIONS)}")
    return raw


CROSS_TAB_PARAMETERS = FILTER_PARAMETERS | {"organizationId", "rows", "columns", "subject", "asOf"}


@handled
async def cross_tab(request: Request) -> Response:
    kind = _report_kind(request)
    viewer = await signed_in(request, "VIEWER")
    no_unknown(request, CROSS_TAB_PARAMETERS)
    subject = one(request, "subject") or statistics.MEMBERS
    if subject not in (statistics.MEMBERS, statistics.ORGANIZATIONS):
        raise bad_input("subject 须是 MEMBERS 或 ORGANIZATIONS")
    subtree = scope(request) == "SUBTREE"
    filter_given = bool(set(request.query_params.keys()) & (FILTER_PARAMETERS - {"scope"}))
    query = None
    if subject == statistics.MEMBERS:
        from dataclasses import replace

        query = replace(member_filter(request, viewer), subtree=subtree) if filter_given else None
    elif filter_given:
        raise bad_input("党组织统计不能按党员条件筛选")
    spec = statistics.CrossTabSpec(organization_id=organization_pk(request, viewer),
                                   rows=_dimension(request, "rows", True),
                                   columns=_dimension(request, "columns", False), subject=subject,
                                   subtree=subtree, query=query, as_of=date(request, "asOf"))
    try:
        statistics.check(spec)
    except statistics.StatInputError as exc:
        raise bad_input(str(exc)) from exc
    try:
        report = await _read(request, lambda s: exports.cross_tab(s, viewer.branch, spec))
    except statistics.StatInputError as exc:
        raise bad_input(str(exc)) from exc
    except DomainError:
        raise not_found() from None
    await record_export(request, viewer, f"crosstab.{kind}", {"spec": repr(spec)}, len(report.rows))
    return report_response(report, kind, "统计表")


@handled
async def saved_table(request: Request) -> Response:
    kind = _report_kind(request)
    viewer = await signed_in(request, "VIEWER")
    no_unknown(request, {"asOf"})
    pk = pk_of(request.path_params["id"], "StatDefinition")
    if pk is None:
        raise not_found("统计表格")
    as_of = date(request, "asOf")
    if as_of is not None and as_of > clock.today():
        raise bad_input("统计日期（asOf）不能晚于今天")
    try:
        report = await _read(request, lambda s: exports.saved_table(s, viewer.branch, pk, as_of))
    except statistics.StatInputError as exc:
        raise bad_input(str(exc)) from exc
    except DomainError:
        raise not_found("统计表格") from None
    await record_export(request, viewer, f"stat.{kind}", {"definitionId": pk, "asOf": as_of}, len(report.rows))
    return report_response(report, kind, report.title)


@handled
async def member_balance(request: Request) -> Response:
    from db.services import balance

    kind = _report_kind(request)
    viewer = await signed_in(request, "VIEWER")
    no_unknown(request, {"organizationId", "from", "to", "scope"})
    start, end = date(request, "from"), date(request, "to")
    if start is None or end is None:
        raise bad_input("须给出 from 和 to（YYYY-MM-DD）")
    try:
        balance.check(start, end)
    except DomainError as exc:
        raise bad_input(str(exc)) from exc
    pk = organization_pk(request, viewer)
    subtree = scope(request) == "SUBTREE"
    try:
        report = await _read(request, lambda s: exports.member_balance(s, viewer.branch, pk, subtree, start, end))
    except DomainError:
        raise not_found() from None
    await record_export(request, viewer, f"balance.{kind}", {"organizationId": pk, "from": start, "to": end}, len(report.rows))
    return report_response(report, kind, "党员增减")
