"""What a MEMBER account can read, count or page, generated from the schema.

A MEMBER reaches its own member record, what hangs from it (its difficulties, its account) and its
own organization: the objects of the types whose @auth has allowSelf. The guard checks objects,
so the leaks go around it: a count, a list's length, a cursor, or an object selected only by
`__typename`. This module walks every field of every allowSelf type reachable from `viewer`,
with each enum and boolean argument value (also inside input objects), queries it as a MEMBER in
an organization full of things it may not see, and asserts:
- no object of a type without allowSelf comes back (not even as `__typename`);
- every object of an allowSelf type is one of the member's own;
- every `totalCount` and `…Count` is at most what the member may see (one of each);
- no error other than FORBIDDEN.
A field added later is walked too, so it fails here until its rows come through db.branch.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from graphql import (
    GraphQLBoolean,
    GraphQLID,
    GraphQLInt,
    GraphQLString,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
)

from db.branch import SYSTEM_ACTOR
from db.engine import make_sessionmaker
from db.branch import Actor, Branch
from db.services import (
    change_requests, difficulties, flows, leadership, lifecycle, member_records, org_records, organizations,
    representatives, transfers,
)
from gql.auth.guard import PUBLIC_ROOT_FIELDS, _auth_of
from gql.schema import schema
from gql.ids import to_global_id
from tests.conftest import error_codes, gid
from tests.factories import make_account, make_member, make_org, new_id_number

GRAPHQL = schema._schema
ALIASES_PER_QUERY = 25


def _unwrap(gtype):
    while isinstance(gtype, (GraphQLNonNull, GraphQLList)):
        gtype = gtype.of_type
    return gtype


def _auth(gtype):
    if not isinstance(gtype, GraphQLObjectType):
        return None
    return _auth_of(gtype.extensions.get("strawberry-definition"))


def allow_self_types() -> set[str]:
    return {name for name, t in GRAPHQL.type_map.items()
            if not name.startswith("__") and (a := _auth(t)) is not None and a.allow_self}


def guarded_types() -> set[str]:
    return {name for name, t in GRAPHQL.type_map.items() if not name.startswith("__") and _auth(t) is not None}


def selection(gtype, depth: int = 0) -> str:
    """What to select of a value of `gtype`: of an @auth type only what identifies it, of a
    plain value type (connections, edges, Leadership, ...) everything, recursively."""
    gtype = _unwrap(gtype)
    if isinstance(gtype, (GraphQLScalarType, GraphQLEnumType)):
        return ""
    auth = _auth(gtype)
    if auth is not None:
        return "{ __typename id }" if auth.allow_self else "{ __typename }"
    if depth > 3:
        return "{ __typename }"
    parts = ["__typename"]
    for name, field in gtype.fields.items():
        if any(isinstance(a.type, GraphQLNonNull) and a.default_value is Undefined for a in field.args.values()):
            continue
        parts.append(f"{name} {selection(field.type, depth + 1)}".strip())
    return "{ " + " ".join(parts) + " }"


def _literals(gtype) -> list[str]:
    """Values worth trying for an argument or input field: each enum value, true."""
    nullable = gtype.of_type if isinstance(gtype, GraphQLNonNull) else gtype
    listed = isinstance(nullable, GraphQLList)
    inner = _unwrap(nullable)
    values: list[str] = []
    if isinstance(inner, GraphQLEnumType):
        values = list(inner.values)
    elif inner is GraphQLBoolean:
        values = ["true"]
    return [f"[{v}]" if listed else v for v in values]


def argument_variants(field) -> list[str]:
    """"" (defaults) and one variant per interesting value of each argument (or input field)."""
    variants = [""]
    for arg_name, arg in field.args.items():
        inner = _unwrap(arg.type)
        if isinstance(inner, GraphQLInputObjectType):
            required = {n: f for n, f in inner.fields.items()
                        if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined}
            base = {n: _literals(f.type)[0] for n, f in required.items() if _literals(f.type)}
            if len(base) != len(required):
                continue
            for input_name, input_field in inner.fields.items():
                for value in _literals(input_field.type):
                    body = {**base, input_name: value}
                    variants.append(f"{arg_name}: {{{', '.join(f'{k}: {v}' for k, v in body.items())}}}")
        else:
            variants += [f"{arg_name}: {value}" for value in _literals(arg.type)]
    return [f"({v})" if v else "" for v in variants]


def paths_from_viewer() -> dict[str, str]:
    """For each allowSelf type, the shortest selection path from `viewer` that reaches it:
    "organization { members { edges { node { %s } } } }"-like templates."""
    found = {"Account": "%s"}
    frontier = ["Account"]
    allowed = allow_self_types()
    while frontier:
        next_frontier = []
        for type_name in frontier:
            for name, field in GRAPHQL.type_map[type_name].fields.items():
                if any(isinstance(a.type, GraphQLNonNull) for a in field.args.values()):
                    continue
                target, hop = _unwrap(field.type), f"{name} {{ %s }}"
                if target.name.endswith("Connection"):
                    target, hop = _unwrap(target.fields["edges"].type).fields["node"].type, f"{name} {{ edges {{ node {{ %s }} }} }}"
                    target = _unwrap(target)
                if target.name in allowed and target.name not in found:
                    found[target.name] = found[type_name] % hop
                    next_frontier.append(target.name)
        frontier = next_frontier
    return found


def walk(data, leaks: list, own_ids: set[str], guarded: set[str], allowed: set[str], where: str) -> None:
    if isinstance(data, list):
        for item in data:
            walk(item, leaks, own_ids, guarded, allowed, where)
        return
    if not isinstance(data, dict):
        return
    typename = data.get("__typename")
    if typename in guarded and typename not in allowed:
        leaks.append(f"{where}: a {typename} reached the MEMBER account")
    if typename in allowed and data.get("id") not in own_ids:
        leaks.append(f"{where}: {typename} {data.get('id')} is not the member's own")
    for key, value in data.items():
        if (key == "totalCount" or key.endswith("Count")) and isinstance(value, int) and value > 1:
            leaks.append(f"{where}: {key} = {value}")
        walk(value, leaks, own_ids, guarded, allowed, where)


async def crowded_world(engine, world):
    """A1 full of what a1_member may not see: a colleague with a difficulty, leader positions
    (its own among them), organization records, a child organization with a member, staff
    accounts, a rename in the history; a1_member's own difficulty."""
    async with make_sessionmaker(engine)() as session, session.begin():
        a1 = await organizations.get(session, SYSTEM_ACTOR.branch, world.orgs["a1"].id)
        child = await make_org(session, a1, "中共示范市甲区第一支部第一小组", "001", type="BRANCH")
        below = await make_member(session, child, name="孙伟", id_number=new_id_number())
        await make_account(session, child, "a1_child_admin", "ADMIN")
        await make_account(session, child, "a1_child_member", "MEMBER", member=below)
        me, colleague = world.members["a1_first"], world.members["a1_second"]
        await leadership.appoint(session, SYSTEM_ACTOR, a1.id, colleague.id, "SECRETARY", dt.date(2022, 1, 1))
        await leadership.appoint(session, SYSTEM_ACTOR, a1.id, me.id, "COMMITTEE_MEMBER", dt.date(2022, 1, 1))
        for title in ("组织生活会", "民主评议"):
            await org_records.add(session, SYSTEM_ACTOR, a1.id, "MEETING", title, dt.date(2023, 1, 1), None)
        own, _ = await difficulties.add(session, SYSTEM_ACTOR, me.id, "1", None, dt.date(2023, 1, 1))
        await difficulties.add(session, SYSTEM_ACTOR, colleague.id, "1", None, dt.date(2023, 1, 1))
        await difficulties.add(session, SYSTEM_ACTOR, below.id, "1", None, dt.date(2023, 1, 1))
        await organizations.rename(session, SYSTEM_ACTOR, a1.id, "中共示范市甲区第一党支部委员会", dt.date(2023, 2, 1), None)
    return own


