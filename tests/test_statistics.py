"""Statistics through the GraphQL endpoint, on both engines: crossTab over every dimension and
every pair agrees with memberCount (same filter, same scope), its totals add up, each
drill-through's totalCount equals its cell; bad inputs are client errors; a caller of another
branch gets NOT_FOUND; saved tables (统计表格) with their owner-or-ADMIN deletion."""
from __future__ import annotations

import datetime as dt
import itertools

import pytest

from db import clock, models
from db.engine import make_sessionmaker
from db.services.statistics import MEMBER_DIMENSIONS, ORGANIZATION_DIMENSIONS
from tests.conftest import data_template, error_codes, gid, template_orgs
from tests.factories import make_account, make_member, make_org, make_varied_members, set_member_status

CROSS_TAB = """query($input: CrossTabInput!) { crossTab(input: $input) {
  rows { key label } columns { key label } cells rowTotals columnTotals total } }"""
COUNT = """query($id: ID!, $filter: MemberFilter) { organization(id: $id) { memberCount(filter: $filter) } }"""


@pytest.fixture
async def tree(engine, world):
    """The world, a level deeper under A1, with ~120 varied members, some of them left, transferred
    out, flowing out or pending, and a few MEMBER accounts. Built once per process and copied for
    each test (tests/conftest.py data_template), or in place where the module asks for it."""
    built = template_orgs(engine, "tree")
    if built is None:
        built = await build_tree(engine, world)
    async with make_sessionmaker(engine)() as session:
        world.orgs.update({key: await session.get(models.Organization, org_id) for key, org_id in built.items()})
    return world


@data_template("tree")
async def build_tree(engine, world) -> dict:
    async with make_sessionmaker(engine)() as session, session.begin():
        a1 = world.orgs["a1"]
        world.orgs["a11"] = await make_org(session, a1, "中共示范市甲区第一支部第一党小组", "001", type="BRANCH")
        world.orgs["a_pending"] = await make_org(session, world.orgs["a"], "中共示范市甲区待审支部", "003",
                                                 type="BRANCH", requires_approval=True)
        places = [world.orgs[n] for n in ("a", "a1", "a2", "a11", "b1", "root")]
        made = await make_varied_members(session, places, 120)
        made.append(await make_member(session, world.orgs["a_pending"], name="待审党员"))
        for i, member in enumerate(made[:6]):
            await make_account(session, member_org(world, member), f"member_{i}", "MEMBER", member=member)
    await set_member_status(engine, [m.id for m in made[10:14]], "LEFT")
    await set_member_status(engine, [m.id for m in made[14:17]], "TRANSFERRED_OUT")
    await set_member_status(engine, [m.id for m in made[17:20]], "FLOWING_OUT")
    return {key: world.orgs[key].id for key in ("a11", "a_pending")}


def member_org(world, member):
    return next(o for o in world.orgs.values() if o.id == member.organization_id)


async def cross_tab(api, who, **input_) -> dict:
    result = await api.as_(who, CROSS_TAB, {"input": input_})
    assert "errors" not in result, result
    return result["data"]["crossTab"]


def assert_adds_up(table: dict) -> None:
    cells = table["cells"]
    assert len(cells) == len(table["rows"]) == len(table["rowTotals"])
    assert all(len(line) == len(table["columns"]) for line in cells)
    assert table["rowTotals"] == [sum(line) for line in cells]
    assert table["columnTotals"] == [sum(line[j] for line in cells) for j in range(len(table["columns"]))]
    assert sum(table["rowTotals"]) == sum(table["columnTotals"]) == table["total"]
    assert all(total > 0 for total in table["rowTotals"] + table["columnTotals"]), "a value that does not occur"
    keys = [v["key"] for v in table["rows"]]
    assert len(set(keys)) == len(keys)
    if "NONE" in keys:
        assert keys[-1] == "NONE"


async def drill_counts(api, who, input_: dict, cells: list[tuple[str, str | None]]) -> list[int]:
    """The drill-through totalCount of each (row, column), in one request (aliases)."""
    counts = []
    for start in range(0, len(cells), 25):
        chunk = cells[start:start + 25]
        parts = []
        variables = {"input": input_}
        declared = ["$input: CrossTabInput!"]
        for i, (row, column) in enumerate(chunk):
            declared.append(f"$r{i}: String!")
            declared.append(f"$c{i}: String")
            variables[f"r{i}"], variables[f"c{i}"] = row, column
            parts.append(f"d{i}: members(row: $r{i}, column: $c{i}, first: 1) {{ totalCount }}")
        document = f"query({', '.join(declared)}) {{ crossTab(input: $input) {{ {' '.join(parts)} }} }}"
        result = await api.as_(who, document, variables)
        assert "errors" not in result, result
        counts += [result["data"]["crossTab"][f"d{i}"]["totalCount"] for i in range(len(chunk))]
    return counts


