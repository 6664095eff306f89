"""`node`/`nodes`: the role is checked against the type named in the id before anything is
loaded, so the answer tells nothing about whether an object exists elsewhere; `nodes` loads each
type's ids in one statement."""
from __future__ import annotations

import datetime as dt

from db.branch import SYSTEM_ACTOR
from db.engine import make_sessionmaker
from db.services import leadership, org_records
from gql.ids import to_global_id
from tests.conftest import error_codes, gid
from tests.test_query_count import counting, grow

NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"


async def _positions_and_records(engine, world):
    """A leader position and a record in A1 (a1_member's own organization) and in B1."""
    made = {}
    async with make_sessionmaker(engine)() as session, session.begin():
        for key, member in (("a1", "a1_second"), ("b1", "b1_only")):
            org_id = world.orgs[key].id
            position = await leadership.appoint(session, SYSTEM_ACTOR, org_id, world.members[member].id,
                                                "SECRETARY", dt.date(2022, 1, 1))
            record, _ = await org_records.add(session, SYSTEM_ACTOR, org_id, "MEETING", "组织生活会",
                                              dt.date(2023, 1, 1), None)
            made[key] = (gid("LeaderPosition", position), gid("OrgRecord", record))
    return made


async def answer(api, username, query, variables):
    result = await api.as_(username, query, variables)
    return error_codes(result), result.get("data")


async def test_a_type_the_role_may_not_read_is_forbidden_whether_or_not_the_object_exists(api, world, engine):
    made = await _positions_and_records(engine, world)
    for index, type_name in enumerate(("LeaderPosition", "OrgRecord")):
        inside, outside = made["a1"][index], made["b1"][index]
        absent = to_global_id(type_name, 987654)
        answers = {which: await answer(api, "a1_member", NODE, {"id": global_id})
                   for which, global_id in (("inside", inside), ("outside", outside), ("absent", absent))}
        assert answers["inside"] == answers["outside"] == answers["absent"], answers
        assert answers["inside"][0] == ["FORBIDDEN"]
        for ids in ([inside], [outside], [absent], [gid("Member", world.members["a1_first"]), absent]):
            codes, data = await answer(api, "a1_member", NODES, {"ids": ids})
            assert codes == ["FORBIDDEN"] and data is None, (ids, codes, data)


async def test_a_viewer_asking_for_accounts_gets_one_answer_for_absent_foreign_and_inside(api, world):
    answers = {}
    for which, global_id in (("inside", gid("Account", world.accounts["a_operator"])),
                             ("below", gid("Account", world.accounts["a1_member"])),
                             ("outside", gid("Account", world.accounts["b_admin"])),
                             ("absent", to_global_id("Account", 987654))):
        answers[which] = await answer(api, "a_viewer", NODE, {"id": global_id})
    assert set(map(repr, answers.values())) == {repr(([], {"node": None}))}, answers
    # Its own account is its own to read (allowSelf).
    own = gid("Account", world.accounts["a_viewer"])
    assert await answer(api, "a_viewer", NODE, {"id": own}) == ([], {"node": {"__typename": "Account", "id": own}})


async def test_nodes_answers_in_order_with_null_for_the_unreachable(api, world):
    ids = [gid("Organization", world.orgs["a1"]), gid("Member", world.members["b1_only"]), "garbage",
           gid("Member", world.members["a1_first"]), to_global_id("Organization", 987654),
           gid("Organization", world.orgs["a"]), to_global_id("Nothing", 1)]
    codes, data = await answer(api, "a_viewer", NODES, {"ids": ids})
    assert codes == []
    assert [n and n["id"] for n in data["nodes"]] == [ids[0], None, None, ids[3], None, ids[5], None]


async def test_nodes_loads_each_type_in_one_statement(api, world, engine):
    await grow(engine, world, branches=4, members_each=3)
    token = await api.login("root_admin")
    organizations = await api.post('{ organization(code: "001") { descendants(first: 20) { edges { node { id } } } } }',
                                   token=token)
    org_ids = [e["node"]["id"] for e in organizations["data"]["organization"]["descendants"]["edges"]]
    members = await api.post("{ members(first: 20) { edges { node { id } } } }", token=token)
    member_ids = [e["node"]["id"] for e in members["data"]["members"]["edges"]]
    assert len(org_ids) >= 10 and len(member_ids) >= 10

    async def statements_for(ids):
        with counting(engine) as statements:
            result = await api.post(NODES, {"ids": ids}, token)
        assert "errors" not in result and all(result["data"]["nodes"]), result
        return len(statements)

    few = await statements_for(org_ids[:2] + member_ids[:2])
    many = await statements_for(org_ids + member_ids)
    assert few == many, (few, many)
