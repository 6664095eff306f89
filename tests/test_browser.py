"""The dashboard (/dashboard) and GraphiQL (/graphql) in a real browser: headless Chromium driven by
Playwright's Python package against the real server (uvicorn in a process of its own, on a free
port, over a small demo tree), on SQLite and PostgreSQL.

Chromium is the system's (Debian's `chromium`, installed by .ci/run; `playwright install` is never
needed). Without Playwright or Chromium the tests are skipped, saying which is missing. Every
request to anything but 127.0.0.1 is blocked and counted: none may be made (the pages work on an
intranet). Screenshots of the first view go to var/screenshots/ (ignored by git).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from db.demo import CITY  # noqa: F401  (the demo tree the server is started on)
from tests.conftest import BACKENDS, POSTGRES_URL

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "var" / "screenshots"
DEMO_PASSWORD = "Dangjian2024"
COUNTY_VIEWER, COUNTY_PASSWORD = "county_viewer", "Dangjian2024county"
HOST = "127.0.0.1"

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright's Python package is missing: pip install -e '.[dev]'")


def chromium_path() -> str | None:
    for candidate in (os.environ.get("DANGJIAN_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


CHROMIUM = chromium_path()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; .ci/run installs it)")


# ------------------------------------------------------------------ the server

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, backend: str, base: str, log: Path):
        self.backend, self.base, self.log = backend, base, log
        self.tokens: dict[str, str] = {}

    def post(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.post(self.base + "/graphql", json={"query": query, "variables": variables or {}},
                              headers=headers, timeout=30)
        result = response.json()
        assert "errors" not in result, result
        return result["data"]

    def login(self, username: str, password: str = DEMO_PASSWORD) -> str:
        if username not in self.tokens:
            data = self.post("mutation($i: LoginInput!) { login(input: $i) { token userErrors { message } } }",
                             {"i": {"username": username, "password": password}})
            assert data["login"]["token"], data
            self.tokens[username] = data["login"]["token"]
        return self.tokens[username]


def run_async(coroutine):
    """asyncio.run in a thread of its own: Playwright's sync API keeps an event loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _create_database() -> tuple[str, str]:
    import asyncpg

    name = f"browser_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return name, POSTGRES_URL.rsplit("/", 1)[0] + "/" + name


async def _drop_database(name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        await connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory):
    """`python -m db demo` (40 organizations, 800 members, seed 1), then uvicorn on a free port."""
    folder = tmp_path_factory.mktemp("browser")
    database = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{folder}/demo.db"
    else:
        database, url = run_async(_create_database())
    env = {**os.environ, "DATABASE_URL": url, "DANGJIAN_PASSWORD_PROFILE": "cheapest", "PYTHONPATH": str(ROOT),
           "DANGJIAN_DB_POOL_SIZE": "4"}
    demo = subprocess.run([sys.executable, "-m", "db", "demo", "--orgs", "40", "--members", "800"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    port = free_port()
    log = folder / "server.log"
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "gql.app:app", "--host", HOST, "--port", str(port),
                                "--no-access-log"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                               stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://{HOST}:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                httpx.get(base + "/dashboard", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not answer within 60 s"
                time.sleep(0.2)
        srv = Server(request.param, base, log)
        _add_county_viewer(srv)
        yield srv
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
        if database:
            run_async(_drop_database(database))


def _add_county_viewer(srv: Server) -> None:
    """A VIEWER of the demo's county-level organization (区委员会 under the city committee)."""
    admin = srv.login("admin")
    top = srv.post("{ viewer { organization { id children { id name } } } }", token=admin)["viewer"]["organization"]
    county = next(c for c in top["children"] if c["name"].endswith("区委员会") or c["name"].endswith("县委员会"))
    siblings = [c for c in top["children"] if c["id"] != county["id"]]
    # Two of them: the browser signs one in and out (logout ends every session of the account),
    # the test checks the page's numbers through the API as the other.
    for username in (COUNTY_VIEWER, COUNTY_VIEWER + "_api"):
        data = srv.post("""mutation($i: CreateAccountInput!) { createAccount(input: $i) { userErrors { message } } }""",
                        {"i": {"organizationId": county["id"], "username": username, "password": COUNTY_PASSWORD,
                               "name": "区委统计员", "role": "VIEWER"}}, token=admin)
        assert data["createAccount"]["userErrors"] == [], data
    srv.county, srv.sibling, srv.root_id = county, siblings[0], top["id"]
    srv.viewer_token = srv.login(COUNTY_VIEWER + "_api", COUNTY_PASSWORD)


# ------------------------------------------------------------------ the browser

@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


class Tab:
    """A page whose requests are watched: everything outside 127.0.0.1 is blocked and recorded,
    GraphQL POSTs are counted."""

    def __init__(self, browser, srv: Server, bypass_csp: bool = True):
        self.srv = srv
        # The tests read the page's state with page.evaluate / wait_for_function, which Playwright
        # runs through eval in the page: the pages' own Content-Security-Policy (no 'unsafe-eval')
        # would refuse it. test_dashboard_works_under_its_own_csp runs the page with the policy on.
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN",
                                           accept_downloads=False, bypass_csp=bypass_csp)
        self.outside: list[str] = []
        self.graphql: list[dict] = []
        self.errors: list[str] = []
        self.console: list[str] = []
        self.context.route("**/*", self._guard)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda message: self.console.append(message.text) if message.type == "error" else None)
        self.page.on("request", self._count)

    def _guard(self, route):
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname == HOST:
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def _count(self, request):
        if request.method == "POST" and urlsplit(request.url).path == "/graphql":
            self.graphql.append(json.loads(request.post_data or "{}"))

    def close(self):
        self.context.close()
        assert self.outside == [], f"requests outside {HOST}: {self.outside}"
        assert self.errors == [], self.errors