async def records_and_status_changes(engine, world) -> set[str]:
    """A member record and a status change of a1_member's own and of its colleague; the own ids."""
    async with make_sessionmaker(engine)() as session, session.begin():
        me, colleague = world.members["a1_first"], world.members["a1_second"]
        own = set()
        for member in (me, colleague):
            [(record, _)] = await member_records.add(session, SYSTEM_ACTOR, [member.id], "ACTIVITY",
                                                     {"title": "主题党日", "date": dt.date(2023, 3, 1)})
            change, _, _ = await lifecycle.record_status_change(session, SYSTEM_ACTOR, member.id, "SUSPENDED",
                                                                dt.date(2023, 4, 1), "停止党籍")
            if member is me:
                own |= {gid("MemberRecord", record), gid("StatusChange", change)}
        # A transfer of its own (pending, to A2) and one of its colleague's (out of the system).
        [mine] = await transfers.send(session, SYSTEM_ACTOR, [me.id], world.orgs["a2"].id, None,
                                      dt.date(2023, 5, 1), "工作调动")
        await transfers.send(session, SYSTEM_ACTOR, [colleague.id], None, "外省某党组织", dt.date(2023, 5, 1), None)
        own.add(gid("Transfer", mine.transfer))
    return own


async def flows_seats_and_volunteers(engine, world) -> set[str]:
    """A flow, a representative seat and a volunteer record of a1_member's own and of its
    colleague; the own ids."""
    async with make_sessionmaker(engine)() as session, session.begin():
        me, colleague = world.members["a1_first"], world.members["a1_second"]
        own = set()
        for member in (me, colleague):
            flow, _ = await flows.flow_out(session, SYSTEM_ACTOR, member.id, "外地", dt.date(2023, 2, 10), None, None)
            await flows.return_from_flow(session, SYSTEM_ACTOR, flow.id, dt.date(2023, 2, 20))
            seat, _ = await representatives.add_term(session, SYSTEM_ACTOR, member.id, "CITY", 12, None, None)
            volunteer, _ = await representatives.set_volunteer(session, SYSTEM_ACTOR, member.id, "社区服务", None, None)
            if member is me:
                own |= {gid("Flow", flow), gid("RepresentativeTerm", seat), gid("Volunteer", volunteer)}
    return own


