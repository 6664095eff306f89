"""The ASGI app: `uvicorn gql.app:app`. GraphQL and GraphiQL at /graphql, the statistics dashboard
at /dashboard (gql.dashboard), their assets served from here (deployments sit on intranets
without a CDN)."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import gc
import hashlib
import json
import logging
import re

from cross_web import HTTPException
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from strawberry.asgi import GraphQL
from graphql import GraphQLError, parse
from strawberry.http import GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult

from db.changes import branch_version
from db.services import idempotency
from db.services.accounts import now
from db.engine import make_engine, make_sessionmaker
from db.secrets import configured_secret, cursor_key
from gql.auth.errors import OperationNotChosen, request_error_code
from gql.auth import tokens
from gql.auth.introspection import without_suggestions
from gql.auth.limits import chosen_operation
from gql.auth.passwords import hasher_named
from gql.auth.sign_in_limit import MAX_PASSWORD_FIELDS, most_password_checks
from gql.auth.text import MAX_VARIABLE_DEPTH, json_problem
from gql.cache import ResponseCache, is_query
from gql import exports, imports
from gql.context import Context, viewer_for_request
from gql.dashboard import CSP as DASHBOARD_CSP, dashboard_html
from gql.db import Db
from gql.graphiql import STATIC_DIR, graphiql_html
from gql.schema import MAX_BATCH, schema
from gql.settings import Settings

log = logging.getLogger("dangjian")


JSON = "application/json"
# GraphQL over HTTP (the spec of the GraphQL foundation's working group): the media type of a
# GraphQL response, with status codes that say whether the request ran (200) or not (4xx).
GRAPHQL_RESPONSE = "application/graphql-response+json"


def bad_request(message: str, status_code: int = 400, code: str = "BAD_REQUEST", media_type: str = JSON,
                headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status_code,
                        media_type=media_type, headers=headers)


class BadBody(HTTPException):
    def __init__(self, reason: str, code: str = "BAD_REQUEST", status_code: int = 400):
        super().__init__(status_code, reason)
        self.code = code


def response_media_type(accept: str | None) -> str:
    """application/graphql-response+json when the client's Accept prefers it to application/json
    (by q, then by order); application/json otherwise, `*/*` and no Accept included (the spec's
    choice for the years legacy clients are around)."""
    if not accept or GRAPHQL_RESPONSE not in accept:
        return JSON
    best, best_q = JSON, -1.0
    for part in accept.split(","):
        media_type, *parameters = part.split(";")
        media_type = media_type.strip().lower()
        if media_type not in (JSON, GRAPHQL_RESPONSE):
            continue
        q = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = media_type, q
    return best if best_q > 0 else JSON


def body_kind(content_type: str | None) -> str | None:
    """"json" or "graphql" for the content types a POST may carry, None for any other: HTML forms
    (application/x-www-form-urlencoded, multipart/form-data) and text/plain, the content types a
    page on another site can POST without a CORS preflight, are refused (415), so no cross-site
    form can send a GraphQL request. A charset other than UTF-8 is refused too."""
    media_type, *parameters = (content_type or "").split(";")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return None
    return {JSON: "json", "application/graphql": "graphql"}.get(media_type.strip().lower())


class Replay(HTTPException):
    """The stored first answer of an `Idempotency-Key` retry."""

    def __init__(self, body: str, status_code: int):
        super().__init__(status_code, "replay")
        self.body = body


def is_mutation(query: str | None, operation_name: str | None) -> bool:
    try:
        operation = chosen_operation(parse(query or ""), operation_name)
    except GraphQLError:
        return False
    return operation is not None and operation.operation.value == "mutation"


def request_hash(request_data: GraphQLRequestData) -> str:
    text = json.dumps([request_data.query, request_data.operation_name, request_data.variables],
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def batch_password_checks(items) -> int:
    """The password checks (login, registerMember, changePassword) of all the operations of a batch."""
    total = 0
    for item in items:
        try:
            document = parse(item.query or "")
        except GraphQLError:
            continue  # refused when it runs
        total += most_password_checks(document, item.operation_name)
    return total


async def close_request_db(scope) -> None:
    """Close the request's Db (gql.db), if it opened one; twice is harmless."""
    db = scope.get("state", {}).get("db")
    if db is not None:
        await db.close()