@pytest.fixture
def tab(browser, server):
    t = Tab(browser, server)
    yield t
    t.close()


# ------------------------------------------------------------------ dashboard helpers

CROSS_TAB = """query($id: ID!, $scope: Scope!, $rows: Dimension!, $asOf: Date) {
  crossTab(input: {organizationId: $id, scope: $scope, rows: $rows, asOf: $asOf}) { rows { key label } cells total }
}"""
CHARTS = {"age": "AGE_BAND", "education": "EDUCATION", "gender": "GENDER", "category": "CATEGORY",
          "partyAge": "PARTY_AGE_BAND", "child": "CHILD_ORGANIZATION"}


def api_crosstab(srv: Server, org: str, rows: str, as_of: str | None = None, scope: str = "SUBTREE") -> dict:
    table = srv.post(CROSS_TAB, {"id": org, "scope": scope, "rows": rows, "asOf": as_of},
                     token=srv.viewer_token)["crossTab"]
    return {r["key"]: cells[0] for r, cells in zip(table["rows"], table["cells"])}


def drawn(page, name: str) -> dict:
    """The values a chart draws, read from the ECharts instance, keyed by the cross-tab key."""
    return page.evaluate("""name => {
        const chart = window.dashboard.charts[name], data = window.dashboard.data[name];
        const series = chart.getOption().series[0].data;
        const items = data.shown || data.items;
        const out = {};
        series.forEach((v, i) => { out[items[i].key] = typeof v === 'object' ? v.value : v; });
        return out;
    }""", name)


def sign_in(tab: Tab, username: str = COUNTY_VIEWER, password: str = COUNTY_PASSWORD) -> None:
    page = tab.page
    page.goto(tab.srv.base + "/dashboard")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")
    wait_ready(page)


def wait_ready(page) -> None:
    page.wait_for_function("window.dashboard && window.dashboard.ready", timeout=30_000)


# ------------------------------------------------------------------ dashboard

def test_dashboard_works_under_its_own_csp(browser, server):
    """With the page's Content-Security-Policy enforced (no bypass), signing in draws the first
    view, and the browser reports no violation."""
    tab = Tab(browser, server, bypass_csp=False)
    try:
        response = tab.page.goto(tab.srv.base + "/dashboard")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        tab.page.fill("input[name=username]", COUNTY_VIEWER)
        tab.page.fill("input[name=password]", COUNTY_PASSWORD)
        tab.page.click("#login-form button[type=submit]")
        tab.page.locator("#kpi-count").filter(has_text=re.compile(r"\d")).wait_for(timeout=30_000)
        assert [m for m in tab.console if "Content Security Policy" in m] == []
    finally:
        tab.close()


