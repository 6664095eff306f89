"""Concurrent writers wait for each other instead of failing with "database is locked"
(SQLite: write transactions begin IMMEDIATE; PostgreSQL: row locks)."""
from __future__ import annotations

import asyncio

from tests.conftest import gid
from tests.factories import new_id_number

CREATE = """mutation($o: ID!, $name: String!, $id: String!) {
  createMember(input: {organizationId: $o, fields: {name: $name, idNumber: $id, category: FULL,
    appliedOn: "2008-03-01", joinedOn: "2010-07-01", confirmedOn: "2011-07-01"}}) {
    member { id } userErrors { code message } } }"""


async def test_concurrent_mutations_all_succeed(api, world):
    token = await api.login("a_operator")
    a1 = gid("Organization", world.orgs["a1"])

    async def create(n: int) -> dict:
        # Each request reads (its token, the organization) before it writes: the pattern that
        # fails with "database is locked" when a read transaction has to upgrade to a write.
        return await api.post(CREATE, {"o": a1, "name": f"党员{n}", "id": new_id_number()}, token)

    results = await asyncio.gather(*(create(n) for n in range(12)))
    for result in results:
        assert "errors" not in result, result
        assert result["data"]["createMember"]["userErrors"] == [], result
    count = await api.as_("a_viewer", "query($o: ID!) { organization(id: $o) { memberCount } }", {"o": a1})
    assert count["data"]["organization"]["memberCount"] == 2 + 12