class GraphQLView(GraphQL):
    """Strawberry's view, with the request body held to what a GraphQL request is.

    Measured on this view before the change, with the 24 bodies of tests/test_hostile_input.py:
    11 gave a bare HTTP 500: JSON that is not an object (`null`, `1`, `"x"`, `true`, `1e99999`:
    strawberry calls `.get` on it), invalid UTF-8 (2: a UnicodeDecodeError, not the
    JSONDecodeError strawberry catches), variables nested 5,000 deep (2: a RecursionError inside
    `json.loads`), a 5,000-digit number (Python's int-digits limit, a ValueError); so did a lone
    surrogate in `operationName` (the error echoing it failed to encode). The other 13 were
    plain-text 400s. Now every one of them is a 400 with a JSON body and `extensions.code`
    (BAD_REQUEST; BAD_USER_INPUT for text that is not valid Unicode).
    """

    def __init__(self, sessionmaker, settings: Settings):
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True)
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.hasher = hasher_named(settings.password_profile)
        self.exhausted_addresses: dict = {}
        self.address_locks = tuple(asyncio.Lock() for _ in range(64))
        entries = settings.response_cache_entries
        self.cache = ResponseCache(entries) if entries > 0 else None

    async def execute_operation(self, request, request_adapter, request_data, context, root_value, sub_response):
        """Queries of a signed-in caller go through the exact response cache (gql.cache).

        A batch (a JSON array of at most MAX_BATCH requests) runs its operations one after
        another, not concurrently as strawberry does: they share the request's one session, and
        a `login` early in a batch signs in the rest. Its password checks are counted together:
        two `login`s in two operations of one batch are two guesses in one request, refused
        before anything runs, as two aliased `login`s in one operation are."""
        if isinstance(request_data, list):
            request.state.batch = True
            checks = batch_password_checks(request_data)
            if checks > MAX_PASSWORD_FIELDS:
                raise BadBody(f"一个请求最多只能校验一次密码（这个批量请求有 {checks} 个 login/changePassword 字段）：请分开发送",
                              "QUERY_TOO_COMPLEX")
            results = []
            for item in request_data:
                context._make_loaders()  # what an earlier operation wrote is read afresh
                results.append(await self.execute_single(request, request_adapter, sub_response, context,
                                                         root_value, item))
            return results
        key = request.headers.get("idempotency-key")
        if (key is not None and context.viewer is not None and request_adapter.method == "POST"
                and is_mutation(request_data.query, request_data.operation_name)):
            await self.claim_idempotency_key(request, context, request_data, key)
        cache = self.cache
        key = None
        if (cache is not None and isinstance(request_data, GraphQLRequestData) and request_data.protocol == "http"
                and request_adapter.method == "POST" and not request_data.extensions):
            # The cursor key is part of the answer (cursors in it are sealed with it).
            salt = await cursor_key(self.sessionmaker.kw["bind"])
            key = cache.key(request_data.query, request_data.operation_name, request_data.variables, context.viewer,
                            salt)
        if key is None:
            return await super().execute_operation(request, request_adapter, request_data, context, root_value,
                                                   sub_response)
        # The version is read in the request's snapshot, after the token and before any field:
        # the data every field reads is at least as new as it.
        viewer = context.viewer
        version = await context.db.read(lambda session: branch_version(session, viewer.organization_path))
        cache.know_token(tokens.token_hash(tokens.bearer(request.headers.get("authorization"))), viewer)
        entry = cache.get(key, version)
        if entry is not None:
            if entry.body is None:
                request.state.cache_store = (key, version, entry.result)
            return entry.result
        result = await super().execute_operation(request, request_adapter, request_data, context, root_value,
                                                 sub_response)
        if (isinstance(result, ExecutionResult) and not result.errors and result.data is not None
                and not context.uncacheable and is_query(request_data.query, request_data.operation_name)):
            request.state.cache_store = (key, version, result)
        return result

    async def claim_idempotency_key(self, request, context, request_data, key: str) -> None:
        """A signed-in caller's mutation with an Idempotency-Key: run it only when this request
        claims the key (db.services.idempotency); a retry gets the first answer, or 409 while
        the first is still running, or 422 when the key was used for a different request."""
        if not (0 < len(key) <= idempotency.MAX_KEY_LENGTH) or not key.isascii() or not key.isprintable():
            raise BadBody(f"Idempotency-Key 须为 1–{idempotency.MAX_KEY_LENGTH} 个可打印 ASCII 字符")
        account_id, fingerprint = context.viewer.account_id, request_hash(request_data)
        claim = await context.db.write(lambda session: idempotency.claim(session, account_id, key, fingerprint, now()))
        if claim.owned:
            request.state.idempotency = (account_id, key)
        elif claim.request_hash != fingerprint:
            raise BadBody("这个 Idempotency-Key 已用于另一个请求（24 小时内不能换用）", "CONFLICT", 422)
        elif claim.response is None:
            raise BadBody("同一 Idempotency-Key 的请求仍在处理中，请稍后重试", "CONFLICT", 409)
        else:
            raise Replay(claim.response, claim.status_code or 200)

    async def settle_idempotency_key(self, request, response: Response | None) -> None:
        """Store the answer of a request that claimed its key, or give the key back when the
        request was refused before anything ran (4xx). Not called when the request died: its
        claim stays pending (see db.services.idempotency)."""
        claimed = getattr(request.state, "idempotency", None)
        if claimed is None:
            return
        account_id, key = claimed
        engine_db = request.state.db
        if getattr(request.state, "request_error", False):
            response = bad_request("", 400)  # refused before it ran: nothing to remember
        if response is not None and response.status_code < 400:
            body = bytes(response.body).decode("utf-8")
            await engine_db.write(lambda session: idempotency.finish(session, account_id, key, body,
                                                                     response.status_code))
        elif response is not None and response.status_code < 500:
            await engine_db.write(lambda session: idempotency.release(session, account_id, key))

    def decode_json(self, data: str | bytes) -> object:
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BadBody("请求体不是有效的 UTF-8") from exc
        try:
            value = json.loads(data)
        except RecursionError as exc:
            raise BadBody("请求体 JSON 嵌套过深") from exc
        except ValueError as exc:  # JSONDecodeError, and numbers too long to convert
            raise BadBody("无法将请求体解析为 JSON") from exc
        if isinstance(value, list):
            if not value:
                raise BadBody("批量请求不能为空")
            if len(value) > MAX_BATCH:
                raise BadBody(f"一次批量请求最多 {MAX_BATCH} 个操作（这个请求有 {len(value)} 个）", "QUERY_TOO_COMPLEX")
            for item in value:
                self.check_request(item)
            return value
        self.check_request(value)
        return value

    @staticmethod
    def check_request(value: object) -> None:
        if not isinstance(value, dict):
            raise BadBody("请求体必须是 JSON 对象：{\"query\": ..., \"variables\": {...}}")
        for key in ("query", "operationName"):
            if not isinstance(value.get(key), (str, type(None))):
                raise BadBody(f"{key} 必须是字符串")
        if not isinstance(value.get("variables"), (dict, type(None))):
            raise BadBody("variables 必须是 JSON 对象")
        if not isinstance(value.get("extensions"), (dict, type(None))):
            raise BadBody("extensions 必须是 JSON 对象")
        problem = json_problem(value.get("variables"), MAX_VARIABLE_DEPTH)
        if problem:
            raise BadBody(f"variables {problem}", "BAD_USER_INPUT")
        problem = json_problem(value)
        if problem:
            raise BadBody(f"请求{problem}", "BAD_USER_INPUT")

    async def parse_http_body(self, request):
        """POST bodies of type application/graphql are the query itself (the GraphQL-over-HTTP
        spec's other request type); every content type but it and application/json is refused
        in `run` before this."""
        if request.method == "POST" and body_kind(request.content_type) == "graphql":
            body = await request.get_body()
            try:
                query = body.decode("utf-8") if isinstance(body, bytes) else body
            except UnicodeDecodeError as exc:
                raise BadBody("请求体不是有效的 UTF-8") from exc
            return GraphQLRequestData(query=query, variables=None, operation_name=None, extensions=None,
                                      protocol="http")
        return await super().parse_http_body(request)

    async def get_context(self, request: Request, response) -> Context:
        # Read (or create) the cursor key before any transaction of the request is open; after
        # the first request it is held in memory.
        await cursor_key(self.sessionmaker.kw["bind"])
        db = Db(self.sessionmaker)
        request.state.db = db
        viewer = await viewer_for_request(db, request.headers.get("authorization"))
        return Context(request=request, response=response, db=db, settings=self.settings,
                       hasher=self.hasher, viewer=viewer, exhausted=self.exhausted_addresses,
                       address_locks=self.address_locks)

    async def process_result(self, request: Request, result):
        """Errors raised before execution (syntax, the token limit) bypass the schema's
        extensions: give them their code here."""
        response = await super().process_result(request, result)
        errors = response.get("errors") or []
        suggestions = self.settings.field_suggestions
        for error in errors:
            extensions = error.setdefault("extensions", {})
            extensions.setdefault("code", request_error_code(error.get("message", "")))
            if not suggestions:
                error["message"] = without_suggestions(error.get("message", ""))
        if errors and response.get("data") is None and not any(error.get("path") for error in errors):
            # Refused before any field ran (syntax, validation, variables, limits): with
            # application/graphql-response+json that is a 400 and a body without `data`.
            request.state.request_error = True
            if getattr(request.state, "media_type", JSON) == GRAPHQL_RESPONSE:
                response.pop("data", None)
        return response

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        page = graphiql_html(endpoint="/graphql", static_prefix="/static")
        return HTMLResponse(page, headers={"Content-Security-Policy": graphiql_csp(page)})

    async def __call__(self, scope, receive, send):
        """The request's session is closed after the response is sent, not before: its ROLLBACK
        (and the connection's way back to the pool) is then off the client's wait. The close
        runs whatever happened to the send (a client gone, the timeout's cancellation)."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            await close_request_db(scope)

    async def run(self, request, context=None, root_value=None):  # type: ignore[override]
        cache = self.cache
        media_type = response_media_type(request.headers.get("accept"))
        request.state.media_type = media_type
        try:
            if request.method == "POST":
                kind = body_kind(request.headers.get("content-type"))
                if kind is None:
                    return bad_request("POST 请求的 Content-Type 必须是 application/json（或 application/graphql）",
                                       415, "UNSUPPORTED_MEDIA_TYPE", media_type)
                # A JSON body only: an application/graphql body is the query text itself, which the
                # view parses as such (a reviewer's JSON sent as application/graphql was answered
                # from the cache, where the view answers GRAPHQL_PARSE_FAILED).
                if cache is not None and kind == "json":
                    engine = self.sessionmaker.kw["bind"]
                    body = await cache.fast_hit(await request.body(), request.headers.get("authorization"), engine,
                                                await cursor_key(engine))
                    if body is not None:
                        return Response(body, media_type=media_type)
            try:
                response = await super().run(request)
            except HTTPException as exc:
                if not isinstance(exc, Replay):
                    await self.settle_idempotency_key(request, bad_request(exc.reason, exc.status_code))
                raise
            if response.headers.get("content-type", "").startswith(JSON):
                if media_type == GRAPHQL_RESPONSE:
                    response.headers["content-type"] = GRAPHQL_RESPONSE
                    if getattr(request.state, "request_error", False) and not getattr(request.state, "batch", False):
                        response.status_code = 400
            await self.settle_idempotency_key(request, response)
            store = getattr(request.state, "cache_store", None)
            if store is not None and response.status_code == 200:
                cache.put(*store, body=bytes(response.body))
            return response
        except Replay as replay:
            return Response(replay.body, status_code=replay.status_code, media_type=media_type,
                            headers={"Idempotent-Replayed": "true"})
        except HTTPException as exc:
            # Strawberry's refusals (content type, batches, method, unknown operationName) and ours, as JSON.
            code = getattr(exc, "code", "BAD_REQUEST")
            if isinstance(exc.__cause__, CannotGetOperationTypeError):
                code = OperationNotChosen.code
            if isinstance(exc.__cause__, InvalidOperationTypeError) and request.method == "GET":
                # A mutation over GET: never run (a link or an <img> could send it), 405 as the spec says.
                return bad_request("变更（mutation）只能用 POST 发送", 405, "METHOD_NOT_ALLOWED", media_type,
                                   headers={"Allow": "POST"})
            return bad_request(exc.reason, exc.status_code, code, media_type)
        except BaseException:
            await close_request_db(request.scope)
            raise


@functools.lru_cache(maxsize=8)
def graphiql_csp(page: str) -> str:
    """GraphiQL's Content-Security-Policy: scripts and styles only from this server (its vendored
    files under /static) and the page's own inline script, allowed by its hash (whatever the page
    says, the hash follows it); styles inline too (CodeMirror and React set them at run time);
    fonts and images from its CSS (data: URLs); requests only back to this server."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
                      for script in re.findall(r"<script>(.*?)</script>", page, re.S))
    return (f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


# On every response (gql.app.Hardening), unless the response set its own.
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)