def test_a_browser_a_day_ahead_counts_to_the_servers_day(browser, server):
    """A browser east of the server (Beijing, a server on UTC) is a day ahead for part of every day:
    the page counts to the server's day (its meta dangjian-today), so the member balance and the
    as-of field never ask for a day the API refuses as after its today."""
    t = Tab(browser, server)
    try:
        t.page.clock.set_fixed_time(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1))
        sign_in(t)
        page, today = t.page, dt.date.today().isoformat()  # the server's calendar: a process of its own
        assert page.evaluate("new Date().toISOString().slice(0, 10)") > today  # the browser is ahead
        assert page.evaluate("window.dashboard.requests.map(r => r.errors)") == [None] * 3
        assert page.evaluate("window.dashboard.data.balance")["to"] == today
        assert page.get_attribute("#as-of", "max") == today
    finally:
        t.close()


def test_dashboard_first_view(tab, server):
    sign_in(tab)
    page, county = tab.page, server.county
    # The login, then the first view in three requests.
    assert [body.get("query", "").split("(")[0].split("{")[0].strip() for body in tab.graphql] == [
        "mutation Login", "query Overview", "query Charts", "query Balance"]
    assert page.evaluate("window.dashboard.requests.map(r => r.errors)") == [None] * 3
    assert page.inner_text("#current-org") == county["name"]
    expected = server.post("""query($id: ID!) { organization(id: $id) { memberCount(filter: {scope: SUBTREE})
        todo: members(filter: {scope: SUBTREE, completenessBelow: 80}, first: 1) { totalCount } } }""",
                           {"id": county["id"]}, token=server.viewer_token)["organization"]
    assert int(page.inner_text("#kpi-count")) == expected["memberCount"] > 0
    assert int(page.inner_text("#kpi-todo")) == expected["todo"]["totalCount"]
    for name, dimension in CHARTS.items():
        assert drawn(page, name) == api_crosstab(server, county["id"], dimension), name
    # The child organizations as a sorted bar chart, the largest on top (a category y axis runs upwards).
    child = page.evaluate("window.dashboard.data.child.items.map(it => it.value)")
    assert child == sorted(child, reverse=True)
    assert page.evaluate("window.dashboard.charts.child.getOption().series[0].data") == child[::-1]
    assert sum(drawn(page, "gender").values()) == expected["memberCount"]
    balance = page.evaluate("window.dashboard.data.balance")
    assert balance["from"] == f"{dt.date.today().year}-01-01" and balance["to"] == dt.date.today().isoformat()
    # "显示查询" shows the exact document sent.
    page.click('[data-chart="age"] .show-query')
    shown = page.inner_text('[data-chart="age"] pre.query')
    assert tab.graphql[2]["query"] in shown and county["id"] in shown
    page.click('[data-chart="age"] .show-query')
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-{server.backend}.png"), full_page=True)
    # Coming back with the token in sessionStorage: again three requests.
    tab.graphql.clear()
    page.reload()
    wait_ready(page)
    assert len(tab.graphql) == 3
    # Sign out: the token is gone and the board with it.
    page.click("#logout")
    page.wait_for_selector("#login-card:not([hidden])")
    assert page.evaluate("sessionStorage.getItem('dangjian.token')") is None


def test_drill_through_lists_the_bar(tab, server):
    sign_in(tab)
    page = tab.page
    bars = drawn(page, "age")
    # The tallest bar (more than one page of 50 when the tree allows), clicked where it is drawn
    # once the bars stopped growing.
    page.wait_for_function("window.dashboard.charts.age.settled")
    x, y, key = page.evaluate("""() => {
        const chart = window.dashboard.charts.age, values = chart.getOption().series[0].data;
        const i = values.indexOf(Math.max(...values));
        const [x, y] = chart.convertToPixel({seriesIndex: 0}, [i, values[i] / 2]);
        const box = chart.getDom().getBoundingClientRect();
        return [box.left + x, box.top + y, window.dashboard.data.age.items[i].key];
    }""")
    page.mouse.click(x, y)
    page.wait_for_function("window.dashboard.drill && window.dashboard.drill.ready")
    while page.evaluate("window.dashboard.drill.hasNextPage"):
        page.click("#drill-more")
        page.wait_for_function("window.dashboard.drill.ready")
    rows = page.locator("#drill-table tbody tr")
    assert rows.count() == bars[key] == page.evaluate("window.dashboard.drill.totalCount")
    # ID numbers as a VIEWER sees them: masked.
    ids = page.locator("#drill-table td.id").all_inner_texts()
    assert ids and all("*" in number and len(number) == 18 for number in ids)


