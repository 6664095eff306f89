"""The ASGI app: `uvicorn gql.app:app`. GraphQL and GraphiQL at /graphql, GraphiQL's assets
served from here (deployments sit on intranets without a CDN)."""
from __future__ import annotations

import contextlib
import gc
import json
import logging

from cross_web import HTTPException
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.types import ExecutionResult

from db.changes import branch_version
from db.engine import make_engine, make_sessionmaker
from db.secrets import configured_secret, cursor_key
from gql.auth.errors import OperationNotChosen, request_error_code
from gql.auth import tokens
from gql.auth.passwords import hasher_named
from gql.auth.text import MAX_VARIABLE_DEPTH, json_problem
from gql.cache import ResponseCache, is_query
from gql.context import Context, viewer_for_request
from gql.db import Db
from gql.graphiql import STATIC_DIR, graphiql_html
from gql.schema import schema
from gql.settings import Settings

log = logging.getLogger("dangjian")


def bad_request(message: str, status_code: int = 400, code: str = "BAD_REQUEST") -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status_code)


class BadBody(HTTPException):
    def __init__(self, reason: str, code: str = "BAD_REQUEST"):
        super().__init__(400, reason)
        self.code = code


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
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=False)
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.hasher = hasher_named(settings.password_profile)
        entries = settings.response_cache_entries
        self.cache = ResponseCache(entries) if entries > 0 else None

    async def execute_operation(self, request, request_adapter, request_data, context, root_value, sub_response):
        """Queries of a signed-in caller go through the exact response cache (gql.cache)."""
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
                and not getattr(context, "reads_past", False)
                and is_query(request_data.query, request_data.operation_name)):
            request.state.cache_store = (key, version, result)
        return result

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
        if not isinstance(value, dict):
            raise BadBody("请求体必须是 JSON 对象：{\"query\": ..., \"variables\": {...}}")
        for key in ("query", "operationName"):
            if not isinstance(value.get(key), (str, type(None))):
                raise BadBody(f"{key} 必须是字符串")
        if not isinstance(value.get("variables"), (dict, type(None))):
            raise BadBody("variables 必须是 JSON 对象")
        problem = json_problem(value.get("variables"), MAX_VARIABLE_DEPTH)
        if problem:
            raise BadBody(f"variables {problem}", "BAD_USER_INPUT")
        problem = json_problem(value)
        if problem:
            raise BadBody(f"请求{problem}", "BAD_USER_INPUT")
        return value

    async def get_context(self, request: Request, response) -> Context:
        # Read (or create) the cursor key before any transaction of the request is open; after
        # the first request it is held in memory.
        await cursor_key(self.sessionmaker.kw["bind"])
        db = Db(self.sessionmaker)
        request.state.db = db
        viewer = await viewer_for_request(db, request.headers.get("authorization"))
        return Context(request=request, response=response, db=db, settings=self.settings,
                       hasher=self.hasher, viewer=viewer)

    async def process_result(self, request: Request, result):
        """Errors raised before execution (syntax, the token limit) bypass the schema's
        extensions: give them their code here."""
        response = await super().process_result(request, result)
        for error in response.get("errors") or []:
            extensions = error.setdefault("extensions", {})
            extensions.setdefault("code", request_error_code(error.get("message", "")))
        return response

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(graphiql_html(endpoint="/graphql", static_prefix="/static"))

    async def run(self, request, context=None, root_value=None):  # type: ignore[override]
        cache = self.cache
        try:
            if cache is not None and request.method == "POST":
                engine = self.sessionmaker.kw["bind"]
                body = await cache.fast_hit(await request.body(), request.headers.get("authorization"), engine,
                                            await cursor_key(engine))
                if body is not None:
                    return Response(body, media_type="application/json")
            response = await super().run(request)
            store = getattr(request.state, "cache_store", None)
            if store is not None and response.status_code == 200:
                cache.put(*store, body=bytes(response.body))
            return response
        except HTTPException as exc:
            # Strawberry's refusals (content type, batches, method, unknown operationName) and ours, as JSON.
            code = getattr(exc, "code", "BAD_REQUEST")
            if isinstance(exc.__cause__, CannotGetOperationTypeError):
                code = OperationNotChosen.code
            return bad_request(exc.reason, exc.status_code, code)
        finally:
            db = getattr(request.state, "db", None) if hasattr(request, "state") else None
            if db is not None:
                await db.close()


class BodyLimit:
    """Refuse request bodies above the limit, declared (Content-Length) or streamed (chunked),
    before anything parses them: the body is read up to the limit and then handed on."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def too_large(self, scope, receive, send):
        response = JSONResponse({"errors": [{"message": f"请求体超过 {self.max_bytes} 字节",
                                             "extensions": {"code": "QUERY_TOO_COMPLEX"}}]}, status_code=413)
        await response(scope, receive, send)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self.too_large(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self.too_large(scope, receive, send)
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

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/graphql", view, methods=["GET", "POST"]),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        lifespan=lifespan,
    )
    app.state.response_cache = view.cache
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app


def __getattr__(name: str):
    # `gql.app:app` is built on first use, so importing this module opens no database.
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)
