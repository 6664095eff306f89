"""POST /import/members (issue 10) on both engines: good files (CSV and XLSX, codes as code or
label) are written with the rollups, the history and the data versions right (the teardown's
invariant check, a cached memberCount that moves); a dry run writes nothing; bad rows of every
kind are all reported with row, column, value and message and nothing is written; bad files get
a 4xx JSON answer; roles and branch; and the round trip: a branch's export imported into an
empty organization of another database gives the same members."""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
import uuid

import httpx
import openpyxl
import pytest

from db import codes, models
from db.engine import make_engine, make_sessionmaker
from gql.app import create_app
from gql.settings import Settings
from tests.conftest import POSTGRES_URL, Api, gid
from tests.factories import make_account, make_org, make_root, new_id_number
from tests.test_exports import get, graphql_members
from tests.test_statistics import tree  # noqa: F401  (the fixture)

HEADER = ["姓名", "身份证号码", "人员类别", "学历", "民族", "申请入党日期", "入党日期", "转正日期", "管理关系"]
EDUCATION_CODE, EDUCATION_LABEL = codes.entries("education")[3]


def good_row(name: str, **overrides) -> dict:
    row = {"姓名": name, "身份证号码": new_id_number(), "人员类别": "正式党员", "学历": EDUCATION_LABEL,
           "民族": "01", "申请入党日期": "2008-03-01", "入党日期": "2010/7/1", "转正日期": "2011.07.01",
           "管理关系": "直管"}
    row.update(overrides)
    return row


def csv_file(rows: list[dict], header=HEADER, bom=True) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(h, "") for h in header])
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8")


def xlsx_file(rows: list[list], header=HEADER) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def post(api: Api, who: str | None, content: bytes, organization=None, dry_run: bool | None = None,
               filename: str = "members.csv"):
    token = await api.login(who) if who else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = {}
    if organization is not None:
        data["organizationId"] = gid("Organization", organization)
    if dry_run is not None:
        data["dryRun"] = "true" if dry_run else "false"
    return await api.http.post("/import/members", files={"file": (filename, content)}, data=data, headers=headers)


COUNT = """query($o: ID!) { organization(id: $o) { memberCount } }"""


async def count(api, who, organization) -> int:
    result = await api.as_(who, COUNT, {"o": gid("Organization", organization)})
    return result["data"]["organization"]["memberCount"]


async def test_import_csv_and_xlsx(api, world):
    a2 = world.orgs["a2"]
    before = await count(api, "a_operator", a2)  # now in the response cache
    rows = [good_row("导入一"), good_row("导入二", 学历=EDUCATION_CODE, 管理关系="INFLOW"),
            good_row("导入三", 人员类别="APPLICANT", 入党日期="", 转正日期="", 学历="")]
    dry = await post(api, "a_operator", csv_file(rows), a2, dry_run=True)
    assert dry.status_code == 200 and dry.json() == {"imported": 3, "dryRun": True, "errors": []}
    assert await count(api, "a_operator", a2) == before
    response = await post(api, "a_operator", csv_file(rows), a2)
    assert response.status_code == 200, response.text
    assert response.json() == {"imported": 3, "dryRun": False, "errors": []}
    assert await count(api, "a_operator", a2) == before + 3  # the cached answer moved (data versions)
    _, nodes = await graphql_members(api, "a_admin", a2, {"scope": "SELF", "categories": [
        "APPLICANT", "ACTIVIST", "CANDIDATE", "PROBATIONARY", "FULL"]})
    by_name = {n["name"]: n for n in nodes}
    assert by_name["导入一"]["education"]["label"] == EDUCATION_LABEL
    assert by_name["导入一"]["joinedOn"] == "2010-07-01" and by_name["导入一"]["category"] == "FULL"
    assert by_name["导入二"]["education"]["label"] == EDUCATION_LABEL
    assert by_name["导入二"]["affiliation"] == "INFLOW"
    assert by_name["导入三"]["category"] == "APPLICANT" and by_name["导入三"]["education"] is None
    assert by_name["导入一"]["idNumber"] == rows[0]["身份证号码"]
    book = xlsx_file([["表格一", new_id_number(), "预备党员", None, "汉族", dt.date(2020, 1, 5),
                       dt.datetime(2024, 3, 1), None, None]])
    response = await post(api, "a_admin", book, a2, filename="whatever.bin")
    assert response.status_code == 200 and response.json()["imported"] == 1, response.text
    assert await count(api, "a_admin", a2) == before + 4


