"""Subtree member counts from the folded rollup plus the delta log (issue 7): exact after member
writes, status changes, moves and folds, and while writers in many branches and folds overlap.

Each test compares memberCount(filter: {scope: SUBTREE}) (the rollup: no filter but the scope)
with the same count taken over the member rows (an explicit statuses filter, the default
statuses, which the rollup cannot answer), and the teardown checks db.tree's invariants."""
from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from db import models
from db.engine import make_sessionmaker
from db.services import members as member_service
from db.session import begin_write
from db.tree import HEALTHY, invariant_violations
from tests.conftest import gid
from tests.factories import make_member, make_org, new_id_number, set_member_status
from tests.test_races import CREATE_MEMBER, TODAY, assert_invariants, payload, race, setup, succeeded  # noqa: F401 (race: fixture)

COUNTS = """query($o: ID!) { node(id: $o) { ... on Organization {
  rollup: memberCount(filter: {scope: SUBTREE})
  rows: memberCount(filter: {scope: SUBTREE, statuses: [ACTIVE, FLOWING_OUT, TRANSFERRING]})
  children { id rollup: memberCount(filter: {scope: SUBTREE})
    rows: memberCount(filter: {scope: SUBTREE, statuses: [ACTIVE, FLOWING_OUT, TRANSFERRING]}) } } } }"""


MOVE = """mutation($o: ID!, $p: ID!, $d: Date!, $s: String) {
  moveOrganization(input: {organizationId: $o, newParentId: $p, date: $d, codeSuffix: $s}) {
    organization { id } userErrors { code message } } }"""


async def counts(api, token, org) -> dict[str, tuple[int, int]]:
    node = payload(await api.post(COUNTS, {"o": gid("Organization", org)}, token), "node")
    found = {"self": (node["rollup"], node["rows"])}
    for child in node["children"]:
        found[child["id"]] = (child["rollup"], child["rows"])
    return found


def agree(found: dict[str, tuple[int, int]]) -> None:
    assert all(rollup == rows for rollup, rows in found.values()), found


async def pending(engine) -> int:
    async with make_sessionmaker(engine)() as session:
        return await session.scalar(select(func.count()).select_from(models.MemberCountDelta))


async def fold(engine) -> None:
    async with make_sessionmaker(engine)() as session:
        await begin_write(session)
        await member_service.fold_member_counts(session)
        await session.commit()


async def test_subtree_counts_follow_writes_moves_and_folds(api, world, engine):
    token = await api.login("root_admin")
    root = world.orgs["root"]
    found = await counts(api, token, root)
    assert found["self"] == (4, 4)
    agree(found)

    async def build(session):
        deep = await make_org(session, world.orgs["a1"], "甲区第一支部第一小组", "001", type="BRANCH")
        for _ in range(3):
            await make_member(session, deep, id_number=new_id_number())
        return deep
    deep = await setup(engine, build)
    assert await pending(engine) > 0  # member writes append; nothing folded them yet
    found = await counts(api, token, root)
    assert found["self"] == (7, 7)
    agree(found)
    assert (await counts(api, token, world.orgs["a"]))["self"] == (6, 6)

    async with make_sessionmaker(engine)() as session:
        ids = list(await session.scalars(select(models.Member.id).where(models.Member.organization_id == deep.id)))
    await set_member_status(engine, ids[:1], "LEFT")
    await fold(engine)
    assert await pending(engine) == 0
    assert (await counts(api, token, world.orgs["a"]))["self"] == (5, 5)

    # a1 (with deep below it) moves from a to b: 2 + 2 members leave a's count and join b's.
    moved = await api.post(MOVE, {"o": gid("Organization", world.orgs["a1"]), "p": gid("Organization", world.orgs["b"]),
                                  "d": TODAY, "s": "009"}, token)
    assert succeeded(moved, "moveOrganization"), moved
    for org, expected in (("a", 1), ("b", 5), ("root", 6), ("a1", 4)):
        found = await counts(api, token, world.orgs[org])
        assert found["self"] == (expected, expected), (org, found)
        agree(found)
    await fold(engine)
    for org, expected in (("a", 1), ("b", 5), ("root", 6), ("a1", 4)):
        assert (await counts(api, token, world.orgs[org]))["self"] == (expected, expected)
    async with make_sessionmaker(engine)() as session:
        assert await invariant_violations(session) == HEALTHY


