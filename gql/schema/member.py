from __future__ import annotations

import datetime as dt
from enum import Enum
from types import SimpleNamespace
from typing import Annotated

import strawberry
from strawberry import Private

from db import idnumber, models
from db.branch import LETTER_FIELDS
from db.services import members as member_service
from gql.auth.directives import Role, auth
from gql.auth.errors import Forbidden
from gql.ids import to_global_id
from gql.schema.base import Connection, Gender, Node, OrderDirection, Scope, UserError, connection, plain_input
from gql.schema.codes import Code

OrganizationType = Annotated["Organization", strawberry.lazy("gql.schema.organization")]
AccountType = Annotated["Account", strawberry.lazy("gql.schema.account")]
DifficultyType = Annotated["Difficulty", strawberry.lazy("gql.schema.difficulty")]
MemberRecordType = Annotated["MemberRecord", strawberry.lazy("gql.schema.lifecycle")]
MemberRecordKindType = Annotated["MemberRecordKind", strawberry.lazy("gql.schema.lifecycle")]
StatusChangeType = Annotated["StatusChange", strawberry.lazy("gql.schema.lifecycle")]
TransferType = Annotated["Transfer", strawberry.lazy("gql.schema.transfer")]
FlowType = Annotated["Flow", strawberry.lazy("gql.schema.flow")]
RepresentativeTermType = Annotated["RepresentativeTerm", strawberry.lazy("gql.schema.representative")]
VolunteerType = Annotated["Volunteer", strawberry.lazy("gql.schema.representative")]


@strawberry.enum
class MemberCategory(Enum):
    APPLICANT = strawberry.enum_value("APPLICANT", description="入党申请人")
    ACTIVIST = strawberry.enum_value("ACTIVIST", description="入党积极分子")
    CANDIDATE = strawberry.enum_value("CANDIDATE", description="发展对象")
    PROBATIONARY = strawberry.enum_value("PROBATIONARY", description="预备党员")
    FULL = strawberry.enum_value("FULL", description="正式党员")


@strawberry.enum(description="直管 (the organization holds the member's relationship) or 流入 (managed here, relationship elsewhere).")
class Affiliation(Enum):
    DIRECT = "DIRECT"
    INFLOW = "INFLOW"


@strawberry.enum
class MemberStatus(Enum):
    PENDING_APPROVAL = strawberry.enum_value("PENDING_APPROVAL", description="Entered in an organization that requires approval; waits for the parent (待审).")
    REJECTED = strawberry.enum_value("REJECTED", description="Sent back by the approver with a reason (审批未通过).")
    ACTIVE = "ACTIVE"
    FLOWING_OUT = strawberry.enum_value("FLOWING_OUT", description="流出: temporarily away, still belongs here.")
    TRANSFERRING = strawberry.enum_value("TRANSFERRING", description="A transfer out is waiting for the receiving organization.")
    TRANSFERRED_OUT = strawberry.enum_value("TRANSFERRED_OUT", description="Relationship moved out of the system (转出到系统外).")
    LEFT = strawberry.enum_value("LEFT", description="Left the party organization: death, withdrawal, removal, expulsion (离开中共组织).")


@strawberry.enum
class MemberOrderField(Enum):
    NAME = "NAME"
    JOINED_ON = "JOINED_ON"
    BIRTH_DATE = "BIRTH_DATE"
    CREATED_AT = "CREATED_AT"


@plain_input
@strawberry.input
class MemberOrder:
    field: MemberOrderField
    direction: OrderDirection = OrderDirection.ASC


@plain_input
@strawberry.input
class MemberFilter:
    scope: Scope | None = strawberry.field(default=None, description="SELF: the organization alone; SUBTREE: it and its descendants. Default SELF.")
    name_contains: str | None = None
    id_number: str | None = None
    categories: list[MemberCategory] | None = None
    affiliations: list[Affiliation] | None = None
    statuses: list[MemberStatus] | None = strawberry.field(default=None, description="Default: every status except PENDING_APPROVAL, REJECTED, TRANSFERRED_OUT and LEFT.")
    genders: list[Gender] | None = None
    education_codes: list[str] | None = None
    ethnicity_codes: list[str] | None = None
    job_position_codes: list[str] | None = None
    min_age: int | None = None
    max_age: int | None = None
    joined_from: dt.date | None = None
    joined_to: dt.date | None = None
    has_account: bool | None = None
    completeness_below: int | None = strawberry.field(default=None, description="Only members whose completeness is below this percent.")


