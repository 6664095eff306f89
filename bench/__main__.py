"""`python -m bench` (and `make bench`): the benchmarks.

    .venv/bin/python -m bench [compare] [--orgs 50000 --members 1000000 ...]   # the default
    .venv/bin/python -m bench all [--engine sqlite|postgresql|both] [--only NAME ...]
    .venv/bin/python -m bench --list

`compare` (the default, bench/compare.py) serves the product, PostGraphile v4 and bare SQL over the
same demo data and prints req/s, p50, p99 and the ratios dangjian ÷ PostGraphile from one run
(`python -m bench compare --help` lists its flags; a quick run: `--orgs 5000 --members 100000`).

`all` runs every other benchmark module (each has its own `main()` and flags: run one alone with
`python -m bench.NAME --help`), each in a subprocess of its own, so one benchmark's engine, caches
and event loop never warm up the next. PostgreSQL runs only when a server answers at
127.0.0.1:5432 (the local `test` database). `--only`/`--engine` without a command mean `all`.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import subprocess
import sys

# name → what it measures
BENCHMARKS = {
    "compare": "dangjian vs PostGraphile v4 vs bare SQL: W1, W2, W1-root at 16 and 1 connections (the default); "
               "W3/W4 cross-tabs at 100 to 1m members with --workloads W3-100 ... W4-1m",
    "dashboard": "dashboard reads over 50,000 organizations and 1,000,000 members",
    "move_organization": "moving an organization with 10,000 descendants and 200,000 members",
    "sign_in_flood": "an operator's write latency with and without a flood of wrong-password sign-ins",
    "count_writes": "8 concurrent member writers in different branches: subtree-count designs, and the data-version marks on or off",
    "member_records": "批量录入: one addMemberRecords call for 1,000 members through the GraphQL endpoint",
    "audit_cost": "the audit trail's cost per write: updateMember and addMemberRecords with the trail on and off",
    "registration": "实名注册: registerMember's time for an unknown ID number, a wrong name or phone, a locked number",
    "representatives": "a representative summary (党代表 representatives(query:)) over a branch of 100,000 members",
    "imports": "POST /import/members of 100,000 rows (CSV and XLSX): rows/s of a dry run and of the import",
    "exports": "the roster export of 1,000,000 members (CSV and XLSX): the server's peak memory",
    "transfer_sight": "a page of 50 transfers with and without the letter reach's member_in_sight column (SQLite)",
    "statistics": "crossTab as of a past date vs today (W3, W4 at 100 to 1m members) and a year's memberBalance over 1m members",
}
# Run by `all`: one engine at a time (compare runs its own contenders on both engines).
PER_ENGINE = [name for name in BENCHMARKS if name != "compare"]


def available() -> list[str]:
    return [name for name in BENCHMARKS if importlib.util.find_spec(f"bench.{name}") is not None]


def postgres_answers() -> bool:
    async def probe() -> bool:
        try:
            import asyncpg

            connection = await asyncio.wait_for(asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test"), 3)
            await connection.close()
            return True
        except Exception:
            return False

    return asyncio.run(probe())


def run_all(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench all")
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--only", nargs="*", default=[], help="benchmark names (default: all but compare)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    names = available()
    if args.list:
        for name in names:
            print(f"{name:20} {BENCHMARKS[name]}")
        return 0
    unknown = sorted(set(args.only) - set(names))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; --list shows them")
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    if "postgresql" in engines and not postgres_answers():
        print("PostgreSQL does not answer at 127.0.0.1:5432: SQLite only", flush=True)
        engines.remove("postgresql")
    failed = 0
    for name in args.only or [n for n in names if n in PER_ENGINE]:
        if name == "compare":
            print("\n== bench.compare", flush=True)
            failed += subprocess.call([sys.executable, "-m", "bench.compare"]) != 0
            continue
        for engine in engines:
            print(f"\n== bench.{name} --engine {engine}", flush=True)
            failed += subprocess.call([sys.executable, "-m", f"bench.{name}", "--engine", engine]) != 0
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["all"]:
        return run_all(argv[1:])
    if any(a in ("--list", "--only", "--engine") or a.startswith(("--only=", "--engine=")) for a in argv):
        return run_all(argv)
    if argv[:1] == ["compare"]:
        argv = argv[1:]
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
    from bench import compare

    return compare.main(argv)


if __name__ == "__main__":
    sys.exit(main())