SCOPES = [
    ("a", "SUBTREE", None),
    ("a1", "SELF", None),
    ("root", "SUBTREE", {"statuses": ["ACTIVE", "LEFT", "FLOWING_OUT"], "minAge": 30, "maxAge": 70}),
    ("a", "SUBTREE", {"hasAccount": False, "categories": ["PROBATIONARY", "FULL"], "joinedFrom": "1990-01-01",
                      "completenessBelow": 100, "affiliations": ["DIRECT"], "scope": "SELF"}),
]


@pytest.mark.parametrize("org, scope, member_filter", SCOPES)
async def test_every_dimension_and_pair_agrees_with_member_count(api, tree, org, scope, member_filter):
    who = "root_admin"
    organization_id = gid("Organization", tree.orgs[org])
    # The cross-tab's own scope decides (a filter's scope is not used there).
    count_filter = {**(member_filter or {}), "scope": scope}
    count = (await api.as_(who, COUNT, {"id": organization_id, "filter": count_filter}))["data"]["organization"]["memberCount"]
    assert count > 0
    base = {"organizationId": organization_id, "scope": scope}
    if member_filter is not None:
        base["filter"] = member_filter
    singles = {}
    for dimension in MEMBER_DIMENSIONS:
        input_ = {**base, "rows": dimension}
        table = await cross_tab(api, who, **input_)
        assert_adds_up(table)
        assert table["total"] == count, dimension
        assert table["columns"] == [{"key": "total", "label": "合计"}]
        assert all(v["label"] for v in table["rows"])
        singles[dimension] = table
        rows = [v["key"] for v in table["rows"]]
        assert await drill_counts(api, who, input_, [(r, None) for r in rows]) == table["rowTotals"], dimension
    for rows_dim, columns_dim in itertools.combinations(MEMBER_DIMENSIONS, 2):
        input_ = {**base, "rows": rows_dim, "columns": columns_dim}
        table = await cross_tab(api, who, **input_)
        assert_adds_up(table)
        assert table["total"] == count
        assert table["rows"] == singles[rows_dim]["rows"] and table["rowTotals"] == singles[rows_dim]["rowTotals"]
        assert table["columns"] == singles[columns_dim]["rows"]
        assert table["columnTotals"] == singles[columns_dim]["rowTotals"]
        # Every cell of the first rows (zero cells included), and the last row.
        keys = [(i, j) for i in list(range(min(2, len(table["rows"])))) + [len(table["rows"]) - 1]
                for j in range(len(table["columns"]))]
        keys = sorted(set(keys))
        cells = [(table["rows"][i]["key"], table["columns"][j]["key"]) for i, j in keys]
        assert await drill_counts(api, who, input_, cells) == [table["cells"][i][j] for i, j in keys], (rows_dim, columns_dim)


async def test_drill_through_pages_list_exactly_the_cell(api, tree):
    who = "a_viewer"
    input_ = {"organizationId": gid("Organization", tree.orgs["a"]), "rows": "CHILD_ORGANIZATION",
              "columns": "GENDER"}
    table = await cross_tab(api, who, **input_)
    labels = [v["label"] for v in table["rows"]]
    # The organization itself first (members held directly), then its children by code.
    assert labels[0] == tree.orgs["a"].name + "（本级）"
    assert labels[1:] == [tree.orgs[n].name for n in ("a1", "a2", "a_pending") if tree.orgs[n].name in labels]
    a1_row = labels.index(tree.orgs["a1"].name)
    query = """query($input: CrossTabInput!, $row: String!, $column: String, $after: String) { crossTab(input: $input) {
      members(row: $row, column: $column, first: 3, after: $after) { totalCount pageInfo { hasNextPage endCursor }
        edges { node { id gender organization { id } } } } } }"""
    for j, column in enumerate(table["columns"]):
        seen, after = [], None
        while True:
            result = await api.as_(who, query, {"input": input_, "row": table["rows"][a1_row]["key"],
                                                "column": column["key"], "after": after})
            assert "errors" not in result, result
            connection = result["data"]["crossTab"]["members"]
            assert connection["totalCount"] == table["cells"][a1_row][j]
            seen += [e["node"] for e in connection["edges"]]
            if not connection["pageInfo"]["hasNextPage"]:
                break
            after = connection["pageInfo"]["endCursor"]
        assert len(seen) == len({n["id"] for n in seen}) == table["cells"][a1_row][j]
        assert {n["gender"] for n in seen} <= {column["key"]}
        # A1's row holds A1 and A11 (its subtree).
        assert {n["organization"]["id"] for n in seen} <= {gid("Organization", tree.orgs["a1"]),
                                                             gid("Organization", tree.orgs["a11"])}