LETTER_COMPLETENESS = "只读到转接介绍信所载的信息（该党员不在本账户的管辖范围内），不评估完整度"


@strawberry.type(description="How complete the record is (信息完整度) and what a maintainer should fix.")
class Completeness:
    percent: int = strawberry.field(description="0 to 100.")
    missing: list[str] = strawberry.field(description="Names of empty fields that the record should have.")
    warnings: list[str] = strawberry.field(description="Rule findings, e.g. probation longer than allowed, admitted under 18 without a review note.")


LETTER_NOTE = "Read through a transfer's letter (see Member): "


@strawberry.type(directives=[auth(Role.VIEWER, allow_self=True)], description=(
    "党员. Read as the caller's branch reads it, or, as a transfer's member for the side that no longer\n"
    "reads the member itself (the sender after acceptance, the receiver after a rejection or a\n"
    "cancellation), as the letter (介绍信) shows it: id, name, gender, birthDate, ethnicity, idNumber\n"
    "(masked as for the caller's role), category, affiliation and joinedOn as they were when the\n"
    "transfer was sent, never the member's current record; every other nullable field is null and\n"
    "every list empty; status, createdAt, updatedAt, version, completeness and organization say so\n"
    "in their descriptions. A member listed as of a past day (a crossTab drill-through, a memberBalance\n"
    "line) that has been transferred out of the caller's branch since is read the same way, through\n"
    "the letter of that transfer (its organization: the one of that day)."))
