"""Hostile values into every argument of every root field: never an internal error, never a 5xx.

The table is generated from the served schema (graphql-core's view of it, the same types
introspection shows), so a root field or an input field added later is fuzzed without touching
this file. Each leaf of each argument (an input object's fields, recursively; a list's element)
gets every hostile value of its kind, one leaf at a time, the rest holding a plausible value; as
a variable, and the control characters, surrogates, out-of-range ids and nested cursors once more
as literals in the document. Sent as a signed-in ADMIN, and a third of the table signed out (most
fields stop at UNAUTHENTICATED before their arguments matter). A deterministic table rather than hypothesis: the same requests every run, no new
dependency, and a failure names the field, the leaf and the value.

Measured: 2,165 requests as ADMIN and 722 signed out per engine, 27 s on SQLite and 27 s on
PostgreSQL (2-core VM, shared). Forged cursors run as a test of their own (see its mark).
Before the fixes of issue 6 the first version of this table found 79 INTERNAL_SERVER_ERROR
answers on SQLite alone: out-of-range ids in every id argument, lone surrogates in every string
argument that reaches SQL (login included, signed out), nested and surrogate-carrying cursors.
"""
from __future__ import annotations

import base64
import json


from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
)

from gql.ids import to_global_id
from gql.schema import schema


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


TEXT = ["", " ", "\x00", "a\x00b", "\ud800", "名\udfff", "\x07", "\x1b[31m", "\x7f", "\u0085", "%", "_", "\\",
        "'; DROP TABLE organizations; --", "0" * 300, "名" * 3000, "\u202e", "\ufeff", "a\tb\nc\r"]
IDS = [b64("Organization:99999999999999999999"), b64("Organization:2147483648"), b64("Member:2147483648"),
       b64("Organization:0"), b64("Organization:-1"), b64("Organization:１"), b64("Organization:٣"),
       b64("Organization:01"), b64("Organization: 1"), b64("Organization:+1"), b64("Account:1\x00"),
       b64("Organization:1") + "=", b64("Organization:1") + "==", " " + b64("Organization:1"),
       b64(":1"), b64("Organization:"), "!!!!", "\x00", "\ud800", "T3JnYW5pemF0aW9uOjE\x00", "x" * 5000]
CURSORS = [b64("[" * 5000), b64("{" * 5000), b64('"x"'), b64("null"), b64("[]"), b64("[1]"),
           b64('[1,{"d":"99999-01-01"},1]'), b64('[1,{"d":"0000-01-01"},1]'), b64('[1,{"t":"x"},1]'),
           b64('[99999999999999999999,"a",99999999999999999999]'), b64("[1e999, 1]"), b64('[1,"\\u0000",1]'),
           b64('[1,"\\ud800",1]'), "v1.AAAA", "v1." + "A" * 200, "%%%", "\ud800"]
INTS = [0, -1, -2 ** 31, 2 ** 31 - 1, 100_000, -100_000]
DATES = ["0000-01-01", "99999-01-01", "9999-12-31", "0001-01-01", "2020-02-30", "", "\x00", "\ud800",
         "2020-01-01T00:00:00", "+2020-01-01", "２０２０-01-01"]
# Sent as a literal in the document as well: the text rules must hold there too.
LITERAL_TOO = ("\x00", "a\x00b", "\ud800", "\x07", "\x7f", "\u0085", IDS[0], CURSORS[0])
DATETIMES = ["0000-01-01T00:00:00", "9999-12-31T23:59:59+14:00", "x", "\x00"]


def named(type_):
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_


def plausible(type_, name: str, ids: dict):
    """A value of the type the server would likely accept (the other leaves of a request)."""
    if isinstance(type_, GraphQLNonNull):
        return plausible(type_.of_type, name, ids)
    if isinstance(type_, GraphQLList):
        return [plausible(type_.of_type, name, ids)]
    if isinstance(type_, GraphQLInputObjectType):
        return {k: plausible(f.type, k, ids) for k, f in type_.fields.items() if isinstance(f.type, GraphQLNonNull)}
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    kind = type_.name
    if kind == "ID":
        lowered = name.lower()
        for prefix, value in ids.items():
            if lowered.startswith(prefix.lower()):
                return value
        return ids["organization"]
    return {"String": "x", "Int": 1, "Float": 1.0, "Boolean": False, "Date": "2020-01-01",
            "DateTime": "2020-01-01T00:00:00"}.get(kind, "x")


def hostile(type_, name: str) -> list:
    type_ = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(type_, GraphQLEnumType):
        return ["NOPE", "\x00", 1]
    if not isinstance(type_, GraphQLScalarType):
        return []
    kind = type_.name
    if kind == "ID":
        return IDS
    if kind == "String":
        return TEXT + (CURSORS if name in ("after", "before", "cursor") else [])
    if kind in ("Int", "Float"):
        return INTS
    if kind == "Date":
        return DATES
    if kind == "DateTime":
        return DATETIMES
    if kind == "Boolean":
        return ["true"]
    return TEXT


def leaves(type_, name: str, path: tuple = ()):
    """(path into the value, leaf type, leaf name) of every scalar or enum reachable in an argument."""
    bare = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(bare, GraphQLInputObjectType):
        for key, field in bare.fields.items():
            yield from leaves(field.type, key, path + (key,))
    elif isinstance(bare, GraphQLList):
        yield path, bare, name  # the list itself: empty, nulls, too long
        yield from leaves(bare.of_type, name, path + (0,))
    else:
        yield path, type_, name


