"""Statistics and the node-cost limit (issue 9, gql/auth/limits.py), through the GraphQL endpoint on
both engines: a cross-tab is charged its scan and its cells (rows × columns), its drill-through
page once per table; 25 aliased cross-tabs, or 100 saved tables each rerun, are refused before
anything runs (QUERY_TOO_COMPLEX); what a dashboard asks for still runs."""
from __future__ import annotations

from db import codes
from gql.auth.limits import CHILDREN_FANOUT, MAX_NODES, STAT_SCAN, UNKNOWN_CELLS
from tests.conftest import error_codes, gid

TABLE = """query($input: CrossTabInput!) { crossTab(input: $input) { cells total } }"""
EDUCATION = len(codes.entries("education")) + 1


async def cost(api, who, document, variables=None) -> tuple[dict, int]:
    result = await api.as_(who, document, variables or {})
    return result, result.get("extensions", {}).get("cost", {}).get("nodes")


async def test_a_cross_tab_costs_its_scan_and_its_cells(api, world):
    org = gid("Organization", world.orgs["a"])
    result, nodes = await cost(api, "a_viewer", TABLE, {"input": {"organizationId": org, "rows": "EDUCATION",
                                                                  "columns": "GENDER"}})
    assert "errors" not in result, result
    assert nodes == STAT_SCAN + EDUCATION * 3
    # The same as a literal, and a single dimension.
    literal = f'{{ crossTab(input: {{organizationId: "{org}", rows: CHILD_ORGANIZATION, columns: AGE_BAND}}) {{ total }} }}'
    result, nodes = await cost(api, "a_viewer", literal)
    assert "errors" not in result and nodes == STAT_SCAN + (CHILDREN_FANOUT + 1) * 10
    result, nodes = await cost(api, "a_viewer", TABLE, {"input": {"organizationId": org, "rows": "GENDER"}})
    assert "errors" not in result and nodes == STAT_SCAN + 3
    # The drill-through page once per table, not per cell.
    drill = """query($input: CrossTabInput!) { crossTab(input: $input) { total
      members(row: "MALE", first: 50) { totalCount edges { node { name } } } } }"""
    result, nodes = await cost(api, "a_viewer", drill, {"input": {"organizationId": org, "rows": "GENDER"}})
    assert "errors" not in result, result
    assert nodes == STAT_SCAN + 3 + 50


async def test_many_cross_tabs_in_one_request_are_refused(api, world):
    org = gid("Organization", world.orgs["a"])
    one = f'crossTab(input: {{organizationId: "{org}", rows: GENDER}}) {{ total }}'
    allowed = MAX_NODES // (STAT_SCAN + 3)
    fits = "{ " + " ".join(f"t{i}: {one}" for i in range(allowed)) + " }"
    result, nodes = await cost(api, "a_viewer", fits)
    assert "errors" not in result, result
    too_many = "{ " + " ".join(f"t{i}: {one}" for i in range(allowed + 1)) + " }"
    result, _ = await cost(api, "a_viewer", too_many)
    assert error_codes(result) == ["QUERY_TOO_COMPLEX"] and result["data"] is None, result
    balances = "{ " + " ".join(f'b{i}: memberBalance(organizationId: "{org}", from: "2024-01-01", to: "2024-12-31") '
                               "{ end }" for i in range(MAX_NODES // STAT_SCAN + 1)) + " }"
    result, _ = await cost(api, "a_viewer", balances)
    assert error_codes(result) == ["QUERY_TOO_COMPLEX"], result


async def test_rerunning_a_page_of_saved_tables_is_charged_per_table(api, world):
    page = "query($n: Int) { statDefinitions(first: $n) { name result { total } } }"
    result, nodes = await cost(api, "a_viewer", page, {"n": 20})
    assert "errors" not in result, result
    assert nodes == 20 + 20 * (STAT_SCAN + UNKNOWN_CELLS)
    result, _ = await cost(api, "a_viewer", page, {"n": 100})
    assert error_codes(result) == ["QUERY_TOO_COMPLEX"], result