def test_as_of_last_year_end_redraws(tab, server):
    sign_in(tab)
    page, county = tab.page, server.county
    today_values = {name: drawn(page, name) for name in CHARTS}
    year_end = f"{dt.date.today().year - 1}-12-31"
    page.click(f'[data-as-of="{year_end}"]')
    page.wait_for_function(f"window.dashboard.ready && window.dashboard.state.asOf === '{year_end}'")
    then = {name: api_crosstab(server, county["id"], dimension, year_end) for name, dimension in CHARTS.items()}
    for name in CHARTS:
        assert drawn(page, name) == then[name], name
    assert then != today_values  # the numbers did change
    assert int(page.inner_text("#kpi-asof")) == sum(then["gender"].values())
    assert page.evaluate("window.dashboard.data.balance.to") == year_end
    # The date picker does the same.
    page.fill("#as-of", f"{dt.date.today().year - 2}-12-31")
    page.dispatch_event("#as-of", "change")
    page.wait_for_function("window.dashboard.ready && window.dashboard.state.asOf.endsWith('-12-31') "
                           f"&& window.dashboard.state.asOf !== '{year_end}'")
    earlier = f"{dt.date.today().year - 2}-12-31"
    assert drawn(page, "age") == api_crosstab(server, county["id"], "AGE_BAND", earlier)
    # A date after today is refused by the API, and the page says so.
    future = f"{dt.date.today().year + 1}-12-31"
    page.evaluate("d => { location.hash = location.hash.replace(/asOf=[0-9-]+/, 'asOf=' + d); }", future)
    page.wait_for_function("document.querySelector('#nav-error').textContent !== ''")


def test_branch_walk_and_outside_organizations(tab, server):
    sign_in(tab)
    page, county, sibling = tab.page, server.county, server.sibling
    # Walk down to a child, then back up through the breadcrumb.
    first_child = page.locator("#children a.chip").first
    child_name = first_child.inner_text()
    first_child.click()
    page.wait_for_function(f"window.dashboard.ready && document.querySelector('#current-org').textContent === {json.dumps(child_name)}")
    crumbs = page.locator("#breadcrumb a").all_inner_texts()
    assert crumbs == [county["name"]]  # the branch starts at the county: nothing above it is shown
    page.click("#breadcrumb a")
    page.wait_for_function(f"window.dashboard.ready && document.querySelector('#current-org').textContent === {json.dumps(county['name'])}")
    # Scope 本级: the counts of the organization alone.
    page.click('[data-scope="SELF"]')
    page.wait_for_function("window.dashboard.ready && window.dashboard.state.scope === 'SELF'")
    assert drawn(page, "gender") == api_crosstab(server, county["id"], "GENDER", scope="SELF")
    # An organization outside the branch, by editing the URL and by the page state: nothing of it shows.
    for target in (sibling["id"], server.root_id):
        page.evaluate("id => { document.querySelector('#nav-error').textContent = '';"
                      " location.hash = 'org=' + encodeURIComponent(id) + '&scope=SUBTREE'; }", target)
        page.wait_for_function("document.querySelector('#nav-error').textContent !== ''")
        assert page.evaluate("window.dashboard.data.overview") is None or \
            page.evaluate("window.dashboard.data.overview.id") != target
        page.wait_for_function(f"window.dashboard.ready && window.dashboard.state.org === {json.dumps(county['id'])}")
        assert sibling["name"] not in page.content()
        assert page.inner_text("#current-org") == county["name"]
    # The page state itself: the remembered home organization swapped for the sibling, then a reload.
    page.evaluate("id => { sessionStorage.setItem('dangjian.home', id);"
                  " location.hash = 'org=' + encodeURIComponent(id) + '&scope=SUBTREE'; }", sibling["id"])
    page.reload()
    page.wait_for_function("document.querySelector('#nav-error').textContent !== ''")
    page.wait_for_function("window.dashboard.requests.length === 3 && window.dashboard.requests.every(r => 'errors' in r)")
    assert page.evaluate("window.dashboard.data.overview") is None
    assert page.evaluate("window.dashboard.data.balance") is None
    assert all(page.evaluate(f"window.dashboard.data.{name}") is None for name in CHARTS)
    assert sibling["name"] not in page.content()
    # What the server said: null for the organization, NOT_FOUND for its statistics.
    codes = page.evaluate("window.dashboard.requests.map(r => (r.errors || []).map(e => e.extensions.code))")
    assert codes[0] == [] and set(codes[1]) == {"NOT_FOUND"} and codes[2] == ["NOT_FOUND"]


