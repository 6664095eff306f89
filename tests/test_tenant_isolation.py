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
entry to READS or MUTATIONS below, e.g.

    Read("volunteers", "query($id: ID!) { volunteers(filter: {organizationId: $id}) { edges { node { id } } } }",
         lambda p: {"id": p["org"]}, lambda d, p: p["volunteer"] in _ids(d["volunteers"])),
    Mutation("acceptTransfer", '''mutation($id: ID!) { acceptTransfer(input: {transferId: $id, date: "2024-02-01"}) {
        transfer { id } userErrors { code } } }''', lambda p, own: {"id": p["transfer"]}, "transfer"),

and, for a new kind of object, make one at each organization in `_place` (as root_admin, e.g. a
transfer out of a member of the position's own) and name its Node type in KINDS (node/nodes get a
case each by themselves; NODE_SKIP for a key that is only another object of a kind already there).
`p` is the dict of ids at the position under test (org, member, account, record, difficulty,
position, orgRecord, definition, statusChange, pending, transfer + transferMember, flow +
flowMember, representativeTerm, volunteer, changeRequest, audit, plus code, idNumber, name); `own`
the caller's own objects, for inputs mixing an own id with the position's (moving an own member
INTO a foreign organization must be NOT_FOUND too; sending one a foreign member along with an own
one as well). Roles come from the schema's @auth, never from the table.
Options: `visible` (positions where a read sees the object, default own and descendant), `roles`
(per-role override, e.g. a VIEWER may not look members up by ID number), `position=False` for a
field that takes no object (viewer, codes, login, logout, changePassword, registerMember, the
MEMBER's requestProfileChange/requestDues/requestTransfer: only the role rule is checked),
`member_document` (what a MEMBER asks instead: of its organization it reads the id and the name
only, gql.auth.guard MEMBER_CONTEXT_FIELDS), `foreign_ok` (an answer naming organizations anywhere
by design: organizationDirectory). Own-position mutations really write, in table order: put
deletions last. A case may come before its field lands if the contract names the field: the
runners skip it until it is served.

The product's documented exceptions are kept out of the generic table and tested on their own
below: a transfer is read by both its sides (each side's organization an object only inside its
branch, the other named by OrganizationRef), and the receiving branch reads the member while the
transfer is PENDING (RECEIVER keeps the positions' transfers inside one side's branch, so the
table never meets them); organizationDirectory names organizations anywhere (id, code, name, path
of names, nothing else). The files beside GraphQL (GET /export/..., POST /import/members) get
their own test: 404 JSON for a foreign organization or saved table, byte for byte as for a
missing one, never a file, nothing imported; 403 for a role below; 401 signed out.

Debugging: ISOLATION_DUMP_EACH=1 dumps the database around every mutation to name the writer;
ISOLATION_SHOW_OWN=1 prints the user errors of the own-position calls (most succeed; move,
revoke, promote and the review cases answer NOT_ALLOWED/CONFLICT/INVALID on their targets, which is
still "found").

Cost: the engine fixture is per test, so one world per entry of WORLDS and engine (signed out runs
in the MEMBER's world, the VIEWER in the OPERATOR's: the first caller's own-position writes leave
the second's targets alone) and all of its callers' checks in one test. ADMIN on SQLite: 81
requests to place the objects (1.4 s CPU), 237 reads (1.6 s), 232 mutations (2.5 s). Measured on
this 2-core machine with the other helpers' suites running: the file's 13 tests in 45-58 s wall at
load 3.2-3.7, 31-34 s CPU, both engines (66-70 s wall when another suite peaked).
Checked that it bites: calling A2 (a descendant) the "sibling" fails every Query field that takes
an organization or an object (node for all 15 kinds) and every mutation that takes one (new ones
included: transfers, flows, seats, volunteers, change requests, auditLog), plus rows written and
foreign ids in answers; calling A1 the "sibling" of the files test gets a CSV and an XLSX roster.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable

import pytest
from sqlalchemy import select

from db import clock, models
from gql.auth.directives import Auth
from db.engine import make_sessionmaker
from gql.ids import from_global_id, to_global_id
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
    "transfer": "Transfer", "transferMember": "Member", "flow": "Flow", "flowMember": "Member",
    "representativeTerm": "RepresentativeTerm", "volunteer": "Volunteer", "changeRequest": "ChangeRequest",
    "audit": "AuditEntry",
}
NODE_SKIP = {"pending", "transferMember", "flowMember"}  # Members like the "member" key's: no node case of their own
# Where each organization's PENDING transfer goes: inside the sender's own subtree's branch (A's
# callers see a and a1's, both sides in A) or outside A altogether (root's goes to b, not into A:
# a receiving branch reads the transfer, and the member while PENDING).
RECEIVER = {"root": "b", "a": "a1", "a1": "a2", "a2": "a", "b": "b1"}
TODAY = clock.today().isoformat()
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
    # A MEMBER reads of its organization the id and the name only (gql.auth.guard
    # MEMBER_CONTEXT_FIELDS): its document asks for no more.
    member_document: str | None = None
    # Answers naming organizations anywhere by design (organizationDirectory's OrganizationRef).
    foreign_ok: bool = False


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
           lambda d, p: d["node"] is not None, node_type=t) for k, t in KINDS.items() if k not in NODE_SKIP],
    Read("nodes", "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
         lambda p: {"ids": [p["org"], p["member"]]}, lambda d, p: d["nodes"] != [None, None], node_type="Member"),
    Read("viewer", "{ viewer { id organization { id parent { id } } } }", position=False,
         member_document="{ viewer { id organization { id name } } }"),
    Read("codes", "{ codes(table: EDUCATION) { code } }", position=False),
    Read("organization", "query($id: ID) { organization(id: $id) { %s } }" % ORG_DEEP,
         lambda p: {"id": p["org"]}, lambda d, p: d["organization"] is not None,
         member_document="query($id: ID) { organization(id: $id) { id name } }"),
    Read("organization", "query($c: String) { organization(code: $c) { id } }",
         lambda p: {"c": p["code"]}, lambda d, p: d["organization"] is not None),
    Read("member", """query($id: ID) { member(id: $id) { id organization { id parent { id } ancestors { id } }
         account { id } records(first: 20) { edges { node { id } } } difficulties { id } } }""",
         lambda p: {"id": p["member"]}, lambda d, p: d["member"] is not None,
         member_document="""query($id: ID) { member(id: $id) { id organization { id name } account { id }
         records(first: 20) { edges { node { id } } } difficulties { id } } }"""),
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
    Read("statDefinitions", """{ statDefinitions(first: 20) { id organization { id parent { id } } 
         result { total } } }""", seen=lambda d, p: p["definition"] in {s["id"] for s in d["statDefinitions"]}),
    # Transfers: read by both sides; the positions' transfers stay inside one side's branch (RECEIVER).
    Read("transfers", """query($id: ID) { transfers(filter: {organizationId: $id}, first: 50) { totalCount edges { node {
         id member { id } fromOrganization { id } toOrganization { id } fromOrganizationRef { id }
         toOrganizationRef { id } } } } }""", lambda p: {"id": p["org"]},
         lambda d, p: p["transfer"] in _ids(d["transfers"])),
    Read("transfers", "{ transfers(filter: {scope: SUBTREE}, first: 50) { totalCount edges { node { id } } } }",
         seen=lambda d, p: p["transfer"] in _ids(d["transfers"])),
    # Organizations anywhere, as OrganizationRef (id, code, name, path of names): by design, not a leak;
    # test_organization_directory_names_only checks what a ref carries.
    Read("organizationDirectory", '{ organizationDirectory(search: "中共示范市", first: 20) { id code name path } }',
         position=False, foreign_ok=True),
    Read("representatives", """query($id: ID!) { representatives(query: {organizationId: $id, scope: SELF}) { count total
         members(first: 50) { totalCount edges { node { id } } } } }""", lambda p: {"id": p["org"]},
         lambda d, p: p["member"] in _ids(d["representatives"]["members"])),
    Read("volunteers", """query($id: ID!) { volunteers(filter: {organizationId: $id}, first: 50) { totalCount edges { node {
         id member { id } } } } }""", lambda p: {"id": p["org"]}, lambda d, p: p["volunteer"] in _ids(d["volunteers"])),
    Read("changeRequests", """query($id: ID) { changeRequests(organizationId: $id, first: 50) { totalCount edges { node {
         id member { id } decidedBy { id } } } } }""", lambda p: {"id": p["org"]},
         lambda d, p: p["changeRequest"] in _ids(d["changeRequests"])),
    Read("changeRequests", "{ changeRequests(first: 50) { totalCount edges { node { id member { id } } } } }",
         seen=lambda d, p: p["changeRequest"] in _ids(d["changeRequests"])),
    Read("auditLog", """query($id: ID) { auditLog(filter: {organizationId: $id, scope: SELF}, first: 50) { totalCount
         edges { node { id targetId organization { id } actor { id } } } } }""", lambda p: {"id": p["org"]},
         lambda d, p: p["audit"] in _ids(d["auditLog"])),
    Read("auditLog", "{ auditLog(first: 100) { totalCount edges { node { id } } } }",
         seen=lambda d, p: p["audit"] in _ids(d["auditLog"])),
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
    # Flows, 党代表, volunteers: on the position's flow member (its flow open: flowOut finds it, CONFLICT)
    # and on its member.
    Mutation("flowOut", """mutation($id: ID!) { flowOut(input: {memberId: $id, destination: "越界流向", since: "2024-02-01"}) {
        flow { id } %s } }""" % _E, lambda p, own: {"id": p["flowMember"]}, "flow"),
    Mutation("updateFlow", """mutation($id: ID!) { updateFlow(input: {flowId: $id, contact: "13900000001"}) {
        flow { id } %s } }""" % _E, lambda p, own: {"id": p["flow"]}, "flow"),
    Mutation("returnFromFlow", """mutation($id: ID!) { returnFromFlow(input: {flowId: $id, date: "%s"}) {
        flow { id member { id } } %s } }""" % (TODAY, _E), lambda p, own: {"id": p["flow"]}, "flow"),
    Mutation("addRepresentativeTerm", """mutation($id: ID!) { addRepresentativeTerm(input: {memberId: $id, level: COUNTY,
        term: 20}) { representativeTerm { id } %s } }""" % _E, lambda p, own: {"id": p["member"]}, "representativeTerm"),
    Mutation("terminateRepresentative", """mutation($id: ID!) { terminateRepresentative(input: {termId: $id, date: "%s",
        reason: "越界终止"}) { representativeTerm { id } %s } }""" % (TODAY, _E), lambda p, own: {"id": p["representativeTerm"]},
             "representativeTerm"),
    Mutation("setVolunteer", """mutation($id: ID!) { setVolunteer(input: {memberId: $id, category: "越界服务"}) {
        volunteer { id member { id } } %s } }""" % _E, lambda p, own: {"id": p["member"]}, "volunteer"),
    # 党员自助: the requests take no object (the caller's own member); only the role rule applies.
    Mutation("requestProfileChange", """mutation { requestProfileChange(input: {fields: {phone: "13900000002"}}) {
        request { id } userErrors { code } } }""", position=False),
    Mutation("requestDues", """mutation { requestDues(input: {monthlyAmount: "12.50"}) { request { id } userErrors { code } } }""",
             position=False),
    Mutation("requestTransfer", """mutation { requestTransfer(input: {externalDestination: "外省某党组织"}) {
        request { id } userErrors { code } } }""", position=False),
    Mutation("decideChangeRequest", """mutation($id: ID!) { decideChangeRequest(input: {requestId: $id, approve: true}) {
        request { id member { id } } %s } }""" % _E, lambda p, own: {"id": p["changeRequest"]}, "request"),
    Mutation("decideChangeRequest", """mutation($id: ID!) { decideChangeRequest(input: {requestId: $id, approve: false,
        reason: "越界驳回"}) { request { id } %s } }""" % _E, lambda p, own: {"id": p["changeRequest"]}, "request"),
    # Transfers: the position's PENDING transfer (accepted once, then CONFLICT).
    Mutation("acceptTransfer", """mutation($id: ID!) { acceptTransfer(input: {transferId: $id, date: "%s"}) {
        transfer { id member { id } } %s } }""" % (TODAY, _E), lambda p, own: {"id": p["transfer"]}, "transfer"),
    Mutation("rejectTransfer", """mutation($id: ID!) { rejectTransfer(input: {transferId: $id, date: "%s",
        reason: "越界退回"}) { transfer { id } %s } }""" % (TODAY, _E), lambda p, own: {"id": p["transfer"]}, "transfer"),
    Mutation("cancelTransfer", """mutation($id: ID!) { cancelTransfer(input: {transferId: $id, date: "%s"}) {
        transfer { id } %s } }""" % (TODAY, _E), lambda p, own: {"id": p["transfer"]}, "transfer"),
    # A foreign member among own ones: all or nothing (the own position sends its member out, once).
    Mutation("transferMembers", """mutation($ids: [ID!]!) { transferMembers(input: {memberIds: $ids,
        externalDestination: "越界去向", date: "%s"}) { transfers { id member { id } } %s } }""" % (TODAY, _E),
             lambda p, own: {"ids": [own["member"], p["member"]] if p is not own and p["member"] != own["member"]
                             else [p["member"]]}, "transfers"),
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


