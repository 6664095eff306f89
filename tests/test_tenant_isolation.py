"""Tenant isolation, generated from the schema: every root field and mutation, at every role, on
objects at every position relative to the caller's branch.

The rule (contract, 本级及下级): an object outside the caller's branch does not exist for the caller.

    reads      own / descendant -> seen;  sibling / parent -> null or absent, answered exactly as for
               an id that exists nowhere ("missing"): no existence oracle
    mutations  sibling / parent / missing -> a NOT_FOUND user error, a null subject, and not one row
               of the database changed (every table is dumped before and after, as a whole)
               own / descendant -> no GraphQL error and no NOT_FOUND (success or another user error)
    roles      signed out -> UNAUTHENTICATED; a role below the field's @auth(requires:) -> FORBIDDEN
               (allowSelf lets a MEMBER read its own records) and nothing written
    leaks      every id in every answer at any position is compared with the ids of the objects at
               foreign positions: none may show up, through nested edges (parent, ancestors, children,
               descendants, members, records, statistics...) either

Positions (world of tests/factories.py, plus one target object of each kind per organization):

    root ─┬─ A ─┬─ A1 ─ (a1_member's own records: "self")        callers ADMIN/OPERATOR/VIEWER @ A:
          │     └─ A2                                              own=A descendant=A1 sibling=B parent=root
          └─ B ─── B1                                              caller MEMBER (a1_member @ A1):
                                                                   own=self sibling=A2 parent=A

Adding a case for a new root field or mutation (the coverage test fails until you do): append one
entry to READS or MUTATIONS below, e.g. for the transfers helper's fields

    Read("transfers", "{ transfers(first: 50) { edges { node { id } } } }",
         seen=lambda d, p: p["transfer"] in {e["node"]["id"] for e in d["transfers"]["edges"]}),
    Mutation("acceptTransfer", '''mutation($id: ID!) { acceptTransfer(input: {transferId: $id, date: "2024-02-01"}) {
        transfer { id } userErrors { code } } }''', lambda p, own: {"id": p["transfer"]}, "transfer"),

and, for a new kind of object, make one at each organization in `_place` (as root_admin, e.g. a
transfer out of the position's member) and name its Node type in KINDS (node/nodes get a case each
by themselves). `p` is the dict of ids at the position under test (org, member, account, record,
difficulty, position, orgRecord, definition, statusChange, pending, plus code, idNumber, name); `own` the caller's
own objects, for inputs mixing an own id with the position's (moving an own member INTO a foreign
organization must be NOT_FOUND too). Roles come from the schema's @auth, never from the table.
Options: `visible` (positions where a read sees the object, default own and descendant), `roles`
(per-role override, e.g. a VIEWER may not look members up by ID number), `position=False` for a
field that takes no object (viewer, codes, login, logout, changePassword, registerMember: only the
role rule is checked). Own-position mutations really write, in table order: put deletions last.
A case may come before its field lands (registerMember) if the contract names the field: the
runners skip it until it is served.

Debugging: ISOLATION_DUMP_EACH=1 dumps the database around every mutation to name the writer;
ISOLATION_SHOW_OWN=1 prints the user errors of the own-position calls (most succeed; move,
revoke, promote and the review cases answer NOT_ALLOWED/CONFLICT/INVALID on their targets, which is
still "found").

Cost: the engine fixture is per test, so one world per role and engine and all of a role's checks in
one test (about 330 requests and 4 dumps for ADMIN). Measured on this 2-core machine with the other
helpers' suites running (load 4-5): 11 tests in 29-37 s wall, 20 s CPU, both engines (2.5 s world and
placement + 1-4 s per role per engine); at load 10 it took 84 s wall for the same 25 s of CPU.
Checked that it bites: calling A2 (a descendant) the "sibling" gives 80 failures (foreign object
seen, foreign answer differs from a missing one, mutations not NOT_FOUND, rows written, foreign ids
in answers).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any, Callable

import pytest
from sqlalchemy import select

from db import models
from gql.auth.directives import Auth
from gql.ids import to_global_id
from gql.schema import schema as app_schema
from tests.conftest import error_codes, gid
from tests.factories import PASSWORD, new_id_number

ROLES = ["MEMBER", "VIEWER", "OPERATOR", "ADMIN"]
RANK = {r: i for i, r in enumerate(ROLES)}
CALLER = {"ADMIN": "a_admin", "OPERATOR": "a_operator", "VIEWER": "a_viewer", "MEMBER": "a1_member", "SIGNED_OUT": None}
OWN_POSITIONS = ("own", "descendant")
FOREIGN_POSITIONS = ("sibling", "parent", "missing")
PLACES = {  # position -> organization key (or "self" for a1_member's own objects)
    "A": {"own": "a", "descendant": "a1", "sibling": "b", "parent": "root"},
    "MEMBER": {"own": "self", "sibling": "a2", "parent": "a"},
}
KINDS = {  # object key in a position's dict -> its Node type
    "org": "Organization", "member": "Member", "account": "Account", "record": "MemberRecord",
    "difficulty": "Difficulty", "position": "LeaderPosition", "orgRecord": "OrgRecord",
    "definition": "StatDefinition", "statusChange": "StatusChange", "pending": "Member",
}
TODAY = dt.date.today().isoformat()
CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "contract" / "schema.graphql"
SERVED = set(app_schema._schema.query_type.fields) | set(app_schema._schema.mutation_type.fields)


def _auth_of(definition) -> tuple[str, bool] | None:
    found = [d for d in (getattr(definition, "directives", None) or ()) if isinstance(d, Auth)]
    return (found[0].requires.value, found[0].allow_self) if found else None


def field_rule(root: str, name: str) -> tuple[str, bool] | None:
    gql_root = app_schema._schema.query_type if root == "Query" else app_schema._schema.mutation_type
    return _auth_of(gql_root.fields[name].extensions["strawberry-definition"])


def type_rule(type_name: str) -> tuple[str, bool]:
    return _auth_of(app_schema._schema.type_map[type_name].extensions["strawberry-definition"])


# ---------------------------------------------------------------------------------------- the table


@dataclasses.dataclass
class Read:
    field: str
    document: str
    variables: Callable[[dict], dict] = lambda p: {}
    seen: Callable[[dict, dict], bool] | None = None  # (data, p) -> the position's object is in the answer
    node_type: str | None = None  # type-level @auth that also governs visibility (node/nodes)
    visible: tuple[str, ...] = OWN_POSITIONS
    roles: dict[str, str] = dataclasses.field(default_factory=dict)
    position: bool = True


@dataclasses.dataclass
class Mutation:
    field: str
    document: str
    variables: Callable[[dict, dict], dict] = lambda p, own: {}
    subject: str | None = None
    position: bool = True


def _ids(connection) -> set[str]:
    return {e["node"]["id"] for e in connection["edges"]}


ORG_DEEP = """id parent { id } ancestors { id } children { id members(first: 5) { edges { node { id } } } }
    descendants(first: 5) { edges { node { id } } } members(filter: {scope: SUBTREE}, first: 5) { edges { node {
    id organization { id parent { id } } account { id } records(first: 3) { edges { node { id } } }
    difficulties { id } statusChanges { id } } } }
    difficulties(scope: SUBTREE, includeRevoked: true, first: 5) { edges { node { id member { id } } } }
    orgRecords(first: 5) { edges { node { id organization { id } } } }"""

READS: list[Read] = [
    *[Read("node", "query($id: ID!) { node(id: $id) { id } }", lambda p, k=k: {"id": p[k]},
           lambda d, p: d["node"] is not None, node_type=t) for k, t in KINDS.items() if k != "pending"],
    Read("nodes", "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
         lambda p: {"ids": [p["org"], p["member"]]}, lambda d, p: d["nodes"] != [None, None], node_type="Member"),
    Read("viewer", "{ viewer { id organization { id parent { id } } } }", position=False),
    Read("codes", "{ codes(table: EDUCATION) { code } }", position=False),
    Read("organization", "query($id: ID) { organization(id: $id) { %s } }" % ORG_DEEP,
         lambda p: {"id": p["org"]}, lambda d, p: d["organization"] is not None),
    Read("organization", "query($c: String) { organization(code: $c) { id } }",
         lambda p: {"c": p["code"]}, lambda d, p: d["organization"] is not None),
    Read("member", """query($id: ID) { member(id: $id) { id organization { id parent { id } ancestors { id } }
         account { id } records(first: 20) { edges { node { id } } } difficulties { id } } }""",
         lambda p: {"id": p["member"]}, lambda d, p: d["member"] is not None),
    Read("member", "query($n: String) { member(idNumber: $n) { id } }",
         lambda p: {"n": p["idNumber"]}, lambda d, p: d["member"] is not None, roles={"VIEWER": "FORBIDDEN"}),
    Read("members", "query($id: ID) { members(organizationId: $id, first: 50) { totalCount edges { node { id } } } }",
         lambda p: {"id": p["org"]}, lambda d, p: p["member"] in _ids(d["members"])),
    Read("members", "query($q: String) { members(filter: {nameContains: $q}) { totalCount edges { node { id } } } }",
         lambda p: {"q": p["name"]}, lambda d, p: p["member"] in _ids(d["members"])),
    Read("accounts", """query($id: ID) { accounts(organizationId: $id, scope: SELF, first: 50) { totalCount
         edges { node { id organization { id parent { id } } member { id } } } } }""",
         lambda p: {"id": p["org"]}, lambda d, p: p["account"] in _ids(d["accounts"])),
    Read("accounts", "{ accounts(first: 100) { totalCount edges { node { id } } } }",
         seen=lambda d, p: p["account"] in _ids(d["accounts"])),
    # Waiting for approval by the organization above: A's own entry waits for root, not for A.
    Read("pendingApprovals", "{ pendingApprovals(first: 50) { totalCount edges { node { id } } } }",
         seen=lambda d, p: p["pending"] in _ids(d["pendingApprovals"]), visible=("descendant",)),
    Read("pendingApprovals", "query($id: ID) { pendingApprovals(organizationId: $id, first: 50) { edges { node { id } } } }",
         lambda p: {"id": p["org"]}, lambda d, p: p["pending"] in _ids(d["pendingApprovals"]), visible=("descendant",)),
    Read("membersWithoutRecord", """query($id: ID!) { membersWithoutRecord(organizationId: $id, kind: ABROAD,
         since: "2000-01-01", scope: SELF, first: 50) { totalCount edges { node { id } } } }""",
         lambda p: {"id": p["org"]}, lambda d, p: p["member"] in _ids(d["membersWithoutRecord"])),
    Read("crossTab", """query($id: ID!) { crossTab(input: {organizationId: $id, scope: SELF, rows: GENDER}) {
         total rows { key } members(row: "MALE", first: 50) { edges { node { id } } } } }""",
         lambda p: {"id": p["org"]}, lambda d, p: d["crossTab"] is not None and d["crossTab"]["total"] > 0),
    Read("crossTab", """query($id: ID!) { crossTab(input: {subject: ORGANIZATIONS, organizationId: $id, rows: ORG_TYPE}) {
         total } }""", lambda p: {"id": p["org"]}, lambda d, p: d["crossTab"] is not None and d["crossTab"]["total"] > 0),
    Read("memberBalance", f"""query($id: ID!) {{ memberBalance(organizationId: $id, from: "2000-01-01", to: "{TODAY}",
         scope: SELF) {{ start end }} }}""",
         lambda p: {"id": p["org"]}, lambda d, p: d["memberBalance"] is not None and d["memberBalance"]["end"] > 0),
    Read("statDefinitions", """{ statDefinitions(first: 100) { id organization { id parent { id } } 
         result { total } } }""", seen=lambda d, p: p["definition"] in {s["id"] for s in d["statDefinitions"]}),
]

_MEMBER_FIELDS = """name: "越界测试", idNumber: $n, category: FULL, appliedOn: "2008-03-01", joinedOn: "2010-07-01",
    confirmedOn: "2011-07-01\""""
