"""Request-level failures: malformed documents, limits, bad variables, oversize bodies, masking
of internal errors, and the self-hosted GraphiQL page."""
from __future__ import annotations

import json
import re

import pytest

from gql.schema import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS
from tests.conftest import error_codes

LEAK_MARKERS = ("Traceback", 'File "', "SELECT ", "INSERT ", "UPDATE ", "DELETE ", " FROM ", "[SQL:",
                "sqlalchemy", "asyncpg", "sqlite3", "aiosqlite", "psycopg", "/work/", ".py")


def assert_no_leak(body: dict | str) -> None:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    if isinstance(body, dict):
        for error in body.get("errors") or []:
            for marker in LEAK_MARKERS:
                assert marker not in error.get("message", ""), error
            assert set(error.get("extensions") or {}) <= {"code"}, error
    assert "Traceback" not in text


async def raw_post(client, payload, token: str | None = None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kwargs.pop("headers", {}))
    try:
        return await client.post("/graphql", json=payload, headers=headers, **kwargs)
    except Exception as exc:  # an exception escaping the ASGI app: a plain 500 in production
        pytest.fail(f"the app crashed instead of answering: {exc!r}")


def codes_of(response) -> list[str | None]:
    body = response.json()
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


# ------------------------------------------------------------------ documents


SYNTAX_ERRORS = [
    '{ organization(code: ',
    '{ organization(code: "001") { name }',
    'query { organization(code: "001") { name } } }',
    '{ codes(table: ETHNICITY) { code label ',
    'mutation { login(input: {username: "x" password: "y" }) { token }',
    '}{',
    '"just a string"',
]


async def test_syntax_error_is_not_a_server_error(client):
    for document in SYNTAX_ERRORS:
        response = await raw_post(client, {"query": document})
        assert response.status_code in (200, 400), (document, response.status_code)
        body = response.json()
        assert body.get("data") is None and body["errors"], (document, body)
        assert_no_leak(body)


async def test_syntax_error_has_code_graphql_parse_failed(client):
    wrong = []
    for document in SYNTAX_ERRORS:
        response = await raw_post(client, {"query": document})
        if codes_of(response) != ["GRAPHQL_PARSE_FAILED"]:
            wrong.append((document, response.json()))
    assert wrong == [], "\n".join(map(str, wrong))


async def test_unknown_field_fails_validation(client, api, world):
    for document, username in (('{ organization(code: "001") { nope } }', "a_admin"),
                               ('{ nope }', None),
                               ('{ codes(table: ETHNICITY) { code colour } }', None),
                               ('{ codes(table: NO_SUCH_TABLE) { code } }', None),
                               ('{ organization(code: 5) { name } }', "a_admin"),
                               ('{ organization(code: "001", colour: "red") { name } }', "a_admin"),
                               ('query { __typename } fragment F on Nope { x }', None)):
        result = await api.as_(username, document)
        assert result.get("data") is None, (document, result)
        assert error_codes(result) and set(error_codes(result)) == {"GRAPHQL_VALIDATION_FAILED"}, (document, result)
        assert_no_leak(result)


def nested(levels: int, leaf: str = "code", field: str = "children") -> str:
    return '{ organization(code: "001") { ' + f"{field} {{ " * levels + leaf + " }" * levels + " } }"


async def test_depth_limit(api, world):
    # `organization { children ×11 { code } }` is 12 levels below the root field: the limit itself.
    assert MAX_DEPTH == 12
    # (`parent`, not `children`: eleven levels of children are refused by their node cost.)
    ok = await api.as_("root_admin", nested(MAX_DEPTH - 1, field="parent"))
    assert "errors" not in ok, ok
    for levels in (MAX_DEPTH, MAX_DEPTH + 1, 40):
        result = await api.as_("root_admin", nested(levels))
        assert error_codes(result) == ["QUERY_TOO_COMPLEX"], (levels, result)
        assert result.get("data") is None
    # Through fragments, inline and named, the depth is the same.
    inline = '{ organization(code: "001") { ' + "... on Organization { children { " * 20 + "code" + " } }" * 20 + " } }"
    result = await api.as_("root_admin", inline)
    assert error_codes(result) == ["QUERY_TOO_COMPLEX"], result
    fragments = "".join(f"fragment F{i} on Organization {{ children {{ ...F{i + 1} }} }} " for i in range(20))
    fragments += "fragment F20 on Organization { code }"
    result = await api.as_("root_admin", '{ organization(code: "001") { ...F0 } } ' + fragments)
    assert error_codes(result) == ["QUERY_TOO_COMPLEX"], result