async def test_a_member_account_reads_counts_and_pages_only_what_is_its_own(api, engine, world):
    own_difficulty = await crowded_world(engine, world)
    own_ids = {gid("Member", world.members["a1_first"]), gid("Organization", world.orgs["a1"]),
               gid("Account", world.accounts["a1_member"]), gid("Difficulty", own_difficulty)}
    # Flows first (and back from them): a flow needs an ACTIVE member, and the transfers sent
    # below leave it TRANSFERRING (its colleague TRANSFERRED_OUT).
    own_ids |= await flows_seats_and_volunteers(engine, world)
    own_ids |= await records_and_status_changes(engine, world)
    guarded, allowed = guarded_types(), allow_self_types()
    own_ids |= await change_requests_of_both(engine, world)
    assert allowed == {"Organization", "Member", "Account", "Difficulty", "MemberRecord", "StatusChange",
                       "ChangeRequest", "Transfer", "Flow", "RepresentativeTerm", "Volunteer"}, \
        "a new allowSelf type: extend own_ids"
    paths = paths_from_viewer()
    # Types no field of a reachable object leads to are walked from the root fields (below).
    assert set(paths) | ROOT_ONLY == allowed, paths

    leaks, queried = [], 0
    for type_name in sorted(set(paths)):
        for field_name, field in GRAPHQL.type_map[type_name].fields.items():
            aliases = [f"v{i}: {field_name}{args} {selection(field.type)}".strip()
                       for i, args in enumerate(argument_variants(field))]
            for start in range(0, len(aliases), ALIASES_PER_QUERY):
                body = paths[type_name] % " ".join(aliases[start:start + ALIASES_PER_QUERY])
                query = "{ viewer { %s } }" % body
                result = await api.as_("a1_member", query)
                queried += 1
                where = f"{type_name}.{field_name}"
                unexpected = [c for c in error_codes(result) if c != "FORBIDDEN"]
                assert not unexpected, (where, query, result)
                walk(result.get("data"), leaks, own_ids, guarded, allowed, where)
    assert queried > 20
    assert leaks == [], "\n".join(leaks)