async def test_every_bad_row_is_reported_and_nothing_written(api, world):
    a2 = world.orgs["a2"]
    taken = world.members["b1_only"].id_number  # another branch's member: still a duplicate
    twin = new_id_number()
    rows = [
        good_row("好的"),                                              # 2: good
        good_row(""),                                                  # 3: no name
        good_row("校验码错", 身份证号码="110101199003070001"),           # 4
        good_row("代码错", 学历="99x"),                                  # 5
        good_row("日期错", 入党日期="七月一日"),                          # 6
        good_row("顺序错", 申请入党日期="2012-01-01"),                    # 7
        good_row("缺转正", 转正日期=""),                                  # 8
        good_row("重复一", 身份证号码=twin),                              # 9
        good_row("重复二", 身份证号码=twin),                              # 10
        good_row("已存在", 身份证号码=taken),                             # 11
        good_row("=HYPERLINK(\"http://evil\")"),                       # 12
        good_row("类别错", 人员类别="群众"),                              # 13
        good_row("关系错", 管理关系="借调"),                              # 14
        good_row("未满十八", 身份证号码=new_id_number(dt.date(1995, 1, 1)), 申请入党日期="2012-01-01",
                 入党日期="2012-07-01", 转正日期="2013-07-01"),           # 15
    ]
    before = await count(api, "root_admin", world.orgs["root"])
    response = await post(api, "a_operator", csv_file(rows), a2)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["imported"] == 0 and body["dryRun"] is False
    found = {(e["row"], e["column"]) for e in body["errors"]}
    assert found >= {(3, "姓名"), (4, "身份证号码"), (5, "学历"), (6, "入党日期"), (7, "入党日期"), (8, "转正日期"),
                     (10, "身份证号码"), (11, "身份证号码"), (12, "姓名"), (13, "人员类别"), (14, "管理关系"),
                     (15, "入党日期")}, body
    assert not any(e["row"] in (2, 9) for e in body["errors"])
    by_row = {e["row"]: e for e in body["errors"]}
    assert by_row[10]["message"] == "身份证号码与第 9 行重复"
    assert by_row[11]["message"] == "该身份证号码的党员已存在" and by_row[11]["value"] == taken
    assert by_row[5]["value"] == "99x" and "代码表" in by_row[5]["message"]
    assert "公式" in by_row[12]["message"]
    assert await count(api, "root_admin", world.orgs["root"]) == before
    dry = await post(api, "a_operator", csv_file(rows), a2, dry_run=True)
    assert dry.status_code == 422 and dry.json()["dryRun"] is True and dry.json()["errors"] == body["errors"]
    book = xlsx_file([["公式", "=A1", "正式党员"]], header=["姓名", "身份证号码", "人员类别"])
    formula = await post(api, "a_operator", book, a2)
    assert formula.status_code == 422 and formula.json()["errors"][0]["column"] == "身份证号码"


def _zip(parts: dict[str, bytes]) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def small_limit() -> Settings:
    return Settings(password_profile="cheapest", import_max_rows=5, max_import_bytes=12 << 20)


@pytest.fixture
async def limited_api(engine, small_limit):
    app = create_app(engine, small_limit)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield Api(http)