def replaced(value, path: tuple, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        value = list(value) if isinstance(value, list) and value else [None]
        value[0] = replaced(value[0], rest, new)
        return value
    value = dict(value or {})
    value[head] = replaced(value.get(head), rest, new)
    return value


def selection(type_) -> str:
    type_ = named(type_)
    if isinstance(type_, (GraphQLScalarType, GraphQLEnumType)):
        return ""
    if isinstance(type_, (GraphQLInterfaceType, GraphQLUnionType)):
        return "{ __typename ... on Node { id } }" if isinstance(type_, GraphQLInterfaceType) else "{ __typename }"
    assert isinstance(type_, GraphQLObjectType)
    parts = ["__typename"]
    for key, field in type_.fields.items():
        inner = named(field.type)
        if any(isinstance(a.type, GraphQLNonNull) for a in field.args.values()):
            continue
        if isinstance(inner, (GraphQLScalarType, GraphQLEnumType)):
            parts.append(key)
        elif key == "userErrors":
            parts.append("userErrors { code field message }")
        elif key in ("edges",):
            parts.append("edges { cursor }")
        elif key == "pageInfo":
            parts.append("pageInfo { hasNextPage endCursor }")
    return "{ " + " ".join(parts) + " }"


def literal(value, type_) -> str:
    bare = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if value is None:
        return "null"
    if isinstance(bare, GraphQLList):
        items = value if isinstance(value, list) else [value]
        return "[" + ", ".join(literal(v, bare.of_type) for v in items) + "]"
    if isinstance(bare, GraphQLInputObjectType):
        return "{" + ", ".join(f"{k}: {literal(v, bare.fields[k].type)}" for k, v in value.items()) + "}"
    if isinstance(bare, GraphQLEnumType) and isinstance(value, str) and value.isidentifier():
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(value)  # a JSON string is a GraphQL string (\uXXXX escapes included)


def table(ids: dict):
    """Every (document, variables, label) to send."""
    graphql_schema = schema._schema
    for operation, root in (("query", graphql_schema.query_type), ("mutation", graphql_schema.mutation_type)):
        for field_name, field in root.fields.items():
            if not field.args:
                continue
            base = {arg: plausible(a.type, arg, ids) for arg, a in field.args.items() if isinstance(a.type, GraphQLNonNull)}
            declared = ", ".join(f"${arg}: {a.type}" for arg, a in field.args.items())
            passed = ", ".join(f"{arg}: ${arg}" for arg in field.args)
            document = f"{operation}({declared}) {{ {field_name}({passed}) {selection(field.type)} }}"
            for arg, argument in field.args.items():
                for path, leaf_type, leaf_name in leaves(argument.type, arg):
                    if isinstance(leaf_type, GraphQLList):
                        values = [[], [None], [plausible(leaf_type.of_type, leaf_name, ids)] * 101]
                    else:
                        values = hostile(leaf_type, leaf_name)
                    for value in values:
                        variables = dict(base)
                        variables[arg] = replaced(base.get(arg), path, value)
                        label = f"{field_name}.{arg}{''.join(f'[{p}]' if isinstance(p, int) else '.' + p for p in path)}={value!r:.40}"
                        cursor = leaf_name in ("after", "before") and value in CURSORS
                        yield document, variables, label, cursor
                        if value in LITERAL_TOO and not isinstance(named(leaf_type), GraphQLEnumType):
                            inline = ", ".join(f"{k}: {literal(v, field.args[k].type)}" for k, v in variables.items())
                            yield (f"{operation} {{ {field_name}({inline}) {selection(field.type)} }}", {},
                                   label + " (literal)", cursor)


async def send(client, document, variables, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = json.dumps({"query": document, "variables": variables}).encode()  # ensure_ascii: lone surrogates travel
    return await client.post("/graphql", content=body, headers={**headers, "content-type": "application/json"})


async def fuzz(client, api, world, cursors: bool):
    ids = {
        "member": to_global_id("Member", world.members["a2_only"].id),
        "account": to_global_id("Account", world.accounts["b_viewer"].id),
        "position": to_global_id("LeaderPosition", 1),
        "difficulty": to_global_id("Difficulty", 1),
        "organization": to_global_id("Organization", world.orgs["a2"].id),
        "parent": to_global_id("Organization", world.orgs["b"].id),
        "id": to_global_id("Organization", world.orgs["a2"].id),
    }
    requests = [r[:3] for r in table(ids) if r[3] == cursors]
    assert len(requests) > (30 if cursors else 1000)
    failures = []
    admin = await api.login("root_admin")
    for who in ("admin", None):
        for index, (document, variables, label) in enumerate(requests):
            if who is None and index % 3:
                continue  # anonymous: a third of the table (most fields stop at UNAUTHENTICATED)
            token = admin if who else None
            try:
                response = await send(client, document, variables, token)
            except Exception as exc:  # escaped the ASGI app: a bare 500 in production
                failures.append((who, label, repr(exc)[:200]))
                continue
            if response.status_code >= 500:
                failures.append((who, label, response.status_code, response.text[:200]))
                continue
            body = response.json()
            codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
            if "INTERNAL_SERVER_ERROR" in codes or None in codes:
                failures.append((who, label, codes))
            elif who and codes == ["UNAUTHENTICATED"]:
                admin = api.tokens.pop("root_admin", None) and await api.login("root_admin")
    assert failures == [], f"{len(failures)} of {len(requests)}:\n" + "\n".join(map(str, failures[:80]))


async def test_no_internal_error_anywhere(client, api, world):
    await fuzz(client, api, world, cursors=False)


async def test_no_internal_error_from_forged_cursors(client, api, world):
    await fuzz(client, api, world, cursors=True)
