"""Exports (issue 10) through the HTTP routes on both engines: the roster as XLSX and CSV opened
with openpyxl / csv and compared with GraphQL's answers (members, memberCount with the same filter
and scope), VIEWER masking, formula neutralising, dates as dates; cross-tabs, saved tables and the
member balance as XLSX and DOCX with GraphQL's numbers; 401/403/404 JSON errors, never a file."""
from __future__ import annotations

import csv
import datetime as dt
import io

import docx
import openpyxl

from db import clock
from db.engine import make_sessionmaker
from db.services import members as member_service
from tests.conftest import gid
from tests.factories import make_member
from tests.test_statistics import tree  # noqa: F401  (the fixture)

MEMBERS = """query($o: ID!, $f: MemberFilter, $after: String) { organization(id: $o) {
  memberCount(filter: $f)
  members(filter: $f, first: 100, after: $after) { pageInfo { hasNextPage endCursor }
    edges { node { name idNumber birthDate joinedOn gender category affiliation status
      education { label } organization { name } } } } } }"""


async def graphql_members(api, who, organization, member_filter) -> tuple[int, list[dict]]:
    nodes, after = [], None
    while True:
        result = await api.as_(who, MEMBERS, {"o": gid("Organization", organization), "f": member_filter,
                                              "after": after})
        assert "errors" not in result, result
        o = result["data"]["organization"]
        nodes += [e["node"] for e in o["members"]["edges"]]
        if not o["members"]["pageInfo"]["hasNextPage"]:
            return o["memberCount"], nodes
        after = o["members"]["pageInfo"]["endCursor"]


async def get(api, who, path, params=None):
    token = await api.login(who) if who else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await api.http.get(path, params=params, headers=headers)


def xlsx_rows(response) -> list[list]:
    assert response.status_code == 200, response.text
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    return [list(r) for r in book.active.iter_rows(values_only=True)]


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


async def test_roster_equals_member_count_and_list(api, tree):
    a = tree.orgs["a"]
    cases = [
        ({"scope": "SUBTREE"}, {"scope": "SUBTREE"}),
        ({"scope": "SELF"}, {"scope": "SELF"}),
        ({"scope": "SUBTREE", "genders": "FEMALE", "minAge": "30"}, {"scope": "SUBTREE", "genders": ["FEMALE"], "minAge": 30}),
        ({"scope": "SUBTREE", "categories": ["FULL", "PROBATIONARY"], "statuses": "ACTIVE,FLOWING_OUT,LEFT"},
         {"scope": "SUBTREE", "categories": ["FULL", "PROBATIONARY"], "statuses": ["ACTIVE", "FLOWING_OUT", "LEFT"]}),
        ({"scope": "SUBTREE", "educationCodes": "21,31"}, {"scope": "SUBTREE", "educationCodes": ["21", "31"]}),
    ]
    for params, member_filter in cases:
        count, nodes = await graphql_members(api, "a_admin", a, member_filter)
        rows = xlsx_rows(await get(api, "a_admin", "/export/members.xlsx",
                                   {"organizationId": gid("Organization", a), **params}))
        header, body = rows[0], rows[1:]
        assert header[:4] == ["姓名", "性别", "身份证号码", "出生日期"]
        assert len(body) == count, params
        assert sorted(r[2] for r in body) == sorted(n["idNumber"] for n in nodes), params
        by_number = {n["idNumber"]: n for n in nodes}
        for row in body:
            node = by_number[row[2]]
            assert row[0] == node["name"] and row[1] == {"MALE": "男", "FEMALE": "女"}[node["gender"]]
            assert isinstance(row[3], dt.datetime) and row[3].date().isoformat() == node["birthDate"]
            assert row[header.index("学历")] == (node["education"] or {}).get("label")
            assert row[header.index("所在党组织")] == node["organization"]["name"]
        csv_body = csv_rows(await get(api, "a_admin", "/export/members.csv",
                                      {"organizationId": gid("Organization", a), **params}))
        assert csv_body[0] == header and len(csv_body) - 1 == count
        assert [r[2] for r in csv_body[1:]] == [r[2] for r in body]  # the same rows in the same order