_E = "userErrors { code field message }"
_counter = iter(range(100, 10**6))


def _n() -> int:
    return next(_counter)


# Own-position calls really run: the order below keeps each target alive for the cases that need it
# (deletions and status changes come last).
MUTATIONS: list[Mutation] = [
    Mutation("login", """mutation { login(input: {username: "a_viewer", password: "Wr0ngPassword"}) {
        token userErrors { code } } }""", position=False),
    Mutation("registerMember", """mutation { registerMember(input: {idNumber: "11010519491231002X", name: "无此人",
        phone: "13900000000", password: "Passw0rd2025"}) { account { id } userErrors { code } } }""", position=False),
    Mutation("changePassword", """mutation { changePassword(input: {currentPassword: "Wr0ngPassword",
        newPassword: "NewPassw0rd2025"}) { ok userErrors { code } } }""", position=False),
    Mutation("createAccount", """mutation($o: ID!, $u: String!) { createAccount(input: {organizationId: $o, username: $u,
        password: "Passw0rd2025", name: "越界账户", role: VIEWER}) { account { id } %s } }""" % _E,
             lambda p, own: {"o": p["org"], "u": f"made_{_n()}"}, "account"),
    Mutation("createAccount", """mutation($o: ID!, $m: ID, $u: String!) { createAccount(input: {organizationId: $o,
        username: $u, password: "Passw0rd2025", name: "冒领账户", role: MEMBER, memberId: $m}) { account { id organization { id } member { id } } %s } }""" % _E,
             lambda p, own: {"o": own["org"], "m": p["member"], "u": f"claim_{_n()}"}, "account"),
    Mutation("updateAccount", """mutation($id: ID!) { updateAccount(input: {accountId: $id, phone: "13800000000"}) {
        account { id } %s } }""" % _E, lambda p, own: {"id": p["account"]}, "account"),
    Mutation("updateAccount", """mutation($id: ID!, $o: ID!) { updateAccount(input: {accountId: $id, organizationId: $o}) {
        account { id } %s } }""" % _E, lambda p, own: {"id": own["account"], "o": p["org"]}, "account"),
    Mutation("resetPassword", """mutation($id: ID!) { resetPassword(input: {accountId: $id, temporaryPassword: "Temp0rary2025"}) {
        account { id } %s } }""" % _E, lambda p, own: {"id": p["account"]}, "account"),
    Mutation("createOrganization", """mutation($id: ID!, $name: String!, $s: String!) { createOrganization(input: {
        parentId: $id, name: $name, type: BRANCH, codeSuffix: $s}) { organization { id } %s } }""" % _E,
             lambda p, own: {"id": p["org"], "name": f"越界党支部{_n()}", "s": f"{_n() % 900 + 100}"}, "organization"),
    Mutation("updateOrganization", """mutation($id: ID!) { updateOrganization(input: {organizationId: $id,
        contactPhone: "010-66668888"}) { organization { id } %s } }""" % _E, lambda p, own: {"id": p["org"]}, "organization"),
    Mutation("renameOrganization", """mutation($id: ID!, $name: String!) { renameOrganization(input: {organizationId: $id,
        name: $name, date: "2024-01-02"}) { organization { id } %s } }""" % _E,
             lambda p, own: {"id": p["org"], "name": f"更名党组织{_n()}"}, "organization"),
    Mutation("moveOrganization", """mutation($id: ID!, $to: ID!) { moveOrganization(input: {organizationId: $id,
        newParentId: $to, date: "2024-01-03"}) { organization { id parent { id } ancestors { id } } %s } }""" % _E,
             lambda p, own: {"id": p["org"], "to": own["org"]}, "organization"),
    Mutation("moveOrganization", """mutation($id: ID!, $to: ID!) { moveOrganization(input: {organizationId: $id,
        newParentId: $to, date: "2024-01-03"}) { organization { id parent { id } ancestors { id } } %s } }""" % _E,
             lambda p, own: {"id": own["child"], "to": p["org"]}, "organization"),
    Mutation("revokeOrganization", """mutation($id: ID!) { revokeOrganization(input: {organizationId: $id,
        date: "2024-01-04", reason: "越界撤销"}) { organization { id } %s } }""" % _E, lambda p, own: {"id": p["org"]},
             "organization"),
    Mutation("createMember", """mutation($id: ID!, $n: String!) { createMember(input: {organizationId: $id, fields: {%s}}) {
        member { id } %s } }""" % (_MEMBER_FIELDS, _E), lambda p, own: {"id": p["org"], "n": new_id_number()}, "member"),
    Mutation("setLeadershipTerm", """mutation($id: ID!) { setLeadershipTerm(input: {organizationId: $id,
        electionMethod: COMPETITIVE, electedOn: "2022-01-01", termEndsOn: "2027-01-01"}) { organization { id } %s } }""" % _E,
             lambda p, own: {"id": p["org"]}, "organization"),
    Mutation("appointLeader", """mutation($o: ID!, $m: ID!) { appointLeader(input: {organizationId: $o, memberId: $m,
        title: DEPUTY_SECRETARY, since: "2023-01-01"}) { position { id member { id organization { id parent { id } } } } %s } }""" % _E,
             lambda p, own: {"o": p["org"], "m": p["member"]}, "position"),
    Mutation("appointLeader", """mutation($o: ID!, $m: ID!) { appointLeader(input: {organizationId: $o, memberId: $m,
        title: SECRETARY, since: "2023-01-01"}) { position { id } %s } }""" % _E,
             lambda p, own: {"o": own["org"], "m": p["member"]}, "position"),
    Mutation("endLeaderPosition", """mutation($id: ID!) { endLeaderPosition(input: {positionId: $id, until: "2024-01-05"}) {
        position { id } %s } }""" % _E, lambda p, own: {"id": p["position"]}, "position"),
    Mutation("addOrgRecord", """mutation($id: ID!) { addOrgRecord(input: {organizationId: $id, kind: MEETING,
        title: "越界会议", heldOn: "2024-01-06"}) { record { id } %s } }""" % _E, lambda p, own: {"id": p["org"]}, "record"),
    Mutation("addDifficulty", """mutation($id: ID!) { addDifficulty(input: {memberId: $id, kindCode: "2",
        recordedOn: "2024-01-07"}) { difficulty { id } %s } }""" % _E, lambda p, own: {"id": p["member"]}, "difficulty"),
    Mutation("revokeDifficulty", """mutation($id: ID!) { revokeDifficulty(input: {difficultyId: $id, date: "2024-01-08"}) {
        difficulty { id } %s } }""" % _E, lambda p, own: {"id": p["difficulty"]}, "difficulty"),
    Mutation("updateMember", """mutation($id: ID!) { updateMember(input: {memberId: $id, fields: {phone: "13900000000"}}) {
        member { id } %s } }""" % _E, lambda p, own: {"id": p["member"]}, "member"),
    Mutation("correctIdNumber", """mutation($id: ID!, $n: String!) { correctIdNumber(input: {memberId: $id, newIdNumber: $n,
        reason: "越界更正"}) { member { id } %s } }""" % _E, lambda p, own: {"id": p["member"], "n": new_id_number()},
             "member"),
    Mutation("promoteMember", """mutation($id: ID!) { promoteMember(input: {memberId: $id, to: FULL, date: "2024-01-09"}) {
        member { id } %s } }""" % _E, lambda p, own: {"id": p["member"]}, "member"),
    Mutation("convertInflowToDirect", """mutation($id: ID!) { convertInflowToDirect(input: {memberId: $id}) {
        member { id } %s } }""" % _E, lambda p, own: {"id": p["member"]}, "member"),
    Mutation("addMemberRecords", """mutation($ids: [ID!]!) { addMemberRecords(input: {memberIds: $ids, kind: ACTIVITY,
        fields: {title: "越界表彰", date: "2024-01-10"}}) { records { id } %s } }""" % _E,
             lambda p, own: {"ids": [own["member"], p["member"]]}, "records"),
    Mutation("updateMemberRecord", """mutation($id: ID!) { updateMemberRecord(input: {recordId: $id, fields: {
        title: "越界修改", date: "2024-01-11"}}) { records { id } %s } }""" % _E, lambda p, own: {"id": p["record"]},
             "records"),
    Mutation("deleteMemberRecords", """mutation($id: ID!) { deleteMemberRecords(input: {recordIds: [$id]}) { ok %s } }""" % _E,
             lambda p, own: {"id": p["record"]}, "ok"),
    Mutation("saveStatDefinition", """mutation($id: ID!, $name: String!) { saveStatDefinition(input: {name: $name,
        crossTab: {organizationId: $id, rows: GENDER}}) { definition { id } %s } }""" % _E,
             lambda p, own: {"id": p["org"], "name": f"越界表格{_n()}"}, "definition"),
    Mutation("deleteStatDefinition", """mutation($id: ID!) { deleteStatDefinition(input: {definitionId: $id}) { ok %s } }""" % _E,
             lambda p, own: {"id": p["definition"]}, "ok"),
    # Rejected, sent back, approved: each succeeds once on the descendant's entry.
    Mutation("rejectMembers", """mutation($id: ID!) { rejectMembers(input: {memberIds: [$id], reason: "越界退回"}) {
        members { id } %s } }""" % _E, lambda p, own: {"id": p["pending"]}, "members"),
    Mutation("resubmitMember", """mutation($id: ID!) { resubmitMember(input: {memberId: $id}) { member { id } %s } }""" % _E,
             lambda p, own: {"id": p["pending"]}, "member"),
    Mutation("approveMembers", """mutation($id: ID!) { approveMembers(input: {memberIds: [$id]}) { members { id } %s } }""" % _E,
             lambda p, own: {"id": p["pending"]}, "members"),
    Mutation("deleteRejectedMembers", """mutation($id: ID!) { deleteRejectedMembers(input: {memberIds: [$id]}) { ok %s } }""" % _E,
             lambda p, own: {"id": p["pending"]}, "ok"),
    Mutation("recordStatusChange", """mutation($id: ID!) { recordStatusChange(input: {memberId: $id, kind: WITHDRAWAL,
        date: "2024-01-12"}) { statusChange { id } member { id } %s } }""" % _E, lambda p, own: {"id": p["member"]},
             "statusChange"),
    # Ends the caller's session: runs last for its role.
    Mutation("logout", "mutation { logout { ok userErrors { code } } }", position=False),
]


