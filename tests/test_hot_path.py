"""Per-request work that must not be repeated (issue 7): the checks here fail when a cache
stops hitting or a conversion comes back, which no answer would ever show."""
from __future__ import annotations

import uuid

import strawberry.schema.schema as strawberry_schema
from strawberry.types.lazy_type import LazyType

W1 = """query($code: String!) { %sorganization(code: $code) { name memberCount(filter: {scope: SUBTREE})
  children { name memberCount(filter: {scope: SUBTREE}) } } }"""


async def test_an_identical_request_is_validated_once(api, world, monkeypatch):
    """The depth and alias rules are the same classes every request, so ValidationCache hits."""
    calls = []
    validate = strawberry_schema.validate

    def counting(*args, **kwargs):
        calls.append(1)
        return validate(*args, **kwargs)

    token = await api.login("root_admin")
    monkeypatch.setattr(strawberry_schema, "validate", counting)
    # A document no earlier test has validated (comments are not part of the document).
    query = W1 % f"o{uuid.uuid4().hex}: "
    results = [await api.post(query, {"code": "001"}, token) for _ in range(3)]
    assert all("errors" not in r for r in results), results
    assert results[0] == results[1] == results[2]
    assert len(calls) == 1


async def test_member_filters_convert_without_resolving_lazy_types(api, world, monkeypatch):
    """`memberCount(filter:)` on every child converts its filter without importing a module
    and comparing files on disk each time (strawberry's LazyType.resolve_type)."""
    resolved = []
    resolve_type = LazyType.resolve_type

    def counting(self):
        resolved.append(self.type_name)
        return resolve_type(self)

    token = await api.login("root_admin")
    monkeypatch.setattr(LazyType, "resolve_type", counting)
    result = await api.post(W1 % "", {"code": "001"}, token)
    assert "errors" not in result, result
    assert result["data"]["organization"]["children"]
    assert resolved == []


def test_plain_inputs_convert_as_strawberry_does(monkeypatch):
    """gql.schema.base.plain_input renames keys; strawberry's own conversion gives the same
    objects for every kind of field (enum, list of enums, list of strings, int, date, bool, null)."""
    import datetime as dt

    from strawberry.types.arguments import convert_argument

    from gql.schema import schema
    from gql.schema.base import Gender, Scope
    from gql.schema.member import MemberCategory, MemberFilter, MemberOrder, MemberOrderField
    from gql.schema.organization import OrganizationFilter, OrgType
    from gql.schema.statistics import CrossTabInput, Dimension, StatSubject

    config, scalars = schema.config, schema.schema_converter.scalar_registry
    values = [
        (MemberFilter, {}),
        (MemberFilter, {"scope": Scope.SUBTREE}),
        (MemberFilter, {"scope": None, "genders": [Gender.FEMALE], "educationCodes": ["21", "31"],
                        "categories": [MemberCategory.FULL], "minAge": 30, "joinedFrom": dt.date(2000, 1, 2),
                        "hasAccount": False, "nameContains": "张", "completenessBelow": None}),
        (MemberOrder, {"field": MemberOrderField.NAME}),
        (OrganizationFilter, {"types": [OrgType.BRANCH], "includeRevoked": True, "termEndsBefore": None}),
        (CrossTabInput, {"organizationId": "T3JnYW5pemF0aW9uOjE", "rows": Dimension.EDUCATION}),
        (CrossTabInput, {"organizationId": "T3JnYW5pemF0aW9uOjE", "rows": Dimension.CHILD_ORGANIZATION,
                         "columns": Dimension.AGE_BAND, "subject": StatSubject.MEMBERS, "scope": Scope.SELF,
                         "asOf": dt.date(2025, 12, 31),
                         "filter": {"genders": [Gender.FEMALE], "categories": [MemberCategory.FULL], "minAge": 30}}),
        (CrossTabInput, {"organizationId": "T3JnYW5pemF0aW9uOjE", "rows": Dimension.GENDER, "columns": None,
                         "filter": None, "asOf": None}),
    ]
    for cls, value in values:
        fast = convert_argument(value, cls, scalars, config)
        monkeypatch.setattr(cls.__strawberry_definition__, "from_input", None)
        slow = convert_argument(value, cls, scalars, config)
        monkeypatch.undo()
        assert fast == slow, (cls, value)
        assert type(fast) is cls
    shared = ["21"]
    converted = convert_argument({"educationCodes": shared}, MemberFilter, scalars, config)
    assert converted.education_codes == shared and converted.education_codes is not shared


