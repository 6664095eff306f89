"""The ASGI app: `uvicorn gql.app:app`. GraphQL and GraphiQL at /graphql, GraphiQL's assets
served from here (deployments sit on intranets without a CDN)."""
from __future__ import annotations

import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from strawberry.asgi import GraphQL

from db.engine import make_engine, make_sessionmaker
from db.secrets import configured_secret, cursor_key
from gql.auth.errors import request_error_code
from gql.auth.passwords import hasher_named
from gql.context import Context, viewer_for_request
from gql.db import Db
from gql.graphiql import STATIC_DIR, graphiql_html
from gql.schema import schema
from gql.settings import Settings

log = logging.getLogger("dangjian")


class GraphQLView(GraphQL):
    def __init__(self, sessionmaker, settings: Settings):
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=False)
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.hasher = hasher_named(settings.password_profile)

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
        try:
            return await super().run(request)
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


def create_app(engine: AsyncEngine | None = None, settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    configured_secret()  # a DANGJIAN_SECRET_KEY too short to be a secret stops the start
    engine = engine or make_engine(settings.database_url)
    view = GraphQLView(make_sessionmaker(engine), settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
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
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app


def __getattr__(name: str):
    # `gql.app:app` is built on first use, so importing this module opens no database.
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)