def test_the_table_covers_every_root_field_and_mutation_of_the_schema():
    """A root field or mutation added without a case here fails this test. A case may come ahead of
    its field (registerMember) if the contract names the field; the runners skip it until served."""
    served_query = set(app_schema._schema.query_type.fields)
    served_mutation = set(app_schema._schema.mutation_type.fields)
    assert served_query - {c.field for c in READS} == set(), "Query fields without an isolation case"
    assert served_mutation - {c.field for c in MUTATIONS} == set(), "mutations without an isolation case"
    if CONTRACT.exists():
        from graphql import build_schema as build

        contract = build(CONTRACT.read_text(encoding="utf-8"))
        assert {c.field for c in READS} <= served_query | set(contract.query_type.fields)
        assert {c.field for c in MUTATIONS} <= served_mutation | set(contract.mutation_type.fields)
    # The committed SDL says the same (it is what clients see).
    from graphql import build_schema

    sdl = build_schema((Path(__file__).resolve().parents[1] / "gql" / "schema" / "schema.graphql").read_text())
    assert set(sdl.query_type.fields) == served_query and set(sdl.mutation_type.fields) == served_mutation


# ---------------------------------------------------------------------------------------- the world


async def _ok(api, document: str, variables: dict, field: str, as_: str = "root_admin") -> dict:
    result = await api.as_(as_, document, variables)
    assert "errors" not in result, (field, result)
    payload = result["data"][field]
    assert payload["userErrors"] == [], (field, payload)
    return payload


