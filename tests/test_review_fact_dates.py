"""Review of ddd5bf8 (latest_fact_date reads every fact: placement ends and 党籍异动 records too),
through the GraphQL endpoint on both engines.

- Legitimate same-day sequences (a transfer sent and accepted, a flow out and back, a suspension
  and a restoration, all on one day) must still be accepted: they are.
- A race of a transfer against a later-dated suspension of the same member: one wins (the date
  check is read under the member's lock in both services).
- updateMember moves a development date's category step to the corrected date with no look at the
  member's other facts: a joinedOn corrected to after the member's 取消预备党员资格 record makes
  the history say the member was not yet probationary when the probation was cancelled, and joined
  the party after leaving it (FAILS before the fix in db/services/lifecycle.py)."""
from __future__ import annotations

import datetime as dt

from db import clock
from gql.ids import from_global_id
from tests.conftest import gid
from tests.test_flows_representatives import FLOW_OUT, RETURN, flow_input
from tests.test_member_lifecycle import STATUS, UPDATE, create, problems, state_on
from tests.test_races import Race
from tests.test_transfers import decide, ok, send

TODAY = clock.today()


def day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


MEMBER = """query($id: ID!) { member(id: $id) { status organization { id } statusChanges { kind date } } }"""


async def test_same_day_sequences_are_accepted(api, world):
    """Sent and accepted on D, out and back on D, suspended and restored on D, sent on again on D:
    every fact is on D, none before the latest; all accepted. A day before D is refused."""
    d = day(-10)
    moving = world.members["a1_first"]
    m = gid("Member", moving)
    t = ok(await send(api, "a_admin", [moving], to=world.orgs["b1"], date=d), "transferMembers")["transfers"][0]
    ok(await decide(api, "b_admin", "acceptTransfer", t["id"], date=d), "acceptTransfer")
    # The placement at A1 ended on D (a placement end, now a fact): D itself is not before it.
    flow = ok(await api.as_("b_admin", FLOW_OUT, {"input": flow_input(m, since=d)}), "flowOut")["flow"]
    ok(await api.as_("b_admin", RETURN, {"input": {"flowId": flow["id"], "date": d}}), "returnFromFlow")
    ok(await api.as_("b_admin", STATUS, {"m": m, "k": "SUSPENDED", "d": d}), "recordStatusChange")
    ok(await api.as_("b_admin", STATUS, {"m": m, "k": "RESTORED", "d": d}), "recordStatusChange")
    assert problems(await api.as_("b_admin", STATUS, {"m": m, "k": "SUSPENDED", "d": day(-11)}),
                    "recordStatusChange") == [("INVALID", ["date"])]
    back = ok(await send(api, "b_admin", [moving], to=world.orgs["a1"], date=d), "transferMembers")["transfers"][0]
    ok(await decide(api, "a_admin", "acceptTransfer", back["id"], date=d), "acceptTransfer")
    data = (await api.as_("root_admin", MEMBER, {"id": m}))["data"]["member"]
    assert data["status"] == "ACTIVE" and data["organization"]["id"] == gid("Organization", world.orgs["a1"])


async def test_a_member_entered_on_a_day_may_change_that_day(api, world):
    """A member entered (placed) on D, flowing out, leaving or transferred on D: accepted."""
    for kind in ("SUSPENDED", "DEATH"):
        m = await create(api, "a_admin", world.orgs["a2"], since=day(-3))
        ok(await api.as_("a_admin", STATUS, {"m": m, "k": kind, "d": day(-3)}), "recordStatusChange")
    m = await create(api, "a_admin", world.orgs["a2"], since=day(-3))
    ok(await api.as_("a_admin", FLOW_OUT, {"input": flow_input(m, since=day(-3))}), "flowOut")
    m = await create(api, "a_admin", world.orgs["a2"], since=day(-3))
    ok(await send(api, "a_admin", [m], external="外省某单位", date=day(-3)), "transferMembers")


