"""Every lookup of an object by id goes through the branch (db.branch.get and the scoped
selects beside it): no `session.get(models.X, id)` anywhere in the application, so an id a
client chose can never reach a row by way of an unscoped lookup. Structural: the AST of every
module under db/ and gql/ is searched, so a new unscoped lookup fails here, wherever it hides."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("db", "gql")


def _unscoped_lookups(tree: ast.AST) -> list[int]:
    """Lines of calls `<anything>.get(models.X, …)`, `<session>.get(X, …)` with X a model class,
    or `<anything>.get(…)` on a name called `session`."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"):
            continue
        target = node.func.value
        on_session = isinstance(target, ast.Name) and "session" in target.id
        on_session |= isinstance(target, ast.Attribute) and "session" in target.attr
        first = node.args[0] if node.args else None
        names_model = isinstance(first, ast.Attribute) and isinstance(first.value, ast.Name) and first.value.id == "models"
        if on_session or names_model:
            found.append(node.lineno)
    return found


def test_no_unscoped_lookup_by_id_in_the_application():
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # schema changes run before any request, for no caller
            for line in _unscoped_lookups(ast.parse(path.read_text(), str(path))):
                offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert offenders == [], "look objects up through db.branch.get (or a scoped select):\n" + "\n".join(offenders)


def test_the_search_finds_what_it_looks_for():
    assert _unscoped_lookups(ast.parse("async def f(session):\n    await session.get(models.Organization, 1)")) == [2]
    assert _unscoped_lookups(ast.parse("async def f(s):\n    await s.get(models.Account, i)")) == [2]
    assert _unscoped_lookups(ast.parse("async def f(ctx):\n    await ctx.db.session.get(Organization, 1)")) == [2]
    assert _unscoped_lookups(ast.parse("d = {}\nd.get('x')")) == []