async def _place(api, world, key: str) -> dict:
    """One object of each kind at organization `key` (made as root_admin), with its ids."""
    org = world.orgs[key]
    o = {"org": gid("Organization", org), "code": org.code, "name": f"目标{key}", "key": key}
    o["idNumber"] = new_id_number()
    m = await _ok(api, """mutation($o: ID!, $n: String!, $name: String!) { createMember(input: {organizationId: $o,
        fields: {name: $name, idNumber: $n, category: FULL, appliedOn: "2008-03-01", joinedOn: "2010-07-01",
        confirmedOn: "2011-07-01"}}) { member { id } userErrors { code message } } }""",
                  {"o": o["org"], "n": o["idNumber"], "name": o["name"]}, "createMember")
    o["member"] = m["member"]["id"]
    username = f"t_{key}"
    a = await _ok(api, """mutation($o: ID!, $u: String!, $p: String!) { createAccount(input: {organizationId: $o,
        username: $u, password: $p, name: $u, role: VIEWER}) { account { id } userErrors { code message } } }""",
                  {"o": o["org"], "u": username, "p": PASSWORD}, "createAccount")
    o["account"] = a["account"]["id"]
    await _own_records(api, o)
    r = await _ok(api, """mutation($o: ID!) { addOrgRecord(input: {organizationId: $o, kind: MEETING, title: "组织生活会",
        heldOn: "2020-01-01"}) { record { id } userErrors { code message } } }""", {"o": o["org"]}, "addOrgRecord")
    o["orgRecord"] = r["record"]["id"]
    r = await _ok(api, """mutation($o: ID!, $m: ID!) { appointLeader(input: {organizationId: $o, memberId: $m,
        title: COMMITTEE_MEMBER, since: "2020-01-01"}) { position { id } userErrors { code message } } }""",
                  {"o": o["org"], "m": o["member"]}, "appointLeader")
    o["position"] = r["position"]["id"]
    r = await _ok(api, """mutation($o: ID!, $name: String!) { saveStatDefinition(input: {name: $name,
        crossTab: {organizationId: $o, rows: GENDER}}) { definition { id } userErrors { code message } } }""",
                  {"o": o["org"], "name": f"表格{key}"}, "saveStatDefinition", as_=username)
    o["definition"] = r["definition"]["id"]
    # A member who left (退党): its status change.
    r = await _ok(api, """mutation($o: ID!, $n: String!) { createMember(input: {organizationId: $o, fields: {name: "已退党",
        idNumber: $n, category: FULL, appliedOn: "2008-03-01", joinedOn: "2010-07-01", confirmedOn: "2011-07-01"}}) {
        member { id } userErrors { code message } } }""", {"o": o["org"], "n": new_id_number()}, "createMember")
    r = await _ok(api, """mutation($m: ID!) { recordStatusChange(input: {memberId: $m, kind: WITHDRAWAL, date: "2020-02-01"}) {
        statusChange { id } userErrors { code message } } }""", {"m": r["member"]["id"]}, "recordStatusChange")
    o["statusChange"] = r["statusChange"]["id"]
    # An entry waiting for approval (by the organization above `key`).
    await _ok(api, """mutation($o: ID!) { updateOrganization(input: {organizationId: $o, requiresApproval: true}) {
        organization { id } userErrors { code message } } }""", {"o": o["org"]}, "updateOrganization")
    r = await _ok(api, """mutation($o: ID!, $n: String!) { createMember(input: {organizationId: $o, fields: {name: "待审",
        idNumber: $n, category: APPLICANT, appliedOn: "2023-03-01"}}) { member { id status } userErrors { code message } } }""",
                  {"o": o["org"], "n": new_id_number()}, "createMember")
    assert r["member"]["status"] == "PENDING_APPROVAL", r
    o["pending"] = r["member"]["id"]
    await _ok(api, """mutation($o: ID!) { updateOrganization(input: {organizationId: $o, requiresApproval: false}) {
        organization { id } userErrors { code message } } }""", {"o": o["org"]}, "updateOrganization")
    return o


