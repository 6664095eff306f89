"""POST /import/members: a roster-shaped XLSX or CSV into one organization (db.services.imports).

Multipart form: `file`, `organizationId` (a global id; default the caller's organization),
`dryRun` (true/false, default false). OPERATOR and above (createMember's role). The answer is
JSON {"imported": N, "dryRun": bool, "errors": [{"row", "column", "value", "message"}]}:
200 when every row is good (imported = rows written, or that would be on a dry run), 422 with
every bad row and imported 0 otherwise; a file that cannot be read as a roster (not a
spreadsheet, wrong or missing header, empty, over the row limit) is 400 / 413 with one error
whose row is null and "code": "BAD_FILE"; nothing is written in any of these cases. Parsing and
validation run in a worker thread (openpyxl is CPU work), the reads in the request's read
transaction, the inserts in one write transaction after everything was checked.
"""
from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import IntegrityError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from db.services import audit, imports
from db.services.sheets import BadFile, read_table
from gql.db import Db
from gql.exports import HttpError, bad_input, handled, not_found, signed_in
from gql.ids import pk_of

log = logging.getLogger("dangjian.imports")


async def record_import(session, request, viewer, organization_id: int, rows: int, dry_run: bool) -> None:
    """The import in the audit trail (who, into which organization, how many rows), in the
    import's own write transaction (a dry run: in one of its own)."""
    client = request.client
    await audit.record(session, actor=viewer.actor, action="importMembers", target=("Organization", organization_id),
                       organization=organization_id, changes={"rows": rows, "dryRun": dry_run},
                       address=client.host if client else None)


def report(imported: int, dry_run: bool, errors: list, status: int = 200, code: str | None = None) -> JSONResponse:
    body = {"imported": imported, "dryRun": dry_run, "errors": [e.as_json() for e in errors]}
    if code is not None:
        body["code"] = code
    return JSONResponse(body, status_code=status)


def _parse(data: bytes, max_rows: int) -> imports.Checked:
    return imports.validate_rows(read_table(data, max_rows))


@handled
async def import_members(request: Request) -> Response:
    viewer = await signed_in(request, "OPERATOR")
    settings = request.app.state.settings
    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception as exc:  # not multipart, or a malformed one
        raise bad_input("请求须是 multipart/form-data：file、organizationId、dryRun") from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise bad_input("缺少文件字段 file")
        dry_raw = str(form.get("dryRun") or "false").strip().lower()
        if dry_raw not in ("true", "false", "1", "0"):
            raise bad_input("dryRun 须是 true 或 false")
        dry_run = dry_raw in ("true", "1")
        raw_org = form.get("organizationId")
        if raw_org is None or raw_org == "":
            organization_id = viewer.organization_id
        else:
            organization_id = pk_of(str(raw_org), "Organization")
            if organization_id is None:
                raise not_found()
        data = await upload.read()
    finally:
        await form.close()

    db = Db(request.app.state.sessionmaker)
    try:
        try:
            await db.read(lambda s: imports.target(s, viewer.branch, organization_id))
        except imports.Refused as exc:
            raise HttpError(exc.status, exc.code, exc.message) from exc
        # The connection goes back to the pool while the file is parsed: the parse is slow work
        # that needs no database, and a read held across it kept a pooled connection idle in its
        # transaction for the parse's length (a reviewer: two imports parsing on a pool of two
        # left a plain query waiting for the pool's timeout, a 500). The write checks the target
        # again under its lock (db.services.imports.write).
        await db.idle()
        try:
            checked = await asyncio.to_thread(_parse, data, settings.import_max_rows)
        except BadFile as exc:
            return report(0, dry_run, [imports.RowError(None, exc.column, None, exc.message)], exc.status, "BAD_FILE")
        del data
        await db.read(lambda s: imports.check_taken(s, checked))
        if checked.errors:
            return report(0, dry_run, checked.errors, 422)
        if dry_run:
            await db.write(lambda s: record_import(s, request, viewer, organization_id, len(checked.entries), True))
            return report(len(checked.entries), True, [])
        try:
            async def write_and_record(s):
                count = await imports.write(s, viewer.actor, organization_id, checked.entries)
                await record_import(s, request, viewer, organization_id, count, False)
                return count

            written = await db.write(write_and_record)
        except imports.Refused as exc:
            raise HttpError(exc.status, exc.code, exc.message) from exc
        except IntegrityError:
            log.warning("import hit a unique index (a concurrent write took an ID number)", exc_info=True)
            return report(0, False, [imports.RowError(None, "身份证号码", None,
                                                      "导入期间有身份证号码被他人同时录入，未导入任何数据，请重试")], 409)
        except Exception as exc:
            from db.errors import DomainError

            if isinstance(exc, DomainError):
                problem = exc.problems[0]
                status = 404 if problem.code == "NOT_FOUND" else 409
                raise HttpError(status, problem.code, problem.message) from exc
            raise
        return report(written, False, [])
    finally:
        await db.close()
