"""Sign-in throttled per client address as well as per account (issue 12), with the state in the
database: two app instances over one database (two worker processes) count against the same
allowance; concurrent attempts never exceed it; a right password gives its attempt back; a
window that ran out starts again. And 200 concurrent wrong sign-ins leave the server answering.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import select, update

from db import models
from db.engine import make_sessionmaker
from gql.app import create_app
from gql.resolvers import mutations
from gql.settings import Settings
from tests.conftest import error_codes
from tests.factories import PASSWORD

LIMIT = 5
LOGIN = ("mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) "
         "{ token userErrors { code message } } }")


@pytest.fixture(autouse=True)
def quick_refusals(monkeypatch):
    monkeypatch.setattr(mutations, "THROTTLED_DELAY", 0.01)


@pytest.fixture
async def from_address(engine):
    """An HTTP client of a fresh app instance (a worker process of its own) seen from `address`."""
    clients = []

    async def make(address: str, limit: int = LIMIT):
        app = create_app(engine, replace(Settings(password_profile="cheapest"), sign_in_per_address=limit))
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                                 base_url="http://test")
        clients.append(http)
        return http

    yield make
    for http in clients:
        await http.aclose()


async def sign_in(http, username: str, password: str) -> dict:
    response = await http.post("/graphql", json={"query": LOGIN, "variables": {"u": username, "p": password}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert error_codes(body) == [], body
    return body["data"]["login"]


def code_of(payload: dict) -> str | None:
    return payload["userErrors"][0]["code"] if payload["userErrors"] else None


async def attempts(engine, address: str) -> int | None:
    async with make_sessionmaker(engine)() as session:
        return (await session.execute(select(models.SignInThrottle.attempts)
                                      .where(models.SignInThrottle.address == address))).scalar_one_or_none()


async def test_an_address_is_throttled_across_workers_and_others_are_not(from_address, world, engine):
    worker1, worker2 = await from_address("10.0.0.1"), await from_address("10.0.0.1")
    for n in range(3):
        assert code_of(await sign_in(worker1, f"nobody{n}", "Wrong0password1")) == "INVALID"
    for n in range(2):
        assert code_of(await sign_in(worker2, f"nobody{n}", "Wrong0password1")) == "INVALID"
    assert await attempts(engine, "10.0.0.1") == LIMIT
    # The allowance is used, in both workers: even the right password is not checked.
    for worker in (worker1, worker2):
        payload = await sign_in(worker, "a_admin", PASSWORD)
        assert payload["token"] is None and code_of(payload) == "NOT_ALLOWED"
    assert await attempts(engine, "10.0.0.1") == LIMIT
    # Another address signs in to the same account (no account was touched by the above).
    elsewhere = await from_address("10.0.0.2")
    assert (await sign_in(elsewhere, "a_admin", PASSWORD))["token"]
    # The window runs out: the address starts again.
    async with engine.begin() as connection:
        await connection.execute(update(models.SignInThrottle).where(models.SignInThrottle.address == "10.0.0.1")
                                 .values(window_start=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=16)))
    # (worker1 and worker2 remember the address as exhausted until the window's end, a worker
    # that has not seen it reads the database.)
    worker3 = await from_address("10.0.0.1")
    assert (await sign_in(worker3, "a_admin", PASSWORD))["token"]


async def test_a_refusal_waits_and_reads_nothing_once_known(from_address, world, engine, monkeypatch):
    """A refused attempt is answered after THROTTLED_DELAY (a closed-loop flood is paced, at no
    cost to the server), and a worker that saw the address exhausted refuses it without a read."""
    monkeypatch.setattr(mutations, "THROTTLED_DELAY", 0.3)
    http = await from_address("10.0.0.9", 1)
    assert code_of(await sign_in(http, "nobody", "Wrong0password1")) == "INVALID"
    started = time.perf_counter()
    assert code_of(await sign_in(http, "a_admin", PASSWORD)) == "NOT_ALLOWED"
    assert time.perf_counter() - started >= 0.3
    async with engine.begin() as connection:  # the database would allow it now; this worker knows better
        await connection.execute(update(models.SignInThrottle).values(attempts=0))
    assert code_of(await sign_in(http, "a_admin", PASSWORD)) == "NOT_ALLOWED"


async def test_a_right_password_gives_its_attempt_back(from_address, world, engine):
    http = await from_address("10.0.0.3")
    for n in range(LIMIT - 1):
        assert code_of(await sign_in(http, f"nobody{n}", "Wrong0password1")) == "INVALID"
    assert (await sign_in(http, "a_admin", PASSWORD))["token"]
    assert await attempts(engine, "10.0.0.3") == LIMIT - 1
    assert code_of(await sign_in(http, "nobody", "Wrong0password1")) == "INVALID"
    assert code_of(await sign_in(http, "a_admin", PASSWORD)) == "NOT_ALLOWED"


async def test_concurrent_attempts_never_exceed_the_allowance(from_address, world, engine):
    workers = [await from_address("10.0.0.4") for _ in range(2)]
    payloads = await asyncio.gather(*(sign_in(workers[n % 2], f"nobody{n}", "Wrong0password1") for n in range(30)))
    codes = [code_of(p) for p in payloads]
    assert codes.count("INVALID") == LIMIT and codes.count("NOT_ALLOWED") == 30 - LIMIT, codes
    assert await attempts(engine, "10.0.0.4") == LIMIT


async def test_200_concurrent_wrong_sign_ins_leave_the_server_answering(from_address, world, engine):
    """200 wrong sign-ins at once from 20 addresses (the per-address allowance at its default
    of 30) to known and unknown usernames: every one is answered (no error, no 5xx), and a
    query sent in the middle of them is answered too. Figures printed (`-s`)."""
    default = Settings().sign_in_per_address
    clients = [await from_address(f"10.1.0.{n}", default) for n in range(20)]
    probe = await from_address("10.2.0.1", default)
    usernames = ("a_viewer", "b_viewer", "a_admin", "nobody")

    async def wrong(n: int):
        started = time.perf_counter()
        response = await clients[n % 20].post("/graphql", json={"query": LOGIN, "variables": {
            "u": usernames[n % 4] + ("" if n % 4 < 3 else str(n)), "p": "Wrong0password1"}})
        return response, time.perf_counter() - started

    started = time.perf_counter()
    flood = [asyncio.create_task(wrong(n)) for n in range(200)]
    await asyncio.sleep(0.05)
    probe_started = time.perf_counter()
    answer = await probe.post("/graphql", json={"query": "{ codes(table: DEGREE) { code } }"})
    probe_seconds = time.perf_counter() - probe_started
    results = await asyncio.gather(*flood)
    total = time.perf_counter() - started
    assert answer.status_code == 200 and answer.json()["data"]["codes"]
    for response, _ in results:
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        assert body["data"]["login"]["token"] is None
    latencies = sorted(seconds for _, seconds in results)
    print(f"\n200 concurrent wrong sign-ins ({engine.dialect.name}, cheapest argon2): all answered in {total:.2f} s, "
          f"p50 {latencies[100] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; a query during them "
          f"{probe_seconds * 1000:.0f} ms")
    # The server still signs in (another address, a right password).
    assert (await sign_in(probe, "a_operator", PASSWORD))["token"]