async def _own_records(api, o: dict) -> None:
    r = await _ok(api, """mutation($m: ID!) { addMemberRecords(input: {memberIds: [$m], kind: ACTIVITY, fields: {
        title: "表彰", date: "2020-01-01"}}) { records { id } userErrors { code message } } }""",
                  {"m": o["member"]}, "addMemberRecords")
    o["record"] = r["records"][0]["id"]
    r = await _ok(api, """mutation($m: ID!) { addDifficulty(input: {memberId: $m, kindCode: "1", recordedOn: "2020-01-01"}) {
        difficulty { id } userErrors { code message } } }""", {"m": o["member"]}, "addDifficulty")
    o["difficulty"] = r["difficulty"]["id"]


def _missing() -> dict:
    far = 10**9
    return {**{k: to_global_id(t, far) for k, t in KINDS.items()}, "code": "999999999", "idNumber": new_id_number(),
            "name": "查无此人", "key": "missing"}


async def build_positions(api, world, role: str) -> tuple[dict, dict]:
    """position -> objects, and the caller's own objects (for inputs that mix the two)."""
    places = PLACES["MEMBER" if role == "MEMBER" else "A"]
    positions = {}
    for position, key in places.items():
        if key == "self":
            me = world.members["a1_first"]
            o = {"org": gid("Organization", world.orgs["a1"]), "code": world.orgs["a1"].code, "key": "self",
                 "member": gid("Member", me), "account": gid("Account", world.accounts["a1_member"]),
                 "idNumber": me.id_number, "name": me.name}
            await _own_records(api, o)
            positions[position] = o
        else:
            positions[position] = await _place(api, world, key)
    positions["missing"] = _missing()
    own = dict(positions["own"])
    own["account"] = gid("Account", world.accounts["a_viewer" if role != "MEMBER" else "a1_member"])
    own["child"] = gid("Organization", world.orgs["a1"])
    return positions, own


