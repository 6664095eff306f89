"""Review of gql.schema.execution's attribute-field shortcut (69f4240): the served schema answers
every request as graphql-core answers it (strawberry's own execution context), data, errors and
their codes included, for reads over organizations, members, accounts, crossTab, memberBalance,
auditLog, codes, node(id:), with aliases, fragments, @include/@skip and __typename, as every role,
a held (must change password) account and nobody; and the shortcut is taken on the way."""
from __future__ import annotations

import datetime as dt

import pytest
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from db import clock
from gql.schema import schema as served
from gql.settings import Settings
from tests.conftest import gid
from tests.test_execution import spy_on_the_field_shortcut

TEMPORARY = "Temp0rary2024"


@pytest.fixture
def settings() -> Settings:
    # No exact response cache: the second run of a query must execute it again.
    return Settings(password_profile="cheapest", sign_in_per_address=100_000, response_cache_entries=0)


ORG_FIELDS = """
  __typename id code name shortName type status requiresApproval establishedOn depth version
  memberCount
  leadership { __typename electionMethod electedOn termEndsOn lastChangedOn secretary { id } }
  history { kind date before after reason k: kind }
  children { ...OrgBits }
  members(first: 2, filter: {scope: SUBTREE}) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { ...MemberBits } } }
"""
MEMBER_FIELDS = """
  __typename id name gender birthDate category affiliation status idNumber joinedOn createdAt version
  ethnicity { code label } education { code label }
  completeness { percent missing warnings p: percent }
  organization { id name }
"""
ORG_BITS = "fragment OrgBits on Organization { id name code @include(if: $yes) type @skip(if: $yes) }"
MEMBER_BITS = f"fragment MemberBits on Member {{ {MEMBER_FIELDS} phone @skip(if: $yes) }}"
FRAGMENTS = ORG_BITS + "\n" + MEMBER_BITS


def queries(world) -> list[tuple[str, dict]]:
    a, b, a1 = gid("Organization", world.orgs["a"]), gid("Organization", world.orgs["b"]), gid("Organization", world.orgs["a1"])
    first = gid("Member", world.members["a1_first"])
    today = clock.today()
    return [
        (f"query($yes: Boolean! = true, $a: ID!) {{ organization(id: $a) {{ {ORG_FIELDS} }} }} {FRAGMENTS}", {"a": a}),
        (f"query($yes: Boolean! = false, $a: ID!) {{ organization(id: $a) {{ {ORG_FIELDS} }} }} {FRAGMENTS}", {"a": a1}),
        (f"query($yes: Boolean! = false) {{ x: organization(id: \"{a1}\") {{ ...OrgBits y: name }} "
         f"z: organization(id: \"{b}\") {{ name }} }} {ORG_BITS}", {}),
        (f"query($yes: Boolean! = true, $id: ID!) {{ node(id: $id) {{ __typename id ... on Member {{ ...MemberBits }} "
         f"... on Organization {{ name }} }} }} {MEMBER_BITS}", {"id": first}),
        (f"query($yes: Boolean! = true, $ids: [ID!]!) {{ nodes(ids: $ids) {{ __typename ... on Organization {{ ...OrgBits }} "
         f"... on Member {{ name idNumber }} }} }} {ORG_BITS}", {"ids": [a, b, first]}),
        ("query($o: ID!) { members(organizationId: $o, first: 3, filter: {scope: SUBTREE}) { totalCount pageInfo { hasNextPage endCursor "
         "startCursor hasPreviousPage } edges { cursor node { name idNumber phone completeness { percent } } } } }", {"o": a}),
        ("{ accounts(first: 20) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { username role "
         "disabled mustChangePassword organization { name } } } } }", {}),
        ("query($o: ID!) { crossTab(input: {organizationId: $o, rows: GENDER, columns: CATEGORY}) { __typename "
         "rows { key label k: key } columns { key label } cells rowTotals columnTotals total } }", {"o": a}),
        ("query($o: ID!) { crossTab(input: {organizationId: $o, rows: CHILD_ORGANIZATION}) { rows { key label } "
         "total } }", {"o": b}),
        ("query($o: ID!, $from: Date!, $to: Date!) { memberBalance(organizationId: $o, from: $from, to: $to) { "
         "from to start end increases { kind label count } decreases { kind label count } } }",
         {"o": a, "from": str(today - dt.timedelta(days=400)), "to": str(today)}),
        ("{ auditLog(first: 5) { totalCount pageInfo { hasNextPage } edges { cursor node { action targetType "
         "actorLabel } } } }", {}),
        ("{ codes(table: EDUCATION) { code label c: code __typename } }", {}),
        ("{ viewer { __typename username role mustChangePassword organization { id name } } }", {}),
        ("{ viewer { organization { memberCount code history { kind } } } }", {}),
        ('{ organizationDirectory(search: "支部") { __typename id code name path } }', {}),
        ("query($o: ID!) { representatives(query: {organizationId: $o}) { count total percent } }", {"o": a}),
    ]


