"""Retries with an `Idempotency-Key` header (issue 12): a mutation is applied at most once per
account and key, a retry within 24 hours gets the first answer (Idempotent-Replayed: true),
concurrent requests with one key apply it once, a key reused for another request is refused
(422), and the answer is kept in the database (another app instance replays it)."""
from __future__ import annotations

import asyncio
import datetime as dt

import httpx
from sqlalchemy import func, select, update

from db import models
from gql.app import create_app
from gql.settings import Settings
from tests.conftest import gid
from tests.factories import new_id_number

ID_NUMBERS: dict[str, str] = {}

CREATE = """mutation($o: ID!, $name: String!, $id: String!) {
  createMember(input: {organizationId: $o, fields: {name: $name, idNumber: $id, category: FULL,
    appliedOn: "2008-03-01", joinedOn: "2010-07-01", confirmedOn: "2011-07-01"}}) {
    member { id name } userErrors { code } } }"""


async def count_named(engine, name: str) -> int:
    async with engine.connect() as connection:
        return (await connection.execute(select(func.count()).select_from(models.Member)
                                         .where(models.Member.name == name))).scalar_one()


async def send(http, token: str, name: str, org: str, key: str | None = None, fresh: bool = False):
    """The same request for the same name (one ID number per name), unless `fresh`."""
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    if fresh or name not in ID_NUMBERS:
        ID_NUMBERS[name] = new_id_number()
    return await http.post("/graphql", json={"query": CREATE, "variables": {"o": org, "name": name,
                                                                            "id": ID_NUMBERS[name]}},
                           headers=headers)


async def test_a_retry_gets_the_first_answer_and_applies_nothing(client, api, world, engine):
    token = await api.login("a_operator")
    org = gid("Organization", world.orgs["a1"])
    first = await send(client, token, "幂等一", org, "key-1")
    assert first.status_code == 200 and first.json()["data"]["createMember"]["member"]
    again = await send(client, token, "幂等一", org, "key-1")
    assert again.status_code == 200 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert await count_named(engine, "幂等一") == 1
    # Another app instance over the same database (another worker) replays it too.
    other = create_app(engine, Settings(password_profile="cheapest"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://test") as http:
        assert (await send(http, token, "幂等一", org, "key-1")).content == first.content
    assert await count_named(engine, "幂等一") == 1
    # Without the header, or with another key, it is applied again.
    await send(client, token, "幂等一", org, fresh=True)
    await send(client, token, "幂等一", org, "key-2", fresh=True)
    assert await count_named(engine, "幂等一") == 3


async def test_the_key_is_per_account_and_per_request(client, api, world, engine):
    org = gid("Organization", world.orgs["a1"])
    operator, admin = await api.login("a_operator"), await api.login("a_admin")
    await send(client, operator, "幂等二", org, "shared")
    await send(client, admin, "幂等二", org, "shared", fresh=True)
    assert await count_named(engine, "幂等二") == 2
    other = await send(client, operator, "幂等三", org, "shared")
    assert other.status_code == 422 and other.json()["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert await count_named(engine, "幂等三") == 0
    bad = await send(client, operator, "幂等三", org, "x" * 256)
    assert bad.status_code == 400


async def test_concurrent_requests_with_one_key_apply_it_once(client, api, world, engine):
    token = await api.login("a_operator")
    org = gid("Organization", world.orgs["a1"])
    apps = [create_app(engine, Settings(password_profile="cheapest")) for _ in range(2)]
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") for app in apps]
    try:
        responses = await asyncio.gather(*(send(clients[n % 2], token, "并发幂等", org, "race") for n in range(12)))
    finally:
        for http in clients:
            await http.aclose()
    assert await count_named(engine, "并发幂等") == 1
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 409}, statuses
    answers = {r.content for r in responses if r.status_code == 200}
    assert len(answers) == 1  # the first answer, and replays of it
    for response in responses:
        if response.status_code == 409:
            assert response.json()["errors"][0]["extensions"]["code"] == "CONFLICT"
    # Once settled, every retry is the replay.
    assert (await send(client, token, "并发幂等", org, "race")).content in answers


async def test_after_24_hours_the_key_is_new_again(client, api, world, engine):
    token = await api.login("a_operator")
    org = gid("Organization", world.orgs["a1"])
    await send(client, token, "幂等四", org, "daily")
    async with engine.begin() as connection:
        await connection.execute(update(models.IdempotencyKey).values(
            created_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=24, seconds=1)))
    response = await send(client, token, "幂等四", org, "daily")
    assert "idempotent-replayed" not in response.headers
    # It ran again: the same ID number is now taken.
    assert response.json()["data"]["createMember"]["userErrors"] == [{"code": "DUPLICATE"}]
    assert await count_named(engine, "幂等四") == 1


async def test_queries_anonymous_requests_and_refusals_keep_no_key(client, api, world, engine):
    token = await api.login("a_operator")
    org = gid("Organization", world.orgs["a1"])
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "q"}
    await client.post("/graphql", json={"query": "{ viewer { username } }"}, headers=headers)
    await client.post("/graphql", json={"query": "mutation { nothing }"}, headers=headers)  # invalid: refused
    await client.post("/graphql", json={"query": CREATE, "variables": {"o": org}}, headers=headers)  # $name missing
    anonymous = await client.post("/graphql", json={"query": CREATE, "variables": {"o": org, "name": "x", "id": "1"}},
                                  headers={"Idempotency-Key": "q"})
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    async with engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(models.IdempotencyKey))).scalar_one() == 0
    # The key is still free for the real request.
    response = await send(client, token, "幂等五", org, "q")
    assert response.json()["data"]["createMember"]["member"]
