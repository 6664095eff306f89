"""Bad input is a client error, never an internal one: one test per kind of hostile input found
by probing (issue 6), on SQLite and PostgreSQL. The fuzz over every argument is tests/test_fuzz.py."""
from __future__ import annotations

import base64
import json

import pytest
from graphql import get_introspection_query
from sqlalchemy import func, select

from db import models
from db.engine import make_sessionmaker
from gql.auth.limits import CHILDREN_FANOUT, MAX_NODES, MAX_NODES_ANONYMOUS
from gql.ids import MalformedId, from_global_id, to_global_id
from tests.conftest import error_codes, gid


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def post_raw(client, body: bytes, token: str | None = None, content_type: str | None = "application/json"):
    headers = {"content-type": content_type} if content_type else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return await client.post("/graphql", content=body, headers=headers)


def post_json(payload) -> bytes:
    return json.dumps(payload).encode()  # ensure_ascii: a lone surrogate travels as "\ud800"


async def count_organizations(engine) -> int:
    async with make_sessionmaker(engine)() as session:
        return await session.scalar(select(func.count()).select_from(models.Organization))


# ------------------------------------------------------------------ global ids


ORG_READ = "query($id: ID!) { organization(id: $id) { name } node(id: $id) { id } nodes(ids: [$id]) { id } }"
MEMBERS_OF = "query($id: ID) { members(organizationId: $id) { totalCount } }"
RENAME = """mutation($id: ID!) { renameOrganization(input: {organizationId: $id, name: "新名称", date: "2024-01-01"}) {
  organization { id } userErrors { code field } } }"""


def non_canonical(type_name: str, pk: int) -> list[str]:
    canonical = to_global_id(type_name, pk)
    digits = str(pk)
    return [
        canonical + "=", canonical + "==", canonical + "===",          # padding
        " " + canonical, canonical + " ", canonical + "\n",             # whitespace
        b64(f"{type_name}:0{digits}"), b64(f"{type_name}:00{digits}"),  # leading zeros
        b64(f"{type_name}:+{digits}"), b64(f"{type_name}: {digits}"), b64(f"{type_name}:{digits} "),
        b64(f"{type_name}:" + digits.translate(str.maketrans("0123456789", "０１２３４５６７８９"))),  # full-width
        b64(f"{type_name}:" + digits.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))),  # Arabic-Indic
        b64(f"{type_name.lower()}:{digits}"), b64(f" {type_name}:{digits}"),
    ]


def test_only_the_canonical_form_decodes():
    assert from_global_id(to_global_id("Organization", 1)) == ("Organization", 1)
    assert from_global_id(to_global_id("Organization", 2 ** 31 - 1)) == ("Organization", 2 ** 31 - 1)
    # Standard versus URL-safe alphabet: 'Type:digits' never encodes to '-' or '_' (nor '+' '/'),
    # so any of those four characters marks a forged id, whichever alphabet decodes it.
    pk = 7
    canonical = to_global_id("Organization", pk)
    alphabets = [canonical[:-1] + c for c in "+/-_"] + [canonical + c for c in "+/-_"]
    assert from_global_id(canonical) == ("Organization", pk)
    for forged in [*alphabets, *non_canonical("Organization", pk), *non_canonical("Organization", 7),
                   b64("Organization:2147483648"), b64("Organization:99999999999999999999"),
                   b64("Organization:0"), b64("Organization:-1"), b64("Organization:"), b64(":1"), "", "=",
                   "\x00", "\ud800", "x" * 5000, canonical[:-1]]:
        with pytest.raises(MalformedId):
            from_global_id(forged)