async def test_roster_columns_default_organization_and_viewer_masking(api, tree):
    rows = xlsx_rows(await get(api, "a1_viewer", "/export/members.xlsx",
                               {"columns": "name,idNumber,joinedOn,category"}))
    count, nodes = await graphql_members(api, "a1_viewer", tree.orgs["a1"], {"scope": "SUBTREE"})
    assert rows[0] == ["姓名", "身份证号码", "入党日期", "人员类别"]
    assert len(rows) - 1 == count
    assert sorted(r[1] for r in rows[1:]) == sorted(n["idNumber"] for n in nodes)
    assert all("*" in r[1] for r in rows[1:])  # masked exactly as GraphQL shows them to a VIEWER
    assert {r[3] for r in rows[1:]} <= {"入党申请人", "入党积极分子", "发展对象", "预备党员", "正式党员"}
    refused = await get(api, "a1_viewer", "/export/members.csv", {"idNumber": "110101199003070000"})
    assert refused.status_code == 403 and refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    bad = await get(api, "a_admin", "/export/members.csv", {"columns": "name,password"})
    assert bad.status_code == 400 and "password" in bad.json()["errors"][0]["message"]
    bad = await get(api, "a_admin", "/export/members.csv", {"genders": "OTHER"})
    assert bad.status_code == 400
    bad = await get(api, "a_admin", "/export/members.csv", {"minAge": "x"})
    assert bad.status_code == 400
    bad = await get(api, "a_admin", "/export/members.csv", {"bogus": "1"})
    assert bad.status_code == 400


async def test_scope_and_roles_give_json_errors(api, tree):
    a = gid("Organization", tree.orgs["a"])
    for who, path, params, status, code in [
        (None, "/export/members.xlsx", {}, 401, "UNAUTHENTICATED"),
        ("b_admin", "/export/members.xlsx", {"organizationId": a}, 404, "NOT_FOUND"),
        ("b_admin", "/export/members.csv", {"organizationId": a}, 404, "NOT_FOUND"),
        ("a1_admin", "/export/members.csv", {"organizationId": a}, 404, "NOT_FOUND"),
        ("a_admin", "/export/members.csv", {"organizationId": "bm9wZQ"}, 404, "NOT_FOUND"),
        ("a1_member", "/export/members.csv", {}, 403, "FORBIDDEN"),
        ("b_admin", "/export/crosstab.xlsx", {"organizationId": a, "rows": "GENDER"}, 404, "NOT_FOUND"),
        ("a1_member", "/export/crosstab.docx", {"organizationId": a, "rows": "GENDER"}, 403, "FORBIDDEN"),
        ("b_viewer", "/export/balance.docx", {"organizationId": a, "from": "2020-01-01", "to": "2020-12-31"}, 404,
         "NOT_FOUND"),
        ("a_admin", "/export/members.pdf", {}, 404, "NOT_FOUND"),
        ("a_admin", "/export/crosstab.xlsx", {"organizationId": a, "rows": "NOPE"}, 400, "BAD_USER_INPUT"),
        ("a_admin", "/export/crosstab.xlsx", {"organizationId": a, "rows": "GENDER",
                                              "asOf": (clock.today() + dt.timedelta(days=1)).isoformat()},
         400, "BAD_USER_INPUT"),
        ("a_admin", "/export/balance.xlsx", {"organizationId": a, "from": "2021-01-01", "to": "2020-12-31"}, 400,
         "BAD_USER_INPUT"),
    ]:
        response = await get(api, who, path, params)
        assert response.status_code == status, (who, path, response.text)
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["errors"][0]["extensions"]["code"] == code


async def test_formula_cells_are_neutralised(api, engine, tree):
    async with make_sessionmaker(engine)() as session, session.begin():
        await make_member(session, tree.orgs["a2"], name="=HYPERLINK(\"http://evil\",\"x\")",
                          native_place="+cmd|' /C calc'!A0", phone="-1+1", review_note="@SUM(A1)")
    params = {"organizationId": gid("Organization", tree.orgs["a2"]), "scope": "SELF"}
    rows = xlsx_rows(await get(api, "a_admin", "/export/members.xlsx", params))
    header = rows[0]
    evil = next(r for r in rows[1:] if "HYPERLINK" in (r[0] or ""))
    assert evil[0] == "'=HYPERLINK(\"http://evil\",\"x\")"
    assert evil[header.index("籍贯")] == "'+cmd|' /C calc'!A0"
    assert evil[header.index("联系电话")] == "'-1+1"
    assert evil[header.index("人工审核说明")] == "'@SUM(A1)"
    book = openpyxl.load_workbook(io.BytesIO((await get(api, "a_admin", "/export/members.xlsx", params)).content))
    assert all(cell.data_type != "f" for row in book.active.iter_rows() for cell in row)
    text = csv_rows(await get(api, "a_admin", "/export/members.csv", params))
    assert any(r[0] == "'=HYPERLINK(\"http://evil\",\"x\")" for r in text)


