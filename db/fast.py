"""Prebuilt read statements run straight on asyncpg, inside the session's transaction.

Why: a cold cross-tab over 100 members spent about a third of its worker's CPU in SQLAlchemy's
execution of three small statements (the token, the scope organization, the GROUP BY) and in the
session around them, while PostgreSQL took well under a millisecond for them (py-spy --gil over
`python -m bench.request_cost W3-100`: Session.execute 22% of the samples, most of it the engine's
execution context and result set-up). The hot statements are Core statements built once (db.branch,
db.services.statistics), so their SQL and the order of their parameters can be compiled once too,
and asyncpg, which prepares each SQL text once per connection, runs them: `rows(session, stmt,
parameters)`. Measured (in process, interleaved blocks, README): CPU per request W3-100 2.88 → 2.32
ms, W4-100 3.35 → 2.90, W3-10k 5.18 → 4.60. The gain is in the result handling: a one-row probe
costs the same either way (0.56-0.59 ms of wall in a loop, 0.40 ms on asyncpg alone).

What it keeps:
- the session's transaction: the same connection and its snapshot (db.session.begin_read). When
  the statement is the transaction's first (a request's token lookup), it sends the BEGIN as
  SQLAlchemy's asyncpg adapter would before its own first statement, under the adapter's lock and
  with the isolation and read-only the session's connection set (SQLAlchemy's private
  `_start_transaction`; without it, the statement goes through session.execute). A dead pooled
  connection fails there, is invalidated, and gql.db runs the read again on a new one
  (tests/test_hot_path.py). The token through here: 4554 → 4479 Python calls per W3-100 request,
  ~0.15 ms of CPU per request on this machine (`python -m bench.request_cost W3-100 --calls`, and
  a loop of gql.db read + close in process: 1.12-1.39 → 0.94-1.05 ms CPU).
- SQLAlchemy's values: the parameters' bind processors (the UTC timestamps' TypeDecorator; strings,
  integers, dates and booleans have none on asyncpg) are applied as SQLAlchemy applies them; a
  statement with a parameter that expands at execution (an IN of bound values) does not qualify;
  the result columns' processors are applied the same way, and a statement whose processor needs
  the column's type (NUMERIC, FLOAT) does not qualify. Rows answer by attribute and by index as
  SQLAlchemy's do.
- the engine's before_ and after_cursor_execute listeners see each statement (with no cursor and no
  execution context), so that the statement counts of the tests stay whole.
- errors: a failing statement raises SQLAlchemy's DBAPIError, with the engine's hide_parameters,
  and a dead connection is invalidated (tests/test_review_fast_and_balance.py).
Anything else, and SQLite, goes through session.execute.
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any

from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncSession

from db.session import HELD

# Off only in tests (tests/test_fast_reads.py): every statement through session.execute.
ENABLED = True


class _Plan:
    __slots__ = ("compiled", "sql", "names", "row", "processors", "binds")

    def __init__(self, compiled, names: tuple[str, ...], row, processors, binds):
        self.compiled, self.sql, self.names, self.row = compiled, compiled.string, names, row
        self.processors = processors  # [(index, result processor)] of the columns that have one
        self.binds = binds  # [(index, bind processor)] of the parameters that have one


_PLANS: dict[tuple[int, str], _Plan | None] = {}
_KEEP: list = []  # the statements planned (their ids are the keys: never collected)
# Prebuilt statements are a few dozen (per shape of the cross-tab: subject, rows, columns, scope);
# a caller passing statements built per request would grow the plans without end: past this many,
# a new statement goes through session.execute unplanned.
MAX_PLANS = 2_000


def _plan(stmt, dialect) -> _Plan | None:
    """The compiled SQL, parameter order and row type of `stmt`, or None when it does not qualify."""
    compiled = stmt.compile(dialect=dialect)
    if compiled.positiontup is None or compiled.literal_execute_params or compiled.post_compile_params:
        return None
    binds = []
    for index, name in enumerate(compiled.positiontup):
        processor = compiled.binds[name].type._cached_bind_processor(dialect)
        if processor is not None:
            binds.append((index, processor))
    keys, processors = [], []
    for index, column in enumerate(compiled._result_columns):
        try:
            processor = column.type._cached_result_processor(dialect, None)
        except Exception:  # a processor that needs the column's type oid (asyncpg's NUMERIC, FLOAT)
            return None
        if processor is not None:
            processors.append((index, processor))
        keys.append(column.keyname)
    try:
        row = namedtuple("Row", keys)
    except ValueError:  # a key that is no identifier: SQLAlchemy's rows then
        return None
    return _Plan(compiled, tuple(compiled.positiontup), row, processors, binds)


def _processed(record, processors) -> list:
    values = list(record)
    for index, process in processors:
        values[index] = process(values[index])
    return values


async def rows(session: AsyncSession, stmt, parameters: dict[str, Any], by_index: bool = False) -> list:
    """The rows of the prebuilt Core statement `stmt` with `parameters`, read in the session's
    transaction: straight on asyncpg where it qualifies (above), through session.execute otherwise.
    `by_index`: the caller reads the rows by position only, so asyncpg's records are returned as
    they are, not as named tuples (W4-10k: 216 rows, a named tuple each, 3% of the request's
    Python calls)."""
    # The request's connection held by gql.db.Db (db.session.Held), or the session's own.
    holding = session.info.get(HELD)
    connection = holding.connection if holding is not None else await session.connection()
    dialect = connection.dialect
    if ENABLED and dialect.driver == "asyncpg":
        key = (id(stmt), dialect.name)
        try:
            plan = _PLANS[key]
        except KeyError:
            plan = None
            if len(_PLANS) < MAX_PLANS:
                plan = _PLANS[key] = _plan(stmt, dialect)
                _KEEP.append(stmt)
        if plan is not None:
            raw = holding.fairy if holding is not None else await connection.get_raw_connection()
            driver, adapted = raw.driver_connection, raw.dbapi_connection
            begin = getattr(adapted, "_start_transaction", None)
            if driver.is_in_transaction() or (begin is not None and adapted._transaction is None):
                # The statement's own bound values (literals, defaults) and the request's.
                values = plan.compiled.construct_params(parameters, _check=False)
                arguments = [values[name] for name in plan.names]
                for index, process in plan.binds:
                    arguments[index] = process(arguments[index])
                dispatch = connection.sync_engine.dispatch
                # What counts or times the statements (the suites' N+1 tests, bench) sees these too,
                # without a cursor or an execution context (None: how a listener tells them).
                event = (connection.sync_connection, None, plan.sql, tuple(arguments), None, False)
                for observe in dispatch.before_cursor_execute:
                    observe(*event)
                try:
                    if not driver.is_in_transaction():
                        # The first statement of the session's transaction: its BEGIN, with the
                        # isolation and read-only of the session's connection, as SQLAlchemy's
                        # adapter sends it before its own first statement (under its lock).
                        async with adapted._execute_mutex:
                            if adapted._transaction is None:
                                await begin()
                    records = await driver.fetch(plan.sql, *arguments)
                except Exception as error:  # asyncpg's errors as SQLAlchemy gives them
                    # A dead connection is invalidated as SQLAlchemy's own statements do it (the
                    # session's close then discards it instead of failing on its ROLLBACK), and
                    # so is the pool's generation of connections (Connection._handle_dbapi_exception:
                    # a restarted server killed them all). Without the pool's, gql.db's retry of
                    # a request's first read took the next dead connection from the pool and
                    # failed (tests/test_review_session2.py).
                    closed = driver.is_closed()
                    if closed:
                        connection.sync_engine.pool._invalidate(raw, error)
                        await connection.invalidate(error)
                    raise exc.DBAPIError.instance(
                        plan.sql, parameters, error, Exception, dialect=dialect, ismulti=False,
                        hide_parameters=connection.sync_engine.hide_parameters,
                        connection_invalidated=closed) from error
                for observe in dispatch.after_cursor_execute:
                    observe(*event)
                if by_index:
                    if not plan.processors:
                        return records
                    return [_processed(record, plan.processors) for record in records]
                make = plan.row._make
                if not plan.processors:
                    return [make(record) for record in records]
                return [make(_processed(record, plan.processors)) for record in records]
    return list(await session.execute(stmt, parameters))