async def test_the_served_socket_turns_nagle_off():
    """`python -m gql.serve --workers N` hands its workers a socket whose accepted connections
    get TCP_NODELAY (uvicorn's own `--workers` socket leaves Nagle on: +40 ms per request)."""
    import asyncio
    import socket

    from gql.serve import listening_socket

    sock = listening_socket("127.0.0.1", 0)
    nodelay = asyncio.get_running_loop().create_future()

    async def accepted(_reader, writer):
        nodelay.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(accepted, sock=sock)
    try:
        _reader, writer = await asyncio.open_connection(*sock.getsockname())
        assert await asyncio.wait_for(nodelay, 10) != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def _drop_pooled_connections(engine) -> int:
    """Terminate, on the server, every connection idle in the engine's pool."""
    import asyncpg

    from tests.conftest import POSTGRES_URL

    idle = engine.sync_engine.pool._pool  # SQLAlchemy's AsyncAdaptedQueue around an asyncio.Queue
    pids = [record.dbapi_connection._connection.get_server_pid()
            for record in list(idle._queue._queue) if record.dbapi_connection is not None]
    admin = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        for pid in pids:
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    return len(pids)


async def test_a_read_survives_connections_the_server_dropped(api, world, engine):
    """No ping before each request (3 round trips on asyncpg): a read that meets a dead pooled
    connection runs again on a new one instead of failing."""
    if engine.dialect.name != "postgresql":
        return
    token = await api.login("root_admin")
    query = '{ organization(code: "001") { name memberCount } }'
    before = await api.post(query, None, token)
    assert await _drop_pooled_connections(engine) >= 1
    after = await api.post(query, None, token)
    assert after == before and "errors" not in after


async def test_a_write_after_an_idle_pool_meets_no_dead_connection(api, world, engine, monkeypatch):
    """A connection idle in the pool longer than IDLE_PING_SECONDS is pinged before use, so a
    write (signing in) after the server dropped it succeeds."""
    from db import engine as db_engine

    if engine.dialect.name != "postgresql":
        return
    await api.login("root_admin")
    monkeypatch.setattr(db_engine, "IDLE_PING_SECONDS", -1.0)
    assert await _drop_pooled_connections(engine) >= 1
    await api.login("a_admin")


async def test_string_literals_are_checked_once_per_document_and_refused_every_time(api, world, monkeypatch):
    """TextPolicy keeps its verdict on a document's literals per document object (the parser
    cache shares one per query text): a clean document is walked once, and a literal with a
    control character is refused on every request, not only the first."""
    from gql.auth import text as text_policy

    token = await api.login("root_admin")
    walks = []
    visit = text_policy.visit

    def counting(document, visitor):
        walks.append(1)
        return visit(document, visitor)

    monkeypatch.setattr(text_policy, "visit", counting)
    clean = '{ o%s: organization(code: "001") { name } }' % uuid.uuid4().hex
    for _ in range(3):
        assert "errors" not in await api.post(clean, None, token)
    assert len(walks) == 1
    bad = '{ o%s: organization(code: "00\\u00071") { name } }' % uuid.uuid4().hex
    for _ in range(2):
        result = await api.post(bad, None, token)
        assert [e["extensions"]["code"] for e in result["errors"]] == ["BAD_USER_INPUT"], result
