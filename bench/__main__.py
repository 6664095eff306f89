"""`python -m bench` (and `make bench`): run the benchmarks, one after another, on both engines.

    .venv/bin/python -m bench [--engine sqlite|postgresql|both] [--only NAME ...] [--list]

Each benchmark is a module of this package with its own `main()` and flags (run one alone with
`python -m bench.NAME --help`); this entry point runs each in a subprocess of its own, so one
benchmark's engine, caches and event loop never warm up the next. PostgreSQL runs only when a
server answers at 127.0.0.1:5432 (the local `test` database).
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import subprocess
import sys

# name → what it measures
BENCHMARKS = {
    "dashboard": "dashboard reads over 50,000 organizations and 1,000,000 members",
    "move_organization": "moving an organization with 10,000 descendants and 200,000 members",
    "sign_in_flood": "an operator's write latency with and without a flood of wrong-password sign-ins",
}


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--only", nargs="*", default=[], help="benchmark names (default: all)")
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
    for name in args.only or names:
        for engine in engines:
            print(f"\n== bench.{name} --engine {engine}", flush=True)
            failed += subprocess.call([sys.executable, "-m", f"bench.{name}", "--engine", engine]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