async def test_organizations_by_child_type_and_level(api, tree):
    who = "root_admin"
    descendants = """query($id: ID!) { organization(id: $id) { descendants(first: 1) { totalCount } } }"""
    for org in ("root", "a"):
        organization_id = gid("Organization", tree.orgs[org])
        below = (await api.as_(who, descendants, {"id": organization_id}))["data"]["organization"]["descendants"]["totalCount"]
        for rows in ORGANIZATION_DIMENSIONS:
            table = await cross_tab(api, who, subject="ORGANIZATIONS", organizationId=organization_id, rows=rows)
            assert_adds_up(table)
            assert table["total"] == below + 1
        for rows, columns in itertools.permutations(ORGANIZATION_DIMENSIONS, 2):
            table = await cross_tab(api, who, subject="ORGANIZATIONS", organizationId=organization_id,
                                    rows=rows, columns=columns)
            assert_adds_up(table)
            assert table["total"] == below + 1
    table = await cross_tab(api, who, subject="ORGANIZATIONS", organizationId=gid("Organization", tree.orgs["a"]),
                            rows="ORG_TYPE", scope="SELF")
    assert table["rows"] == [{"key": "COMMITTEE", "label": "党委"}] and table["total"] == 1
    table = await cross_tab(api, who, subject="ORGANIZATIONS", organizationId=gid("Organization", tree.orgs["root"]),
                            rows="LEVEL")
    assert [v["key"] for v in table["rows"]] == ["0", "1", "2", "3"]
    assert table["rowTotals"] == [1, 2, 4, 1]


async def test_labels_and_bands(api, tree):
    table = await cross_tab(api, "root_admin", organizationId=gid("Organization", tree.orgs["root"]), rows="AGE_BAND",
                            columns="HAS_ACCOUNT")
    keys = [v["key"] for v in table["rows"]]
    order = ["0-30", "31-35", "36-40", "41-45", "46-50", "51-55", "56-60", "61-70", "71-"]
    assert keys == [k for k in order if k in keys]
    assert [v["key"] for v in table["columns"]] == ["YES", "NO"]
    assert [v["label"] for v in table["columns"]] == ["是", "否"]
    assert table["columnTotals"][0] == 7  # the MEMBER accounts: six made here and the world's a1_member
    education = await cross_tab(api, "root_admin", organizationId=gid("Organization", tree.orgs["root"]),
                                 rows="EDUCATION")
    assert education["rows"][-1] == {"key": "NONE", "label": "未填"}
    assert all(v["label"] != v["key"] for v in education["rows"])
    status = await cross_tab(api, "root_admin", organizationId=gid("Organization", tree.orgs["root"]),
                             rows="STATUS", filter={"statuses": ["LEFT", "ACTIVE", "TRANSFERRED_OUT"]})
    assert [v["key"] for v in status["rows"]] == ["ACTIVE", "TRANSFERRED_OUT", "LEFT"]
    assert status["rowTotals"][1:] == [3, 4]


async def test_age_band_boundaries_on_both_engines(api, engine, world):
    """A member turning 31 today is 31–35; one turning 31 tomorrow is still ≤30 (the minAge
    arithmetic, 29 February included)."""
    today = clock.today()

    def years_ago(n: int, days: int = 0) -> dt.date:
        try:
            day = today.replace(year=today.year - n)
        except ValueError:
            day = today.replace(year=today.year - n, day=28)
        return day + dt.timedelta(days=days)

    from db import idnumber
    async with make_sessionmaker(engine)() as session, session.begin():
        org = await make_org(session, world.orgs["b"], "中共示范市乙区边界支部", "009", type="BRANCH")
        for seq, birth in enumerate((years_ago(31), years_ago(31, 1), years_ago(71), years_ago(71, 1))):
            # Exactly this birth date (new_id_number shifts it as its sequence grows).
            await make_member(session, org, id_number=idnumber.make("430102", birth, 901 + seq), category="APPLICANT",
                              applied_on=min(today, birth.replace(year=birth.year + 19)), joined_on=None,
                              confirmed_on=None)
    table = await cross_tab(api, "b_admin", organizationId=gid("Organization", org), rows="AGE_BAND", scope="SELF")
    assert {v["key"]: n for v, n in zip(table["rows"], table["rowTotals"])} == {"0-30": 1, "31-35": 1, "61-70": 1,
                                                                               "71-": 1}