async def test_the_walk_sees_what_a_viewer_of_the_branch_sees(api, engine, world):
    """The same walk as an A1 VIEWER finds the crowd (the check above is not vacuous)."""
    own_difficulty = await crowded_world(engine, world)
    guarded, allowed = guarded_types(), allow_self_types()
    query = "{ viewer { organization { %s } } }" % " ".join(
        f"{name} {selection(field.type)}".strip() for name, field in GRAPHQL.type_map["Organization"].fields.items()
        if name not in ("members",))
    leaks: list[str] = []
    result = await api.as_("a1_viewer", query)
    assert "errors" not in result, result
    walk(result["data"], leaks, {gid("Difficulty", own_difficulty)}, guarded, allowed, "Organization")
    assert any("LeaderPosition" in leak for leak in leaks), leaks
    assert any("orgRecords" in leak or "totalCount" in leak for leak in leaks), leaks


# ------------------------------------------------------------------ from the root fields

# allowSelf types that only root fields reach (no field of the member's own objects leads there).
ROOT_ONLY = {"ChangeRequest"}


def member_actor(member, organization) -> Actor:
    return Actor(account_id=None, role="MEMBER", organization_id=organization.id,
                 branch=Branch.of_member(organization.path, member.id))


async def change_requests_of_both(engine, world) -> set[str]:
    """A dues request of a1_member's own and one of its colleague's; the own id."""
    async with make_sessionmaker(engine)() as session, session.begin():
        a1 = await organizations.get(session, SYSTEM_ACTOR.branch, world.orgs["a1"].id)
        own = None
        for key in ("a1_first", "a1_second"):
            request, _ = await change_requests.request_dues(session, member_actor(world.members[key], a1), Decimal("10"))
            own = own or request
    return {gid("ChangeRequest", own)}


def _dummy(gtype) -> str:
    """Some valid literal of an input type (the guard refuses before anything is read)."""
    nullable = gtype.of_type if isinstance(gtype, GraphQLNonNull) else gtype
    if isinstance(nullable, GraphQLList):
        return f"[{_dummy(nullable.of_type)}]"
    inner = _unwrap(nullable)
    if isinstance(inner, GraphQLEnumType):
        return next(iter(inner.values))
    if isinstance(inner, GraphQLInputObjectType):
        required = {n: f for n, f in inner.fields.items()
                    if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined}
        return "{" + ", ".join(f"{n}: {_dummy(f.type)}" for n, f in required.items()) + "}"
    if inner is GraphQLBoolean:
        return "true"
    if inner is GraphQLInt:
        return "1"
    if inner.name == "Date":
        return '"2024-01-01"'
    if inner.name == "DateTime":
        return '"2024-01-01T00:00:00Z"'
    if inner.name == "Decimal":
        return '"1"'
    return '"x"'


def _required(field) -> str:
    args = [f"{n}: {_dummy(a.type)}" for n, a in field.args.items()
            if isinstance(a.type, GraphQLNonNull) and a.default_value is Undefined]
    return f"({', '.join(args)})" if args else ""


def root_variants(field, foreign_ids: list[str], foreign_strings: dict[str, list[str]]) -> list[str]:
    """The defaults, each enum/boolean value (argument_variants), and every ID argument set to
    each id of `foreign_ids`, every String argument named in `foreign_strings` to each of those."""
    variants = argument_variants(field)
    for name, arg in field.args.items():
        inner = _unwrap(arg.type)
        values = []
        if inner is GraphQLID:
            values = [f'"{i}"' for i in foreign_ids]
        elif inner is GraphQLString:
            values = [f'"{v}"' for v in foreign_strings.get(name, [])]
        variants += [f"({name}: {v})" for v in values]
    return variants