async def test_out_of_range_ids_are_absent_on_both_engines(api, world):
    """Beyond 2^31−1 (PostgreSQL's int4; SQLite's 'int too large' beyond 2^63) is absent on both."""
    for forged in (b64("Organization:99999999999999999999"), b64("Organization:2147483648"),
                   b64("Member:18446744073709551616"), b64("Organization:0")):
        result = await api.as_("root_admin", ORG_READ, {"id": forged})
        assert "errors" not in result and result["data"] == {"organization": None, "node": None, "nodes": [None]}, \
            (forged, result)
        result = await api.as_("root_admin", MEMBERS_OF, {"id": forged})
        assert "errors" not in result and result["data"] == {"members": {"totalCount": 0}}, (forged, result)
        result = await api.as_("root_admin", RENAME, {"id": forged})
        assert result["data"]["renameOrganization"] == {
            "organization": None, "userErrors": [{"code": "INVALID", "field": ["organizationId"]}]}, result


async def test_non_canonical_ids_are_not_the_same_object(api, world):
    a1 = world.orgs["a1"]
    result = await api.as_("root_admin", ORG_READ, {"id": gid("Organization", a1)})
    assert result["data"]["organization"] == {"name": a1.name}
    for forged in non_canonical("Organization", a1.id):
        result = await api.as_("root_admin", ORG_READ, {"id": forged})
        assert "errors" not in result and result["data"] == {"organization": None, "node": None, "nodes": [None]}, \
            (forged, result)
        result = await api.as_("root_admin", RENAME, {"id": forged})
        assert result["data"]["renameOrganization"]["userErrors"][0]["code"] == "INVALID", (forged, result)


# ------------------------------------------------------------------ text


SURROGATE_CASES = [
    (None, 'mutation($u: String!) { login(input: {username: $u, password: "x"}) { token } }', {"u": "\ud800"}),
    (None, 'mutation($p: String!) { login(input: {username: "x", password: $p}) { token } }', {"p": "名\udfff"}),
    ("root_admin", 'query($n: String) { member(idNumber: $n) { name } }', {"n": "\ud800"}),
    ("root_admin", 'query($n: String) { members(filter: {nameContains: $n}) { totalCount } }', {"n": "a\ud800"}),
    ("root_admin", 'query($c: String) { organization(code: $c) { name } }', {"c": "\udc00"}),
    ("root_admin", '{ __typename }', {"unused": ["\ud800"]}),
]


