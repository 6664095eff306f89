from tests.conftest import error_codes


async def test_viewer_and_tree(api, world):
    result = await api.as_("a_admin", """{ viewer { username role organization { name children { name members(first: 5) { totalCount edges { node { name idNumber organization { code } } } } } } } }""")
    assert "errors" not in result, result
    org = result["data"]["viewer"]["organization"]
    assert org["name"] == "中共示范市甲区委员会"
    assert [c["members"]["totalCount"] for c in org["children"]] == [2, 1]


async def test_signed_out_is_unauthenticated(api, world):
    result = await api.post("{ organization(code: \"001\") { name } }")
    assert error_codes(result) == ["UNAUTHENTICATED"]