async def _place(api, engine, world, key: str) -> dict:
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
    # A PENDING transfer of a member of its own to RECEIVER[key]; an open flow of another.
    o["transferMember"] = await _new_member(api, o, "转接中")
    o["transfer"] = await _transfer(api, o["transferMember"], gid("Organization", world.orgs[RECEIVER[key]]))
    o["flowMember"] = await _new_member(api, o, "流出中")
    o["flow"] = await _flow(api, o["flowMember"])
    await _seat_and_volunteer(api, o)
    # A member's request (as if its MEMBER account had sent it: no account made for it).
    async with make_sessionmaker(engine)() as session, session.begin():
        request = models.ChangeRequest(member_id=from_global_id(o["member"])[1], kind="DUES",
                                       payload=json.dumps({"month": "2024-01-01", "amount": "10.00"}))
        session.add(request)
        await session.flush()
        o["changeRequest"] = to_global_id("ChangeRequest", request.id)
    # Its newest audit entry (every write above left one).
    r = await api.as_("root_admin", """query($o: ID) { auditLog(filter: {organizationId: $o, scope: SELF}, first: 1) {
        edges { node { id } } } }""", {"o": o["org"]})
    o["audit"] = r["data"]["auditLog"]["edges"][0]["node"]["id"]
    return o


