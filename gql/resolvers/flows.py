"""Resolvers of flows (流动), representatives (党代表) and volunteers (志愿者): input → db service
call (db.services.flows, db.services.representatives) through the one write path, and the reads."""
from __future__ import annotations

from db.pagination import BadCursor
from db.services import flows, representatives
from db.services.representatives import SeatQuery, SeatQueryError, VolunteerQuery
from gql.auth.errors import BadUserInput
from gql.ids import input_pk
from gql.resolvers import organization as organization_resolvers
from gql.resolvers.common import checked_first, cursor_errors, empty_page, provided, viewer_of
from gql.resolvers.write import Outcome, write


def _member_pk(data):
    return input_pk(data.member_id, "Member", "memberId")


async def flow_out(info, data) -> Outcome:
    return await write(info, lambda session, actor: flows.flow_out(
        session, actor, _member_pk(data), data.destination, data.since, data.reason, data.contact))


async def update_flow(info, data) -> Outcome:
    return await write(info, lambda session, actor: flows.update_flow(
        session, actor, input_pk(data.flow_id, "Flow", "flowId"), provided(data, *flows.EDITABLE)))


async def return_from_flow(info, data) -> Outcome:
    return await write(info, lambda session, actor: flows.return_from_flow(
        session, actor, input_pk(data.flow_id, "Flow", "flowId"), data.date))


async def add_representative_term(info, data) -> Outcome:
    return await write(info, lambda session, actor: representatives.add_term(
        session, actor, _member_pk(data), data.level.value, data.term, data.category, data.delegation))


async def terminate_representative(info, data) -> Outcome:
    return await write(info, lambda session, actor: representatives.terminate(
        session, actor, input_pk(data.term_id, "RepresentativeTerm", "termId"), data.date, data.reason))


async def set_volunteer(info, data) -> Outcome:
    return await write(info, lambda session, actor: representatives.set_volunteer(
        session, actor, _member_pk(data), data.category, data.service_time, data.service_intent))


# ------------------------------------------------------------------ reads


def _pairs(items) -> tuple:
    return tuple((item.level.value, item.term) for item in items or ())


async def representatives_summary(info, data):
    """(count, total, page(first, after) → (Page, count)) of a RepresentativeQuery; an
    organization absent or outside the branch gives 0 of 0 and no members."""
    viewer = viewer_of(info)
    probe = SeatQuery(organization_id=0, organization_path="/", all_of=_pairs(data.all_of),
                      none_of=_pairs(data.none_of), min_terms=data.min_terms, min_levels=data.min_levels)
    try:
        representatives.check(probe)
    except SeatQueryError as exc:
        raise BadUserInput(str(exc)) from exc
    organization = await organization_resolvers.by_id_or_code(info, data.organization_id, None)
    if organization is None:
        return 0, 0, lambda first, after: _empty(first)
    query = SeatQuery(organization_id=organization.id, organization_path=organization.path,
                      subtree=data.scope.value == "SUBTREE", all_of=probe.all_of, none_of=probe.none_of,
                      min_terms=data.min_terms, min_levels=data.min_levels,
                      include_terminated=data.include_terminated)
    count, total = await info.context.db.read(lambda s: representatives.summary(s, viewer.branch, query))

    async def page(first, after):
        size = checked_first(first)
        try:
            rows = await info.context.db.read(lambda s: representatives.member_page(s, viewer.branch, query, size,
                                                                                  after))
        except BadCursor as exc:
            raise cursor_errors(exc) from exc

        async def counted() -> int:
            return count

        return rows, counted

    return count, total, page


async def _empty(first):
    checked_first(first)
    return empty_page()


async def volunteers(info, data, first, after):
    viewer = viewer_of(info)
    size = checked_first(first)
    organization = await organization_resolvers.by_id_or_code(info, data.organization_id, None)
    if organization is None:
        return empty_page()
    query = VolunteerQuery(organization_id=organization.id, organization_path=organization.path,
                           subtree=data.scope is not None and data.scope.value == "SUBTREE",
                           category=data.category, service_time=data.service_time,
                           service_intent=data.service_intent)
    try:
        page = await info.context.db.read(lambda s: representatives.volunteer_page(s, viewer.branch, query, size,
                                                                                 after))
    except BadCursor as exc:
        raise cursor_errors(exc) from exc

    async def count() -> int:
        return await info.context.db.read(lambda s: representatives.count_volunteers(s, viewer.branch, query))

    return page, count
