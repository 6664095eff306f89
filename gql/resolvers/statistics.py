"""Statistics: crossTab and its drill-through, saved tables (统计表格). Input → db.services.statistics."""
from __future__ import annotations

from dataclasses import replace

from db.errors import DomainError
from db.pagination import BadCursor
from db.services import statistics
from db.services.statistics import CrossTabSpec, StatInputError, Table
from gql.auth.errors import BadUserInput, Forbidden, NotFound
from gql.ids import input_pk, pk_of
from gql.resolvers.common import checked_first, cursor_errors, viewer_of
from gql.resolvers.member import member_query
from gql.resolvers.write import Outcome, write


def spec_of(info, data, organization_id: int | None) -> CrossTabSpec:
    """A CrossTabInput as a spec. The cross-tab's own `scope` decides (the filter's `scope`
    is not used here); a filter on ORGANIZATIONS is refused by the service."""
    viewer = viewer_of(info)
    subtree = data.scope.value == "SUBTREE"
    query = None
    if data.filter is not None:
        query = replace(member_query(viewer, data.filter), subtree=subtree)
    return CrossTabSpec(organization_id=organization_id, rows=data.rows.value,
                        columns=data.columns.value if data.columns is not None else None,
                        subject=data.subject.value, subtree=subtree, query=query, as_of=data.as_of)


def _not_found() -> NotFound:
    return NotFound("党组织不存在或不在本账户的管辖范围内")


def reads_past(info) -> None:
    """The answer depends on the dated history of a past day: not kept by the response cache. The
    cache keys a response on the data version of the caller's branch, which a write moves for the
    branches holding the written member or organization now; a past day's answer also counts
    members and organizations that were in the scope then and are elsewhere now (moved away, their
    back-dated facts touch their branch of today), so no branch version covers it."""
    info.context.uncacheable = True


async def compute(info, spec: CrossTabSpec) -> Table:
    viewer = viewer_of(info)
    if spec.as_of is not None:
        reads_past(info)
    try:
        return await info.context.db.read(lambda s: statistics.cross_tab(s, viewer.branch, spec))
    except StatInputError as exc:
        raise BadUserInput(str(exc)) from exc
    except DomainError as exc:  # NOT_FOUND: the scope organization
        raise _not_found() from exc


async def cross_tab(info, data) -> Table:
    # Checked before the organization, so that a bad input says so whatever the id.
    spec = spec_of(info, data, pk_of(data.organization_id, "Organization"))
    try:
        statistics.check(spec)
    except StatInputError as exc:
        raise BadUserInput(str(exc)) from exc
    if spec.organization_id is None:
        raise _not_found()
    return await compute(info, spec)


async def drill_through(info, table: Table, row: str, column: str | None, first, after):
    size = checked_first(first)
    try:
        statistics.check_drill(table, row, column)
    except StatInputError as exc:
        raise BadUserInput(str(exc)) from exc
    db = info.context.db
    try:
        page = await db.read(lambda s: statistics.drill_page(s, table, row, column, size, after))
    except BadCursor as exc:
        raise cursor_errors(exc) from exc

    async def count() -> int:
        return await db.read(lambda s: statistics.drill_count(s, table, row, column))

    return page, count


# ------------------------------------------------------------------ saved tables


async def result(info, definition, as_of) -> Table:
    return await compute(info, statistics.spec_of(definition, as_of))


async def definitions(info, first, after):
    viewer = viewer_of(info)
    size = checked_first(first)
    after_id = None
    if after is not None:
        after_id = pk_of(after, "StatDefinition")
        if after_id is None:
            raise BadUserInput("after 须是上一页最后一张统计表格的 id")
    return await info.context.db.read(lambda s: statistics.list_definitions(s, viewer.branch, size, after_id))


async def owner(info, account_id: int):
    row = await info.context.loaders.account.load(account_id)
    if row is None:
        raise Forbidden("只有管理员可以查看其他账户（创建者不在本账户可见的范围内）")
    return row


async def save_definition(info, data) -> Outcome:
    try:
        spec = spec_of(info, data.cross_tab, None)
    except (BadUserInput, Forbidden) as exc:
        return Outcome(problems=DomainError("INVALID", exc.message, ["crossTab", "filter"]).problems)

    async def action(session, actor):
        organization_id = input_pk(data.cross_tab.organization_id, "Organization", ["crossTab", "organizationId"])
        return await statistics.save_definition(session, actor, data.name,
                                                replace(spec, organization_id=organization_id))

    return await write(info, action)


async def delete_definition(info, data) -> Outcome:
    async def action(session, actor):
        await statistics.delete_definition(session, actor, input_pk(data.definition_id, "StatDefinition", "definitionId"))
        return True

    return await write(info, action)


# ------------------------------------------------------------------ member balance (党员增减)


async def member_balance(info, organization_id, scope, start, end):
    """(scope organization, start, {kind: count}, end) of the period; the lines' members are read by
    balance_line with the same scope and dates."""
    from db.services import balance

    viewer = viewer_of(info)
    reads_past(info)
    try:
        balance.check(start, end)
    except DomainError as exc:
        raise BadUserInput(str(exc)) from exc
    pk = pk_of(organization_id, "Organization")
    if pk is None:
        raise _not_found()
    try:
        return await info.context.db.read(
            lambda s: balance.balance(s, viewer.branch, pk, scope.value == "SUBTREE", start, end))
    except DomainError as exc:
        raise _not_found() from exc


async def balance_line(info, key, kind: str, first, after):
    from db.services import balance

    organization, subtree, start, end = key
    branch = viewer_of(info).branch
    size = checked_first(first)
    db = info.context.db
    try:
        page = await db.read(lambda s: balance.line_page(s, branch, organization, subtree, start, end, kind, size,
                                                         after))
    except BadCursor as exc:
        raise cursor_errors(exc) from exc

    async def count() -> int:
        return await db.read(lambda s: balance.line_count(s, branch, organization, subtree, start, end, kind))

    return page, count