async def _new_member(api, o: dict, name: str) -> str:
    r = await _ok(api, """mutation($o: ID!, $n: String!, $name: String!) { createMember(input: {organizationId: $o,
        fields: {name: $name, idNumber: $n, category: FULL, appliedOn: "2008-03-01", joinedOn: "2010-07-01",
        confirmedOn: "2011-07-01"}}) { member { id } userErrors { code message } } }""",
                  {"o": o["org"], "n": new_id_number(), "name": name}, "createMember")
    return r["member"]["id"]


async def _transfer(api, member: str, to: str) -> str:
    r = await _ok(api, """mutation($m: ID!, $to: ID!) { transferMembers(input: {memberIds: [$m], toOrganizationId: $to,
        date: "2024-01-15"}) { transfers { id status } userErrors { code message } } }""", {"m": member, "to": to},
                  "transferMembers")
    assert r["transfers"][0]["status"] == "PENDING", r
    return r["transfers"][0]["id"]


async def _flow(api, member: str) -> str:
    r = await _ok(api, """mutation($m: ID!) { flowOut(input: {memberId: $m, destination: "外出务工", since: "2024-01-20"}) {
        flow { id } userErrors { code message } } }""", {"m": member}, "flowOut")
    return r["flow"]["id"]


async def _seat_and_volunteer(api, o: dict) -> None:
    r = await _ok(api, """mutation($m: ID!) { addRepresentativeTerm(input: {memberId: $m, level: COUNTY, term: 19}) {
        representativeTerm { id } userErrors { code message } } }""", {"m": o["member"]}, "addRepresentativeTerm")
    o["representativeTerm"] = r["representativeTerm"]["id"]
    r = await _ok(api, """mutation($m: ID!) { setVolunteer(input: {memberId: $m, category: "社区服务"}) {
        volunteer { id } userErrors { code message } } }""", {"m": o["member"]}, "setVolunteer")
    o["volunteer"] = r["volunteer"]["id"]


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


