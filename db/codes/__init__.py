"""National code tables (学历, 民族, 工作岗位, ...) shipped as CSV data files.

One ``<table>.csv`` per ``CodeTable`` enum value (lowercase), columns ``code,label``.
Sources: see SOURCES.md next to this file.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

_DIR = Path(__file__).resolve().parent

TABLES: tuple[str, ...] = (
    "education",
    "degree",
    "ethnicity",
    "job_position",
    "technical_title",
    "difficulty_kind",
    "reward",
    "punishment",
    "party_position",
)


@functools.cache
def entries(table: str) -> list[tuple[str, str]]:
    """(code, label) pairs of ``table`` in file order. Unknown table -> KeyError.

    The returned list is cached and shared: do not mutate it.
    """
    if table not in TABLES:
        raise KeyError(table)
    with (_DIR / f"{table}.csv").open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if [h.strip().lstrip("\ufeff") for h in header] != ["code", "label"]:
            raise ValueError(f"{table}.csv: bad header {header!r}")
        return [(row[0].strip(), row[1].strip()) for row in reader if row and row[0].strip()]


@functools.cache
def _labels(table: str) -> dict[str, str]:
    return dict(entries(table))


def label(table: str, code: str | None) -> str | None:
    """Label of ``code`` in ``table``; None when code is None or unknown."""
    if code is None:
        return None
    return _labels(table).get(code)


def is_valid(table: str, code: str) -> bool:
    return code in _labels(table)