def aliased(count: int) -> str:
    return "{ " + " ".join(f"a{i}: codes(table: DEGREE) {{ code }}" for i in range(count)) + " }"


async def test_alias_limit(api):
    assert MAX_ALIASES == 30
    ok = await api.post(aliased(MAX_ALIASES))
    assert "errors" not in ok and len(ok["data"]) == MAX_ALIASES
    for count in (MAX_ALIASES + 1, 200):
        result = await api.post(aliased(count))
        assert error_codes(result) == ["QUERY_TOO_COMPLEX"], (count, result)
        assert result.get("data") is None
    # Aliases hidden in a fragment count as well.
    fragment = "fragment F on Query { " + " ".join(f"b{i}: codes(table: DEGREE) {{ code }}" for i in range(20)) + " }"
    document = "{ ...F " + " ".join(f"a{i}: codes(table: DEGREE) {{ code }}" for i in range(20)) + " } " + fragment
    result = await api.post(document)
    assert error_codes(result) == ["QUERY_TOO_COMPLEX"], result


def tokens(repeats: int) -> str:
    # 8 tokens a repeat: codes ( table : DEGREE ) { code } -- and a closing brace; no aliases.
    return "{ " + " ".join("codes(table: DEGREE) { code }" for _ in range(repeats)) + " }"


async def test_token_limit(api):
    assert MAX_TOKENS == 5000
    ok = await api.post(tokens(150))  # 1,202 tokens
    assert "errors" not in ok, ok
    for repeats in (700, 5000):  # 5,602 and 40,002 tokens
        result = await api.post(tokens(repeats))
        assert error_codes(result) == ["QUERY_TOO_COMPLEX"], result
        assert result.get("data") is None
        assert_no_leak(result)


# ------------------------------------------------------------------ variables


VARIABLE_CASES = [
    ('query($f: Int) { organization(code: "001") { descendants(first: $f) { totalCount } } }', {"f": "abc"}),
    ('query($f: Int) { organization(code: "001") { descendants(first: $f) { totalCount } } }', {"f": 2 ** 40}),
    ('query($f: Int) { organization(code: "001") { descendants(first: $f) { totalCount } } }', {"f": 1.5}),
    ('query($t: CodeTable!) { codes(table: $t) { code } }', {"t": "NOPE"}),
    ('query($t: CodeTable!) { codes(table: $t) { code } }', {}),
    ('query($t: CodeTable!) { codes(table: $t) { code } }', {"t": None}),
    ('query($f: MemberFilter) { members(filter: $f) { totalCount } }', {"f": {"bogus": 1}}),
    ('query($f: MemberFilter) { members(filter: $f) { totalCount } }', {"f": {"scope": "EVERYWHERE"}}),
    ('query($f: MemberFilter) { members(filter: $f) { totalCount } }', {"f": {"joinedFrom": "2020-02-30"}}),
    ('query($f: MemberFilter) { members(filter: $f) { totalCount } }', {"f": {"minAge": "thirty"}}),
    ('mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) { userErrors { code } } }',
     {"i": {"name": "x", "type": "BRANCH", "codeSuffix": "001"}}),
    ('mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) { userErrors { code } } }',
     {"i": {"parentId": "T3JnYW5pemF0aW9uOjE", "name": "x", "type": "BRANCH", "codeSuffix": "001",
            "establishedOn": "yesterday"}}),
]


async def test_bad_variable_is_bad_user_input(api, world):
    wrong = []
    for document, variables in VARIABLE_CASES:
        result = await api.as_("root_admin", document, variables)
        assert result.get("data") is None, result
        assert_no_leak(result)
        if error_codes(result) != ["BAD_USER_INPUT"]:
            wrong.append((variables, result["errors"]))
    assert wrong == [], "\n".join(map(str, wrong))


