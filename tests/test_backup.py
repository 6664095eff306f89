"""`python -m db backup FILE` (issue 12): a backup taken while writes run is restored and holds
every row acknowledged before the backup began, and no half transaction. SQLite: the command
writes the copy (the online backup API). PostgreSQL: the command prints the pg_dump line; the test
runs it (limited to the test's own schema) and restores the dump with pg_restore into a new
database."""
from __future__ import annotations

import asyncio
import datetime as dt
import shlex
import shutil
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import insert, select

from db import models
from db.engine import PROJECT_ROOT, make_engine, make_sessionmaker
from db.session import begin_write
from tests.conftest import temporary_postgres_database

T = models.SignInThrottle  # a table without foreign keys: rows are cheap to write in pairs


class Writers:
    """Tasks writing pairs of rows, each pair in one transaction, as fast as they commit; a pair
    is acknowledged once its commit returned."""

    def __init__(self, engine, count: int = 3):
        self.sessionmaker = make_sessionmaker(engine)
        self.acknowledged: list[str] = []
        self.stop = asyncio.Event()
        self.tasks = [asyncio.create_task(self.write(n)) for n in range(count)]

    async def write(self, n: int) -> None:
        moment = dt.datetime.now(dt.timezone.utc)
        i = 0
        async with self.sessionmaker() as session:
            while not self.stop.is_set():
                pair = f"w{n}-{i}"
                await begin_write(session)
                await session.execute(insert(T), [{"address": f"{pair}-a", "attempts": i, "window_start": moment},
                                                  {"address": f"{pair}-b", "attempts": i, "window_start": moment}])
                await session.commit()
                self.acknowledged.append(pair)
                i += 1
                await asyncio.sleep(0.001)

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks)


def check_restored(addresses: set[str], before: set[str], after: set[str]) -> None:
    pairs = {a.rsplit("-", 1)[0] for a in addresses}
    assert before <= pairs, f"{len(before - pairs)} acknowledged pairs missing"
    assert pairs <= after  # nothing that was not written
    for pair in pairs:  # no half transaction
        assert {f"{pair}-a", f"{pair}-b"} <= addresses, pair


async def run_cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "db", *args, cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def test_a_backup_taken_during_writes_restores_every_acknowledged_row(engine, tmp_path):
    writers = Writers(engine)
    await asyncio.sleep(0.3)
    before = set(writers.acknowledged)
    target = tmp_path / "backup.db"
    if engine.dialect.name == "sqlite":
        code, out, err = await run_cli("--database-url", str(engine.url), "backup", str(target))
        during = set(writers.acknowledged)
        await asyncio.sleep(0.2)
        await writers.finish()
        after = set(writers.acknowledged)
        assert code == 0, err
        assert "已备份" in out
        assert len(during) > len(before)  # the writes went on while the backup ran
        # Restore: the file becomes a database of its own.
        restored = tmp_path / "restored.db"
        shutil.copyfile(target, restored)
        connection = sqlite3.connect(restored)
        try:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            addresses = {row[0] for row in connection.execute("SELECT address FROM sign_in_throttle")}
        finally:
            connection.close()
        check_restored(addresses, before, after)
        assert not (tmp_path / "backup.db.partial").exists()
        return

    # PostgreSQL: the printed line, run against this test's schema, restored into a new database.
    url = POSTGRES_URL_OF(engine)
    code, out, err = await run_cli("--database-url", url, "backup", str(target))
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.startswith("pg_dump "))
    arguments = shlex.split(line)
    assert f"--file={target}" in arguments and arguments[-1] == engine.url.database
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        await writers.finish()
        pytest.skip("pg_dump/pg_restore are not installed (Debian: postgresql-client)")
    schema = engine.dialect.default_schema_name or await _search_path(engine)
    before = set(writers.acknowledged)
    dump = await asyncio.create_subprocess_exec(*arguments[:-1], f"--schema={schema}", arguments[-1],
                                                stderr=asyncio.subprocess.PIPE)
    _, dump_err = await dump.communicate()
    await asyncio.sleep(0.2)
    await writers.finish()
    after = set(writers.acknowledged)
    assert dump.returncode == 0, dump_err.decode()
    async with temporary_postgres_database("dangjian_restore") as restore_url:
        database = restore_url.rsplit("/", 1)[1]
        restore = await asyncio.create_subprocess_exec(
            "pg_restore", "--no-owner", "--host=127.0.0.1", "--username=postgres", f"--dbname={database}",
            str(target), stderr=asyncio.subprocess.PIPE)
        _, restore_err = await restore.communicate()
        assert restore.returncode == 0, restore_err.decode()
        restored = make_engine(restore_url, connect_args={"server_settings": {"search_path": schema}})
        try:
            async with restored.connect() as connection:
                addresses = set((await connection.execute(select(T.address))).scalars())
        finally:
            await restored.dispose()
    check_restored(addresses, before, after)


def POSTGRES_URL_OF(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


async def _search_path(engine) -> str:
    async with engine.connect() as connection:
        return (await connection.exec_driver_sql("SELECT current_schema()")).scalar_one()


async def test_backup_refuses_to_overwrite_the_database_itself(tmp_path):
    source = tmp_path / "live.db"
    sqlite3.connect(source).close()
    code, _, err = await run_cli("--database-url", f"sqlite:///{source}", "backup", str(source))
    assert code == 1 and "备份失败" in err
    code, _, err = await run_cli("--database-url", f"sqlite:///{tmp_path}/missing.db", "backup",
                                 str(tmp_path / "x.db"))
    assert code == 1
