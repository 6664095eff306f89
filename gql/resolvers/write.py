"""The one write path of every mutation.

One transaction; every id of the input is decoded and loaded through the caller's branch inside
it (services raise NOT_FOUND for what the caller cannot see); a DomainError becomes `userErrors`
and nothing is written. What every write will need later (the audit trail, idempotency keys)
goes here, once.

The audit trail (db.services.audit): every successful mutation writes one entry in its own
transaction, named after the mutation's field (action), with the rows the session wrote
(collected by a flush hook), the caller and the client's address; a mutation added later gets its
entry from here with no code of its own (tests/test_audit.py runs every mutation of the schema).
Mutations that run several short transactions (the sign-ins, which check passwords between
them) use `audited_run`: an entry for each of their transactions that changed something.

Cost (bench/audit_cost.py, SQLite, 200 organizations / 5,000 members, 400 updateMember calls with
the trail on and 400 off, interleaved, on a machine at load 13 on 2 cores): one statement more
per mutation (10.4 against 9.3 on average: the INSERT; folds make the fractions), +0.47 ms of
CPU per call (14.71 against 14.24 ms, +3.3%); wall-time medians 68.9 against 64.9 ms, within the
noise of that load. PostgreSQL (same data, load 11): 8.2 statements against 7.2, +0.84 ms of CPU
(+6.4%), wall-time medians 61.8 against 54.5 ms: the INSERT's round trip, about what each of the
other 7 statements costs at that load. addMemberRecords of 1,000 members: no difference beyond
the noise on either engine (335 against 344 ms on PostgreSQL): the collector lists at most 50
objects and counts the rest."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.branch import Actor
from db.errors import DomainError, Problem
from db.services import audit
from gql.resolvers.common import viewer_of

log = logging.getLogger("dangjian.write")
# SQLSTATEs of a transaction the database aborted to let a concurrent one through.
RETRYABLE = {"40P01", "40001"}


@dataclass
class Outcome:
    value: Any = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _audited(info, actor, work, only_if_changed: bool):
    name, address = info.field_name, info.context.address

    async def unit(session):
        audit.start(session)
        try:
            value = await work(session)
            await audit.finish(session, actor=actor, action=name, result=value, address=address,
                               only_if_changed=only_if_changed)
        finally:
            audit.stop(session)
        return value

    return unit


def audited_run(info):
    """`run(work)` for mutations made of several short write transactions (db.services.accounts'
    Run): each runs on the request's session and, when it changed anything, writes the
    mutation's audit entry in the same transaction."""
    actor = info.context.viewer.actor if info.context.viewer is not None else None

    async def run(work):
        return await info.context.db.write(_audited(info, actor, work, only_if_changed=True))

    return run


async def write(info, action: Callable[[AsyncSession, Actor], Awaitable[Any]], *, signed_in: bool = True) -> Outcome:
    actor = viewer_of(info).actor if signed_in else None
    context = info.context
    try:
        value = await context.db.write(_audited(info, actor, lambda session: action(session, actor),
                                                only_if_changed=False))
    except DomainError as exc:
        return Outcome(problems=exc.problems)
    except IntegrityError:
        # A unique value taken by a concurrent write between our check and our insert.
        log.warning("integrity error in %s", info.field_name, exc_info=True)
        return Outcome(problems=[Problem("DUPLICATE", "数据已被他人同时修改或占用，请重试", None)])
    except DBAPIError as exc:
        # PostgreSQL broke a deadlock (40P01) or a serialization conflict (40001) by aborting
        # this transaction: nothing was written, and the same request may succeed now. The
        # services lock in one order (db.services.organizations) so this stays a rare residual.
        if getattr(exc.orig, "sqlstate", None) not in RETRYABLE:
            raise
        log.warning("%s aborted by the database (%s)", info.field_name, exc.orig.sqlstate)
        return Outcome(problems=[Problem("CONFLICT", "数据正被他人同时修改，请重试", None)])
    finally:
        context.loaders.clear_all()
    return Outcome(value=value)