async def test_a_lone_surrogate_is_a_client_error_signed_in_or_not(api, client, world):
    for username, document, variables in SURROGATE_CASES:
        token = await api.login(username) if username else None
        response = await post_raw(client, post_json({"query": document, "variables": variables}), token)
        assert response.status_code == 400, (variables, response.status_code, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", response.text
    # In the operation name (echoed by "Unknown operation named …" before) and the document itself.
    for payload in ({"query": "query A { __typename }", "operationName": "\ud800"},
                    {"query": "{ __typename } # \ud800"},
                    {"query": '{ organization(code: "\ud800") { name } }'}):
        response = await post_raw(client, post_json(payload))
        assert response.status_code == 400, (payload, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # A \\ud800 escape inside a GraphQL string literal is the lexer's syntax error.
    response = await post_raw(client, post_json({"query": '{ organization(code: "\\ud800") { name } }'}))
    assert response.status_code == 200 and error_codes(response.json()) == ["GRAPHQL_PARSE_FAILED"]


CONTROL = ["\x00", "a\x00b", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b[31m", "\x1f", "\x7f", "\x80", "\x85", "\x9f"]


async def test_nul_and_control_characters_are_refused_alike_on_both_engines(api, engine, world):
    """PostgreSQL refused NUL with an internal error, SQLite stored it: now both say BAD_USER_INPUT,
    for variables and literals, reads and writes, and nothing is written."""
    before = await count_organizations(engine)
    parent = gid("Organization", world.orgs["a"])
    create = """mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) {
      organization { id } userErrors { code } } }"""
    for bad in CONTROL:
        for document, variables in (
            (create, {"i": {"parentId": parent, "name": f"名{bad}称", "type": "BRANCH", "codeSuffix": "077"}}),
            (create, {"i": {"parentId": parent, "name": "正常名称", "type": "BRANCH", "codeSuffix": "077",
                            "address": f"一{bad}二"}}),
            ('query($n: String) { members(filter: {nameContains: $n}) { totalCount } }', {"n": bad}),
            ('query($n: String) { member(idNumber: $n) { name } }', {"n": bad * 18}),
            ('query($c: String) { organization(code: $c) { name } }', {"c": f"001{bad}"}),
        ):
            result = await api.as_("root_admin", document, variables)
            assert error_codes(result) == ["BAD_USER_INPUT"] and result.get("data") is None, (repr(bad), result)
            assert repr(bad)[1:-1] not in json.dumps(result)  # the value is not echoed
        literal = json.dumps(f"名{bad}称")  # \u0000-style escape inside the GraphQL string
        result = await api.as_("root_admin", f'mutation {{ createOrganization(input: {{parentId: "{parent}", '
                                             f'name: {literal}, type: BRANCH, codeSuffix: "078"}}) {{ userErrors {{ code }} }} }}')
        assert error_codes(result) == ["BAD_USER_INPUT"], (repr(bad), result)
    assert await count_organizations(engine) == before
    # Tab, line feed and carriage return are text (addresses and records span lines).
    result = await api.as_("root_admin", create, {"i": {"parentId": parent, "name": "多行地址支部", "type": "BRANCH",
                                                        "codeSuffix": "079", "address": "一号楼\r\n二单元\t301"}})
    assert result["data"]["createOrganization"]["userErrors"] == [], result
    assert await count_organizations(engine) == before + 1


# ------------------------------------------------------------------ numbers and dates


NUMBER_CASES = [
    ('query($n: Int) { members(filter: {completenessBelow: $n}) { totalCount } }', {"n": 100_000}),
    ('query($n: Int) { members(filter: {completenessBelow: $n}) { totalCount } }', {"n": -1}),
    ('query($n: Int) { members(filter: {completenessBelow: $n}) { totalCount } }', {"n": 2 ** 31 - 1}),
    ('query($n: Int) { members(first: $n) { totalCount } }', {"n": 2 ** 31}),
    ('query($n: Int) { members(first: $n) { totalCount } }', {"n": 2 ** 31 - 1}),
    ('query($n: Int) { members(first: $n) { totalCount } }', {"n": -(2 ** 31)}),
    ('{ members(first: 2147483648) { totalCount } }', {}),
    ('query($n: Int) { members(filter: {minAge: $n}) { totalCount } }', {"n": 2 ** 31 - 1}),
    ('query($n: Int) { members(filter: {minAge: $n}) { totalCount } }', {"n": -5}),
    ('query($n: Int) { members(filter: {maxAge: $n}) { totalCount } }', {"n": 100_000}),
    ('query($d: Date) { members(filter: {joinedFrom: $d}) { totalCount } }', {"d": "99999-01-01"}),
    ('query($d: Date) { members(filter: {joinedFrom: $d}) { totalCount } }', {"d": "0000-01-01"}),
    ('query($d: Date) { members(filter: {joinedTo: $d}) { totalCount } }', {"d": "+2020-01-01"}),
    ('{ members(filter: {joinedFrom: "99999-01-01"}) { totalCount } }', {}),
]


async def test_numbers_beyond_a_column_are_bad_user_input(api, world):
    for document, variables in NUMBER_CASES:
        result = await api.as_("root_admin", document, variables)
        assert result.get("data") is None and error_codes(result) in (
            ["BAD_USER_INPUT"], ["GRAPHQL_VALIDATION_FAILED"]), (document, variables, result)
    # The extremes Python's date allows still answer (no overflow computing bounds).
    for variables in ({"f": "0001-01-01", "t": "9999-12-31"}, {"f": "9999-12-31", "t": "0001-01-01"}):
        result = await api.as_("root_admin", 'query($f: Date, $t: Date) { members(filter: {joinedFrom: $f, '
                                             'joinedTo: $t, minAge: 150, maxAge: 0}) { totalCount } }', variables)
        assert "errors" not in result and result["data"] == {"members": {"totalCount": 0}}, result


# ------------------------------------------------------------------ request bodies


BAD_BODIES = [
    (b"null", "application/json"), (b"1", "application/json"), (b'"x"', "application/json"),
    (b"true", "application/json"), (b"[]", "application/json"), (b"[{}]", "application/json"),
    (b'{"query": "{ __typename }", "variables": 1}', "application/json"),
    (b'{"query": "{ __typename }", "variables": "{}"}', "application/json"),
    (b'{"query": "{ __typename }", "variables": []}', "application/json"),
    (b'{"query": "{ __typename }", "variables": {"v": ' + b"[" * 5000 + b"]" * 5000 + b"}}", "application/json"),
    (b'{"query": "{ __typename }", "variables": {"v": ' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}}",
     "application/json"),
    (b'{"query": "{ __typename }", "variables": {"v": ' + b"[" * 40 + b"]" * 40 + b"}}", "application/json"),
    (b'{"query": "{ __typename }", "operationName": 5}', "application/json"),
    (b'{"query": ["{ __typename }"]}', "application/json"),
    (b'{"query": "{ __typename }"' + b" \xff\xfe}", "application/json"),
    (b"\xef\xbb\xbf\xff", "application/json"),
    (b'{"query": "{ __typename }"}', "text/plain"),
    (b'{"query": "{ __typename }"}', None),
    (b"query=%7B__typename%7D", "application/x-www-form-urlencoded"),
    (b"", "application/json"), (b"", None), (b"{", "application/json"), (b"1e99999", "application/json"),
    (b'{"query": "{ __typename }", "variables": {"n": 1' + b"0" * 5000 + b"}}", "application/json"),
]


async def test_malformed_bodies_are_json_400s(client, api, world):
    token = await api.login("root_admin")
    for body, content_type in BAD_BODIES:
        for who in (None, token):
            try:
                response = await post_raw(client, body, who, content_type)
            except Exception as exc:  # escaped the app: a bare 500 in production
                pytest.fail(f"{body[:60]!r}: {exc!r}")
            # Other content types than JSON are refused unread: 415 (no form or text/plain posts).
            expected = 400 if content_type == "application/json" else 415
            assert response.status_code == expected, (body[:60], content_type, response.status_code,
                                                      response.text[:200])
            assert response.headers["content-type"].startswith("application/json"), body[:60]
            errors = response.json()["errors"]
            assert errors and errors[0]["message"] and errors[0]["extensions"]["code"], (body[:60], errors)
    # Shallow variables still run.
    response = await post_raw(client, b'{"query": "{ __typename }", "variables": {"v": [[[1]]]}}')
    assert response.json() == {"data": {"__typename": "Query"}}


# ------------------------------------------------------------------ operation choice


TWO = """query Cheap { codes(table: DEGREE) { code } }
mutation Write { createOrganization(input: {parentId: "%s", name: "不该写入", type: BRANCH, codeSuffix: "088"}) {
  userErrors { code } } }"""


async def test_several_operations_need_an_operation_name(api, client, engine, world):
    token = await api.login("root_admin")
    document = TWO % gid("Organization", world.orgs["a"])
    before = await count_organizations(engine)
    result = await api.post(document, token=token)
    assert result.get("data") is None and error_codes(result) == ["OPERATION_RESOLUTION_FAILURE"], result
    assert await count_organizations(engine) == before
    # Named, each runs.
    response = await client.post("/graphql", json={"query": document, "operationName": "Cheap"},
                                 headers={"Authorization": f"Bearer {token}"})
    assert "errors" not in response.json() and response.json()["data"]["codes"]
    # An unknown name: a JSON 400.
    response = await client.post("/graphql", json={"query": document, "operationName": "Nope"},
                                 headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "OPERATION_RESOLUTION_FAILURE"
    # The node cost is that of the operation that runs, never of the first one.
    costly = ("query Cheap { codes(table: DEGREE) { code } } query Costly { members(first: 100) { edges { node { "
              "organization { members(first: 100) { edges { node { organization { members(first: 100) { "
              "totalCount } } } } } } } } } }")
    response = await client.post("/graphql", json={"query": costly, "operationName": "Costly"},
                                 headers={"Authorization": f"Bearer {token}"})
    assert error_codes(response.json()) == ["QUERY_TOO_COMPLEX"]
    response = await client.post("/graphql", json={"query": costly, "operationName": "Cheap"},
                                 headers={"Authorization": f"Bearer {token}"})
    assert "errors" not in response.json()


# ------------------------------------------------------------------ node cost of lists, signed out


def children(levels: int, leaf: str) -> str:
    return '{ organization(code: "001") { ' + "children { " * levels + leaf + " }" * levels + " } }"


async def test_nested_children_multiply_in_the_node_cost(api, world):
    token = await api.login("root_admin")
    result = await api.post(children(3, "members(first: 100) { totalCount }"), token=token)
    assert error_codes(result) == ["QUERY_TOO_COMPLEX"] and result["data"] is None, result
    expected = CHILDREN_FANOUT + CHILDREN_FANOUT ** 2 + CHILDREN_FANOUT ** 3 + CHILDREN_FANOUT ** 3 * 100
    assert result["extensions"]["cost"]["nodes"] == expected
    one = await api.post(children(1, "name"), token=token)
    assert "errors" not in one and one["extensions"]["cost"]["nodes"] == CHILDREN_FANOUT
    two = await api.post(children(2, "members(first: 50) { totalCount }"), token=token)
    assert "errors" not in two, two
    assert two["extensions"]["cost"]["nodes"] == CHILDREN_FANOUT + CHILDREN_FANOUT ** 2 * 51


# Nested introspection: two aliases of fields-of-field-types (graphql-core's own rule stops
# `fields` nested three deep; aliases repeat the work).
NESTED_INTROSPECTION = "{ " + " ".join(
    f"a{i}: __schema {{ types {{ fields {{ type {{ fields {{ type {{ name }} }} }} }} }} }}" for i in range(2)) + " }"
DEEPER_INTROSPECTION = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"


async def test_signed_out_requests_have_a_far_lower_ceiling(api, world):
    assert MAX_NODES_ANONYMOUS * 10 <= MAX_NODES
    # GraphiQL's whole introspection query is fine signed out.
    full = await api.post(get_introspection_query(descriptions=True, input_value_deprecation=True))
    assert "errors" not in full, full["errors"]
    assert full["data"]["__schema"]["types"]
    assert full["extensions"]["cost"]["limit"] == MAX_NODES_ANONYMOUS
    # Nested introspection multiplies: refused signed out, allowed under the signed-in ceiling.
    deep = await api.post(NESTED_INTROSPECTION)
    assert error_codes(deep) == ["QUERY_TOO_COMPLEX"] and deep["data"] is None, deep
    assert MAX_NODES_ANONYMOUS < deep["extensions"]["cost"]["nodes"] < MAX_NODES
    signed_in = await api.as_("root_admin", NESTED_INTROSPECTION)
    assert "errors" not in signed_in
    deeper = await api.post(DEEPER_INTROSPECTION)
    assert error_codes(deeper) == ["QUERY_TOO_COMPLEX"], deeper
    # Thirty code tables signed out (what a sign-up form loads) still run.
    tables = "{ " + " ".join(f"a{i}: codes(table: ETHNICITY) {{ code }}" for i in range(30)) + " }"
    result = await api.post(tables)
    assert "errors" not in result, result
