"""A committed write answers its payload even when the fold after it fails.

A reviewer's concurrent createMember, acceptTransfer and recordStatusChange on PostgreSQL (40
mutations beside readers) saw 1-3 of them answer INTERNAL_SERVER_ERROR every run though their
data was saved: PostgreSQL broke a deadlock in the fold of the member-count deltas that runs after
the write's commit (db.services.members.fold_after_write), whose rollback expired what the write
had just saved, and the payload loaded it again on a connection given back to the pool
("This Connection is closed"). The fold now runs in a session of its own. Here the fold fails
on purpose, on both engines."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.exc import DBAPIError

from db.services import members as member_service
from tests.conftest import error_codes, gid
from tests.factories import new_id_number

CREATE = """mutation($input: CreateMemberInput!) { createMember(input: $input) {
  member { id name status category organization { id } } userErrors { code field message } } }"""
COUNT = "query($id: ID!) { organization(id: $id) { memberCount } }"


async def member_count(api, organization: int) -> int:
    result = await api.as_("a_admin", COUNT, {"id": gid("Organization", organization)})
    assert "errors" not in result, result
    return result["data"]["organization"]["memberCount"]


async def test_a_committed_write_answers_its_payload_when_the_fold_after_it_fails(api, world, monkeypatch):
    async def deadlocked(_session):
        raise DBAPIError("fold", {}, Exception("deadlock detected"))

    before = await member_count(api, world.orgs["a1"])
    monkeypatch.setattr(member_service, "fold_member_counts", deadlocked)
    monkeypatch.setattr(member_service, "fold_due", lambda: True)
    fields = {"name": "折叠", "idNumber": new_id_number(dt.date(1988, 1, 1)), "category": "FULL",
              "appliedOn": "2010-03-01", "joinedOn": "2012-07-01", "confirmedOn": "2013-07-01"}
    result = await api.as_("a_admin", CREATE, {"input": {"organizationId": gid("Organization", world.orgs["a1"]),
                                                         "fields": fields}})
    monkeypatch.undo()
    assert error_codes(result) == [], result
    payload = result["data"]["createMember"]
    assert payload["userErrors"] == [] and payload["member"]["name"] == "折叠", payload
    assert payload["member"]["organization"]["id"] == gid("Organization", world.orgs["a1"])
    # the deltas the failed fold left pending still count
    assert await member_count(api, world.orgs["a1"]) == before + 1
