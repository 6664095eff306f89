"""Findings of the review of issue 6 (the merge of signin, infer, races and input), each a test
through the GraphQL endpoint that failed on the merged branch. Tests marked xfail(strict=True)
are findings left for the lead to decide (a design question); they pass once fixed, and the
strict marker then fails so that the marker is removed."""
from __future__ import annotations

import pytest

from tests.conftest import error_codes, gid

# ------------------------------------------------------------------ node cost

# Three nested pages of 100: 100 + 10,000 + 1,000,000 nodes, far above the 50,000 ceiling.
DEEP = """query Deep($f: Int%s) { organization(code: "001") { descendants(first: $f) { edges { node {
  descendants(first: $f) { edges { node { members(first: $f) { totalCount } } } } } } } } }"""


@pytest.mark.parametrize("declared,variables", [
    (" = 100", {}),            # the variable's default value: the operation runs with first = 100
    ("", {"f": 100.0}),        # GraphQL's Int accepts 100.0 and runs with first = 100
], ids=["default-value", "float-value"])
async def test_node_cost_counts_page_sizes_as_execution_coerces_them(api, world, declared, variables):
    result = await api.as_("root_admin", DEEP % declared, variables)
    assert error_codes(result) == ["QUERY_TOO_COMPLEX"], result
    assert result["extensions"]["cost"]["nodes"] == 1_010_100


# ------------------------------------------------------------------ ID numbers and a VIEWER

async def test_a_viewer_cannot_confirm_a_guess_of_a_masked_id_number(api, world):
    """A VIEWER sees `430*************36` and the birth date: 5 digits (digits 4–6 of the region,
    15–16 of the sequence) are hidden, and the visible check digit leaves about 10,000
    candidates (far fewer with the region codes that start with the 3 visible digits). Looking
    a member up by ID number answers whether a guess is right, 30 aliases a request: the mask
    does not hold. Here the right guess finds the member; it must answer as a wrong one does."""
    member = world.members["a1_first"]
    masked = await api.as_("a_viewer", "query($id: ID!) { node(id: $id) { ... on Member { idNumber } } }",
                           {"id": gid("Member", member)})
    assert masked["data"]["node"]["idNumber"] != member.id_number  # masked for a VIEWER
    wrong = member.id_number[:6] + ("0" if member.id_number[6] != "0" else "1") + member.id_number[7:]
    query = """query($n: String!) { member(idNumber: $n) { id }
        organization(code: "001001") { members(filter: {scope: SUBTREE, idNumber: $n}) { totalCount } } }"""
    answers = []
    for guess in (member.id_number, wrong):
        result = await api.as_("a_viewer", query, {"n": guess})
        answers.append((result.get("data"), error_codes(result)))
    assert answers[0] == answers[1], answers
    assert set(answers[0][1]) == {"FORBIDDEN"}, answers
    # An OPERATOR, who sees the numbers in full, still looks members up by them.
    found = await api.as_("a_operator", query, {"n": member.id_number})
    assert found["data"]["member"] == {"id": gid("Member", member)}
    assert found["data"]["organization"]["members"]["totalCount"] == 1


# ------------------------------------------------------------------ one password check per request

CHANGE_PASSWORD_SPRAY = "mutation { " + " ".join(
    f'c{i}: changePassword(input: {{currentPassword: "Guess{i:04d}x", newPassword: "NewPassw0rd{i}"}}) '
    "{ userErrors { code } }" for i in range(3)) + " }"


async def test_one_request_cannot_check_the_current_password_many_times(api, world, engine):
    """`changePassword` verifies the current password (an argon2 check) and hashes the new one;
    30 aliases (the alias limit) made one request cost 30 checks and 30 guesses of the current
    password of a stolen token's account, with no lockout. It counts as a password check like
    `login`: one per request."""
    result = await api.as_("a1_viewer", CHANGE_PASSWORD_SPRAY)
    assert error_codes(result) == ["QUERY_TOO_COMPLEX"], result
    assert result.get("data") is None


# ------------------------------------------------------------------ db check --repair on a live database

async def test_repair_on_a_live_database_does_not_lose_a_member_being_added(engine, world):
    """`python -m db check --repair` recomputes the rollups with one UPDATE whose subquery counts
    the members. On PostgreSQL (READ COMMITTED) a createMember in flight holds its
    organization's row: the UPDATE waits for it, then re-evaluates that row with the member
    count of its own (older) snapshot, and writes a count without the new member: the repair
    itself made the rollup wrong. (SQLite has one writer: the repair runs before or after.)"""
    import asyncio

    from db.branch import SYSTEM_ACTOR
    from db.engine import make_sessionmaker
    from db.services import members as member_service
    from db.session import begin_write
    from db.tree import HEALTHY, invariant_violations, repair_rollups
    from tests.factories import member_fields

    if engine.dialect.name != "postgresql":
        pytest.skip("one writer on SQLite: the repair cannot interleave with a member being added")
    sessions = make_sessionmaker(engine)
    async with sessions() as adding:
        await begin_write(adding)
        await member_service.create(adding, SYSTEM_ACTOR, organization_id=world.orgs["a1"].id,
                                    affiliation="DIRECT", fields=member_fields(name="新党员"))

        async def repair():
            async with sessions() as session:
                await begin_write(session)
                await repair_rollups(session)
                await session.commit()

        repairing = asyncio.create_task(repair())
        await asyncio.sleep(0.5)  # the repair's UPDATE now waits for the organization's row
        await adding.commit()
    await repairing
    async with sessions() as session:
        assert await invariant_violations(session) == HEALTHY


# ------------------------------------------------------------------ revokeDifficulty twice at once

ADD_DIFFICULTY = """mutation($m: ID!) { addDifficulty(input: {memberId: $m, kindCode: "%s", recordedOn: "2020-01-01"}) {
  difficulty { id } userErrors { message } } }"""
REVOKE_DIFFICULTY = """mutation($d: ID!, $on: Date!) { revokeDifficulty(input: {difficultyId: $d, date: $on}) {
  userErrors { code } } }"""


async def test_race_one_difficulty_revoked_twice(api, world, engine):
    """revokeDifficulty read `revoked_on IS NULL` and then wrote the date: two revocations at
    once (PostgreSQL, READ COMMITTED) both passed the check, both succeeded, and the later one
    overwrote the first one's date. One of them must get CONFLICT, as endLeaderPosition does."""
    from db import codes
    from tests.test_races import Race

    kind = codes.entries("difficulty_kind")[0][0]
    token = await api.login("a_operator")
    race = Race(engine)
    try:
        for round_ in range(5):
            added = await api.post(ADD_DIFFICULTY % kind, {"m": gid("Member", world.members["a1_first"])}, token)
            difficulty = added["data"]["addDifficulty"]["difficulty"]["id"]
            results = await race.run(*(api.post(REVOKE_DIFFICULTY, {"d": difficulty, "on": f"2021-01-0{day}"}, token)
                                       for day in (1, 2)))
            outcomes = sorted(tuple(e["code"] for e in r["data"]["revokeDifficulty"]["userErrors"]) for r in results)
            assert outcomes == [(), ("CONFLICT",)], (round_, results)
    finally:
        race.remove()
