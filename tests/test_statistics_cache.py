"""Past-date statistics and the exact response cache (issue 9), through HTTP on both engines.

A back-dated fact changes the answers of past dates. The cache keeps a response under the data
version of the caller's branch (gql.cache), which a write moves for the branches that hold the
written member now; a past-date answer also counts members and organizations that were in the
caller's scope then and are elsewhere now (an organization moved away, with its members). So a
past-date crossTab or memberBalance of a caller below the root is never stored (recomputed every
time), and a back-dated fact about a member now outside the caller's branch still changes the next
answer; today's cross-tab is still cached."""
from __future__ import annotations

from sqlalchemy import select

from db import models
from db.engine import make_sessionmaker
from gql.ids import to_global_id
from tests.conftest import gid
from tests.test_member_lifecycle import STATUS
from tests.test_response_cache import app, app_cache, cached_api, http, served  # noqa: F401  (fixtures)
from tests.test_statistics_as_of import MOVE, dated  # noqa: F401  (the fixture)

TABLE = """query($input: CrossTabInput!) { crossTab(input: $input) { rows { key } rowTotals total } }"""
BALANCE = """query($o: ID!) { memberBalance(organizationId: $o, from: "2023-01-01", to: "2023-12-31") {
  start end decreases { kind count } } }"""


async def statuses(api, who, org, as_of=None) -> dict[str, int]:
    input_ = {"organizationId": org, "rows": "STATUS", "filter": {"statuses": ["ACTIVE", "LEFT"]}}
    if as_of:
        input_["asOf"] = as_of
    result = await api.as_(who, TABLE, {"input": input_})
    assert "errors" not in result, result
    t = result["data"]["crossTab"]
    return {row["key"]: n for row, n in zip(t["rows"], t["rowTotals"])}


async def died(api, who, org) -> int:
    result = await api.as_(who, BALANCE, {"o": org})
    assert "errors" not in result, result
    return {line["kind"]: line["count"] for line in result["data"]["memberBalance"]["decreases"]}["DIED"]


async def test_a_back_dated_fact_changes_a_cached_past_date_answer(engine, dated, app, cached_api):  # noqa: F811
    """A2 (赵刚 among its members) moved from A to B on 2024-03-01; then B's side records 赵刚's
    death on 2023-06-01 (a back-dated fact about a member now outside A's branch). A's viewer's
    tables as of 2023-12-31 and A's 2023 balance change with it, cache on."""
    api, cache = cached_api, app_cache(app)
    a, a2, b = (dated.orgs[n] for n in ("a", "a2", "b"))
    moved = await api.as_("root_admin", MOVE, {"input": {"organizationId": gid("Organization", a2),
                                                         "newParentId": gid("Organization", b), "date": "2024-03-01"}})
    assert moved["data"]["moveOrganization"]["userErrors"] == [], moved
    ga = gid("Organization", a)
    for who in ("a_viewer", "root_admin"):
        before = await statuses(api, who, ga, "2023-12-31")
        assert before == {"ACTIVE": 7, "LEFT": 0} or before == {"ACTIVE": 7}, (who, before)
        assert await statuses(api, who, ga, "2023-12-31") == before
        assert await died(api, who, ga) == 0
        assert await died(api, who, ga) == 0
    # Today's table is still served from the cache.
    today = await statuses(api, "a_viewer", ga)
    hits = served(cache)
    assert await statuses(api, "a_viewer", ga) == today
    assert served(cache) == hits + 1

    async with make_sessionmaker(engine)() as session:
        zhao = (await session.execute(select(models.Member.id).where(models.Member.name == "赵刚"))).scalar_one()
    result = await api.as_("root_admin", STATUS, {"m": to_global_id("Member", zhao), "k": "DEATH", "d": "2023-06-01",
                                                  "r": "病故"})
    assert result["data"]["recordStatusChange"]["userErrors"] == [], result
    for who in ("a_viewer", "root_admin"):
        assert await statuses(api, who, ga, "2023-12-31") == {"ACTIVE": 6, "LEFT": 1}, who
        assert await died(api, who, ga) == 1, who
    # Today A no longer holds A2: today's answer did not depend on 赵刚 and may stay cached.
    assert await statuses(api, "a_viewer", ga) == today