class Member(Node):
    id: strawberry.ID
    name: str
    gender: Gender
    birth_date: dt.date
    native_place: str | None
    phone: str | None
    category: MemberCategory
    affiliation: Affiliation
    status: MemberStatus = strawberry.field(description=LETTER_NOTE + "TRANSFERRING, the status the letter was sent in.")
    applied_on: dt.date | None
    activist_on: dt.date | None
    candidate_on: dt.date | None
    joined_on: dt.date | None = strawberry.field(description="入党日期: admitted as probationary member.")
    confirmed_on: dt.date | None = strawberry.field(description="转正日期.")
    review_note: str | None = strawberry.field(description="人工审核 note, required when the member was admitted at 18 (younger than 19); younger than 18 cannot be admitted.")
    rejection_reason: str | None = strawberry.field(description="Why an entry was rejected by the approver.")
    created_at: dt.datetime = strawberry.field(description=LETTER_NOTE + "when the letter was made.")
    updated_at: dt.datetime = strawberry.field(description=LETTER_NOTE + "when the letter was made.")
    version: int = strawberry.field(description=LETTER_NOTE + "0: a letter is no version of the record, and no write accepts it.")
    pk: Private[int]
    organization_pk: Private[int]
    scope_path: Private[str]
    owner_member_id: Private[int]
    row: Private[models.Member]
    # Read through the letter reach (db.branch): only what the transfer's letter holds.
    letter_reach: Private[bool] = False

    @classmethod
    def from_row(cls, row: tuple[models.Member, str] | None) -> "Member | None":
        """From a (member, its organization's path) pair."""
        if row is None:
            return None
        m, path = row
        return cls(
            id=strawberry.ID(to_global_id("Member", m.id)), name=m.name, gender=Gender(m.gender),
            birth_date=m.birth_date, native_place=m.native_place, phone=m.phone,
            category=MemberCategory(m.category), affiliation=Affiliation(m.affiliation),
            status=MemberStatus(m.status), applied_on=m.applied_on, activist_on=m.activist_on,
            candidate_on=m.candidate_on, joined_on=m.joined_on, confirmed_on=m.confirmed_on,
            review_note=m.review_note, rejection_reason=m.rejection_reason, created_at=m.created_at,
            updated_at=m.updated_at, version=m.version, pk=m.id, organization_pk=m.organization_id,
            scope_path=path, owner_member_id=m.id, row=m,
        )

    @classmethod
    def from_letter(cls, view) -> "Member":
        """The member of a transfer (db.services.transfers.TransferView) as its letter shows it,
        for the side that no longer reads the member itself (db.branch, the letter reach): the
        copy frozen on the transfer when it was sent; nothing of the member's current record. Its
        scope is the caller's end of the transfer (so the guard admits it, and only the Member
        fields it lists for the letter reach); its organization is that end."""
        t = view.transfer
        copy = SimpleNamespace(**{name: getattr(t, f"member_{name}") for name in LETTER_FIELDS},
                               native_place=None, phone=None, education_code=None, degree_code=None,
                               job_position_code=None, technical_title_code=None)
        return cls(
            id=strawberry.ID(to_global_id("Member", t.member_id)), name=copy.name, gender=Gender(copy.gender),
            birth_date=copy.birth_date, native_place=None, phone=None, category=MemberCategory(copy.category),
            affiliation=Affiliation(copy.affiliation), status=MemberStatus.TRANSFERRING, applied_on=None,
            activist_on=None, candidate_on=None, joined_on=copy.joined_on, confirmed_on=None, review_note=None,
            rejection_reason=None, created_at=t.created_at, updated_at=t.created_at, version=0, pk=t.member_id,
            organization_pk=view.sight_organization_id, scope_path=view.sight_path, owner_member_id=t.member_id,
            row=copy, letter_reach=True,
        )

    @strawberry.field(description="居民身份证号码, GB 11643 with a valid check digit. VIEWER accounts see the first 3 and the last 2 digits, the rest as * (birthDate is readable, so the sequence digits must stay hidden).")
    def id_number(self, info: strawberry.Info) -> str:
        viewer = info.context.viewer
        if viewer is not None and not viewer.sees_id_numbers:
            return idnumber.mask(self.row.id_number)
        return self.row.id_number

    @strawberry.field
    def ethnicity(self) -> Code | None:
        return Code.of("ethnicity", self.row.ethnicity_code)

    @strawberry.field
    def education(self) -> Code | None:
        return Code.of("education", self.row.education_code)

    @strawberry.field
    def degree(self) -> Code | None:
        return Code.of("degree", self.row.degree_code)

    @strawberry.field
    def job_position(self) -> Code | None:
        return Code.of("job_position", self.row.job_position_code)

    @strawberry.field
    def technical_title(self) -> Code | None:
        return Code.of("technical_title", self.row.technical_title_code)

    @strawberry.field(description="信息完整度. " + LETTER_NOTE + "not assessed: percent 0, nothing missing, one warning that says so.")
    async def completeness(self, info: strawberry.Info) -> Completeness:
        if self.letter_reach:
            return Completeness(percent=0, missing=[], warnings=[LETTER_COMPLETENESS])
        extended = False
        if member_service.probation_overdue(self.row):  # only then do its status changes matter (batched)
            changes = await info.context.loaders.member_status_changes.load(self.pk)
            extended = any(change.kind == "PROBATION_EXTENDED" for change, _path in changes)
        percent, missing, warnings = member_service.completeness(self.row, probation_extended=extended)
        return Completeness(percent=percent, missing=missing, warnings=warnings)

    @strawberry.field(description="The organization that manages the member now. " + LETTER_NOTE + "the caller's end of that transfer (the sender's for the sender, the addressee for the receiver), never the other branch's.")
    def organization(self, info: strawberry.Info) -> OrganizationType:
        # Sync when the request has read the organization already (a page of members brings its
        # members' organizations): graphql-core then completes the list without a task per
        # member; else an awaitable from the loader.
        loaders = info.context.loaders
        row = loaders.known_organization(self.organization_pk)
        if row is not None:
            from gql.schema.organization import Organization

            return loaders.memo(("Organization", row.id), lambda: Organization.from_row(row))
        return _load_organization(info, self.organization_pk)

    @strawberry.field
    async def difficulties(self, info: strawberry.Info) -> list[DifficultyType]:
        from gql.schema.difficulty import Difficulty

        if self.letter_reach:
            return []
        return [Difficulty.from_row(r) for r in await info.context.loaders.member_difficulties.load(self.pk)]

    @strawberry.field(description="子信息集, newest first.")
    async def records(self, info: strawberry.Info, kind: MemberRecordKindType | None = None, first: int | None = None,
                      after: str | None = None) -> Connection[MemberRecordType]:
        from gql.resolvers import lifecycle
        from gql.schema.lifecycle import MemberRecord

        if self.letter_reach:
            return connection([], [], False, _no_count)
        page, count = await lifecycle.records_of_member(info, self.pk, kind.value if kind else None, first, after)
        return connection([MemberRecord.from_row(r) for r in page.rows], page.cursors, page.has_next_page, count)

    @strawberry.field(description="党籍异动, oldest first.")
    async def status_changes(self, info: strawberry.Info) -> list[StatusChangeType]:
        from gql.schema.lifecycle import StatusChange

        if self.letter_reach:
            return []
        return [StatusChange.from_row(r) for r in await info.context.loaders.member_status_changes.load(self.pk)]

    @strawberry.field(description="组织关系转接 of the member the caller's branch reads (sent from it or to it), oldest first.")
    async def transfers(self, info: strawberry.Info) -> list[TransferType]:
        from gql.resolvers.transfers import uncacheable_transfers
        from gql.schema.transfer import Transfer

        if self.letter_reach:
            return []
        uncacheable_transfers(info)
        return [Transfer.of(view) for view in await info.context.loaders.member_transfers.load(self.pk)]

    @strawberry.field(description="流动, oldest first.")
    async def flows(self, info: strawberry.Info) -> list[FlowType]:
        from gql.schema.flow import Flow

        if self.letter_reach:
            return []
        return [Flow.from_row(r) for r in await info.context.loaders.member_flows.load(self.pk)]

    @strawberry.field(description="党代表 seats, by level (national first), then term.")
    async def representative_terms(self, info: strawberry.Info) -> list[RepresentativeTermType]:
        from gql.schema.representative import RepresentativeTerm

        if self.letter_reach:
            return []
        return [RepresentativeTerm.from_row(r)
                for r in await info.context.loaders.member_representative_terms.load(self.pk)]

    @strawberry.field
    async def volunteer(self, info: strawberry.Info) -> VolunteerType | None:
        from gql.schema.representative import Volunteer

        if self.letter_reach:
            return None
        return Volunteer.from_row(await info.context.loaders.member_volunteer.load(self.pk))

    @strawberry.field
    async def account(self, info: strawberry.Info) -> AccountType | None:
        from gql.schema.account import Account

        if self.letter_reach:
            return None
        return Account.from_row(await info.context.loaders.account_by_member.load(self.pk))