async def test_a_transfer_and_a_later_suspension_at_once_one_wins(api, world, engine):
    """transferMembers dated D1 and recordStatusChange SUSPENDED dated D2 > D1, at once: in either
    order only one is allowed (suspension first: the transfer is dated before it; transfer first:
    the member is TRANSFERRING, not on the roll)."""
    race = Race(engine)
    try:
        token = await api.login("a_admin")
        for n in range(4):
            m = await create(api, "a_admin", world.orgs["a2"], since="2020-01-01")
            sending = api.post("""mutation($input: TransferMembersInput!) { transferMembers(input: $input) {
              transfers { id } userErrors { code field } } }""", {"input": {
                "memberIds": [m], "date": day(-20), "toOrganizationId": gid("Organization", world.orgs["b1"])}}, token)
            suspending = api.post(STATUS, {"m": m, "k": "SUSPENDED", "d": day(-5)}, token)
            if n % 2:
                results = await race.run(sending, suspending)
            else:
                results = list(reversed(await race.run(suspending, sending)))
            sent = problems(results[0], "transferMembers")
            suspended = problems(results[1], "recordStatusChange")
            assert (sent == []) != (suspended == []), (sent, suspended)
    finally:
        race.remove()


async def probationary_with(api, world, joined: dt.date, kind: str, day: dt.date) -> str:
    """A probationary member of A2 joined on `joined`, with a 党籍异动 record `kind` on `day`."""
    member = await create(api, "a_admin", world.orgs["a2"], category="PROBATIONARY", appliedOn="2010-01-01",
                          joinedOn=joined.isoformat(), confirmedOn=None, since=joined.isoformat())
    ok(await api.as_("a_admin", STATUS, {"m": member, "k": kind, "d": day.isoformat()}), "recordStatusChange")
    return member


async def test_a_corrected_join_date_may_not_follow_the_probation_cancellation(api, world, engine):
    """A probationary member joined on J; 取消预备党员资格 on C (LEFT). updateMember then corrects
    joinedOn to a day after C: accepted, and the PROBATIONARY step moves after C. The history then
    says: on C the member was not probationary (the cancellation cancelled nothing), and it
    became a probationary member after leaving the party. The member's latest fact was C; the
    corrected fact jumps over it. Expected: refused, like a new fact dated across the member's
    later facts."""
    joined = TODAY - dt.timedelta(days=200)
    cancelled = TODAY - dt.timedelta(days=100)
    member = await probationary_with(api, world, joined, "PROBATION_CANCELLED", cancelled)
    member_id = from_global_id(member)[1]
    assert (await state_on(engine, cancelled))[member_id][1:] == ("PROBATIONARY", "LEFT")
    later = (TODAY - dt.timedelta(days=10)).isoformat()
    result = await api.as_("a_admin", UPDATE, {"m": member, "f": {"joinedOn": later}})
    state = (await state_on(engine, cancelled))[member_id]
    assert problems(result, "updateMember") == [("INVALID", ["fields", "joinedOn"])], \
        f"accepted; the state on the cancellation day is now {state}"


async def test_a_corrected_join_date_may_not_follow_the_probation_extension(api, world, engine):
    """The same on the roll: 延长预备期 recorded on E; joinedOn corrected to after E would make
    the extension precede the admission. A correction before E (and a same-day one) stays allowed."""
    joined = TODAY - dt.timedelta(days=300)
    extended = TODAY - dt.timedelta(days=200)
    member = await probationary_with(api, world, joined, "PROBATION_EXTENDED", extended)
    result = await api.as_("a_admin", UPDATE, {"m": member, "f": {"joinedOn": (extended + dt.timedelta(days=1)).isoformat()}})
    assert problems(result, "updateMember") == [("INVALID", ["fields", "joinedOn"])]
    for corrected in (joined + dt.timedelta(days=20), extended):
        ok(await api.as_("a_admin", UPDATE, {"m": member, "f": {"joinedOn": corrected.isoformat()}}), "updateMember")