async def test_bad_files_are_refused_with_json(limited_api, world):
    api = limited_api
    a2 = world.orgs["a2"]
    before = await count(api, "root_admin", world.orgs["root"])
    garbage = os.urandom(10 << 20)
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(2000)
    fake_zip = b"PK\x03\x04" + os.urandom(5000)
    cases = [
        (garbage, 400), (png, 400), (fake_zip, 400), (b"", 400), (b"   \r\n", 400),
        (csv_file([good_row("x")], header=["名字", "身份证号码", "人员类别"]), 400),   # unknown header
        (csv_file([good_row("x")], header=["姓名", "人员类别"]), 400),                # missing 身份证号码
        (csv_file([good_row("x")], header=["姓名", "身份证号码", "人员类别", "姓名"]), 400),  # repeated
        (csv_file([]), 400),                                                        # header only
        (csv_file([good_row(f"人{i}") for i in range(6)]), 413),                    # over the row limit
        (xlsx_file([[f"人{i}", new_id_number(), "正式党员"] for i in range(6)],
                   header=["姓名", "身份证号码", "人员类别"]), 413),
        ("姓名,身份证号码,人员类别\r\n张三,1,正式党员".encode("gb18030")[:-2] + b"\xff\xfe", 400),
        (_zip({"xl/worksheets/sheet1.xml": b"<worksheet><sheetData><row r='1'><c r='A1' t='inlineStr'><is><t>"}), 400),
        (_zip({"docProps/app.xml": b"<x/>"}), 400),                                  # a ZIP without a sheet
        (_zip({"xl/worksheets/sheet1.xml": b"<!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;'>]>"
                                           b"<worksheet><sheetData><row><c t='str'><v>&b;</v></c></row></sheetData>"
                                           b"</worksheet>"}), 400),
    ]
    for content, status in cases:
        response = await post(api, "a_operator", content, a2)
        assert response.status_code == status, (content[:40], response.text)
        body = response.json()
        assert body["imported"] == 0 and body["code"] == "BAD_FILE" and body["errors"][0]["row"] is None
        assert body["errors"][0]["message"]
    too_big = await post(api, "a_operator", os.urandom(13 << 20), a2)
    assert too_big.status_code == 413
    gbk = "姓名,身份证号码,人员类别\r\n国标,{},正式党员\r\n".format(new_id_number()).encode("gb18030")
    response = await post(api, "a_operator", gbk, a2, dry_run=True)
    assert response.status_code == 422 and response.json()["errors"][0]["column"] == "入党日期"
    token = await api.login("a_operator")
    not_multipart = await api.http.post("/import/members", content=b"{}", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert not_multipart.status_code == 400
    no_file = await api.http.post("/import/members", data={"dryRun": "true"}, headers={"Authorization": f"Bearer {token}"})
    assert no_file.status_code == 400
    assert await count(api, "root_admin", world.orgs["root"]) == before
    assert (await api.as_("root_admin", "{ organization(code: \"001\") { name } }"))["data"]  # server unharmed


async def test_import_roles_and_branch(api, world):
    content = csv_file([good_row("角色")])
    for who, organization, status, code in [
        (None, world.orgs["a2"], 401, "UNAUTHENTICATED"),
        ("a_viewer", world.orgs["a2"], 403, "FORBIDDEN"),
        ("a1_member", world.orgs["a1"], 403, "FORBIDDEN"),
        ("b_admin", world.orgs["a2"], 404, "NOT_FOUND"),
        ("a1_admin", world.orgs["a"], 404, "NOT_FOUND"),
    ]:
        response = await post(api, who, content, organization)
        assert response.status_code == status, (who, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == code
    assert (await post(api, "a1_admin", content)).json()["imported"] == 1  # default: the caller's organization


@contextlib.asynccontextmanager
async def other_database(engine, tmp_path):
    """An empty database of the same engine: a root and one empty organization with an ADMIN."""
    if engine.dialect.name == "sqlite":
        other = make_engine(f"sqlite+aiosqlite:///{tmp_path}/other-{uuid.uuid4().hex[:6]}.db")
        schema = None
    else:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = make_engine(POSTGRES_URL)
        async with admin.begin() as connection:
            await connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        other = make_engine(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}})
    async with other.begin() as connection:
        await connection.run_sync(models.Base.metadata.create_all)
    async with make_sessionmaker(other)() as session, session.begin():
        root = await make_root(session, name="中共另一市委员会", code="009")
        target = await make_org(session, root, "中共另一市接收支部委员会", "001", type="BRANCH")
        await make_account(session, target, "receiver", "ADMIN")
    try:
        yield other, target
    finally:
        from tests.conftest import assert_healthy

        await assert_healthy(other)
        await other.dispose()
        if schema is not None:
            async with admin.begin() as connection:
                await connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.dispose()


