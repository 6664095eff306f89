"""The command line: bootstrap a production database, generate a demo, the `make run` set-up."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from db.engine import make_engine
from gql.app import create_app
from gql.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def cli(url: str, *args: str, password: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "DANGJIAN_PASSWORD_PROFILE": "cheapest"}
    env.pop("DANGJIAN_ADMIN_PASSWORD", None)
    if password is not None:
        env["DANGJIAN_ADMIN_PASSWORD"] = password
    return subprocess.run([sys.executable, "-m", "db", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


async def sign_in(url: str, username: str, password: str) -> dict:
    engine = make_engine(url)
    try:
        app = create_app(engine, Settings(password_profile="cheapest"))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            response = await http.post("/graphql", json={"query": """mutation($u: String!, $p: String!) {
                login(input: {username: $u, password: $p}) { token account { role organization { name } } userErrors { message } } }""",
                "variables": {"u": username, "p": password}})
            return response.json()["data"]["login"]
    finally:
        await engine.dispose()


async def test_bootstrap_creates_root_and_admin_then_refuses(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/prod.db"
    first = cli(url, "bootstrap", "--root-name", "中共测试省委员会", "--root-code", "001", "--admin", "chief",
                password="Chief2024pass")
    assert first.returncode == 0, first.stderr
    login = await sign_in(url, "chief", "Chief2024pass")
    assert login["token"] and login["account"]["role"] == "ADMIN"
    assert login["account"]["organization"] == {"name": "中共测试省委员会"}
    again = cli(url, "bootstrap", "--root-name", "中共另一省委员会", "--root-code", "002", "--admin", "other",
                password="Other2024pass")
    assert again.returncode == 1 and "根党组织已存在" in again.stderr
    assert (await sign_in(url, "other", "Other2024pass"))["token"] is None


def test_bootstrap_never_takes_the_password_from_argv(tmp_path):
    result = cli(f"sqlite+aiosqlite:///{tmp_path}/p.db", "bootstrap", "--root-name", "x", "--root-code", "001",
                 "--admin", "a", "--password", "Secret2024")
    assert result.returncode == 2  # argparse: no such option


def test_bootstrap_rejects_a_weak_password_and_writes_nothing(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/weak.db"
    result = cli(url, "bootstrap", "--root-name", "中共测试省委员会", "--root-code", "001", "--admin", "chief",
                 password="short")
    assert result.returncode == 1 and "密码" in result.stderr
    retry = cli(url, "bootstrap", "--root-name", "中共测试省委员会", "--root-code", "001", "--admin", "chief",
                password="Chief2024pass")
    assert retry.returncode == 0, retry.stderr


async def test_run_setup_loads_the_demo_once_and_its_sign_ins_work(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/demo.db"
    first = cli(url, "run-setup")
    assert first.returncode == 0, first.stderr
    assert "admin" in first.stdout and "Dangjian2024" in first.stdout
    second = cli(url, "run-setup")
    assert second.returncode == 0 and "示例数据" not in second.stdout
    for username, role in (("admin", "ADMIN"), ("operator", "OPERATOR"), ("viewer", "VIEWER"), ("member", "MEMBER")):
        login = await sign_in(url, username, "Dangjian2024")
        assert login["token"], (username, login)
        assert login["account"]["role"] == role


def test_demo_refuses_a_database_that_is_not_empty(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/d.db"
    assert cli(url, "demo", "--orgs", "20", "--members", "50").returncode == 0
    again = cli(url, "demo", "--orgs", "20", "--members", "50")
    assert again.returncode == 1


@pytest.mark.parametrize("command", ["migrate"])
def test_migrate(tmp_path, command):
    result = cli(f"sqlite+aiosqlite:///{tmp_path}/m.db", command)
    assert result.returncode == 0, result.stderr


def test_make_bench_runs_an_existing_entry_point():
    """`make bench` once named a module that did not exist; it must name the bench package's
    entry point (`python -m bench`: the PostGraphile comparison; `all` runs the others), and that
    entry point must list the benchmarks that exist."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    assert "-m bench\n" in recipe + "\n", recipe
    listed = subprocess.run([sys.executable, "-m", "bench", "--list"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
    assert {"compare", "dashboard", "move_organization"} <= set(names), listed.stdout
    also = subprocess.run([sys.executable, "-m", "bench", "all", "--list"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert also.returncode == 0 and also.stdout == listed.stdout, also.stderr
    unknown = subprocess.run([sys.executable, "-m", "bench", "--only", "no_such_bench"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert unknown.returncode != 0 and "unknown benchmark" in unknown.stderr