TABLES = [t for t in models.Base.metadata.sorted_tables if t.name not in ("access_token", "server_secret")]
VOLATILE = {"last_login_at"}


async def dump(engine) -> dict:
    """Every row of every table but the sessions', as comparable text."""
    out = {}
    async with engine.connect() as connection:
        for table in TABLES:
            columns = [c for c in table.columns if c.name not in VOLATILE]
            rows = (await connection.execute(select(*columns))).all()
            out[table.name] = sorted(json.dumps([str(v) for v in row], ensure_ascii=False) for row in rows)
    return out


def diff(before: dict, after: dict) -> dict:
    return {t: {"gone": sorted(set(before[t]) - set(after[t]))[:3], "new": sorted(set(after[t]) - set(before[t]))[:3]}
            for t in before if before[t] != after[t]}


def collect_ids(value, into: set) -> set:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "id" and isinstance(v, str):
                into.add(v)
            else:
                collect_ids(v, into)
    elif isinstance(value, list):
        for v in value:
            collect_ids(v, into)
    return into


# ---------------------------------------------------------------------------------------- the runners


def _has(variables, p) -> bool:
    try:
        variables(p)
    except KeyError:
        return False
    return True


def allowed(rule: tuple[str, bool] | None, role: str) -> bool:
    return rule is None or RANK[role] >= RANK[rule[0]] or (rule[1] and role == "MEMBER")