ROUND = """query($o: ID!) { organization(id: $o) { memberCount members(first: 100, filter: {statuses: [ACTIVE, FLOWING_OUT, TRANSFERRING, PENDING_APPROVAL]}) { edges { node {
  name idNumber gender birthDate nativePlace phone category affiliation appliedOn activistOn candidateOn joinedOn
  confirmedOn reviewNote ethnicity { code } education { code } degree { code } jobPosition { code }
  technicalTitle { code } } } } } }"""
SAME = ("name", "idNumber", "gender", "birthDate", "nativePlace", "phone", "category", "affiliation", "appliedOn",
        "activistOn", "candidateOn", "joinedOn", "confirmedOn", "reviewNote", "ethnicity", "education", "degree",
        "jobPosition", "technicalTitle")


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
async def test_round_trip_into_another_database(api, engine, tree, tmp_path, settings, kind):
    a1 = tree.orgs["a1"]
    export = await get(api, "a_admin", f"/export/members.{kind}", {"organizationId": gid("Organization", a1),
                                                                   "scope": "SUBTREE"})
    assert export.status_code == 200
    expected, source = await graphql_members(api, "a_admin", a1, {"scope": "SUBTREE"})
    assert expected > 10
    async with other_database(engine, tmp_path) as (other, target):
        app = create_app(other, settings)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            there = Api(http)
            response = await post(there, "receiver", export.content, target, filename=f"x.{kind}")
            assert response.status_code == 200, response.text
            assert response.json()["imported"] == expected
            result = await there.as_("receiver", ROUND, {"o": gid("Organization", target)})
            assert "errors" not in result, result
            imported = {n["idNumber"]: n for n in (e["node"] for e in result["data"]["organization"]["members"]["edges"])}
            assert result["data"]["organization"]["memberCount"] == expected
            originals = await _originals(api, a1, [n["idNumber"] for n in source])
            assert set(imported) == set(originals)
            for number, node in originals.items():
                assert {k: node[k] for k in SAME} == {k: imported[number][k] for k in SAME}, number
            again = await post(there, "receiver", export.content, target, filename=f"x.{kind}")
            assert again.status_code == 422 and len(again.json()["errors"]) == expected  # all duplicates now


ONE = """query($n: String!) { members(filter: {idNumber: $n, statuses: [ACTIVE, FLOWING_OUT, TRANSFERRING]}) { edges { node {
  name idNumber gender birthDate nativePlace phone category affiliation appliedOn activistOn candidateOn joinedOn
  confirmedOn reviewNote ethnicity { code } education { code } degree { code } jobPosition { code }
  technicalTitle { code } } } } }"""


async def _originals(api, organization, numbers) -> dict[str, dict]:
    found = {}
    for number in numbers:
        result = await api.as_("a_admin", ONE, {"n": number})
        node = result["data"]["members"]["edges"][0]["node"]
        found[node["idNumber"]] = node
    return found


