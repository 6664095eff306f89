"""Benchmark: 批量导入, POST /import/members of 100,000 rows (issue 10 asks for < 1 minute, ≥ 2,000 rows/s).

    .venv/bin/python -m bench.imports [--engine sqlite|postgresql] [--rows 100000] [--formats csv xlsx]

Each format gets a fresh database (SQLite var/bench/imports.db, PostgreSQL the schema bench_imports of
the local `test` database, dropped and made again) with a root, one empty branch and an OPERATOR
of it, and a generated roster in the export's own columns (valid ID numbers, every category,
codes as labels, dates as dates in XLSX and text in CSV). The file goes through the app in this
process (httpx over ASGI: the multipart upload, the parse, createMember's validation of every
row, the duplicate check against the database, the batched inserts with their rollups), first
as a dry run, then for real. It prints the seconds and rows/s of each (wall clock, and the CPU
seconds of this process, which runs both the client and the app: the comparable figure on a
shared machine), the process's peak RSS, then checks memberCount and the database's invariants.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import io
import random
import resource
import time

import httpx
from sqlalchemy import text

from bench.data import POSTGRES
from db import codes, idnumber, models
from db.branch import SYSTEM_ACTOR
from db.engine import PROJECT_ROOT, make_engine, make_sessionmaker
from db.services import accounts, organizations
from db.services.sheets import XlsxRows
from db.tree import invariant_violations
from gql.app import create_app
from gql.auth.passwords import CHEAPEST, Argon2Hasher
from gql.ids import to_global_id
from gql.settings import Settings

USERNAME, PASSWORD = "bench_import_operator", "BenchImport2026"
HEADER = ["姓名", "性别", "身份证号码", "出生日期", "民族", "学历", "工作岗位", "联系电话", "人员类别", "管理关系",
          "申请入党日期", "确定积极分子日期", "确定发展对象日期", "入党日期", "转正日期", "所在党组织"]


def roster(n: int, seed: int = 10) -> list[list]:
    rng = random.Random(seed)
    today = dt.date.today()
    educations = [label for _, label in codes.entries("education")][:8]
    positions = [label for _, label in codes.entries("job_position")][:5]
    rows = []
    for i in range(n):
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=(i // 1000) * 7)  # (birth, sequence) is unique
        number = idnumber.make("430102", birth, i % 1000)
        applied = birth.replace(year=birth.year + 20)
        category = ("FULL", "FULL", "FULL", "PROBATIONARY", "APPLICANT", "ACTIVIST")[i % 6]
        activist = applied + dt.timedelta(days=200) if category != "APPLICANT" else None
        candidate = applied + dt.timedelta(days=400) if category in ("FULL", "PROBATIONARY") else None
        joined = applied + dt.timedelta(days=700) if category in ("FULL", "PROBATIONARY") else None
        if category == "PROBATIONARY":
            joined = today - dt.timedelta(days=100)
            candidate = joined - dt.timedelta(days=100)
        confirmed = joined + dt.timedelta(days=400) if category == "FULL" else None
        label = {"FULL": "正式党员", "PROBATIONARY": "预备党员", "APPLICANT": "入党申请人", "ACTIVIST": "入党积极分子"}
        rows.append([f"导入党员{i}", "", number, birth, "汉族", rng.choice(educations), rng.choice(positions),
                     f"138{i:08d}", label[category], "直管" if i % 5 else "流入", applied, activist, candidate,
                     joined, confirmed, "某支部"])
    return rows


def as_csv(rows: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow(["" if v is None else v.isoformat() if isinstance(v, dt.date) else v for v in row])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode()


def as_xlsx(rows: list[list]) -> bytes:
    book = XlsxRows("党员名册")
    try:
        book.append([HEADER])
        book.append(rows)
        with open(book.finish(), "rb") as f:
            return f.read()
    finally:
        book.close()


async def fresh_database(engine_name: str):
    if engine_name == "sqlite":
        path = PROJECT_ROOT / "var" / "bench" / "imports.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            (path.parent / (path.name + suffix)).unlink(missing_ok=True)
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
    else:
        admin = make_engine(POSTGRES)
        async with admin.begin() as connection:
            await connection.execute(text('DROP SCHEMA IF EXISTS "bench_imports" CASCADE'))
            await connection.execute(text('CREATE SCHEMA "bench_imports"'))
        await admin.dispose()
        engine = make_engine(POSTGRES, connect_args={"server_settings": {"search_path": "bench_imports"}})
    async with engine.begin() as connection:
        await connection.run_sync(models.Base.metadata.create_all)
    async with make_sessionmaker(engine)() as session, session.begin():
        root = await organizations.create_root(session, name="中共基准市委员会", code="001",
                                               established_on=dt.date(1990, 1, 1))
        branch = await organizations.create(session, SYSTEM_ACTOR, parent_id=root.id, name="中共基准市导入支部委员会",
                                            type="BRANCH", code_suffix="001", established_on=dt.date(2000, 1, 1))
        await accounts.create(session, SYSTEM_ACTOR, Argon2Hasher(CHEAPEST), organization_id=branch.id,
                              username=USERNAME, password=PASSWORD, name="基准测试", role="OPERATOR")
    return engine, branch.id


async def run(engine_name: str, n: int, formats: list[str]) -> None:
    print(f"generating {n} rows ...")
    rows = roster(n)
    files = {"csv": as_csv, "xlsx": as_xlsx}
    for kind in formats:
        content = files[kind](rows)
        engine, branch_id = await fresh_database(engine_name)
        try:
            settings = Settings(password_profile="cheapest", response_cache_entries=0)
            app = create_app(engine, settings)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench",
                                         timeout=600) as http:
                login = await http.post("/graphql", json={"query": """mutation($u: String!, $p: String!) {
                    login(input: {username: $u, password: $p}) { token } }""", "variables": {"u": USERNAME,
                                                                                         "p": PASSWORD}})
                headers = {"Authorization": f"Bearer {login.json()['data']['login']['token']}"}
                organization = to_global_id("Organization", branch_id)
                for dry in (True, False):
                    started, cpu = time.perf_counter(), time.process_time()
                    response = await http.post("/import/members", headers=headers,
                                               files={"file": (f"roster.{kind}", content)},
                                               data={"organizationId": organization, "dryRun": str(dry).lower()})
                    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                    body = response.json()
                    assert response.status_code == 200 and body["imported"] == n, (response.status_code,
                                                                                    body.get("errors", [])[:3])
                    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                    print(f"{engine_name} {kind} ({len(content) / 1e6:.1f} MB) {'dry run' if dry else 'import '}: "
                          f"{n} rows in {elapsed:.1f} s = {n / elapsed:,.0f} rows/s (CPU of this process {cpu:.1f} s "
                          f"= {n / cpu:,.0f} rows/s; peak RSS so far {peak:.0f} MB)")
                count = await http.post("/graphql", headers=headers, json={
                    "query": "query($o: ID!) { organization(id: $o) { memberCount } }", "variables": {"o": organization}})
                print(f"  memberCount {count.json()['data']['organization']['memberCount']}")
            async with make_sessionmaker(engine)() as session:
                print(f"  invariant violations: {await invariant_violations(session)}")
        finally:
            await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.imports")
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--formats", nargs="*", choices=["csv", "xlsx"], default=["csv", "xlsx"])
    args = parser.parse_args()
    print(f"load average {open('/proc/loadavg').read().split()[:3]}")
    asyncio.run(run(args.engine, args.rows, args.formats))


if __name__ == "__main__":
    main()