def _shape(result: dict) -> tuple:
    """What a caller can tell apart: the error codes and the data."""
    return tuple(sorted(error_codes(result))), json.dumps(result.get("data"), sort_keys=True)


async def run_reads(api, role: str, positions: dict, failures: list) -> set:
    caller = CALLER[role]
    foreign_ids = set()
    for position in ("sibling", "parent"):
        foreign_ids |= {v for k, v in positions[position].items() if k in KINDS}
    leaked, twins = set(), {}
    for case in READS:
        if case.field not in SERVED:
            continue
        rule = field_rule("Query", case.field)
        refused = _refused(rule, role) or case.roles.get(role)
        if case.field in ("node", "nodes") and role == "SIGNED_OUT":
            refused = "UNAUTHENTICATED"
        # Refused by role whatever the object: one foreign and one own position suffice.
        order = (("sibling", "own") if refused else list(positions)) if case.position else ["-"]
        for position in order:
            p = positions.get(position, {})
            if case.position and not _has(case.variables, p):
                continue  # a1_member's own objects hold no leader position, org record, table or entry
            result = await api.as_(caller, case.document, case.variables(p) if case.position else {})
            where = (case.field, role, position, json.dumps(case.variables(p) if case.position else {})[:80])
            codes = error_codes(result)
            if role == "SIGNED_OUT":
                if rule is not None or case.field in ("node", "nodes"):
                    if codes != ["UNAUTHENTICATED"]:
                        failures.append(("signed out not UNAUTHENTICATED", where, result))
                elif codes:
                    failures.append(("public field errs signed out", where, result))
                continue
            if not allowed(rule, role) or case.roles.get(role) == "FORBIDDEN":
                if codes != ["FORBIDDEN"] or (result.get("data") or {}).get(case.field):
                    failures.append(("role below requires not FORBIDDEN", where, result))
                continue
            leaked |= collect_ids(result.get("data"), set()) & foreign_ids
            if not case.position:
                if codes:
                    failures.append(("errors", where, result))
                continue
            seen_expected = position in case.visible
            if position == "own" and role == "MEMBER":
                seen_expected = True  # its own organization and records, through allowSelf
            if case.node_type:
                type_ok = allowed(type_rule(case.node_type), role)
                if role == "MEMBER":
                    type_ok = type_rule(case.node_type)[1]
                seen_expected = seen_expected and type_ok
            if seen_expected:
                if codes or not case.seen(result["data"], p):
                    failures.append(("own object not seen", where, result))
            elif position in FOREIGN_POSITIONS:
                if result.get("data") and result["data"].get(case.field) is not None and case.seen(result["data"], p):
                    failures.append(("FOREIGN OBJECT SEEN", where, result))
                if position != "missing":
                    if id(case) not in twins:
                        twins[id(case)] = await api.as_(caller, case.document, case.variables(positions["missing"]))
                    twin = twins[id(case)]
                    if _shape(twin) != _shape(result):
                        failures.append(("foreign answer differs from a missing object's", where,
                                         {"foreign": result, "missing": twin}))
    if leaked:
        failures.append(("FOREIGN IDS IN ANSWERS", role, sorted(leaked)))
    return leaked