class Hardening:
    """Security headers on every response (errors, 413s, static files and timeouts included),
    `Cache-Control: no-store` on all but the static files (answers carry personal data), HSTS
    over HTTPS, and the request timeout: a request unanswered after `timeout` seconds is
    cancelled and answered 503 (TIMEOUT), so a stuck statement or a slow client's request does
    not hold a worker's connection forever."""

    def __init__(self, app, timeout: float):
        self.app, self.timeout = app, timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False
        static = scope.get("path", "").startswith("/static/")
        https = scope.get("scheme") == "https"

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in SECURITY_HEADERS if header[0] not in present)
                if not static and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                if https:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers}
            await send(message)

        # File routes run for as long as their file takes (a 100,000-row import on PostgreSQL took
        # over 30 s; a 1,000,000-row roster streams for minutes): GraphQL requests only.
        path = scope.get("path", "")
        deadline = asyncio.timeout(None if path.startswith(("/import/", "/export/")) else self.timeout)
        try:
            async with deadline:
                await self.app(scope, receive, send_with_headers)
        except TimeoutError:
            if not deadline.expired():
                raise
            log.warning("request timed out after %s s: %s %s", self.timeout, scope.get("method"), scope.get("path"))
            if not started:
                await bad_request(f"请求处理超过 {self.timeout:g} 秒，已中止", 503, "TIMEOUT")(
                    scope, receive, send_with_headers)