CROSS_TAB = """query($input: CrossTabInput!) { crossTab(input: $input) {
  rows { key label } columns { key label } cells rowTotals columnTotals total } }"""


def docx_table(response) -> tuple[list[str], list[list[str]]]:
    assert response.status_code == 200, response.text
    document = docx.Document(io.BytesIO(response.content))
    paragraphs = [p.text for p in document.paragraphs]
    table = document.tables[0]
    return paragraphs, [[c.text for c in row.cells] for row in table.rows]


def report_table(rows: list[list]) -> tuple[list[list], list]:
    """(heading lines, table rows) of a report sheet: the table starts after the blank row."""
    blank = rows.index(next(r for r in rows if all(v is None for v in r)))
    return rows[:blank], rows[blank + 1:]


async def test_cross_tab_exports_equal_graphql(api, tree):
    a = gid("Organization", tree.orgs["a"])
    for spec in [{"rows": "EDUCATION", "columns": "GENDER"}, {"rows": "CHILD_ORGANIZATION"},
                 {"rows": "AGE_BAND", "columns": "CATEGORY", "filter": {"genders": ["FEMALE"]}},
                 {"rows": "GENDER", "scope": "SELF"},
                 {"rows": "JOIN_YEAR", "asOf": (clock.today() - dt.timedelta(days=400)).isoformat()},
                 {"subject": "ORGANIZATIONS", "rows": "ORG_TYPE"}]:
        data = (await api.as_("a_viewer", CROSS_TAB, {"input": {"organizationId": a, **spec}}))
        assert "errors" not in data, data
        expected = data["data"]["crossTab"]
        params = {"organizationId": a, **{k: v for k, v in spec.items() if k != "filter"}}
        for key, value in (spec.get("filter") or {}).items():
            params[key] = ",".join(value)
        heading, table = report_table(xlsx_rows(await get(api, "a_viewer", "/export/crosstab.xlsx", params)))
        assert heading[0][0].startswith("党员统计" if spec.get("subject") != "ORGANIZATIONS" else "党组织统计")
        labels = dict((r[0], r[1]) for r in heading[1:])
        assert labels["党组织"] == tree.orgs["a"].name
        assert labels["统计范围"] == ("本级" if spec.get("scope") == "SELF" else "本级及下级")
        assert labels["统计日期"] == spec.get("asOf", clock.today().isoformat())
        assert "生成时间" in labels
        with_columns = "columns" in spec
        header, body, totals = table[0], table[1:-1], table[-1]
        assert header[1:len(expected["columns"]) + 1] == [c["label"] for c in expected["columns"]]
        assert [r[0] for r in body] == [r["label"] for r in expected["rows"]]
        width = len(expected["columns"])
        assert [r[1:width + 1] for r in body] == expected["cells"]
        if with_columns:
            assert [r[width + 1] for r in body] == expected["rowTotals"]
            assert totals == ["合计", *expected["columnTotals"], expected["total"]]
        else:
            assert totals == ["合计", *expected["columnTotals"]]
        paragraphs, word = docx_table(await get(api, "a_viewer", "/export/crosstab.docx", params))
        assert paragraphs[0] == heading[0][0] and f"党组织：{tree.orgs['a'].name}" in paragraphs
        assert word[0] == [str(h) for h in header]
        assert word[1:] == [["" if v is None else str(v) for v in r] for r in table[1:]]


SAVE = """mutation($input: SaveStatDefinitionInput!) { saveStatDefinition(input: $input) {
  definition { id result { rows { label } cells total } } userErrors { message } } }"""