BAD_INPUTS = [
    ({"rows": "ORG_TYPE"}, "a member-only subject with an organization dimension"),
    ({"rows": "GENDER", "subject": "ORGANIZATIONS"}, "a member dimension on ORGANIZATIONS"),
    ({"rows": "GENDER", "columns": "GENDER"}, "the same dimension twice"),
    ({"rows": "LEVEL", "subject": "ORGANIZATIONS", "filter": {"genders": ["MALE"]}}, "a member filter on organizations"),
    ({"rows": "GENDER", "asOf": (clock.today() + dt.timedelta(days=1)).isoformat()}, "a date after today"),
    ({"rows": "GENDER", "filter": {"minAge": 200}}, "an age out of range"),
]


@pytest.mark.parametrize("bad, why", BAD_INPUTS)
async def test_bad_inputs_are_client_errors(api, world, bad, why):
    result = await api.as_("a_viewer", CROSS_TAB, {"input": {"organizationId": gid("Organization", world.orgs["a"]), **bad}})
    assert error_codes(result) == ["BAD_USER_INPUT"], (why, result)
    assert result["data"] is None


async def test_future_dates_say_so_in_chinese(api, world):
    tomorrow = (clock.today() + dt.timedelta(days=1)).isoformat()
    result = await api.as_("a_viewer", CROSS_TAB, {"input": {"organizationId": gid("Organization", world.orgs["a"]),
                                                             "rows": "GENDER", "asOf": tomorrow}})
    assert "不能晚于今天" in result["errors"][0]["message"]
    today = await api.as_("a_viewer", CROSS_TAB, {"input": {"organizationId": gid("Organization", world.orgs["a"]),
                                                            "rows": "GENDER", "asOf": clock.today().isoformat()}})
    assert "errors" not in today and today["data"]["crossTab"]["total"] == 3


async def test_drill_through_keys_must_be_the_tables(api, world):
    input_ = {"organizationId": gid("Organization", world.orgs["a"]), "rows": "CHILD_ORGANIZATION", "columns": "GENDER"}
    query = """query($input: CrossTabInput!, $row: String!, $column: String, $after: String) { crossTab(input: $input) {
      members(row: $row, column: $column, after: $after) { totalCount } } }"""
    good = (await cross_tab(api, "a_viewer", **input_))["rows"][0]["key"]
    for row, column, after in [("nope", None, None), (str(world.orgs["a1"].id), None, None), (good, "NONE", None),
                               (good, "total", None), ("NONE", None, None), (good, None, "bad-cursor")]:
        result = await api.as_("a_viewer", query, {"input": input_, "row": row, "column": column, "after": after})
        assert error_codes(result) == ["BAD_USER_INPUT"], (row, column, result)
    organizations = {"organizationId": gid("Organization", world.orgs["a"]), "rows": "LEVEL", "subject": "ORGANIZATIONS"}
    key = (await cross_tab(api, "a_viewer", **organizations))["rows"][0]["key"]
    result = await api.as_("a_viewer", query, {"input": organizations, "row": key})
    assert error_codes(result) == ["BAD_USER_INPUT"]