USERS = [None, "root_admin", "a_admin", "a_operator", "a_viewer", "a1_viewer", "b_viewer", "a1_member"]


def _sorted(result: dict) -> dict:
    result = dict(result)
    if "errors" in result:
        result["errors"] = sorted(result["errors"], key=repr)
    return result


async def both(api, token, query, variables, monkeypatch) -> tuple[dict, dict]:
    fast = await api.post(query, variables, token)
    with monkeypatch.context() as patch:
        patch.setattr(served, "execution_context_class", StrawberryGraphQLCoreExecutionContext)
        plain = await api.post(query, variables, token)
    return _sorted(fast), _sorted(plain)


async def test_the_served_schema_answers_as_graphql_core(api, world, monkeypatch):
    taken = spy_on_the_field_shortcut(monkeypatch)
    differences = []
    for user in USERS:
        token = await api.login(user) if user else None
        for query, variables in queries(world):
            fast, plain = await both(api, token, query, variables, monkeypatch)
            if fast != plain:
                differences.append((user, query[:60], fast, plain))
    assert differences == []
    assert sum(taken) > 100, len(taken)


async def test_a_held_account_answers_as_graphql_core(api, world, monkeypatch):
    reset = """mutation($i: ResetPasswordInput!) { resetPassword(input: $i) { account { id } userErrors { message } } }"""
    result = await api.as_("a_admin", reset, {"i": {"accountId": gid("Account", world.accounts["a_operator"]),
                                                     "temporaryPassword": TEMPORARY}})
    assert result["data"]["resetPassword"]["account"], result
    token = await api.login("a_operator", TEMPORARY)
    differences = []
    for query, variables in queries(world):
        fast, plain = await both(api, token, query, variables, monkeypatch)
        if fast != plain:
            differences.append((query[:60], fast, plain))
    assert differences == []


class _Broken:
    """A DimensionValue whose `label` raises when read."""

    key = "X"

    @property
    def label(self):
        raise RuntimeError("no label")


@pytest.mark.parametrize("corruption", ["null_label", "label_not_a_string", "total_not_an_int", "error_value",
                                        "raising_label", "awaitable_total"])
async def test_a_field_the_shortcut_gives_back_fails_as_in_graphql_core(api, world, monkeypatch, corruption):
    """Values the shortcut leaves to graphql-core (None in a non-null, not coerced, an exception, a
    raising attribute, an awaitable): the same answer, error paths and codes (ErrorPolicy masks the
    internal ones as INTERNAL_SERVER_ERROR) either way."""
    from gql.schema.statistics import CrossTab

    made = CrossTab.from_table.__func__

    def from_table(cls, table):
        tab = made(cls, table)
        if corruption == "null_label":
            tab.rows[0].label = None
        elif corruption == "label_not_a_string":
            tab.rows[1].label = {"not": "a string"}
        elif corruption == "total_not_an_int":
            tab.total = 2**40
        elif corruption == "error_value":
            tab.rows[0].key = ValueError("boom")
        elif corruption == "raising_label":
            tab.rows[0] = _Broken()
        elif corruption == "awaitable_total":
            total = tab.total

            async def later():
                return total
            tab.total = later()
        return tab

    monkeypatch.setattr(CrossTab, "from_table", classmethod(from_table))
    token = await api.login("a_admin")
    query = ("query($o: ID!) { crossTab(input: {organizationId: $o, rows: GENDER}) { rows { key label } total } "
             "again: crossTab(input: {organizationId: $o, rows: GENDER}) { rows { label } total } }")
    fast, plain = await both(api, token, query, {"o": gid("Organization", world.orgs["a"])}, monkeypatch)
    assert fast == plain
    if corruption == "awaitable_total":
        assert "errors" not in fast and fast["data"]["crossTab"]["total"] == 3, fast
    else:
        assert fast.get("errors"), fast