async def test_saved_table_export(api, tree):
    a1 = gid("Organization", tree.orgs["a1"])
    saved = (await api.as_("a1_viewer", SAVE, {"input": {"name": "一支部学历性别", "crossTab": {
        "organizationId": a1, "rows": "EDUCATION", "columns": "GENDER", "filter": {"categories": ["FULL"]}}}}))
    definition = saved["data"]["saveStatDefinition"]["definition"]
    heading, table = report_table(xlsx_rows(await get(api, "a1_viewer", f"/export/stat/{definition['id']}.xlsx")))
    assert heading[0][0] == "一支部学历性别"
    width = len(definition["result"]["cells"][0]) if definition["result"]["cells"] else 0
    assert [r[0] for r in table[1:-1]] == [r["label"] for r in definition["result"]["rows"]]
    assert [r[1:width + 1] for r in table[1:-1]] == definition["result"]["cells"]
    assert table[-1][-1] == definition["result"]["total"]
    paragraphs, word = docx_table(await get(api, "a1_viewer", f"/export/stat/{definition['id']}.docx"))
    assert paragraphs[0] == "一支部学历性别" and word[-1][-1] == str(definition["result"]["total"])
    for who in ("b_admin", "b_viewer"):
        response = await get(api, who, f"/export/stat/{definition['id']}.xlsx")
        assert response.status_code == 404 and response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert (await get(api, "a1_viewer", "/export/stat/garbage.xlsx")).status_code == 404


BALANCE = """query($o: ID!, $from: Date!, $to: Date!, $scope: Scope!) {
  memberBalance(organizationId: $o, from: $from, to: $to, scope: $scope) {
    start end increases { label count } decreases { label count } } }"""


async def test_balance_export_equals_graphql(api, tree):
    today = clock.today()
    for organization, scope, start in [("a", "SUBTREE", dt.date(today.year - 30, 1, 1)),
                                       ("a1", "SELF", dt.date(today.year - 10, 1, 1)),
                                       ("root", "SUBTREE", today - dt.timedelta(days=20))]:
        o = gid("Organization", tree.orgs[organization])
        variables = {"o": o, "from": start.isoformat(), "to": today.isoformat(), "scope": scope}
        result = await api.as_("root_admin", BALANCE, variables)
        b = result["data"]["memberBalance"]
        params = {"organizationId": o, "from": start.isoformat(), "to": today.isoformat(), "scope": scope}
        heading, table = report_table(xlsx_rows(await get(api, "root_admin", "/export/balance.xlsx", params)))
        assert heading[0][0] == "党员增减情况"
        assert table[0] == ["项目", "人数"]
        body = table[1:]
        n_in, n_out = len(b["increases"]), len(b["decreases"])
        assert body[0][1] == b["start"] and body[-1][1] == b["end"]
        assert body[1] == ["增加党员合计", sum(line["count"] for line in b["increases"])]
        assert [(r[0].split("：")[1], r[1]) for r in body[2:2 + n_in]] == [
            (line["label"], line["count"]) for line in b["increases"]]
        assert body[2 + n_in] == ["减少党员合计", sum(line["count"] for line in b["decreases"])]
        assert [(r[0].split("：")[1], r[1]) for r in body[3 + n_in:3 + n_in + n_out]] == [
            (line["label"], line["count"]) for line in b["decreases"]]
        paragraphs, word = docx_table(await get(api, "root_admin", "/export/balance.docx", params))
        assert word[1][1] == str(b["start"]) and word[-1][1] == str(b["end"])
        assert f"统计期间：{start.isoformat()} 至 {today.isoformat()}" in paragraphs


async def test_export_members_of_pending_and_counts_after_writes(api, engine, tree):
    """A plain SUBTREE count comes from the rollup, the roster from the rows: they agree after
    more writes too (the rollup's deltas not folded yet)."""
    async with make_sessionmaker(engine)() as session, session.begin():
        for i in range(3):
            await make_member(session, tree.orgs["a11"], name=f"新党员{i}")
    count, _ = await graphql_members(api, "root_admin", tree.orgs["root"], {"scope": "SUBTREE"})
    rows = xlsx_rows(await get(api, "root_admin", "/export/members.xlsx"))
    assert len(rows) - 1 == count
    assert member_service.DEFAULT_STATUSES  # the roster's default statuses are memberCount's
