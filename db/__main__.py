"""Command line: python -m db migrate | bootstrap | demo | run-setup | check [--repair] | backup FILE |
snapshot [build DAY | drop DAY].

This is the composition root for the command line, so it may use gql.auth.passwords (hashing) the
way the web app does; the db services themselves import nothing from gql.
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sqlite3
import sys

from sqlalchemy import func, select

from db import clock, models
from db.branch import SYSTEM_ACTOR
from db.engine import analyze, database_url, make_engine, make_sessionmaker
from db.errors import DomainError
from db.migrate import upgrade

DEMO_PASSWORD = "Dangjian2024"
DEMO_ACCOUNTS = (  # username, role, which organization (depth in the demo tree), name
    ("admin", "ADMIN", 0, "系统管理员"),
    ("operator", "OPERATOR", 1, "经办人员"),
    ("viewer", "VIEWER", 1, "统计查看"),
)


def _hasher():
    from gql.auth.passwords import hasher_named

    return hasher_named(os.environ.get("DANGJIAN_PASSWORD_PROFILE", "production"))


async def _bootstrap(url: str, root_name: str, root_code: str, admin: str, password: str) -> int:
    from db.services import accounts, audit, organizations

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            audit.start(session)
            root = await organizations.create_root(session, name=root_name, code=root_code)
            await accounts.create(session, SYSTEM_ACTOR, _hasher(), organization_id=root.id, username=admin,
                                  password=password, name=admin, role="ADMIN")
            await audit.finish(session, actor=audit.CLI, action="bootstrap", result=root)
        print(f"已创建根党组织 {root_name}（{root_code}）和管理员账户 {admin}")
        return 0
    except DomainError as exc:
        for problem in exc.problems:
            print(f"错误：{problem.message}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()


async def _is_empty(url: str) -> bool:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(select(func.count()).select_from(models.Organization))).scalar_one() == 0
    finally:
        await engine.dispose()


async def _demo(url: str, orgs: int, members: int, seed: int, with_accounts: bool) -> None:
    from db import demo
    from db.services import accounts, audit

    engine = make_engine(url)
    try:
        summary = await demo.generate(engine, orgs=orgs, members=members, seed=seed)
        # The tree itself is loaded through raw connections (db.demo): one entry says what was loaded.
        async with make_sessionmaker(engine)() as session, session.begin():
            await audit.record(session, actor=audit.CLI, action="demo", target=("Organization", summary["root_id"]),
                               changes={"organizations": summary["organizations"], "members": summary["members"],
                                        "seed": seed})
        print(f"示例数据：{summary['organizations']} 个党组织，{summary['members']} 名党员")
        # The last two year ends kept, as a deployment keeps the annual report's days
        # (db.services.history, "snapshots"): past-date statistics of last year's end read its
        # rows, and last year's memberBalance the rows of both ends.
        import datetime as dt

        from db.services import history

        for year in (clock.today().year - 2, clock.today().year - 1):
            year_end = dt.date(year, 12, 31)
            async with make_sessionmaker(engine)() as session, session.begin():
                kept = await history.build_snapshot(session, year_end)
            print(f"已保留 {year_end} 的党员状态（{kept} 名此后有变动的党员；python -m db snapshot）")
        await history.settle_snapshots(engine)
        if not with_accounts:
            return
        hasher = _hasher()
        async with make_sessionmaker(engine)() as session, session.begin():
            audit.start(session)
            by_depth = {}
            for depth in (0, 1, 2):
                by_depth[depth] = (await session.execute(
                    select(models.Organization).where(models.Organization.depth == depth)
                    .order_by(models.Organization.code).limit(1))).scalar_one_or_none()
            for username, role, depth, name in DEMO_ACCOUNTS:
                organization = by_depth.get(depth) or by_depth[0]
                await accounts.create(session, SYSTEM_ACTOR, hasher, organization_id=organization.id,
                                      username=username, password=DEMO_PASSWORD, name=name, role=role)
            branch = (await session.execute(
                select(models.Organization).where(models.Organization.type == "BRANCH")
                .order_by(models.Organization.code).limit(1))).scalar_one()
            member = (await session.execute(
                select(models.Member).where(models.Member.organization_id == branch.id)
                .order_by(models.Member.id).limit(1))).scalar_one()
            await accounts.create(session, SYSTEM_ACTOR, hasher, organization_id=branch.id, username="member",
                                  password=DEMO_PASSWORD, name=member.name, role="MEMBER", member_id=member.id)
            await audit.finish(session, actor=audit.CLI, action="demoAccounts")
    finally:
        await engine.dispose()


async def _analyze(url: str) -> None:
    engine = make_engine(url)
    try:
        await analyze(engine)
    finally:
        await engine.dispose()


CHECK_LABELS = {
    "path": "路径（path）与上级不一致", "depth": "层级（depth）与上级不一致", "code": "编码（code）与上级不一致",
    "root": "根党组织的路径或层级错误", "member_count": "党员数汇总（direct_member_count）与党员记录不一致",
    "subtree_member_count": "下级党员数汇总（subtree_member_count 加待合并增量）与各组织党员数之和不一致",
    "completeness": "信息完整度（completeness）与党员记录不一致",
    "history": "党员的当前组织、类别或状态与其历史记录（组织关系、发展、党籍异动）今天的结果不一致",
    "last_fact": "党员的最近一次变动日期（last_fact_on）与其历史记录不一致",
    "snapshot": "保留日期的党员状态（member_state_snapshot）与其历史记录不一致",
    "periods": "党员的状态区间（member_state_period）与其历史记录不一致",
}


async def _snapshot(url: str, action: str | None, day) -> int:
    """Kept days (db.services.history, "snapshots"): list them, build (or rebuild) one, drop one."""
    from db.services import audit, history
    from db.session import begin_write

    engine = make_engine(url)
    try:
        if action in ("build", "drop"):
            if day is None:
                print("须给出日期，如 2025-12-31", file=sys.stderr)
                return 2
            if action == "build" and day >= clock.today():
                print("只能保留今天以前的日期", file=sys.stderr)
                return 1
            async with make_sessionmaker(engine)() as session:
                # BEGIN IMMEDIATE on SQLite; the kept days' lock exclusively on PostgreSQL.
                await begin_write(session, exclusive=True)
                audit.start(session)
                if action == "build":
                    rows = await history.build_snapshot(session, day)
                    print(f"已保留 {day} 的党员状态：{rows} 名此后有变动的党员")
                elif await history.drop_snapshot(session, day):
                    print(f"已不再保留 {day}")
                else:
                    print(f"{day} 本未保留")
                await audit.finish(session, actor=audit.CLI, action=f"snapshot-{action}",
                                   extra={"day": day.isoformat()})
                await session.commit()
            await history.settle_snapshots(engine)
            return 0
        async with make_sessionmaker(engine)() as session:
            kept = await history.kept_days(session)
        if not kept:
            print("没有保留日期（python -m db snapshot build 2025-12-31 保留年末）")
        for kept_day, rows in kept:
            print(f"{kept_day}  {rows} 行")
        return 0
    finally:
        await engine.dispose()


async def _check(url: str, repair: bool) -> int:
    """Every invariant of db.tree on a live database; exit 1 when anything is wrong (after a
    repair: when anything is still wrong)."""
    from db.services import audit
    from db.tree import REPAIRABLE, VIOLATION_TABLES, invariant_violations, repair_rollups, violation_samples

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            counts = await invariant_violations(session)
            samples = await violation_samples(session)
        for name, count in counts.items():
            if count:
                ids = ", ".join(map(str, samples[name])) + ("…" if count > len(samples[name]) else "")
                print(f"错误 {name}: {count} 行{CHECK_LABELS.get(name, '')}（{VIOLATION_TABLES[name]}.id: {ids}）")
            else:
                print(f"正常 {name}")
        if repair and any(counts[name] for name in REPAIRABLE):
            async with make_sessionmaker(engine)() as session, session.begin():
                audit.start(session)
                await repair_rollups(session)
                await audit.finish(session, actor=audit.CLI, action="repair",
                                   extra={"violations": {k: v for k, v in counts.items() if v}})
            async with make_sessionmaker(engine)() as session:
                counts = await invariant_violations(session)
            print("已重新计算党员数汇总和信息完整度（党员当前组织、类别和状态已按历史记录更正）；" + ("现已全部正常" if not any(counts.values()) else "仍有错误："))
            for name, count in counts.items():
                if count:
                    print(f"错误 {name}: {count} 行{CHECK_LABELS.get(name, '')}")
        wrong = [name for name, count in counts.items() if count]
        if wrong:
            print(f"检查未通过：{', '.join(wrong)}" + ("" if repair else "（--repair 按历史记录更正党员的当前组织、类别和状态，并重新计算 member_count、subtree_member_count 和 completeness）"),
                  file=sys.stderr)
            return 1
        print("检查通过：所有不变量成立")
        return 0
    finally:
        await engine.dispose()


def print_demo_sign_ins() -> None:
    print("\n示例账户（demo sign-ins; password / 密码: %s）:" % DEMO_PASSWORD)
    for username, role, _depth, name in DEMO_ACCOUNTS + (("member", "MEMBER", 3, "党员本人"),):
        print(f"  {username:<9} {role:<9} {name}")
    print("\nGraphiQL: http://%s:%s/graphql — sign in with the login mutation, then send the header"
          % (os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")))
    print('  {"Authorization": "Bearer <token>"} (GraphiQL fills it in by itself after a successful login)')
    print("Dashboard / 统计看板: http://%s:%s/dashboard\n" % (os.environ.get("HOST", "127.0.0.1"),
                                                          os.environ.get("PORT", "8000")))


def _day(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"不是日期（YYYY-MM-DD）：{text}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m db", description="dangjian database commands")
    parser.add_argument("--database-url", default=None, help="default: $DATABASE_URL or var/dangjian.db")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply the database migrations")
    boot = commands.add_parser("bootstrap", help="migrate, then create the root organization and its first ADMIN")
    boot.add_argument("--root-name", required=True)
    boot.add_argument("--root-code", required=True)
    boot.add_argument("--admin", required=True)
    demo = commands.add_parser("demo", help="generate a demo tree into an empty database")
    demo.add_argument("--orgs", type=int, default=60)
    demo.add_argument("--members", type=int, default=1200)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--no-accounts", action="store_true", help="no demo accounts")
    commands.add_parser("run-setup", help="migrate; load the demo tree if the database is empty; print sign-ins")
    check = commands.add_parser("check", help="verify the tree, its codes and depths, the rollups, completeness and the member history")
    check.add_argument("--repair", action="store_true", help="set members' current columns from their history, recompute the member-count rollups and completeness")
    backup = commands.add_parser("backup", help="a consistent copy of the live database into FILE (SQLite); "
                                                "the pg_dump line for PostgreSQL")
    backup.add_argument("file")
    snapshot = commands.add_parser("snapshot", help="the kept days of past-date statistics: list, build DAY, drop DAY")
    snapshot.add_argument("action", nargs="?", choices=["build", "drop"])
    snapshot.add_argument("day", nargs="?", type=_day)
    args = parser.parse_args(argv)
    url = args.database_url or database_url()

    if args.command == "backup":  # a live database as it is: no migration
        from db.backup import backup as run_backup
        try:
            print(run_backup(url, args.file))
        except (OSError, ValueError, RuntimeError, sqlite3.Error) as exc:
            print(f"备份失败：{exc}", file=sys.stderr)
            return 1
        return 0

    if args.command == "check":  # reads a live database as it is: no migration
        return asyncio.run(_check(url, args.repair))
    upgrade(url)
    if args.command == "migrate":
        asyncio.run(_analyze(url))
        print("数据库已迁移到最新版本")
        return 0
    if args.command == "bootstrap":
        password = os.environ.get("DANGJIAN_ADMIN_PASSWORD") or getpass.getpass(f"{args.admin} 的密码: ")
        return asyncio.run(_bootstrap(url, args.root_name, args.root_code, args.admin, password))
    if args.command == "demo":
        if not asyncio.run(_is_empty(url)):
            print("数据库不是空的：示例数据只写入空数据库", file=sys.stderr)
            return 1
        asyncio.run(_demo(url, args.orgs, args.members, args.seed, not args.no_accounts))
        if not args.no_accounts:
            print_demo_sign_ins()
        return 0
    if args.command == "snapshot":
        return asyncio.run(_snapshot(url, args.action, args.day))
    if args.command == "run-setup":
        if asyncio.run(_is_empty(url)):
            asyncio.run(_demo(url, 60, 1200, 1, True))
        print_demo_sign_ins()
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