async def build_positions(api, engine, world, role: str) -> tuple[dict, dict]:
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
            # Its own transfer (sent, then cancelled: ACTIVE again), flow, seat, volunteer record
            # and request: a MEMBER reads them (allowSelf).
            o["transfer"] = await _transfer(api, o["member"], gid("Organization", world.orgs["a2"]))
            await _ok(api, """mutation($t: ID!) { cancelTransfer(input: {transferId: $t, date: "2024-01-16"}) {
                transfer { id } userErrors { code message } } }""", {"t": o["transfer"]}, "cancelTransfer")
            o["flow"] = await _flow(api, o["member"])
            await _seat_and_volunteer(api, o)
            r = await _ok(api, """mutation { requestDues(input: {monthlyAmount: "10.00"}) { request { id }
                userErrors { code message } } }""", {}, "requestDues", as_="a1_member")
            o["changeRequest"] = r["request"]["id"]
            positions[position] = o
        else:
            positions[position] = await _place(api, engine, world, key)
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
            document = case.member_document if role == "MEMBER" and case.member_document else case.document
            result = await api.as_(caller, document, case.variables(p) if case.position else {})
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
            if not case.foreign_ok:
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
                        twins[id(case)] = await api.as_(caller, document, case.variables(positions["missing"]))
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