async def test_import_into_an_approval_organization_counts_nothing_yet(api, engine, world):
    async with make_sessionmaker(engine)() as session, session.begin():
        pending = await make_org(session, world.orgs["a"], "中共示范市甲区待审支部", "009", type="BRANCH",
                                 requires_approval=True)
    response = await post(api, "a_admin", csv_file([good_row("待审一"), good_row("待审二")]), pending)
    assert response.status_code == 200 and response.json()["imported"] == 2
    assert await count(api, "a_admin", pending) == 0
    _, nodes = await graphql_members(api, "a_admin", pending, {"statuses": ["PENDING_APPROVAL"]})
    assert sorted(n["name"] for n in nodes) == ["待审一", "待审二"]


async def test_two_imports_of_the_same_file_at_once(api, world):
    """Overlapping requests: both may pass their own duplicate check; the unique index (or the
    later check) stops the second, which writes nothing."""
    import asyncio

    a2 = world.orgs["a2"]
    before = await count(api, "a_admin", a2)
    content = csv_file([good_row(f"并发{i}") for i in range(40)])
    await api.login("a_operator"), await api.login("a_admin")
    first, second = await asyncio.gather(post(api, "a_operator", content, a2), post(api, "a_admin", content, a2))
    statuses = sorted([first.status_code, second.status_code])
    assert statuses[0] == 200 and statuses[1] in (409, 422), (first.text, second.text)
    loser = first if first.status_code != 200 else second
    assert loser.json()["imported"] == 0
    assert await count(api, "a_admin", a2) == before + 40


async def test_exports_and_imports_are_in_the_audit_trail(api, engine, world):
    """Issue 12: every export and import writes an audit entry (who, what, how many rows); an
    import's entry is written in the import's own transaction, a refused import writes none."""
    from tests.test_audit import entries

    a2 = world.orgs["a2"]
    response = await post(api, "a_operator", csv_file([good_row("审计一"), good_row("审计二")]), a2)
    assert response.status_code == 200, response.text
    bad = await post(api, "a_operator", csv_file([good_row("审计三", 人员类别="不存在的类别")]), a2)
    assert bad.status_code == 422
    [entry] = await entries(engine, "importMembers")
    assert entry.organization_id == a2.id and entry.actor_account_id is not None
    assert json.loads(entry.changes) == {"rows": 2, "dryRun": False} and entry.address == "127.0.0.1"
    exported = await get(api, "a_viewer", "/export/members.csv",
                         {"organizationId": gid("Organization", a2), "scope": "SELF"})
    assert exported.status_code == 200
    [entry] = await entries(engine, "export:members.csv")
    rows = len(exported.content.decode("utf-8-sig").strip().splitlines()) - 1
    assert json.loads(entry.changes)["rows"] == rows
    assert entry.organization_id == world.orgs["a"].id  # the exporting account's organization


async def test_file_routes_are_not_cut_by_the_request_timeout(engine, world):
    """The request timeout (DANGJIAN_REQUEST_TIMEOUT) guards GraphQL requests; an import or an
    export runs as long as its file takes (100,000 rows on PostgreSQL took over the 30 s)."""
    api = Api(None)
    token_app = create_app(engine, Settings(password_profile="cheapest"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=token_app), base_url="http://test") as http:
        api.http = http
        token = await api.login("a_operator")
    app = create_app(engine, Settings(password_profile="cheapest", request_timeout_seconds=1e-6))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        headers = {"Authorization": f"Bearer {token}"}
        imported = await http.post("/import/members", files={"file": ("m.csv", csv_file([good_row("慢导入")]))},
                                   data={"organizationId": gid("Organization", world.orgs["a2"])}, headers=headers)
        assert imported.status_code == 200, imported.text
        exported = await http.get("/export/members.csv", params={"organizationId": gid("Organization", world.orgs["a2"])},
                                  headers=headers)
        assert exported.status_code == 200 and "慢导入" in exported.content.decode("utf-8-sig")
        query = await http.post("/graphql", json={"query": "{ viewer { username } }"}, headers=headers)
        assert query.status_code == 503