class WithoutQueryString(logging.Filter):
    """The access log line without the query string: a GET request carries its query text and
    variables there (ID numbers included), and none of them may reach the logs. uvicorn's
    access records have the arguments (client, method, path, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


class BodyLimit:
    """Refuse request bodies above the limit, declared (Content-Length) or streamed (chunked),
    before anything parses them: the body is read up to the limit and then handed on."""

    def __init__(self, app, max_bytes: int, paths: dict[str, int] | None = None):
        self.app, self.max_bytes, self.paths = app, max_bytes, paths or {}

    async def too_large(self, scope, receive, send, limit: int):
        response = JSONResponse({"errors": [{"message": f"请求体超过 {limit} 字节",
                                             "extensions": {"code": "QUERY_TOO_COMPLEX"}}]}, status_code=413)
        await response(scope, receive, send)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.paths.get(scope.get("path"), self.max_bytes)  # uploads (/import/members) take more
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await self.too_large(scope, receive, send, limit)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return await self.too_large(scope, receive, send, limit)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


def freeze_startup_objects() -> None:
    """Move every object alive at startup (modules, the schema, SQLAlchemy's mappers: ~100,000
    tracked objects) out of the cyclic garbage collector's reach (gc.freeze): they live as long
    as the process, and each full collection walked them all again. Measured in one process
    serving W2 sequentially (bench/compare.py's query, 240 requests): 1,000 ms in the collector
    before, 420 ms after (~2.4 ms less per request); W1 ~1 ms less. Larger gen-0 thresholds
    gained nothing more on W1. Once per process: what is alive at a later start (another app in
    the same process) is not frozen for good."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()


_frozen = False


def create_app(engine: AsyncEngine | None = None, settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    configured_secret()  # a DANGJIAN_SECRET_KEY too short to be a secret stops the start
    engine = engine or make_engine(settings.database_url)
    view = GraphQLView(make_sessionmaker(engine), settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        freeze_startup_objects()
        yield
        await engine.dispose()

    async def home(_request):
        return RedirectResponse("/graphql")

    async def dashboard(_request):
        return HTMLResponse(dashboard_html(static_prefix="/static"), headers={"Content-Security-Policy": DASHBOARD_CSP})

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/graphql", view, methods=["GET", "POST"]),
            Route("/dashboard", dashboard, methods=["GET"]),
            # Files beside GraphQL, the same bearer token (gql.exports, gql.imports).
            Route("/export/members.{kind}", exports.roster, methods=["GET"]),
            Route("/export/crosstab.{kind}", exports.cross_tab, methods=["GET"]),
            Route("/export/stat/{id}.{kind}", exports.saved_table, methods=["GET"]),
            Route("/export/balance.{kind}", exports.member_balance, methods=["GET"]),
            Route("/import/members", imports.import_members, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        lifespan=lifespan,
    )
    app.state.response_cache = view.cache
    app.state.sessionmaker = view.sessionmaker
    app.state.settings = settings
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes,
                       paths={"/import/members": settings.max_import_bytes})
    app.add_middleware(Hardening, timeout=settings.request_timeout_seconds)
    # aiosqlite logs every statement with its parameters at DEBUG (ID numbers among them).
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    access_log = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, WithoutQueryString) for f in access_log.filters):
        access_log.addFilter(WithoutQueryString())
    return app


def __getattr__(name: str):
    # `gql.app:app` is built on first use, so importing this module opens no database.
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)