async def test_from_every_root_field_a_member_reaches_only_its_own(api, engine, world):
    """Every root query field as a MEMBER: a field without allowSelf is FORBIDDEN whatever its
    arguments; one with allowSelf, given the ids, codes and ID numbers of what the member may not
    see (its colleague, the parent, a sibling branch, the colleague's request...), answers only
    the member's own objects, counts at most one, and no error but FORBIDDEN. node/nodes with
    every such id: null or FORBIDDEN. A root field added later is walked too."""
    own_difficulty = await crowded_world(engine, world)
    own_ids = {gid("Member", world.members["a1_first"]), gid("Organization", world.orgs["a1"]),
               gid("Account", world.accounts["a1_member"]), gid("Difficulty", own_difficulty)}
    own_ids |= await records_and_status_changes(engine, world)
    own_ids |= await change_requests_of_both(engine, world)
    guarded, allowed = guarded_types(), allow_self_types()
    # Every object the world holds, of every guarded type, that is not the member's own.
    foreign_ids: list[str] = []
    async with make_sessionmaker(engine)() as session:
        from sqlalchemy import select

        from db import models
        from gql.schema.query import NODE_TYPES
        for type_name in NODE_TYPES:
            model = getattr(models, type_name)
            for (pk,) in (await session.execute(select(model.id))).all():
                global_id = to_global_id(type_name, pk)
                if global_id not in own_ids:
                    foreign_ids.append(global_id)
    assert len({i.split(":")[0] for i in foreign_ids}) >= 8 or len(foreign_ids) > 30, foreign_ids
    foreign_strings = {"code": [o.code for k, o in world.orgs.items() if k != "a1"],
                       "idNumber": [m.id_number for k, m in world.members.items() if k != "a1_first"]}

    leaks, checked = [], []
    query_type = GRAPHQL.query_type
    for name, field in query_type.fields.items():
        if name in ("viewer", "codes"):
            continue  # viewer: the walk above; codes: the public code tables
        auth = _auth_of(field.extensions.get("strawberry-definition"))
        where = f"Query.{name}"
        if auth is None and where not in PUBLIC_ROOT_FIELDS:
            continue  # refused as DENY (tests/test_contract.py: no field without @auth)
        if auth is not None and not auth.allow_self:
            result = await api.as_("a1_member", "{ %s%s %s }" % (name, _required(field), selection(field.type)))
            assert error_codes(result) == ["FORBIDDEN"], (where, result)
            checked.append(where)
            continue
        if name == "nodes":
            variants = [f'(ids: [{", ".join(chr(34) + i + chr(34) for i in foreign_ids[k:k + 50])}])'
                        for k in range(0, len(foreign_ids), 50)]
        elif name == "node":
            variants = [f'(id: "{i}")' for i in foreign_ids]
        else:
            variants = root_variants(field, foreign_ids, foreign_strings)
        shape = selection(field.type)
        if name in ("node", "nodes"):
            shape = "{ __typename ... on Node { id } }"
        for args in variants:
            result = await api.as_("a1_member", "{ %s%s %s }" % (name, args, shape))
            unexpected = [c for c in error_codes(result) if c != "FORBIDDEN"]
            assert not unexpected, (where, args, result)
            walk(result.get("data"), leaks, own_ids, guarded, allowed, f"{where}{args}")
        checked.append(where)
    assert {"Query.member", "Query.organization", "Query.changeRequests", "Query.node", "Query.members"} <= set(checked)
    assert leaks == [], "\n".join(leaks)


async def test_the_root_walk_finds_the_colleagues_request_for_staff(api, engine, world):
    """The walk is not vacuous: an OPERATOR of the branch gets both requests through the same field."""
    await change_requests_of_both(engine, world)
    result = await api.as_("a_operator", "{ changeRequests { totalCount edges { node { member { name } } } } }")
    assert result["data"]["changeRequests"]["totalCount"] == 2, result
