"""Pagination cursors: opaque, short, versioned, sealed under the server's key (db.pagination).

They carry no personal data (a member's birth date or name, an organization's tree path), a
forged, truncated, re-versioned or other-list cursor is BAD_USER_INPUT (never a 500), and a cursor
keeps working in another process of the same deployment (the key is shared through the database,
or DANGJIAN_SECRET_KEY)."""
from __future__ import annotations

import base64
import json

import httpx
import pytest
from sqlalchemy import func, select

from db import models, secrets
from db.engine import make_sessionmaker
from gql.app import create_app
from tests.conftest import Api, error_codes, gid

MEMBERS = """query($id: ID!, $after: String, $order: MemberOrder) { organization(id: $id) {
    members(first: 1, after: $after, orderBy: $order) {
      totalCount pageInfo { hasNextPage endCursor } edges { cursor node { name birthDate } } } } }"""
DESCENDANTS = """query($after: String) { organization(code: "001") {
    descendants(first: 2, after: $after) { pageInfo { endCursor } edges { cursor node { code } } } } }"""
RECORDS = """query($id: ID!, $after: String) { organization(id: $id) { orgRecords(first: 1, after: $after) {
    edges { cursor } } } }"""
ACCOUNTS = """query($after: String) { accounts(first: 2, after: $after) { edges { cursor node { username } } } }"""
BIRTH_DATE = {"field": "BIRTH_DATE"}


def raw(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


async def first_page(api, username, world, order=None, after=None):
    result = await api.as_(username, MEMBERS, {"id": gid("Organization", world.orgs["a1"]), "order": order,
                                               "after": after})
    assert "errors" not in result, result
    return result["data"]["organization"]["members"]


@pytest.fixture(autouse=True)
def fresh_keys(monkeypatch):
    monkeypatch.delenv(secrets.ENVIRONMENT, raising=False)
    secrets.forget_keys()
    yield
    secrets.forget_keys()


async def test_cursors_carry_no_personal_data(api, world):
    page = await first_page(api, "a1_viewer", world, BIRTH_DATE)
    member = next(m for m in world.members.values() if m.name == page["edges"][0]["node"]["name"])
    cursor = page["edges"][0]["cursor"]
    data = raw(cursor)
    assert data[0] == 2, "versioned: the first byte is the format version"
    assert len(cursor) <= 48, cursor
    for secret in (member.birth_date.isoformat(), member.birth_date.isoformat().replace("-", ""), member.name,
                   str(member.birth_date.toordinal())):
        assert secret.encode() not in data and secret not in cursor
    with pytest.raises(ValueError):
        json.loads(data)
    # Organization cursors hold the tree path in plain form no more.
    result = await api.as_("root_admin", DESCENDANTS)
    paths = {o.code: o.path for o in world.orgs.values()}
    for edge in result["data"]["organization"]["descendants"]["edges"]:
        path = paths[edge["node"]["code"]]
        assert path.encode() not in raw(edge["cursor"]) and path.strip("/").encode() not in raw(edge["cursor"]), edge


async def test_forged_cursors_are_bad_user_input(api, world, engine):
    async with make_sessionmaker(engine)() as session, session.begin():
        from db.branch import SYSTEM_ACTOR
        from db.services import org_records
        import datetime as dt
        for title in ("一", "二"):
            await org_records.add(session, SYSTEM_ACTOR, world.orgs["a1"].id, "MEETING", title, dt.date(2023, 1, 1), None)
    page = await first_page(api, "a1_viewer", world, BIRTH_DATE)
    good = page["pageInfo"]["endCursor"]
    other_ordering = (await first_page(api, "a1_viewer", world, {"field": "NAME"}))["pageInfo"]["endCursor"]
    data = raw(good)

    def b64(payload: bytes) -> str:
        return base64.urlsafe_b64encode(payload).decode().rstrip("=")

    forged = {
        "truncated": good[:-4],
        "bit flipped": b64(data[:-1] + bytes([data[-1] ^ 1])),
        "re-versioned 1": b64(bytes([1]) + data[1:]),
        "re-versioned 3": b64(bytes([3]) + data[1:]),
        "other ordering": other_ordering,
        "old JSON format": b64(json.dumps([1, {"d": "1980-05-05"}, 1]).encode()),
        "5,000 nested [": b64(b"[" * 5000),
        "padded": good + "=" * (4 - len(good) % 4 if len(good) % 4 else 4),
        "standard alphabet": good.replace("-", "+").replace("_", "/") if ("-" in good or "_" in good) else good + "+",
        "not base64": "!!!!",
        "empty": "",
        "huge": "A" * 5000,
        "version only": b64(bytes([2])),
        "random": b64(bytes(range(40))),
    }
    for why, cursor in forged.items():
        result = await api.as_("a1_viewer", MEMBERS, {"id": gid("Organization", world.orgs["a1"]),
                                                      "order": BIRTH_DATE, "after": cursor})
        assert error_codes(result) == ["BAD_USER_INPUT"], (why, result)
    # A cursor of one list is refused by a list of another kind, and never crashes it.
    for query, variables in ((DESCENDANTS, {}), (RECORDS, {"id": gid("Organization", world.orgs["a1"])}),
                             (ACCOUNTS, {})):
        for cursor in (good, forged["5,000 nested ["], forged["truncated"]):
            result = await api.as_("root_admin", query, {**variables, "after": cursor})
            assert error_codes(result) == ["BAD_USER_INPUT"], (query, result)
    # The real cursor still works.
    following = await first_page(api, "a1_viewer", world, BIRTH_DATE, after=good)
    assert following["edges"] and following["edges"][0]["node"]["name"] != page["edges"][0]["node"]["name"]


async def test_cursors_work_across_processes_through_the_stored_key(api, world, engine, settings):
    page = await first_page(api, "a1_viewer", world, BIRTH_DATE)
    async with make_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(models.ServerSecret)) == 1
    # Another worker process: no key in memory, a new app on the same database.
    secrets.forget_keys()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(engine, settings)),
                                 base_url="http://test") as http:
        other = Api(http)
        again = await first_page(other, "a1_viewer", world, BIRTH_DATE)
        assert again["edges"][0]["cursor"] == page["edges"][0]["cursor"]
        following = await first_page(other, "a1_viewer", world, BIRTH_DATE, after=page["pageInfo"]["endCursor"])
        assert [e["node"]["name"] for e in following["edges"]] != [e["node"]["name"] for e in page["edges"]]
        assert following["pageInfo"]["hasNextPage"] is False
    async with make_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(models.ServerSecret)) == 1


async def test_the_configured_secret_keys_the_cursors(api, world, engine, settings, monkeypatch):
    monkeypatch.setenv(secrets.ENVIRONMENT, "x" * 40)
    page = await first_page(api, "a1_viewer", world, BIRTH_DATE)
    async with make_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(models.ServerSecret)) == 0
    cursor = page["pageInfo"]["endCursor"]
    assert (await first_page(api, "a1_viewer", world, BIRTH_DATE, after=cursor))["edges"]
    # Another deployment secret: the cursor is somebody else's, refused cleanly.
    monkeypatch.setenv(secrets.ENVIRONMENT, "y" * 40)
    secrets.forget_keys()
    result = await api.as_("a1_viewer", MEMBERS, {"id": gid("Organization", world.orgs["a1"]), "order": BIRTH_DATE,
                                                  "after": cursor})
    assert error_codes(result) == ["BAD_USER_INPUT"], result
    monkeypatch.setenv(secrets.ENVIRONMENT, "short")
    with pytest.raises(ValueError):
        create_app(engine, settings)
