"""`python -m db backup FILE`: a consistent copy of a live database.

SQLite: SQLite's online backup API (Python's sqlite3 `Connection.backup`), in one step, from a
read transaction: under WAL the copy is the database as of one commit, while writers go on (a
reader never blocks them), never a file copy (which can tear a page mid-write and misses what is
still in the -wal file). The copy is written next to FILE and renamed onto it when complete, so
FILE is never half a database; its integrity is checked before the rename.

PostgreSQL: pg_dump does this job (one REPEATABLE READ snapshot); the command prints the line to
run, with the password left out of it (give it in PGPASSWORD or ~/.pgpass), rather than run a
client program whose version must match the server's.
"""
from __future__ import annotations

import os
import shlex
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from db.engine import normalize_url


def sqlite_path(url: str) -> str:
    return normalize_url(url).split(":///", 1)[1]


def backup_sqlite(source: str, target: str) -> int:
    """Copy the SQLite database at `source` to `target`; returns its size in bytes."""
    if not Path(source).is_file():
        raise FileNotFoundError(source)
    target_path = Path(target).resolve()
    if target_path == Path(source).resolve():
        raise ValueError("备份文件不能是数据库文件本身")
    partial = target_path.with_name(target_path.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # pages=-1: all of it in one step, one snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
            (check,) = dst.execute("PRAGMA integrity_check").fetchone()
            if check != "ok":
                raise RuntimeError(f"备份未通过完整性检查：{check}")
        finally:
            dst.close()
    finally:
        src.close()
    os.replace(partial, target_path)
    return target_path.stat().st_size


def pg_dump_line(url: str, target: str) -> str:
    """The pg_dump command that writes a consistent dump of the PostgreSQL database at `url`."""
    parsed = make_url(normalize_url(url))
    arguments = ["pg_dump", "--format=custom", "--no-owner", f"--file={target}"]
    if parsed.host:
        arguments.append(f"--host={parsed.host}")
    if parsed.port:
        arguments.append(f"--port={parsed.port}")
    if parsed.username:
        arguments.append(f"--username={parsed.username}")
    arguments.append(parsed.database or "")
    return shlex.join(arguments)


def backup(url: str, target: str) -> str:
    """Back up the database at `url` into `target` (SQLite), or say how (PostgreSQL)."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        size = backup_sqlite(sqlite_path(url), target)
        return f"已备份到 {target}（{size} 字节，SQLite 在线备份，完整性检查通过）"
    return ("PostgreSQL 数据库请用 pg_dump 备份（一个快照，写入不中断；密码放在 PGPASSWORD 或 ~/.pgpass）：\n"
            + pg_dump_line(url, target)
            + f"\n恢复：pg_restore --no-owner --dbname=<新数据库> {shlex.quote(target)}")
