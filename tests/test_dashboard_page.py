"""The dashboard page and GraphiQL's additions, without a browser (tests/test_browser.py drives
both in Chromium): /dashboard is self-hosted, ECharts is the vendored file VERSIONS.txt names, and
the ready queries GraphiQL shows after a login are valid documents for the role that gets them."""
from __future__ import annotations

import hashlib
import re

import pytest
from graphql import parse, validate

from gql.graphiql import READY_QUERIES, STATIC_DIR
from gql.schema import schema


async def test_dashboard_page_is_self_hosted(client):
    response = await client.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<script>" not in page and "<style" not in page  # no inline code: a strict CSP leaves it working
    assets = [a for a in re.findall(r'(?:src|href)="([^"]+)"', page) if a != "data:,"]
    assert assets == ["/static/dashboard/dashboard.css", "/static/echarts/echarts.common.min.js",
                      "/static/dashboard/dashboard.js"]
    for asset in assets:
        served = await client.get(asset)
        assert served.status_code == 200, asset
        if not asset.startswith("/static/echarts/"):
            assert "http://" not in served.text and "https://" not in served.text, asset


def test_echarts_is_the_pinned_npm_file_with_its_licence():
    folder = STATIC_DIR / "echarts"
    rows = [line.split() for line in (folder / "VERSIONS.txt").read_text().splitlines() if not line.startswith("#")]
    assert {row[0] for row in rows} >= {"echarts.common.min.js", "echarts.LICENSE", "echarts.NOTICE"}
    for name, package, _path, sha256 in rows:
        assert package == "echarts@6.1.0"
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha256, name
    assert "Apache License" in (folder / "echarts.LICENSE").read_text()


@pytest.mark.parametrize("role", ["MEMBER", "VIEWER", "OPERATOR", "ADMIN"])
def test_ready_queries_are_valid(role):
    text = (READY_QUERIES[role].replace("$ORG", "T3JnYW5pemF0aW9uOjE").replace("$FROM", "2026-01-01")
            .replace("$TODAY", "2026-06-30"))
    document = parse(text)
    assert validate(schema._schema, document) == []
    assert len(document.definitions) == 3


@pytest.mark.parametrize("role, username, org", [("MEMBER", "a1_member", "a1"), ("VIEWER", "a_viewer", "a"),
                                                 ("OPERATOR", "a_operator", "a"), ("ADMIN", "a_admin", "a")])
async def test_ready_queries_answer_the_role(api, world, role, username, org):
    """Each of the three runs for the role that is shown it, with no error."""
    from db import clock
    from gql.ids import to_global_id

    today = clock.today()  # the in-process app's day (the pinned one), not the calendar's
    text = (READY_QUERIES[role].replace("$ORG", to_global_id("Organization", world.orgs[org].id))
            .replace("$FROM", f"{today.year}-01-01").replace("$TODAY", today.isoformat()))
    token = await api.login(username)
    for name in re.findall(r"^query (\w+)", text, re.M):
        response = await api.http.post("/graphql", json={"query": text, "operationName": name},
                                       headers={"Authorization": f"Bearer {token}"})
        result = response.json()
        assert "errors" not in result, (name, result)
        assert result["data"], name


@pytest.mark.parametrize("path, headers", [("/dashboard", {}), ("/graphql", {"Accept": "text/html"})])
async def test_the_pages_count_to_the_servers_day(client, monkeypatch, path, headers):
    """Both pages carry the server's day (db.clock), which their scripts take for "today" (the
    member balance's end, the as-of field's latest day, GraphiQL's $TODAY) instead of the
    browser's: a browser east of the server (Beijing, server on UTC) is a day ahead from 00:00 to
    08:00 and the API refuses a day after its own today. Drawn in Chromium: tests/test_browser.py."""
    import datetime as dt

    from db import clock

    day = dt.date(2031, 3, 7)
    monkeypatch.setattr(clock, "_pinned", day)
    page = (await client.get(path, headers=headers)).text
    assert re.findall(r'<meta name="dangjian-today" content="([^"]+)">', page) == ["2031-03-07"]
    script = "gql/static/dashboard/dashboard.js" if path == "/dashboard" else None
    code = (STATIC_DIR.parent.parent / script).read_text(encoding="utf-8") if script else page
    assert 'meta[name="dangjian-today"]' in code
