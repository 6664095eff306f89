"""Password rules (issue 12): at least 10 characters, not all of one class, not the username, not
one of the 10,000 most common passwords (db/common_passwords.txt, shipped with the code); through
createAccount, resetPassword and changePassword on both engines."""
from __future__ import annotations

import pytest

from db.services.accounts import common_passwords, password_problem
from tests.test_accounts import CHANGE_PASSWORD, CREATE, RESET, account, mutate, new_account
from tests.factories import PASSWORD


def test_the_common_list_ships_with_the_code():
    common = common_passwords()
    assert len(common) == 10_000
    assert {"password", "123456", "qwerty", "1q2w3e4r5t", "qwertyuiop"} <= common


@pytest.mark.parametrize("password, refused", [
    ("Ab1defghi", "至少 10 位"),                 # 9 characters
    ("abcdefghijkl", "同一类字符"),              # lower-case only
    ("ABCDEFGHIJKL", "同一类字符"),
    ("123456789012", "同一类字符"),
    ("！！！！！！！！！！", "同一类字符"),
    ("党建工作平台党建工作平台", "同一类字符"),  # Chinese characters only: one class
    ("qwertyuiop1", None),                      # two classes, not in the list
    ("1q2w3e4r5t", "最常见"),                   # two classes, but in the list
    ("Password12", "最常见"),                   # in the list, whatever its case
    ("Root_Admin2", None),
    ("Zz" + "x" * 200, "128"),
    ("党建工作平台2024", None),
])
def test_password_problem(password, refused):
    problem = password_problem(password)
    if refused is None:
        assert problem is None, problem
    else:
        assert problem is not None and refused in problem, (password, problem)


def test_the_username_is_refused_in_any_case_and_backwards():
    assert "用户名" in password_problem("Zhang.San2024", "zhang.san2024")
    assert "用户名" in password_problem("4202nas.gnahz", "Zhang.San2024")
    assert password_problem("Zhang.San2024!", "zhang.san2024") is None


async def test_every_way_of_setting_a_password_applies_the_rules(api, world):
    payload = await mutate(api, "root_admin", CREATE, new_account(world, "root", "rules_user", "VIEWER",
                                                                   password="1q2w3e4r5t"))
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID", ["password"])]
    payload = await mutate(api, "root_admin", CREATE, new_account(world, "root", "rules_user2", "VIEWER",
                                                                   password="Rules_User2"))
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID", ["password"])]
    payload = await mutate(api, "root_admin", CREATE, new_account(world, "root", "rules_user3", "VIEWER",
                                                                   password="Short1a"))
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID", ["password"])]
    payload = await mutate(api, "root_admin", CREATE, new_account(world, "root", "rules_user4", "VIEWER",
                                                                   password="Acceptable2024"))
    assert payload["userErrors"] == [] and payload["account"]["username"] == "rules_user4"

    payload = await mutate(api, "root_admin", RESET, {"accountId": account(world, "a1_admin"),
                                                       "temporaryPassword": "aaaaaaaaaaaa"})
    assert [e["field"] for e in payload["userErrors"]] == [["temporaryPassword"]]

    result = await api.as_("a1_admin", CHANGE_PASSWORD, {"c": PASSWORD, "n": "Password12"})
    assert [e["field"] for e in result["data"]["changePassword"]["userErrors"]] == [["newPassword"]]
