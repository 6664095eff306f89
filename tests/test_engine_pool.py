"""The PostgreSQL pool's sizes (db.engine) and the benchmark's share of the server's connections.

Why: a worker whose pool is smaller than the requests it has in flight closes an overflow
connection at nearly every check-in and opens another for the next request. bench/compare.py gave
each worker 8 connections, and a cached W3-100 worker at 16 connections spent 16% of its samples
in asyncpg's connect (py-spy); sized from the budget, the same worker answered 2,052 req/s
against 854. The overflow is now its own setting, so that a benchmark (or a deployment with many
workers) can keep the pool as large as the load without doubling its worst case."""
from __future__ import annotations

import pytest

from bench.compare import pool_sizes
from db import engine as engine_module


def test_the_overflow_is_its_own_setting(monkeypatch):
    monkeypatch.setattr(engine_module, "POOL_SIZE", 12)
    monkeypatch.setattr(engine_module, "MAX_OVERFLOW", 3)
    made = engine_module.make_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        assert made.sync_engine.pool.size() == 12
        assert made.sync_engine.pool._max_overflow == 3
    finally:
        made.sync_engine.dispose()


MARGIN = 8  # bench.compare.BENCH_OWN_CONNECTIONS


@pytest.mark.parametrize("contenders, expected", [
    # One worker beside PostGraphile and bare SQL: the pool as large as the load.
    (["dangjian", "postgraphile", "sql"], (16, 16)),
    (["dangjian", "dangjian-warm", "postgraphile", "sql"], (16, 15)),
    # PostGraphile signed in beside it: a second node process with its own pool of 10.
    (["dangjian", "dangjian-warm", "postgraphile", "postgraphile-signed", "sql"], (16, 10)),
    # Six worker processes: what the budget allows, no overflow left.
    (["dangjian", "dangjian-w2", "dangjian-warm", "dangjian-w2-warm", "postgraphile", "sql"], (10, 0)),
])
def test_the_benchmark_shares_the_servers_connections(contenders, expected):
    pool, overflow = pool_sizes(contenders, 16, max_connections=100, reserved=3)
    assert (pool, overflow) == expected
    processes = sum({"dangjian": 1, "dangjian-w2": 2, "dangjian-warm": 1, "dangjian-w2-warm": 2}.get(c, 0)
                    for c in contenders)
    postgraphiles = sum(c.startswith("postgraphile") for c in contenders)
    assert processes * (pool + overflow) + 10 * postgraphiles + 16 + MARGIN + 3 <= 100


def test_the_signed_in_postgraphile_gets_a_token_it_verifies():
    """bench.compare.jwt_for: HS256 over the header and claims as PostGraphile's jwtSecret checks
    them (audience "postgraphile"), with the caller's branch as the claim its functions read."""
    import base64
    import hashlib
    import hmac
    import json
    import time

    from bench.compare import jwt_for

    token = jwt_for("s3cret", "/1/")
    head, claims, signature = token.split(".")

    def decoded(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    assert json.loads(decoded(head)) == {"alg": "HS256", "typ": "JWT"}
    body = json.loads(decoded(claims))
    assert body["aud"] == "postgraphile" and body["branch"] == "/1/" and body["exp"] > time.time()
    assert decoded(signature) == hmac.new(b"s3cret", f"{head}.{claims}".encode(), hashlib.sha256).digest()


def test_a_baseline_checkout_is_counted_with_its_own_overflow():
    # dangjian-base may run code that opens as many again as its pool: it counts twice.
    pool, overflow = pool_sizes(["dangjian", "dangjian-base", "postgraphile", "sql"], 16, 100, 3)
    assert (pool + overflow) + 2 * pool + 10 + 16 + MARGIN + 3 <= 100


def test_no_product_worker_no_pool():
    assert pool_sizes(["postgraphile", "sql", "dangjian-sqlite"], 16, 100, 3) is None


@pytest.mark.parametrize("contenders, connections", [
    # Six product workers and a bare-SQL pool of 80: not 2 connections each left.
    (["dangjian", "dangjian-w2", "dangjian-warm", "dangjian-w2-warm", "postgraphile", "sql"], 80),
    # The bare-SQL pool alone above the server's connections.
    (["sql"], 96),
])
def test_a_budget_too_small_stops_the_run(contenders, connections):
    with pytest.raises(SystemExit, match="max_connections"):
        pool_sizes(contenders, connections, 100, 3)


def test_the_cpu_split_counts_a_server_tree_postgres_and_new_backends():
    from bench.compare import cpu_split

    before = {10: ("python", 1, 5.0), 11: ("python", 10, 2.0), 20: ("postgres", 1, 1.0),
              21: ("postgres", 20, 3.0), 22: ("postgres", 20, 9.0), 30: ("node", 1, 7.0)}
    after = {10: ("python", 1, 6.0), 11: ("python", 10, 2.5), 12: ("python", 11, 0.5),  # a new grandchild
             20: ("postgres", 1, 1.0), 21: ("postgres", 20, 4.0),  # 22 ended: not counted
             23: ("postgres", 20, 0.5),  # a backend opened during the window counts whole
             30: ("node", 1, 9.0)}
    split = cpu_split(before, after, 10, client_seconds=0.1, requests=100)
    assert split == {"server": 20.0, "postgres": 15.0, "client": 1.0}  # ms per request
    assert cpu_split(before, after, None, 0.1, 100)["server"] is None
    assert cpu_split(before, after, 10, 0.1, 0) is None
    # A pid reused by another command between the readings counts whole, as a new process.
    assert cpu_split({10: ("wrk", 1, 4.0)}, {10: ("python", 1, 1.0)}, 10, 0, 1)["server"] == 1000.0