# ------------------------------------------------------------------ GraphiQL

# The CodeMirror editors of GraphiQL 3: the query, the variables and headers (in that order in the
# tools pane), the response.
QUERY_EDITOR = "document.querySelector('.graphiql-query-editor .CodeMirror')"
HEADERS = "document.querySelectorAll('.graphiql-editor-tool .CodeMirror')[1]"
RESPONSE = "document.querySelector('.graphiql-response .CodeMirror')"


def editor(page, which: str) -> str:
    return page.evaluate(f"{which}.CodeMirror.getValue()")


def set_editor(page, which: str, text: str) -> None:
    page.evaluate(f"text => {which}.CodeMirror.setValue(text)", text)
    # GraphiQL re-parses the document's operations after a debounce (a document of several
    # operations, as the welcome text, makes the run button ask which one to run).
    page.wait_for_timeout(600)


def wait_editor(page, which: str, condition: str) -> None:
    """Wait until `condition` (a JS expression over `v`, the editor's text) holds."""
    page.wait_for_function(f"() => {{ const e = {which}; if (!e) return false; const v = e.CodeMirror.getValue();"
                           f" return {condition}; }}")


def run(page) -> dict:
    before = editor(page, RESPONSE)
    page.click(".graphiql-execute-button")
    wait_editor(page, RESPONSE, f"v && v !== {json.dumps(before)}")
    return json.loads(editor(page, RESPONSE))


def test_graphiql_login_puts_the_token_in_the_headers(tab, server):
    page = tab.page
    page.goto(server.base + "/graphql")
    page.wait_for_selector(".graphiql-query-editor .CodeMirror")
    set_editor(page, QUERY_EDITOR, 'mutation { login(input: {username: "%s", password: "%s"}) { token userErrors '
               '{ message } } }' % (COUNTY_VIEWER, COUNTY_PASSWORD))
    answer = run(page)
    token = answer["data"]["login"]["token"]
    assert token
    # The headers editor now holds the token, and the editor three ready queries for a VIEWER.
    wait_editor(page, HEADERS, "v.includes('Bearer')")
    assert json.loads(editor(page, HEADERS)) == {"Authorization": f"Bearer {token}"}
    wait_editor(page, QUERY_EDITOR, "v.includes('已登录')")
    welcome = editor(page, QUERY_EDITOR)
    assert [line.split()[1] for line in welcome.splitlines() if line.startswith("query ")] == [
        "MyBranch", "AgeByGender", "ThisYearBalance"]
    assert server.county["id"] in welcome
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"graphiql-{server.backend}.png"))
    # A query, run without touching the headers, sees the data.
    set_editor(page, QUERY_EDITOR, "{ viewer { username organization { name memberCount(filter: {scope: SUBTREE}) } } }")
    answer = run(page)
    assert answer["data"]["viewer"]["username"] == COUNTY_VIEWER
    assert answer["data"]["viewer"]["organization"]["name"] == server.county["name"]
    assert answer["data"]["viewer"]["organization"]["memberCount"] > 0
    # logout clears the header; the next query is anonymous.
    set_editor(page, QUERY_EDITOR, "mutation { logout { ok } }")
    assert run(page)["data"]["logout"]["ok"] is True
    wait_editor(page, HEADERS, "!v.includes('Bearer')")
    set_editor(page, QUERY_EDITOR, "{ viewer { username } }")
    assert run(page)["data"]["viewer"] is None