async def test_a_write_through_the_api_folds_when_due(api, world, engine, monkeypatch):
    monkeypatch.setattr(member_service, "FOLD_SECONDS", 0.0)
    token = await api.login("root_admin")
    result = await api.post(CREATE_MEMBER, {"o": gid("Organization", world.orgs["b1"]), "id": new_id_number()}, token)
    assert succeeded(result, "createMember"), result
    assert await pending(engine) == 0
    async with make_sessionmaker(engine)() as session:
        folded = await session.scalar(select(models.Organization.subtree_member_count)
                                      .where(models.Organization.id == world.orgs["root"].id))
    assert folded == 5
    monkeypatch.setattr(member_service, "FOLD_SECONDS", 3600.0)
    monkeypatch.setattr(member_service, "FOLD_ROWS", 10**9)
    result = await api.post(CREATE_MEMBER, {"o": gid("Organization", world.orgs["b1"]), "id": new_id_number()}, token)
    assert succeeded(result, "createMember"), result
    assert await pending(engine) == 3  # b1, b, root
    assert (await counts(api, token, world.orgs["root"]))["self"] == (6, 6)


WRITERS = 8
ROUNDS = 6


async def test_race_writers_in_many_branches_and_folds(api, world, engine, monkeypatch):
    """8 writers at once, each creating members in its own branch, every write followed by a
    fold (FOLD_SECONDS 0): folds overlap the writes and each other, and the counts stay exact."""
    monkeypatch.setattr(member_service, "FOLD_SECONDS", 0.0)
    token = await api.login("root_admin")

    async def build(session):
        return [await make_org(session, world.orgs["a" if i % 2 else "b"], f"并发支部{i}", f"{100 + i:03d}",
                               type="BRANCH") for i in range(WRITERS)]
    branches = await setup(engine, build)
    for n in range(ROUNDS):
        results = await asyncio.gather(*(
            api.post(CREATE_MEMBER, {"o": gid("Organization", org), "id": new_id_number()}, token)
            for org in branches))
        assert all(succeeded(r, "createMember") for r in results), results
        await assert_invariants(engine)
        found = await counts(api, token, world.orgs["root"])
        assert found["self"] == (4 + WRITERS * (n + 1),) * 2
        agree(found)


async def test_race_member_writes_against_a_move_of_their_branch(api, world, engine, race):
    """A member created in a1's child while a1 moves from a to b (and back): the member's deltas
    go to the ancestors of the path it has once the move is decided (the UPDATE ... RETURNING of
    its organization's row, which the move's path UPDATE locks), and the move carries the
    subtree's total as of after that member."""
    token = await api.login("root_admin")
    deep = await setup(engine, lambda session: make_org(session, world.orgs["a1"], "甲区第一支部第一小组", "001",
                                                        type="BRANCH"))
    parents = [world.orgs["b"], world.orgs["a"]]
    for n in range(8):
        created, moved = await race.run(
            api.post(CREATE_MEMBER, {"o": gid("Organization", deep), "id": new_id_number()}, token),
            api.post(MOVE, {"o": gid("Organization", world.orgs["a1"]), "p": gid("Organization", parents[n % 2]),
                            "d": TODAY, "s": ("009", "001")[n % 2]}, token))
        assert succeeded(created, "createMember"), created
        assert succeeded(moved, "moveOrganization"), moved
        await assert_invariants(engine)
        agree(await counts(api, token, world.orgs["root"]))


async def test_race_status_changes_against_a_move_of_their_branch(api, world, engine, race):
    """A member counted out (set_status, which locks no organization before its rollup UPDATE)
    while a1 moves between a and b: the deltas follow the path the rollup UPDATE returns, not one
    read before the move committed (with a path read first, the old ancestors lose the member
    after the move already took it away from them: the invariant breaks in the first round on
    PostgreSQL)."""
    token = await api.login("root_admin")
    sessionmaker = make_sessionmaker(engine)
    parents = [world.orgs["b"], world.orgs["a"]]

    async def leave(member_id: int) -> None:
        async with sessionmaker() as session:
            await begin_write(session)
            member = await session.get(models.Member, member_id)
            await member_service.set_status(session, member, "LEFT")
            await session.commit()

    for n in range(8):
        member = await setup(engine, lambda session: make_member(session, world.orgs["a1"], id_number=new_id_number()))
        _, moved = await race.run(
            leave(member.id),
            api.post(MOVE, {"o": gid("Organization", world.orgs["a1"]), "p": gid("Organization", parents[n % 2]),
                            "d": TODAY, "s": ("009", "001")[n % 2]}, token))
        assert succeeded(moved, "moveOrganization"), moved
        await assert_invariants(engine)
        agree(await counts(api, token, world.orgs["root"]))