def _refused(rule, role: str) -> str | None:
    """The error a role gets from the field's @auth, or None when it may call it."""
    if role == "SIGNED_OUT":
        return "UNAUTHENTICATED" if rule is not None else None
    return None if allowed(rule, role) else "FORBIDDEN"


async def run_mutations(api, engine, role: str, positions: dict, own: dict, failures: list) -> None:
    """Phase 1, refused calls and foreign positions for every case: not one row may change (one
    dump before and after the phase; ISOLATION_DUMP_EACH=1 dumps around each call to find the
    writer). Phase 2, own positions, in table order: they really write."""
    caller = CALLER[role]
    foreign_ids = {v for position in ("sibling", "parent") for k, v in positions[position].items() if k in KINDS}
    each = bool(os.environ.get("ISOLATION_DUMP_EACH"))

    async def call(case, position):
        p = positions.get(position, {})
        if case.position and not _has(lambda p: case.variables(p, own), p):
            return None, None
        variables = case.variables(p, own) if case.position else {}
        return await api.as_(caller, case.document, variables), (case.field, role, position, json.dumps(variables)[:100])

    start = await dump(engine)
    for case in MUTATIONS:
        if case.field == "logout" or case.field not in SERVED:
            continue  # logout last
        refused = _refused(field_rule("Mutation", case.field), role)
        if refused:
            # Refused by role whatever the object: one foreign and one own position suffice.
            order = ("sibling", "own") if case.position else ("-",)
        elif case.position:
            order = FOREIGN_POSITIONS
        else:
            continue
        before = await dump(engine) if each else None
        for position in order:
            result, where = await call(case, position)
            if result is None:
                continue
            codes = error_codes(result)
            if refused:
                if codes != [refused] or (result.get("data") or {}).get(case.field) is not None:
                    failures.append((f"not {refused}", where, result))
                continue
            if codes:
                failures.append(("GraphQL errors", where, result))
                continue
            payload = result["data"][case.field]
            user_codes = [e["code"] for e in payload.get("userErrors") or []]
            subject = payload.get(case.subject) if case.subject else None
            if user_codes != ["NOT_FOUND"] or subject not in (None, [], False):
                failures.append(("FOREIGN MUTATION NOT NOT_FOUND", where, payload))
        if each:
            after = await dump(engine)
            if after != before:
                failures.append(("MUTATION WROTE", (case.field, role), diff(before, after)))
    end = await dump(engine)
    if end != start:
        failures.append(("REFUSED OR FOREIGN MUTATIONS WROTE (rerun with ISOLATION_DUMP_EACH=1)", role,
                         diff(start, end)))

    for case in MUTATIONS:
        if case.field == "logout" or case.field not in SERVED or _refused(field_rule("Mutation", case.field), role):
            continue
        for position in (OWN_POSITIONS if case.position else ("-",)):
            result, where = await call(case, position)
            if result is None:
                continue
            if not case.position:
                # No object: only the role rule applies (public, or at or above requires).
                if {"UNAUTHENTICATED", "FORBIDDEN"} & set(error_codes(result)):
                    failures.append(("refused though the role may call it", where, result))
                continue
            if error_codes(result):
                failures.append(("GraphQL errors", where, result))
                continue
            leaked = collect_ids(result["data"], set()) & foreign_ids
            if leaked:
                failures.append(("FOREIGN IDS IN A MUTATION'S ANSWER", where, sorted(leaked)))
            user_codes = [e["code"] for e in result["data"][case.field].get("userErrors") or []]
            if os.environ.get("ISOLATION_SHOW_OWN"):
                print("OWN", role, case.field, position, user_codes)
            if "NOT_FOUND" in user_codes:
                failures.append(("own-branch mutation answered NOT_FOUND", where, result["data"]))

    # logout, last: allowed from MEMBER up, UNAUTHENTICATED signed out.
    result = await api.as_(caller, "mutation { logout { ok userErrors { code } } }")
    if role == "SIGNED_OUT":
        assert error_codes(result) == ["UNAUTHENTICATED"], result
    else:
        assert result.get("data", {}).get("logout") == {"ok": True, "userErrors": []}, result


@pytest.mark.parametrize("role", ["SIGNED_OUT", "MEMBER", "VIEWER", "OPERATOR", "ADMIN"])
async def test_isolation_of_every_root_field_and_mutation(api, engine, world, role):
    positions, own = await build_positions(api, world, role)
    if CALLER[role]:
        await api.login(CALLER[role])  # sign in before the first dump (last_login_at)
    failures: list = []
    await run_reads(api, role, positions, failures)
    await run_mutations(api, engine, role, positions, own, failures)

    assert not failures, "\n".join(repr(f)[:600] for f in failures)