async def _no_count() -> int:
    return 0


async def _load_organization(info, organization_pk: int):
    from gql.schema.organization import Organization

    row = await info.context.loaders.organization.load(organization_pk)
    if row is None:
        # Only a member read through a pending transfer into the caller's branch (db.branch.in_sight)
        # gets here: its organization is the sender's, outside the branch, named only by the
        # transfer's fromOrganizationRef.
        raise Forbidden("该党员正在转入本账户的管辖范围，其所在党组织不在管辖范围内（见转接的 fromOrganizationRef）")
    return Organization.from_row(row)


@strawberry.input
class MemberFields:
    name: str | None = strawberry.UNSET
    id_number: str | None = strawberry.UNSET
    ethnicity_code: str | None = strawberry.UNSET
    native_place: str | None = strawberry.UNSET
    education_code: str | None = strawberry.UNSET
    degree_code: str | None = strawberry.UNSET
    job_position_code: str | None = strawberry.UNSET
    technical_title_code: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    category: MemberCategory | None = strawberry.UNSET
    applied_on: dt.date | None = strawberry.UNSET
    activist_on: dt.date | None = strawberry.UNSET
    candidate_on: dt.date | None = strawberry.UNSET
    joined_on: dt.date | None = strawberry.UNSET
    confirmed_on: dt.date | None = strawberry.UNSET
    review_note: str | None = strawberry.UNSET


@strawberry.input(description="补录/录入. In an organization that requires approval the member starts PENDING_APPROVAL.")
class CreateMemberInput:
    organization_id: strawberry.ID
    affiliation: Affiliation = Affiliation.DIRECT
    fields: MemberFields
    since: dt.date | None = strawberry.field(
        default=None,
        description="The day the member came under this organization (its placement starts); default joinedOn, else appliedOn, else today.")


@strawberry.type
class MemberPayload:
    member: Member | None
    user_errors: list[UserError]
