"""Benchmark: the roster export's peak memory (issue 10: under 200 MB whatever the row count).

    .venv/bin/python -m bench.exports [--engine postgresql|sqlite] [--orgs 50000] [--members 1000000]
                                      [--kinds csv xlsx]

Uses the dashboard benchmark's demo data (bench/dashboard.py: PostgreSQL schema bench_dash, SQLite
var/bench/dashboard-*.db; generated once when missing) and its root ADMIN. The server runs in a
process of its own (uvicorn, one worker, the response cache off); this process downloads
GET /export/members.{csv,xlsx} over HTTP, first a small organization's roster (the baseline),
then the whole tree (SUBTREE of the root: every member), and reads the server's resident set from
/proc: VmRSS sampled every 0.2 s while the download runs and VmHWM (the kernel's peak) after it.
It prints rows, seconds, rows/s, bytes and the peaks. The row count of each file is checked
against memberCount (CSV: lines; XLSX: the rows of the sheet, counted by the import's reader).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time

import httpx

from bench.dashboard import ADMIN, PASSWORD, open_engine, prepare


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, MB."""
    found = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                found[key] = int(value.split()[0]) / 1024
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def serve(engine_name: str, orgs: int, members: int, port: int) -> None:
    import uvicorn

    from gql.app import create_app
    from gql.settings import Settings

    engine, _where = await open_engine(engine_name, orgs, members)
    app = create_app(engine, Settings(password_profile="cheapest", response_cache_entries=0))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    await server.serve()


async def download(http: httpx.AsyncClient, pid: int, path: str, params: dict, headers: dict) -> dict:
    peak = 0.0
    done = asyncio.Event()

    async def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, memory(pid)["VmRSS"])
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    size = 0
    with tempfile.NamedTemporaryFile(suffix=os.path.splitext(path)[1]) as out:
        async with http.stream("GET", path, params=params, headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                out.write(chunk)
        elapsed = time.perf_counter() - started
        done.set()
        await sampler
        out.flush()
        rows = count_rows(out.name, path.endswith(".csv"))
    return {"seconds": elapsed, "bytes": size, "rows": rows, "rss_peak": peak, **memory(pid)}


def count_rows(name: str, is_csv: bool) -> int:
    if is_csv:
        with open(name, "rb") as f:
            return sum(1 for _ in f) - 1
    from db.services.sheets import read_table

    with open(name, "rb") as f:
        table = read_table(f.read(), 10 ** 9)
    return sum(1 for _ in table.rows)


async def run(engine_name: str, orgs: int, members: int, kinds: list[str]) -> None:
    engine, where = await open_engine(engine_name, orgs, members)
    try:
        await prepare(engine, orgs, members)
    finally:
        await engine.dispose()
    port = free_port()
    child = subprocess.Popen([sys.executable, "-m", "bench.exports", "--serve", "--engine", engine_name,
                              "--orgs", str(orgs), "--members", str(members), "--port", str(port)])
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=None) as http:
            for _ in range(300):
                try:
                    await http.get("/")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
            login = await http.post("/graphql", json={"query": """mutation($u: String!, $p: String!) {
                login(input: {username: $u, password: $p}) { token } }""", "variables": {"u": ADMIN, "p": PASSWORD}})
            headers = {"Authorization": f"Bearer {login.json()['data']['login']['token']}"}
            total = (await http.post("/graphql", headers=headers, json={
                "query": "{ viewer { organization { id memberCount(filter: {scope: SUBTREE}) } } }"})).json()
            root = total["data"]["viewer"]["organization"]
            print(f"{engine_name} ({where}): {root['memberCount']:,} members under the root; "
                  f"server at start {memory(child.pid)}")
            for kind in kinds:
                small = await download(http, child.pid, f"/export/members.{kind}", {"scope": "SELF"}, headers)
                print(f"  {kind} the root's own members (baseline): {small['rows']} rows, "
                      f"RSS {small['VmRSS']:.0f} MB, peak so far {small['VmHWM']:.0f} MB")
                full = await download(http, child.pid, f"/export/members.{kind}", {"scope": "SUBTREE"}, headers)
                assert full["rows"] == root["memberCount"], (full["rows"], root["memberCount"])
                print(f"  {kind} the whole tree: {full['rows']:,} rows in {full['seconds']:.1f} s "
                      f"({full['rows'] / full['seconds']:,.0f} rows/s, {full['bytes'] / 1e6:.0f} MB); server RSS "
                      f"peak during it {full['rss_peak']:.0f} MB, VmHWM {full['VmHWM']:.0f} MB, after {full['VmRSS']:.0f} MB")
    finally:
        child.terminate()
        child.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.exports")
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--orgs", type=int, default=50_000)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--kinds", nargs="*", choices=["csv", "xlsx"], default=["csv", "xlsx"])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.engine, args.orgs, args.members, args.port))
        return
    print(f"load average {open('/proc/loadavg').read().split()[:3]}")
    asyncio.run(run(args.engine, args.orgs, args.members, args.kinds))


if __name__ == "__main__":
    main()