# The callers sharing a world, in order: signed out meets only the role rule and writes nothing; a
# VIEWER's own-position writes (saved tables, refused requests) leave the OPERATOR's targets alone.
WORLDS = {"MEMBER": ("SIGNED_OUT", "MEMBER"), "OPERATOR": ("VIEWER", "OPERATOR"), "ADMIN": ("ADMIN",)}


@pytest.mark.parametrize("role", list(WORLDS))
async def test_isolation_of_every_root_field_and_mutation(api, engine, world, role):
    """One world per entry of WORLDS (the callers after the first find the objects as the first left them)."""
    positions, own = await build_positions(api, engine, world, role)
    failures: list = []
    for caller in WORLDS[role]:
        if CALLER[caller]:
            await api.login(CALLER[caller])  # sign in before the first dump (last_login_at)
        await run_reads(api, caller, positions, failures)
        await run_mutations(api, engine, caller, positions, own, failures)

    assert not failures, "\n".join(repr(f)[:600] for f in failures)


# ---------------------------------------------------------------------------------------- the documented exceptions

TRANSFER = """query($id: ID!) { node(id: $id) { id ... on Transfer { status member { id name }
    fromOrganization { id } toOrganization { id } fromOrganizationRef { id code name path }
    toOrganizationRef { id code name path } } } }"""
MEMBER_NODE = "query($id: ID!) { node(id: $id) { id ... on Member { name } } }"


def _ref(world, key: str) -> dict:
    """What OrganizationRef names: id, code, name and the names from the top down to it."""
    chain = {"root": ["root"], "a": ["root", "a"], "b": ["root", "b"], "a1": ["root", "a", "a1"],
             "a2": ["root", "a", "a2"], "b1": ["root", "b", "b1"]}[key]
    org = world.orgs[key]
    return {"id": gid("Organization", org), "code": org.code, "name": org.name,
            "path": [world.orgs[k].name for k in chain]}


