"""A move on a generated tree leaves no stale path, depth or code, and the members follow."""
from __future__ import annotations

from sqlalchemy import func, select

from db import demo, models
from db.engine import make_sessionmaker
from db.tree import HEALTHY, invariant_violations
from tests.conftest import gid
from tests.factories import make_account

COUNT = """query($id: ID!) { organization(id: $id) { memberCount(filter: {scope: SUBTREE}) } }"""
MOVE = """mutation($o: ID!, $p: ID!, $s: String) {
  moveOrganization(input: {organizationId: $o, newParentId: $p, codeSuffix: $s, date: "2024-06-01", reason: "调整"}) {
    organization { code depth } userErrors { code message } } }"""


async def test_move_on_generated_tree_keeps_invariants(api, engine):
    await demo.generate(engine, orgs=400, members=4000, seed=7)
    async with make_sessionmaker(engine)() as session, session.begin():
        root = await session.get(models.Organization, 1)
        await make_account(session, root, "root_admin", "ADMIN")
        o = models.Organization
        # The level-1 organization with the largest subtree moves under another level-1 organization.
        level1 = list((await session.execute(select(o).where(o.depth == 1).order_by(o.id))).scalars())
        sizes = {}
        for org in level1:
            sizes[org.id] = await session.scalar(
                select(func.count()).select_from(o).where(o.path >= org.path, o.path < org.path[:-1] + "0"))
        moved = max(level1, key=lambda org: sizes[org.id])
        target = next(org for org in level1 if org.id != moved.id)
        assert await invariant_violations(session) == HEALTHY

    before_moved = (await api.as_("root_admin", COUNT, {"id": gid("Organization", moved)}))["data"]["organization"]["memberCount"]
    before_target = (await api.as_("root_admin", COUNT, {"id": gid("Organization", target)}))["data"]["organization"]["memberCount"]
    assert before_moved > 0 and sizes[moved.id] > 10

    result = await api.as_("root_admin", MOVE, {"o": gid("Organization", moved), "p": gid("Organization", target), "s": "999"})
    assert result["data"]["moveOrganization"]["userErrors"] == [], result
    assert result["data"]["moveOrganization"]["organization"]["code"] == target.code + "999"
    assert result["data"]["moveOrganization"]["organization"]["depth"] == 2

    after_target = (await api.as_("root_admin", COUNT, {"id": gid("Organization", target)}))["data"]["organization"]["memberCount"]
    assert after_target == before_target + before_moved
    async with make_sessionmaker(engine)() as session:
        assert await invariant_violations(session) == HEALTHY
        subtree = await session.scalar(select(func.count()).select_from(models.Organization).where(
            models.Organization.code.startswith(target.code + "999")))
        assert subtree == sizes[moved.id]
