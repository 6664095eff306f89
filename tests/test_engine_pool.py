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
    # Six worker processes: what the budget allows, no overflow left.
    (["dangjian", "dangjian-w2", "dangjian-warm", "dangjian-w2-warm", "postgraphile", "sql"], (10, 0)),
])
def test_the_benchmark_shares_the_servers_connections(contenders, expected):
    pool, overflow = pool_sizes(contenders, 16, max_connections=100, reserved=3)
    assert (pool, overflow) == expected
    processes = sum({"dangjian": 1, "dangjian-w2": 2, "dangjian-warm": 1, "dangjian-w2-warm": 2}.get(c, 0)
                    for c in contenders)
    assert processes * (pool + overflow) + 10 + 16 + MARGIN + 3 <= 100


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