async def test_malformed_requests_are_client_errors(client):
    for content in (b"not json", b"", b"[1, 2]", b'{"query": 5}', b'{"query": "{ __typename }", "variables": [1]}',
                    b'{"nothing": 1}', "{\"query\": \"{ __typename }\"".encode()):
        try:
            response = await client.post("/graphql", content=content, headers={"content-type": "application/json"})
        except Exception as exc:
            pytest.fail(f"the app crashed on {content!r}: {exc!r}")
        assert 400 <= response.status_code < 500, (content, response.status_code, response.text)
        assert_no_leak(response.text)


# ------------------------------------------------------------------ body limit


def big_payload(size: int) -> bytes:
    skeleton = json.dumps({"query": "{ __typename }", "variables": {"pad": ""}}).encode()
    return json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * (size - len(skeleton))}}).encode()


async def test_body_over_one_megabyte_is_refused(client):
    """Over 1 MiB (1,048,576 bytes) is refused, with the security headers like every response."""
    for size in (1024 * 1024 + 1, 3_000_000):
        body = big_payload(size)
        assert len(body) == size
        response = await client.post("/graphql", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.headers["content-type"].startswith("application/json")
        data = response.json()
        assert data["errors"] and data["errors"][0]["message"]
        assert data["errors"][0].get("extensions", {}).get("code")
        assert response.headers["x-content-type-options"] == "nosniff"
    # Exactly the limit is served.
    response = await client.post("/graphql", content=big_payload(1024 * 1024), headers={"content-type": "application/json"})
    assert response.status_code == 200 and response.json() == {"data": {"__typename": "Query"}}


async def test_body_limit_holds_without_content_length(client):
    """A chunked body carries no Content-Length; the limit must hold all the same."""
    body = big_payload(1_500_000)

    async def chunks():
        for start in range(0, len(body), 64 * 1024):
            yield body[start:start + 64 * 1024]

    response = await client.post("/graphql", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413, (response.status_code, response.text[:200])
    assert response.json()["errors"]


# ------------------------------------------------------------------ masking


async def test_an_error_in_one_field_leaves_the_rest_of_the_request_intact(client, api, world):
    """A failing connection next to sibling fields still gives a JSON answer with its code."""
    token = await api.login("root_admin")
    for document in (
        '{ organization(code: "001") { members(first: 2, after: "not-a-cursor") { totalCount } memberCount } }',
        '{ organization(code: "001") { memberCount members(first: 0) { totalCount } } }',
        '{ organization(code: "001") { children { code } descendants(after: "bad") { totalCount } memberCount } }',
        '{ a: organization(code: "001") { members(after: "x") { totalCount } } b: organization(code: "001") { memberCount } }',
    ):
        response = await raw_post(client, {"query": document}, token)
        assert response.status_code == 200, response.text
        assert codes_of(response) == ["BAD_USER_INPUT"], (document, response.json())
        assert_no_leak(response.json())
    # And the service goes on answering.
    response = await raw_post(client, {"query": '{ organization(code: "001") { memberCount } }'}, token)
    assert response.json() == {"data": {"organization": {"memberCount": 0}}}


async def test_internal_errors_are_masked(client, api, world):
    """Whatever goes wrong inside, no message carries a traceback, SQL or a driver's words."""
    token = await api.login("root_admin")
    forged = [
        "WzEseyJkIjoiMjAyMC0wMi0zMCJ9LDFd",  # [1, {"d": "2020-02-30"}, 1]
        "WzEsIuadjuaYjiIsMV0",  # [1, "李明", 1]
        "WzEsIuadjuaYjiIsImFiYyJd",  # [1, "李明", "abc"]
        "WzEseyJ0IjoieWVzdGVyZGF5In0sMV0",  # [1, {"t": "yesterday"}, 1]
    ]
    requests = []
    for after in forged:
        for order in ("NAME", "BIRTH_DATE", "JOINED_ON", "CREATED_AT"):
            requests.append((f'{{ members(orderBy: {{field: {order}}}, first: 2, after: "{after}") {{ totalCount }} }}', {}))
    requests += [
        ('query($n: String) { members(filter: {nameContains: $n}) { totalCount } }', {"n": "a\x00b"}),
        ('query($n: String) { member(idNumber: $n) { name } }', {"n": "\x00" * 30}),
        ('query($n: String) { organization(code: $n) { name } }', {"n": "0" * 100_000}),
        ('query($id: ID) { organization(id: $id) { name } }', {"id": "T3JnYW5pemF0aW9uOjk5OTk5OTk5OTk5OTk5OTk5OTk5"}),
        ('query($id: ID!) { node(id: $id) { id } }', {"id": "TWVtYmVyOjE4NDQ2NzQ0MDczNzA5NTUxNjE2"}),
        ('query($f: Int) { organization(code: "001") { descendants(first: $f) { totalCount } } }', {"f": "abc"}),
        ('query($d: Date) { members(filter: {joinedFrom: $d}) { totalCount } }', {"d": "0000-00-00"}),
        ('mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) { userErrors { code message } } }',
         {"i": {"parentId": "T3JnYW5pemF0aW9uOjE", "name": "x" * 5000, "type": "BRANCH", "codeSuffix": "009"}}),
        ('mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) { userErrors { code message } } }',
         {"i": {"parentId": "T3JnYW5pemF0aW9uOjE", "name": "名\x00称", "type": "BRANCH", "codeSuffix": "009"}}),
        ('mutation($i: CreateMemberInput!) { createMember(input: $i) { userErrors { code message } } }',
         {"i": {"organizationId": "T3JnYW5pemF0aW9uOjE", "fields": {"name": "x" * 10_000, "phone": "1" * 500,
                                                                 "nativePlace": "y" * 5000}}}),
    ]
    for document, variables in requests:
        response = await raw_post(client, {"query": document, "variables": variables}, token)
        assert response.status_code < 500, (document, response.text[:300])
        body = response.json()
        assert_no_leak(body)
        for error in body.get("errors") or []:
            assert error.get("extensions", {}).get("code"), (document, error)
            if error["extensions"]["code"] == "INTERNAL_SERVER_ERROR":
                assert not re.search(r"[A-Za-z_]+Error|Exception", error["message"]), error


# ------------------------------------------------------------------ GraphiQL


async def test_graphiql_page_is_self_hosted(client):
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "/static/graphiql/graphiql.min.js" in page
    assert "https://" not in page
    assert "http://" not in page
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/static/graphiql/graphiql.min.js" in assets
    for asset in assets:
        assert asset.startswith("/static/"), asset
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 1000, asset
    script = await client.get("/static/graphiql/graphiql.min.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    missing = await client.get("/static/graphiql/nope.js")
    assert missing.status_code == 404
    escape = await client.get("/static/../app.py")
    assert escape.status_code == 404
    assert "BodyLimit" not in escape.text


# ------------------------------------------------------------------ node cost

NESTED = """query($a: Int, $b: Int, $c: Int) { members(first: $a) { edges { node { organization {
  members(first: $b) { edges { node { organization { members(first: $c) { totalCount } } } } } } } } } }"""


async def test_node_cost_is_reported_and_its_limit_enforced(api, world):
    token = await api.login("root_admin")
    fine = await api.post(NESTED, {"a": 10, "b": 10, "c": 10}, token)
    assert "errors" not in fine, fine
    assert fine["extensions"]["cost"] == {"nodes": 10 + 100 + 1000, "limit": 50000}
    # 100 × 100 × 100: a million rows asked for in a short query.
    too_many = await api.post(NESTED, {"a": 100, "b": 100, "c": 100}, token)
    assert error_codes(too_many) == ["QUERY_TOO_COMPLEX"] and too_many["data"] is None
    # No `first`: a connection counts its default page of 20.
    default = await api.post("{ members { edges { node { name } } } }", token=token)
    assert default["extensions"]["cost"]["nodes"] == 20


async def test_node_cost_follows_fragments(api, world):
    token = await api.login("root_admin")
    query = """query { members(first: 100) { edges { node { ...M } } } }
      fragment M on Member { organization { members(first: 100) { edges { node { organization { ...O } } } } } }
      fragment O on Organization { descendants(first: 100) { totalCount } }"""
    result = await api.post(query, token=token)
    assert error_codes(result) == ["QUERY_TOO_COMPLEX"]
