"""Import rules between the layers: db knows nothing of GraphQL; resolvers return rows, never
schema types; gql.auth does not reach into resolvers or schema."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The command line is the composition root of `python -m db`: it may pick the password hasher.
ENTRY_POINTS = {ROOT / "db" / "__main__.py"}


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in (ROOT / package.replace(".", "/")).rglob("*.py"):
        if path in ENTRY_POINTS:
            continue
        for name in imports_of(path):
            if name.startswith(forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def test_db_imports_nothing_from_gql():
    assert offenders("db", ("gql",)) == []


def test_resolvers_never_import_schema_types():
    assert offenders("gql.resolvers", ("gql.schema",)) == []


def test_auth_imports_neither_resolvers_nor_schema():
    assert offenders("gql.auth", ("gql.schema", "gql.resolvers")) == []


def test_today_comes_from_the_clock():
    """db.clock is the only reader of the calendar's day, so a test run pins one day for the app
    and the tests alike (tests/conftest.py). The browser tests read it for a server of their own."""
    found = []
    for package in ("db", "gql", "tests"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name in ("clock.py", "conftest.py", "test_browser.py"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "today"
                        and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "date"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
