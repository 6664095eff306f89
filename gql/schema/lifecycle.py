"""A member's life after entry: status changes (党籍异动), sub-records (子信息集), and the inputs and
payloads of updates, approval, development and inflow conversion."""
from __future__ import annotations

import datetime as dt
import decimal
from enum import Enum

import strawberry
from strawberry import Private

from db import models
from gql.auth.directives import Role, auth
from gql.ids import to_global_id
from gql.schema.base import Node, UserError
from gql.schema.codes import Code
from gql.schema.member import Member, MemberCategory, MemberFields



@strawberry.enum
class StatusChangeKind(Enum):
    DEATH = strawberry.enum_value("DEATH", description="去世")
    WITHDRAWAL = strawberry.enum_value("WITHDRAWAL", description="退党")
    REMOVAL = strawberry.enum_value("REMOVAL", description="除名")
    EXPULSION = strawberry.enum_value("EXPULSION", description="开除党籍")
    PROBATION_CANCELLED = strawberry.enum_value("PROBATION_CANCELLED", description="取消预备党员资格")
    SUSPENDED = strawberry.enum_value("SUSPENDED", description="停止党籍")
    RESTORED = strawberry.enum_value("RESTORED", description="恢复党籍")
    PROBATION_EXTENDED = strawberry.enum_value("PROBATION_EXTENDED", description="延长预备期")


@strawberry.type(description="党籍异动.", directives=[auth(Role.VIEWER, allow_self=True)])
class StatusChange(Node):
    id: strawberry.ID
    kind: StatusChangeKind
    date: dt.date
    reason: str | None
    member_pk: Private[int]
    scope_path: Private[str]
    owner_member_id: Private[int]

    @classmethod
    def from_row(cls, row: tuple[models.StatusChange, str] | None) -> "StatusChange | None":
        if row is None:
            return None
        c, path = row
        return cls(id=strawberry.ID(to_global_id("StatusChange", c.id)), kind=StatusChangeKind(c.kind), date=c.date,
                   reason=c.reason, member_pk=c.member_id, scope_path=path, owner_member_id=c.member_id)

    @strawberry.field
    async def member(self, info: strawberry.Info) -> Member:
        return Member.from_row(await info.context.loaders.member.load(self.member_pk))


@strawberry.input
class RecordStatusChangeInput:
    member_id: strawberry.ID
    kind: StatusChangeKind
    date: dt.date
    reason: str | None = None


@strawberry.type
class StatusChangePayload:
    status_change: StatusChange | None
    member: Member | None
    user_errors: list[UserError]


@strawberry.enum
class MemberRecordKind(Enum):
    REWARD = strawberry.enum_value("REWARD", description="奖励")
    PUNISHMENT = strawberry.enum_value("PUNISHMENT", description="惩戒")
    POSITION = strawberry.enum_value("POSITION", description="党内职务")
    ABROAD = strawberry.enum_value("ABROAD", description="出国(境)")
    ACTIVITY = strawberry.enum_value("ACTIVITY", description="活动")
    DUES = strawberry.enum_value("DUES", description="交纳党费")
    EVALUATION = strawberry.enum_value("EVALUATION", description="民主评议")


CODE_TABLES = {"REWARD": "reward", "PUNISHMENT": "punishment", "POSITION": "party_position"}


@strawberry.type(directives=[auth(Role.VIEWER, allow_self=True)])
class MemberRecord(Node):
    id: strawberry.ID
    kind: MemberRecordKind
    title: str | None
    date: dt.date = strawberry.field(description="Date of the event, or the first day of the month paid for (DUES).")
    until: dt.date | None
    amount: decimal.Decimal | None = strawberry.field(description="Amount paid, for DUES.")
    approved_by: str | None = strawberry.field(description="批准机关, for REWARD and PUNISHMENT.")
    result: str | None = strawberry.field(description="Result, for EVALUATION (优秀/合格/基本合格/不合格).")
    note: str | None
    member_pk: Private[int]
    scope_path: Private[str]
    owner_member_id: Private[int]
    code_value: Private[str | None]

    @classmethod
    def from_row(cls, row: tuple[models.MemberRecord, str] | None) -> "MemberRecord | None":
        if row is None:
            return None
        r, path = row
        return cls(id=strawberry.ID(to_global_id("MemberRecord", r.id)), kind=MemberRecordKind(r.kind), title=r.title,
                   date=r.date, until=r.until, amount=r.amount, approved_by=r.approved_by, result=r.result,
                   note=r.note, member_pk=r.member_id, scope_path=path, owner_member_id=r.member_id,
                   code_value=r.code)

    @strawberry.field(description="The code of the record's code table, where its kind has one (REWARD, PUNISHMENT, POSITION).")
    def code(self) -> Code | None:
        table = CODE_TABLES.get(self.kind.value)
        return Code.of(table, self.code_value) if table else None

    @strawberry.field
    async def member(self, info: strawberry.Info) -> Member:
        return Member.from_row(await info.context.loaders.member.load(self.member_pk))


@strawberry.input
class MemberRecordFields:
    code: str | None = None
    title: str | None = None
    date: dt.date
    until: dt.date | None = None
    amount: decimal.Decimal | None = None
    approved_by: str | None = None
    result: str | None = None
    note: str | None = None


@strawberry.input(description="批量录入: the same record for many members at once.")
class AddMemberRecordsInput:
    member_ids: list[strawberry.ID]
    kind: MemberRecordKind
    fields: MemberRecordFields


@strawberry.input
class UpdateMemberRecordInput:
    record_id: strawberry.ID
    fields: MemberRecordFields


@strawberry.input
class DeleteMemberRecordsInput:
    record_ids: list[strawberry.ID]


@strawberry.type
class MemberRecordsPayload:
    records: list[MemberRecord]
    user_errors: list[UserError]


# ------------------------------------------------------------------ member mutations


@strawberry.input(description="The ID number cannot be changed here; only an ADMIN may correct it (`correctIdNumber`).")
class UpdateMemberInput:
    member_id: strawberry.ID
    expected_version: int | None = None
    fields: MemberFields


@strawberry.input
class CorrectIdNumberInput:
    member_id: strawberry.ID
    new_id_number: str
    reason: str


@strawberry.input
class ReviewMembersInput:
    member_ids: list[strawberry.ID]
    reason: str | None = strawberry.field(default=None, description="Required when rejecting.")


@strawberry.input
class ResubmitMemberInput:
    member_id: strawberry.ID
    fields: MemberFields | None = None


@strawberry.input
class DeleteRejectedMembersInput:
    member_ids: list[strawberry.ID]


@strawberry.input(description="发展: APPLICANT → ACTIVIST → CANDIDATE → PROBATIONARY → FULL, one step at a time.")
class PromoteMemberInput:
    member_id: strawberry.ID
    to: MemberCategory
    date: dt.date


@strawberry.input
class ConvertInflowInput:
    member_id: strawberry.ID


@strawberry.type
class MembersPayload:
    members: list[Member]
    user_errors: list[UserError]