async def test_a_transfer_is_read_by_both_sides_and_its_member_by_the_receiver_while_pending(api, world):
    """b1's member sent to a2: B and A read the transfer, each side's organization as an object
    only inside its branch (the other named by its ref); A reads the member while PENDING, never its
    organization at B; a1 (in A, not the receiver), a1_member and B's sibling branches read nothing,
    exactly as for missing ids; once A has rejected it, A reads the member no more."""
    member = gid("Member", world.members["b1_only"])
    r = await _ok(api, """mutation($m: ID!, $to: ID!) { transferMembers(input: {memberIds: [$m], toOrganizationId: $to,
        date: "2024-01-15"}) { transfers { id status } userErrors { code message } } }""",
                  {"m": member, "to": gid("Organization", world.orgs["a2"])}, "transferMembers", as_="b_admin")
    transfer = r["transfers"][0]["id"]
    missing_transfer, missing_member = to_global_id("Transfer", 10**9), to_global_id("Member", 10**9)

    seen = {}
    for who in ("b_admin", "a_admin", "a_viewer"):
        result = await api.as_(who, TRANSFER, {"id": transfer})
        assert "errors" not in result, (who, result)
        seen[who] = result["data"]["node"]
    b_side, a_side = seen["b_admin"], seen["a_admin"]
    assert seen["a_viewer"] == a_side and a_side["status"] == "PENDING"
    assert (b_side["fromOrganization"], b_side["toOrganization"]) == ({"id": _ref(world, "b1")["id"]}, None)
    assert (a_side["fromOrganization"], a_side["toOrganization"]) == (None, {"id": _ref(world, "a2")["id"]})
    for side in (a_side, b_side):
        assert side["fromOrganizationRef"] == _ref(world, "b1") and side["toOrganizationRef"] == _ref(world, "a2")
        assert side["member"] == {"id": member, "name": "陈静"}
    # The receiver reads the member coming, not where it is (the sender's organization).
    assert (await api.as_("a_admin", MEMBER_NODE, {"id": member}))["data"]["node"] == {"id": member, "name": "陈静"}
    at_b = await api.as_("a_admin", "query($id: ID!) { node(id: $id) { ... on Member { organization { id code } } } }",
                         {"id": member})
    assert error_codes(at_b) == ["FORBIDDEN"] and _ref(world, "b1")["code"] not in json.dumps(at_b, ensure_ascii=False)
    listed = await api.as_("a_admin", """{ transfers(filter: {scope: SUBTREE, direction: INCOMING}) { totalCount edges {
        node { id member { id } fromOrganization { id } } } } }""")
    assert listed["data"]["transfers"]["totalCount"] == 1 and collect_ids(listed["data"], set()) == {transfer, member}

    # Outside both sides: nothing, as for ids that exist nowhere.
    for who in ("a1_admin", "a1_viewer", "a1_member"):
        for real, absent in ((transfer, missing_transfer), (member, missing_member)):
            answer = await api.as_(who, TRANSFER if real == transfer else MEMBER_NODE, {"id": real})
            assert answer["data"]["node"] is None, (who, answer)
            assert _shape(answer) == _shape(await api.as_(who, TRANSFER if real == transfer else MEMBER_NODE,
                                                          {"id": absent})), who
    for who in ("a1_admin", "a1_viewer"):
        empty = await api.as_(who, "{ transfers(filter: {scope: SUBTREE}) { totalCount edges { node { id } } } }")
        assert empty["data"]["transfers"] == {"totalCount": 0, "edges": []}, (who, empty)

    # The receiver rejects it: the member is B's again and out of A's sight.
    r = await _ok(api, """mutation($t: ID!) { rejectTransfer(input: {transferId: $t, date: "2024-02-01", reason: "不予接收"}) {
        transfer { id status } userErrors { code message } } }""", {"t": transfer}, "rejectTransfer", as_="a_admin")
    assert r["transfer"]["status"] == "REJECTED"
    gone = await api.as_("a_admin", MEMBER_NODE, {"id": member})
    assert gone["data"]["node"] is None and _shape(gone) == _shape(await api.as_("a_admin", MEMBER_NODE, {"id": missing_member}))
    assert (await api.as_("b_admin", MEMBER_NODE, {"id": member}))["data"]["node"]["name"] == "陈静"


async def test_organization_directory_names_only(api, world):
    """组织目录 names organizations anywhere (the other end of a transfer) by id, code, name and the
    names above: nothing else is on OrganizationRef, and its ids open nothing outside the branch."""
    ref_type = app_schema._schema.type_map["OrganizationRef"]
    assert set(ref_type.fields) == {"id", "code", "name", "path"}
    result = await api.as_("a_operator", """{ organizationDirectory(search: "乙区", first: 20) { id code name path } }""")
    refs = result["data"]["organizationDirectory"]
    assert sorted(refs, key=lambda r: r["code"]) == [_ref(world, "b"), _ref(world, "b1")], refs
    for ref in refs:
        answer = await api.as_("a_operator", "query($id: ID!) { node(id: $id) { id } }", {"id": ref["id"]})
        assert answer == await api.as_("a_operator", "query($id: ID!) { node(id: $id) { id } }",
                                       {"id": to_global_id("Organization", 10**9)})
    for who in ("a_viewer", "a1_member"):
        assert error_codes(await api.as_(who, '{ organizationDirectory(search: "乙区") { id } }')) == ["FORBIDDEN"]


# ---------------------------------------------------------------------------------------- files (gql/exports.py, gql/imports.py)