async def test_scope_outside_the_branch_is_not_found(api, world):
    for who, org in (("b_viewer", "a"), ("b_viewer", "root"), ("a1_viewer", "a"), ("a_viewer", "b1")):
        result = await api.as_(who, CROSS_TAB, {"input": {"organizationId": gid("Organization", world.orgs[org]),
                                                          "rows": "GENDER"}})
        assert error_codes(result) == ["NOT_FOUND"], (who, org, result)
        assert result["data"] is None
    for bad_id in ("T3JnYW5pemF0aW9uOjk5OTk", gid("Member", world.members["a1_first"]), "!!"):
        result = await api.as_("a_viewer", CROSS_TAB, {"input": {"organizationId": bad_id, "rows": "GENDER"}})
        assert error_codes(result) == ["NOT_FOUND"]
    result = await api.as_("a1_member", CROSS_TAB, {"input": {"organizationId": gid("Organization", world.orgs["a1"]),
                                                              "rows": "GENDER"}})
    assert error_codes(result) == ["FORBIDDEN"]
    result = await api.as_(None, CROSS_TAB, {"input": {"organizationId": gid("Organization", world.orgs["a1"]),
                                                       "rows": "GENDER"}})
    assert error_codes(result) == ["UNAUTHENTICATED"]
    # Inside the branch: a VIEWER's numbers, drill-through included, stay inside it.
    table = await cross_tab(api, "a1_viewer", organizationId=gid("Organization", world.orgs["a1"]), rows="GENDER")
    assert table["total"] == 2


# ------------------------------------------------------------------ saved tables

SAVE = """mutation($input: SaveStatDefinitionInput!) { saveStatDefinition(input: $input) {
  definition { id name subject scope rows columns organization { id } createdAt }
  userErrors { code field message } } }"""
DELETE = """mutation($id: ID!) { deleteStatDefinition(input: {definitionId: $id}) { ok userErrors { code field message } } }"""
LIST = "{ statDefinitions { id name } }"


async def save(api, who, name, **cross) -> dict:
    result = await api.as_(who, SAVE, {"input": {"name": name, "crossTab": cross}})
    assert "errors" not in result, result
    return result["data"]["saveStatDefinition"]


async def test_saved_tables(api, world):
    a1 = gid("Organization", world.orgs["a1"])
    saved = await save(api, "a1_viewer", " 一支部性别学历 ", organizationId=a1, rows="GENDER", columns="EDUCATION",
                       filter={"categories": ["FULL"]}, asOf=clock.today().isoformat())
    assert saved["userErrors"] == []
    definition = saved["definition"]
    assert definition["name"] == "一支部性别学历" and definition["organization"]["id"] == a1
    assert (definition["subject"], definition["scope"], definition["rows"], definition["columns"]) == (
        "MEMBERS", "SUBTREE", "GENDER", "EDUCATION")
    other = (await save(api, "a_admin", "甲区党组织", organizationId=gid("Organization", world.orgs["a"]),
                        rows="ORG_TYPE", subject="ORGANIZATIONS"))["definition"]

    names = lambda data: [d["name"] for d in data["statDefinitions"]]  # noqa: E731
    assert names((await api.as_("a1_viewer", LIST))["data"]) == ["一支部性别学历"]
    assert names((await api.as_("a_viewer", LIST))["data"]) == ["一支部性别学历", "甲区党组织"]
    assert names((await api.as_("b_viewer", LIST))["data"]) == []
    page = await api.as_("a_viewer", "query($after: String) { statDefinitions(first: 1, after: $after) { id } }",
                         {"after": definition["id"]})
    assert page["data"]["statDefinitions"] == [{"id": other["id"]}]

    # result() is the cross-tab of the saved input, with its filter.
    result = await api.as_("a_viewer", """query($id: ID!) { node(id: $id) { ... on StatDefinition {
        owner { username } result { total rows { key } cells } } } }""", {"id": definition["id"]})
    assert "errors" in result and error_codes(result) == ["FORBIDDEN"]  # a VIEWER reads no other account
    result = await api.as_("a_admin", """query($id: ID!) { node(id: $id) { ... on StatDefinition {
        owner { username } result { total rows { key } cells } } } }""", {"id": definition["id"]})
    assert "errors" not in result, result
    node = result["data"]["node"]
    assert node["owner"]["username"] == "a1_viewer"
    direct = await cross_tab(api, "a_admin", organizationId=a1, rows="GENDER", columns="EDUCATION",
                             filter={"categories": ["FULL"]})
    assert node["result"]["total"] == direct["total"] == 2
    assert node["result"]["cells"] == direct["cells"]
    past = await api.as_("a_admin", """query($id: ID!) { node(id: $id) { ... on StatDefinition {
        result(asOf: "2020-01-01") { total } } } }""", {"id": definition["id"]})
    assert "errors" not in past and past["data"]["node"]["result"]["total"] == 2
    before = await api.as_("a_admin", """query($id: ID!) { node(id: $id) { ... on StatDefinition {
        result(asOf: "2010-01-01") { total } } } }""", {"id": definition["id"]})
    assert "errors" not in before and before["data"]["node"]["result"]["total"] == 0
    future = await api.as_("a_admin", """query($id: ID!, $d: Date) { node(id: $id) { ... on StatDefinition {
        result(asOf: $d) { total } } } }""", {"id": definition["id"],
                                               "d": (clock.today() + dt.timedelta(days=1)).isoformat()})
    assert error_codes(future) == ["BAD_USER_INPUT"]
    foreign = await api.as_("b_admin", """query($id: ID!) { node(id: $id) { id } }""", {"id": definition["id"]})
    assert foreign["data"]["node"] is None

    # Deleting: the owner or an ADMIN of a branch holding it; another VIEWER may not; another branch: NOT_FOUND.
    refused = (await api.as_("a_viewer", DELETE, {"id": definition["id"]}))["data"]["deleteStatDefinition"]
    assert refused["ok"] is False and refused["userErrors"][0]["code"] == "NOT_ALLOWED"
    hidden = (await api.as_("b_admin", DELETE, {"id": definition["id"]}))["data"]["deleteStatDefinition"]
    assert hidden["userErrors"][0]["code"] == "NOT_FOUND"
    assert (await api.as_("a1_viewer", DELETE, {"id": definition["id"]}))["data"]["deleteStatDefinition"]["ok"]
    assert (await api.as_("a_admin", DELETE, {"id": other["id"]}))["data"]["deleteStatDefinition"]["ok"]
    assert names((await api.as_("a_viewer", LIST))["data"]) == []


