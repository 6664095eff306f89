"""Issue 12's HTTP hardening, each rule with its test: batches of at most 10 operations and one
password check per request across them; queries over GET, mutations never; POST only as JSON or
GraphQL; introspection and field suggestions switchable off; security headers on every response
(GraphiQL's CSP allowing its own inline script by hash); a request timeout; no query text,
variables or ID numbers in the logs; GraphQL over HTTP's application/graphql-response+json with
the spec's status codes, and the npm graphql-http audit suite against a live server when Node is
present."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import replace

import httpx
import pytest

from db.engine import PROJECT_ROOT
from gql.app import GraphQLView, WithoutQueryString, create_app
from gql.schema import MAX_BATCH
from tests.conftest import gid
from tests.factories import PASSWORD, new_id_number

TYPENAME = {"query": "{ __typename }"}
LOGIN = ("mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) "
         "{ token userErrors { code } } }")
CREATE_ORG = """mutation($p: ID!) { createOrganization(input: {parentId: $p, name: "经GET创建", type: BRANCH,
  codeSuffix: "077"}) { organization { id } userErrors { code } } }"""


@pytest.fixture
async def make_client(engine):
    clients = []

    async def make(**overrides):
        from gql.settings import Settings
        app = create_app(engine, replace(Settings(password_profile="cheapest"), **overrides))
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        clients.append(http)
        return http

    yield make
    for http in clients:
        await http.aclose()


# ------------------------------------------------------------------ batches


async def test_a_batch_of_at_most_ten_operations_runs_in_order(client, api, world):
    token = await api.login("root_admin")
    headers = {"Authorization": f"Bearer {token}"}
    batch = [{"query": "query($c: String!) { organization(code: $c) { code } }", "variables": {"c": code}}
             for code in ("001", "001001", "001002")]
    response = await client.post("/graphql", json=batch, headers=headers)
    assert response.status_code == 200, response.text
    assert [r["data"]["organization"]["code"] for r in response.json()] == ["001", "001001", "001002"]

    response = await client.post("/graphql", json=[TYPENAME] * MAX_BATCH, headers=headers)
    assert response.status_code == 200 and len(response.json()) == MAX_BATCH
    response = await client.post("/graphql", json=[TYPENAME] * (MAX_BATCH + 1), headers=headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    response = await client.post("/graphql", json=[], headers=headers)
    assert response.status_code == 400


async def test_one_password_check_per_request_across_a_batch_and_aliases(client, api, world, engine):
    """Two logins in a batch, two aliased logins, a login and a changePassword: refused whole
    before anything runs (no token issued, no attempt counted)."""
    one = {"query": LOGIN, "variables": {"u": "a_admin", "p": PASSWORD}}
    response = await client.post("/graphql", json=[one, one])
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    aliased = ('mutation { a: login(input: {username: "a_admin", password: "x"}) { token } '
               'b: login(input: {username: "b_admin", password: "y"}) { token } }')
    response = await client.post("/graphql", json=[{"query": aliased}])
    assert response.status_code == 400
    result = await api.post(aliased)
    assert result["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    # registerMember counts by its field name too (the field may not exist yet: still refused
    # before validation could say so).
    register = 'mutation { registerMember(input: {}) { ok } }'
    response = await client.post("/graphql", json=[one, {"query": register}])
    assert response.status_code == 400
    from sqlalchemy import select
    from db import models
    from db.engine import make_sessionmaker
    async with make_sessionmaker(engine)() as session:
        failed = (await session.execute(select(models.Account.failed_logins)
                                        .where(models.Account.username == "a_admin"))).scalar_one()
    assert failed == 0
    # One login in a batch signs in the operations after it? No: the token is in the answer only.
    response = await client.post("/graphql", json=[one, TYPENAME])
    assert response.status_code == 200 and response.json()[0]["data"]["login"]["token"]


# ------------------------------------------------------------------ methods and content types


async def test_queries_over_get_and_mutations_never(client, api, world):
    token = await api.login("root_admin")
    headers = {"Authorization": f"Bearer {token}"}
    response = await client.get("/graphql", params={"query": "query($c: String!) { organization(code: $c) { code } }",
                                                    "variables": json.dumps({"c": "001"})}, headers=headers)
    assert response.status_code == 200 and response.json() == {"data": {"organization": {"code": "001"}}}
    response = await client.get("/graphql", params={"query": CREATE_ORG,
                                                    "variables": json.dumps({"p": gid("Organization", world.orgs["root"])})},
                                headers=headers)
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    children = await api.as_("root_admin", '{ organization(code: "001") { children { name } } }')
    assert "经GET创建" not in {c["name"] for c in children["data"]["organization"]["children"]}
    response = await client.put("/graphql", json=TYPENAME)
    assert response.status_code == 405


@pytest.mark.parametrize("content_type", [
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", None,
    "application/json; charset=latin-1"])
async def test_a_post_must_be_json_or_graphql(client, api, world, content_type):
    """The content types a cross-site HTML form can send are refused before the body is read,
    signed in or not."""
    token = await api.login("root_admin")
    body = b'{"query": "{ __typename }"}' if "form" not in (content_type or "") else b"query=%7B__typename%7D"
    headers = {"Authorization": f"Bearer {token}"}
    if content_type:
        headers["content-type"] = content_type
    response = await client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_application_graphql_bodies_are_queries(client):
    response = await client.post("/graphql", content="{ __typename }".encode(),
                                 headers={"content-type": "application/graphql"})
    assert response.status_code == 200 and response.json() == {"data": {"__typename": "Query"}}
    response = await client.post("/graphql", content=TYPENAME and json.dumps(TYPENAME).encode(),
                                 headers={"content-type": "application/json; charset=utf-8"})
    assert response.status_code == 200


# ------------------------------------------------------------------ introspection and suggestions


INTROSPECT = "{ __schema { queryType { name } } }"
NESTED = "query { ...F } fragment F on Query { codes(table: DEGREE) { code } t: __type(name: \"Member\") { name } }"


async def test_introspection_is_on_by_default_and_switchable_off(make_client):
    on = await make_client()
    response = await on.post("/graphql", json={"query": INTROSPECT})
    assert response.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    off = await make_client(introspection=False)
    for query in (INTROSPECT, NESTED):
        response = await off.post("/graphql", json={"query": query})
        body = response.json()
        assert "data" not in body or body["data"] is None, body
        assert body["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"
    response = await off.post("/graphql", json=TYPENAME)
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_field_suggestions_are_switchable_off(make_client):
    query = '{ codez(table: DEGREE) { code } }'
    on = await make_client()
    message = (await on.post("/graphql", json={"query": query})).json()["errors"][0]["message"]
    assert "Did you mean" in message and "codes" in message
    off = await make_client(field_suggestions=False)
    body = (await off.post("/graphql", json={"query": query})).json()
    assert body["errors"][0]["message"] == "Cannot query field 'codez' on type 'Query'."
    assert "codes" not in json.dumps(body)


# ------------------------------------------------------------------ headers


async def test_security_headers_on_every_response(client):
    responses = {
        "query": await client.post("/graphql", json=TYPENAME),
        "error": await client.post("/graphql", json={"query": "{"}),
        "415": await client.post("/graphql", content=b"x", headers={"content-type": "text/plain"}),
        "413": await client.post("/graphql", content=b"x" * (1024 * 1024 + 1),
                                 headers={"content-type": "application/json"}),
        "405": await client.delete("/graphql"),
        "404": await client.get("/nowhere"),
        "graphiql": await client.get("/graphql", headers={"Accept": "text/html"}),
        "static": await client.get("/static/graphiql/graphiql.min.js"),
        "redirect": await client.get("/", follow_redirects=False),
    }
    for name, response in responses.items():
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["x-frame-options"] == "DENY", name
        assert headers["referrer-policy"] == "no-referrer", name
        assert "frame-ancestors 'none'" in headers["content-security-policy"], name
        assert headers["cross-origin-resource-policy"] == "same-origin", name
        if name != "static":
            assert headers["cache-control"] == "no-store", name
    assert responses["query"].headers["content-security-policy"].startswith("default-src 'none'")


async def test_graphiql_csp_lets_its_own_files_and_inline_script_run(client):
    """No browser here (the GraphiQL browser test drives one): the policy admits scripts from
    this server ('self', where /static is) and exactly the page's inline scripts, by hash;
    nothing from elsewhere; requests only back to this server."""
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    page, csp = response.text, response.headers["content-security-policy"]
    directives = dict((d.split(" ", 1) + [""])[:2] for d in (p.strip() for p in csp.split(";")))
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert scripts
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in directives["script-src"]
    assert "'self'" in directives["script-src"] and "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in csp
    for src in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page):
        assert src.startswith("/static/"), src  # same origin: covered by 'self'
        assert (await client.get(src)).status_code == 200
    assert directives["connect-src"] == "'self'"
    assert directives["default-src"] == "'none'"
    assert "data:" in directives["font-src"]  # GraphiQL's CSS embeds its fonts as data: URLs


# ------------------------------------------------------------------ timeout


async def test_a_request_past_the_timeout_is_answered_503(make_client, monkeypatch):
    slow_client = await make_client(request_timeout_seconds=0.3)
    original = GraphQLView.get_context

    async def slow_context(self, request, response):
        if request.headers.get("x-test-slow"):
            await asyncio.sleep(5)
        return await original(self, request, response)

    monkeypatch.setattr(GraphQLView, "get_context", slow_context)
    started = time.monotonic()
    response = await slow_client.post("/graphql", json=TYPENAME, headers={"x-test-slow": "1"})
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"]["code"] == "TIMEOUT"
    assert response.headers["x-content-type-options"] == "nosniff"
    response = await slow_client.post("/graphql", json=TYPENAME)
    assert response.status_code == 200


# ------------------------------------------------------------------ logs


async def test_no_query_text_variables_or_id_numbers_in_the_logs(client, api, world, caplog):
    caplog.set_level(logging.DEBUG)
    token = await api.login("a_operator")
    headers = {"Authorization": f"Bearer {token}"}
    secret_id = new_id_number()
    a1 = gid("Organization", world.orgs["a1"])
    create = """mutation($o: ID!, $id: String!) { createMember(input: {organizationId: $o, fields: {name: "日志测试",
      idNumber: $id, category: FULL, appliedOn: "2008-03-01", joinedOn: "2010-07-01", confirmedOn: "2011-07-01"}}) {
      member { id } userErrors { code } } }"""
    for _ in range(2):  # the second is a duplicate
        await client.post("/graphql", json={"query": create, "variables": {"o": a1, "id": secret_id}}, headers=headers)
    marker = "SecretMarkerField"
    await client.post("/graphql", json={"query": f"{{ {marker} }}", "variables": {"x": secret_id}}, headers=headers)
    await client.post("/graphql", json={"query": "query($n: Int!) { __typename }", "variables": {"n": secret_id}},
                      headers=headers)
    await client.post("/graphql", json={"query": f'{{ member(idNumber: "{secret_id}") {{ name }} }}'}, headers=headers)
    await client.get("/graphql", params={"query": f'{{ member(idNumber: "{secret_id}") {{ name }} }}'}, headers=headers)
    await client.post("/graphql", json={"query": "{ " + marker}, headers=headers)
    formatter = logging.Formatter("%(name)s %(message)s")
    # Every record of the server side (the test's own HTTP client, httpx, logs its URLs).
    text = "\n".join(formatter.format(record) for record in caplog.records
                     if not record.name.startswith(("httpx", "httpcore")))
    assert "dangjian" in text or caplog.records  # something was logged at DEBUG
    assert secret_id not in text and secret_id[:-1] not in text
    assert marker not in text and "createMember(input" not in text

    # uvicorn's access line, with the query string cut off.
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", f"/graphql?query=%7Bmember(idNumber:%22{secret_id}%22)%7D",
                                "1.1", 200), None)
    assert WithoutQueryString().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /graphql HTTP/1.1" 200'


# ------------------------------------------------------------------ GraphQL over HTTP


async def test_graphql_response_json_status_codes(client):
    accept = {"Accept": "application/graphql-response+json"}
    response = await client.post("/graphql", json=TYPENAME, headers=accept)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    for query in ("{", "{ nothing }", "query($v: Int!) { __typename }"):
        response = await client.post("/graphql", json={"query": query}, headers=accept)
        assert response.status_code == 400, (query, response.text)
        assert response.headers["content-type"].startswith("application/graphql-response+json")
        assert "data" not in response.json() and response.json()["errors"]
    # A field error is a GraphQL response that ran: 200, with data.
    response = await client.post("/graphql", json={"query": '{ organization(code: "001") { name } }'}, headers=accept)
    assert response.status_code == 200 and "data" in response.json()
    # application/json keeps the legacy answers: 200 and data null.
    response = await client.post("/graphql", json={"query": "{ nothing }"}, headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    # Preference by q.
    response = await client.post("/graphql", json=TYPENAME, headers={
        "Accept": "application/graphql-response+json;q=0.5, application/json"})
    assert response.headers["content-type"].startswith("application/json")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


NODE_DIR = PROJECT_ROOT / "var" / "node"


def _graphql_http_installed() -> bool:
    if (NODE_DIR / "node_modules" / "graphql-http").is_dir():
        return True
    npm = shutil.which("npm")
    if npm is None:
        return False
    completed = subprocess.run([npm, "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund",
                                "graphql-http@1", "graphql@16"], capture_output=True, timeout=300)
    return completed.returncode == 0


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (Debian: apt-get install nodejs npm)")
def test_graphql_http_audits_pass_with_no_error_and_no_warning(tmp_path):
    """npm graphql-http's serverAudits against the served app (uvicorn in a subprocess, an
    SQLite database migrated for it): every audit ok; notices (MAY) are reported, not failed."""
    if not _graphql_http_installed():
        pytest.skip("npm could not install graphql-http into var/node")
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/audit.db",
           "DANGJIAN_PASSWORD_PROFILE": "cheapest", "PYTHONPATH": str(PROJECT_ROOT)}
    subprocess.run([sys.executable, "-m", "db", "migrate"], env=env, check=True, capture_output=True, timeout=120)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "gql.app:app", "--host", "127.0.0.1",
                               "--port", str(port), "--no-access-log"], env=env, cwd=PROJECT_ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/graphql"
        for _ in range(100):
            try:
                if httpx.post(url, json=TYPENAME, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        audit = subprocess.run(["node", str(PROJECT_ROOT / "tests" / "graphql_http_audit.js"), url],
                               env={**os.environ, "NODE_PATH": str(NODE_DIR / "node_modules")},
                               capture_output=True, text=True, timeout=120)
        assert audit.returncode == 0, audit.stderr
        results = [json.loads(line) for line in audit.stdout.splitlines() if line.strip()]
    finally:
        server.terminate()
        server.wait(10)
    counts = {status: sum(r["status"] == status for r in results) for status in ("ok", "notice", "warn", "error")}
    print(f"graphql-http serverAudits: {counts}")
    assert len(results) > 50
    assert [r for r in results if r["status"] in ("warn", "error")] == []
    assert counts["ok"] == len(results), [r for r in results if r["status"] != "ok"]