async def test_exports_and_imports_of_foreign_organizations_answer_404_and_no_file(api, engine, world):
    """GET /export/... and POST /import/members: an organization (or saved table) outside the
    caller's branch answers 404 JSON, byte for byte as a missing one, never a file, and an import
    writes nothing; a role below the route's answers 403; the own branch gets its file."""
    from tests.test_imports import csv_file, good_row

    table = await _ok(api, """mutation($o: ID!) { saveStatDefinition(input: {name: "乙区统计", crossTab: {organizationId: $o,
        rows: GENDER}}) { definition { id } userErrors { code message } } }""", {"o": gid("Organization", world.orgs["b"])},
                      "saveStatDefinition", as_="b_admin")
    own_table = await _ok(api, """mutation($o: ID!) { saveStatDefinition(input: {name: "甲区统计", crossTab: {organizationId: $o,
        rows: GENDER}}) { definition { id } userErrors { code message } } }""", {"o": gid("Organization", world.orgs["a"])},
                          "saveStatDefinition", as_="a_viewer")
    orgs = {"own": gid("Organization", world.orgs["a"]), "sibling": gid("Organization", world.orgs["b"]),
            "parent": gid("Organization", world.orgs["root"]), "missing": to_global_id("Organization", 10**9)}
    tables = {"own": own_table["definition"]["id"], "sibling": table["definition"]["id"], "parent": None,
              "missing": to_global_id("StatDefinition", 10**9)}
    routes = [
        ("/export/members.csv", lambda o: {"organizationId": o}),
        ("/export/members.xlsx", lambda o: {"organizationId": o}),
        ("/export/crosstab.xlsx", lambda o: {"organizationId": o, "rows": "GENDER"}),
        ("/export/crosstab.docx", lambda o: {"organizationId": o, "rows": "GENDER", "columns": "EDUCATION"}),
        ("/export/balance.xlsx", lambda o: {"organizationId": o, "from": "2020-01-01", "to": TODAY}),
        ("/export/balance.docx", lambda o: {"organizationId": o, "from": "2020-01-01", "to": TODAY}),
    ]
    failures = []

    async def get(who, path, params):
        headers = {"Authorization": f"Bearer {await api.login(who)}"} if who else {}
        return await api.http.get(path, params=params, headers=headers)

    def refused(response, status: int, code: str, where) -> None:
        if (response.status_code != status or not response.headers["content-type"].startswith("application/json")
                or "content-disposition" in response.headers
                or [e["extensions"]["code"] for e in response.json()["errors"]] != [code]):
            failures.append((where, response.status_code, response.headers.get("content-type"), response.text[:200]))

    for path, params in routes + [(f"/export/stat/{{t}}.{kind}", None) for kind in ("xlsx", "docx")]:
        answers = {}
        for position in ("own", "sibling", "parent", "missing"):
            if params is None:
                if tables[position] is None:
                    continue
                url, query = path.format(t=tables[position]), {}
            else:
                url, query = path, params(orgs[position])
            response = await get("a_viewer", url, query)
            where = (url, position)
            if position == "own":
                if response.status_code != 200 or "content-disposition" not in response.headers:
                    failures.append((where, response.status_code, response.text[:200]))
                refused(await get("a1_member", url, query), 403, "FORBIDDEN", where + ("MEMBER",))
                refused(await get(None, url, query), 401, "UNAUTHENTICATED", where + ("signed out",))
                continue
            refused(response, 404, "NOT_FOUND", where)
            answers[position] = response.content
        if len(set(answers.values())) != 1:
            failures.append(("foreign answer differs from a missing one's", path, answers))

    async def post(who, organization, content):
        token = await api.login(who)
        return await api.http.post("/import/members", files={"file": ("名册.csv", content)},
                                   data={"organizationId": organization, "dryRun": "false"},
                                   headers={"Authorization": f"Bearer {token}"})

    for who in ("a_operator", "a_viewer", "a1_member"):
        await api.login(who)  # before the dump (last_login_at, the login's audit entry)
    before = await dump(engine)
    answers = {}
    for position in ("sibling", "parent", "missing"):
        response = await post("a_operator", orgs[position], csv_file([good_row("越界导入")]))
        refused(response, 404, "NOT_FOUND", ("/import/members", position))
        answers[position] = response.content
    if len(set(answers.values())) != 1:
        failures.append(("foreign import answer differs from a missing one's", answers))
    for who in ("a_viewer", "a1_member"):
        refused(await post(who, orgs["own"], csv_file([good_row("越权导入")])), 403, "FORBIDDEN", ("/import/members", who))
    if await dump(engine) != before:
        failures.append(("A REFUSED IMPORT WROTE", json.dumps(diff(before, await dump(engine)), ensure_ascii=False)))
    own = await post("a_operator", orgs["own"], csv_file([good_row("本级导入")]))
    if own.status_code != 200:
        failures.append(("own import refused", own.status_code, own.text[:300]))
    assert not failures, "\n".join(repr(f)[:600] for f in failures)