async def test_saving_a_bad_table_is_a_user_error(api, world):
    a1 = gid("Organization", world.orgs["a1"])
    cases = [
        ({"name": " ", "crossTab": {"organizationId": a1, "rows": "GENDER"}}, "INVALID", ["name"]),
        ({"name": "x" * 101, "crossTab": {"organizationId": a1, "rows": "GENDER"}}, "INVALID", ["name"]),
        ({"name": "x", "crossTab": {"organizationId": a1, "rows": "GENDER", "columns": "GENDER"}}, "INVALID",
         ["crossTab", "columns"]),
        ({"name": "x", "crossTab": {"organizationId": a1, "rows": "ORG_TYPE"}}, "INVALID", ["crossTab", "rows"]),
        ({"name": "x", "crossTab": {"organizationId": gid("Organization", world.orgs["b1"]), "rows": "GENDER"}},
         "NOT_FOUND", ["crossTab", "organizationId"]),
        ({"name": "x", "crossTab": {"organizationId": a1, "rows": "GENDER", "filter": {"maxAge": -1}}}, "INVALID",
         ["crossTab", "filter"]),
    ]
    for data, code, field in cases:
        payload = (await api.as_("a1_viewer", SAVE, {"input": data}))["data"]["saveStatDefinition"]
        assert payload["definition"] is None
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, field)], (data, payload)
    admin = (await api.as_("a_admin", SAVE, {"input": {"name": "x", "crossTab": {
        "organizationId": a1, "rows": "GENDER", "filter": {"idNumber": "110101199003070000"}}}}))
    assert admin["data"]["saveStatDefinition"]["userErrors"][0]["field"] == ["crossTab", "filter", "idNumber"]
    assert (await api.as_("a1_viewer", LIST))["data"]["statDefinitions"] == []


async def test_a_date_before_1900_is_a_client_error(api, world):
    """asOf 0001-01-01 with an age band made the band bounds (so many years before that day) no
    date at all: a bare 500. A date before 1900 (db.services.statistics.EARLIEST, memberBalance's
    rule too) is BAD_USER_INPUT for every dimension; 1900-01-01 itself answers."""
    scope = gid("Organization", world.orgs["a"])
    for day in ("0001-01-01", "1899-12-31"):
        for rows in ("AGE_BAND", "PARTY_AGE_BAND", "GENDER"):
            result = await api.as_("a_viewer", CROSS_TAB, {"input": {"organizationId": scope, "rows": rows,
                                                                     "asOf": day}})
            assert error_codes(result) == ["BAD_USER_INPUT"], (day, rows, result)
            assert "1900-01-01" in result["errors"][0]["message"]
    result = await api.as_("a_viewer", CROSS_TAB, {"input": {"organizationId": scope, "rows": "AGE_BAND",
                                                             "asOf": "1900-01-01"}})
    assert "errors" not in result and result["data"]["crossTab"]["total"] == 0
