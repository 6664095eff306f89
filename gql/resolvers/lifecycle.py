"""Resolvers of a member's life after entry: input → db service call (db.services.lifecycle,
db.services.member_records) through the one write path, and the reads that go with it."""
from __future__ import annotations

from db.errors import DomainError, Problems
from db.pagination import BadCursor
from db.services import lifecycle, member_records
from gql.ids import MalformedId, from_global_id, input_pk
from gql.resolvers import organization as organization_resolvers
from gql.resolvers.common import checked_first, cursor_errors, empty_page, provided, viewer_of
from gql.resolvers.mutations import MEMBER_FIELDS
from gql.resolvers.write import Outcome, write

MAX_IDS = 5000


def indexed_pks(global_ids, type_name: str, field: str) -> list[int]:
    """The primary keys of a batch's ids; every malformed id (INVALID) or id of another type
    (NOT_FOUND) is reported at once, named by its list index (`memberIds.3`)."""
    problems = Problems()
    if len(global_ids) > MAX_IDS:
        raise DomainError("INVALID", f"一次最多 {MAX_IDS} 个", field)
    pks = []
    for index, global_id in enumerate(global_ids):
        try:
            kind, pk = from_global_id(global_id)
        except MalformedId as exc:
            problems.add("INVALID", str(exc), [field, str(index)])
            continue
        if kind != type_name:
            problems.add("NOT_FOUND", "对象不存在或不在本账户的管辖范围内", [field, str(index)])
            continue
        pks.append(pk)
    problems.raise_if_any()
    return pks


def _member_fields(fields) -> dict:
    changes = provided(fields, *MEMBER_FIELDS)
    if changes.get("category") is not None:
        changes["category"] = changes["category"].value
    return changes


def _member_pk(data):
    return input_pk(data.member_id, "Member", "memberId")


async def update_member(info, data) -> Outcome:
    return await write(info, lambda session, actor: lifecycle.update_member(
        session, actor, _member_pk(data), data.expected_version, _member_fields(data.fields)))


async def correct_id_number(info, data) -> Outcome:
    return await write(info, lambda session, actor: lifecycle.correct_id_number(
        session, actor, _member_pk(data), data.new_id_number, data.reason))


async def review(info, data, approve: bool) -> Outcome:
    return await write(info, lambda session, actor: lifecycle.decide(
        session, actor, indexed_pks(data.member_ids, "Member", "memberIds"), approve, data.reason))


async def resubmit(info, data) -> Outcome:
    return await write(info, lambda session, actor: lifecycle.resubmit(
        session, actor, _member_pk(data), _member_fields(data.fields) if data.fields is not None else None))


async def delete_rejected(info, data) -> Outcome:
    return await write(info, lambda session, actor: lifecycle.delete_rejected(
        session, actor, indexed_pks(data.member_ids, "Member", "memberIds")))


async def promote(info, data) -> Outcome:
    return await write(info, lambda session, actor: lifecycle.promote(
        session, actor, _member_pk(data), data.to.value, data.date))


async def convert_inflow(info, data) -> Outcome:
    return await write(info, lambda session, actor: lifecycle.convert_inflow(session, actor, _member_pk(data)))


async def record_status_change(info, data) -> Outcome:
    return await write(info, lambda session, actor: lifecycle.record_status_change(
        session, actor, _member_pk(data), data.kind.value, data.date, data.reason))


def _record_fields(fields) -> dict:
    return {name: getattr(fields, name) for name in member_records.CAMEL}


async def add_member_records(info, data) -> Outcome:
    return await write(info, lambda session, actor: member_records.add(
        session, actor, indexed_pks(data.member_ids, "Member", "memberIds"), data.kind.value,
        _record_fields(data.fields)))


async def update_member_record(info, data) -> Outcome:
    async def action(session, actor):
        return [await member_records.update(
            session, actor, input_pk(data.record_id, "MemberRecord", "recordId"), _record_fields(data.fields))]

    return await write(info, action)


async def delete_member_records(info, data) -> Outcome:
    return await write(info, lambda session, actor: member_records.delete_many(
        session, actor, indexed_pks(data.record_ids, "MemberRecord", "recordIds")))


# ------------------------------------------------------------------ reads


async def records_of_member(info, member_id: int, kind: str | None, first, after):
    viewer_of(info)
    loaders = info.context.loaders
    try:
        page = await loaders.member_record_page.load((member_id, kind, checked_first(first), after))
    except BadCursor as exc:
        raise cursor_errors(exc) from exc

    async def count() -> int:
        return await loaders.member_record_count.load((member_id, kind))

    return page, count


async def pending_approvals(info, organization_global_id, first, after):
    """Entries waiting for this caller's decision: PENDING_APPROVAL members of organizations
    strictly below the caller's own, in `organizationId`'s subtree when given."""
    viewer = viewer_of(info)
    size = checked_first(first)
    anchor_path = viewer.branch.path
    if organization_global_id is not None:
        organization = await organization_resolvers.by_id_or_code(info, organization_global_id, None)
        if organization is None:
            return empty_page()
        anchor_path = organization.path
    try:
        page = await info.context.db.read(lambda s: lifecycle.pending_page(
            s, viewer.branch, anchor_path, size, after))
    except BadCursor as exc:
        raise cursor_errors(exc) from exc

    async def count() -> int:
        return await info.context.db.read(lambda s: lifecycle.count_pending(s, viewer.branch, anchor_path))

    return page, count


async def members_without_record(info, organization_global_id, scope, kind, since, first, after):
    viewer = viewer_of(info)
    size = checked_first(first)
    organization = await organization_resolvers.by_id_or_code(info, organization_global_id, None)
    if organization is None:
        return empty_page()
    subtree = scope is not None and scope.value == "SUBTREE"
    try:
        page = await info.context.db.read(lambda s: member_records.members_without_record(
            s, viewer.branch, organization.id, subtree, kind.value, since, size, after))
    except BadCursor as exc:
        raise cursor_errors(exc) from exc

    async def count() -> int:
        return await info.context.db.read(lambda s: member_records.count_members_without_record(
            s, viewer.branch, organization.id, subtree, kind.value, since))

    return page, count
