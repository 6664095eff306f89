from __future__ import annotations

import strawberry

from gql.auth.directives import Role, auth_mutation
from gql.resolvers import mutations as resolvers
from gql.resolvers import statistics as statistics_resolvers
from gql.schema.account import (
    Account, AccountPayload, ChangePasswordInput, CreateAccountInput, LoginInput, LoginPayload,
    ResetPasswordInput, UpdateAccountInput,
)
from gql.schema.base import Payload, user_errors
from gql.schema.change_request import (
    ChangeRequest, ChangeRequestPayload, DecideChangeRequestInput, RegisterMemberInput, RequestDuesInput,
    RequestProfileChangeInput, RequestTransferInput,
)
from gql.resolvers import change_requests as change_request_resolvers
from gql.schema.member import CreateMemberInput, Member, MemberPayload
from gql.schema.difficulty import AddDifficultyInput, Difficulty, DifficultyPayload, RevokeDifficultyInput
from gql.schema.leadership import (
    AppointLeaderInput, EndLeaderPositionInput, LeaderPosition, LeaderPositionPayload, SetLeadershipTermInput,
)
from gql.schema.lifecycle import (
    AddMemberRecordsInput, ConvertInflowInput, CorrectIdNumberInput, DeleteMemberRecordsInput,
    DeleteRejectedMembersInput, MemberRecord, MemberRecordsPayload, MembersPayload, PromoteMemberInput,
    RecordStatusChangeInput, ResubmitMemberInput, ReviewMembersInput, StatusChange, StatusChangePayload,
    UpdateMemberInput, UpdateMemberRecordInput,
)
from gql.resolvers import lifecycle as lifecycle_resolvers
from gql.resolvers import transfers as transfer_resolvers
from gql.schema.transfer import DecideTransferInput, Transfer, TransferMembersInput, TransferPayload, TransfersPayload
from gql.schema.statistics import (
    DeleteStatDefinitionInput, SaveStatDefinitionInput, StatDefinition, StatDefinitionPayload,
)
from gql.resolvers import flows as flow_resolvers
from gql.schema.flow import Flow, FlowOutInput, FlowPayload, ReturnFromFlowInput, UpdateFlowInput
from gql.schema.representative import (
    AddRepresentativeTermInput, RepresentativeTerm, RepresentativeTermPayload, SetVolunteerInput,
    TerminateRepresentativeInput, Volunteer, VolunteerPayload,
)
from gql.schema.org_record import AddOrgRecordInput, OrgRecord, OrgRecordPayload
from gql.schema.organization import (
    CreateOrganizationInput, MoveOrganizationInput, Organization, OrganizationPayload, RenameOrganizationInput,
    RevokeOrganizationInput, UpdateOrganizationInput,
)


def payload(payload_type, subject: str, convert, outcome):
    """The payload of a mutation: its subject when it succeeded, else null and the userErrors."""
    return payload_type(**{subject: convert(outcome.value) if outcome.ok else None},
                        user_errors=user_errors(outcome.problems))


def account_payload(outcome) -> AccountPayload:
    return payload(AccountPayload, "account", Account.from_row, outcome)


def organization_payload(outcome) -> OrganizationPayload:
    return payload(OrganizationPayload, "organization", Organization.from_row, outcome)


def member_payload(outcome) -> MemberPayload:
    return payload(MemberPayload, "member", Member.from_row, outcome)


def members_payload(outcome) -> MembersPayload:
    return MembersPayload(members=[Member.from_row(r) for r in outcome.value] if outcome.ok else [],
                          user_errors=user_errors(outcome.problems))


def records_payload(outcome) -> MemberRecordsPayload:
    return MemberRecordsPayload(records=[MemberRecord.from_row(r) for r in outcome.value] if outcome.ok else [],
                                user_errors=user_errors(outcome.problems))


def status_change_payload(outcome) -> StatusChangePayload:
    if not outcome.ok:
        return StatusChangePayload(status_change=None, member=None, user_errors=user_errors(outcome.problems))
    change, member, path = outcome.value
    return StatusChangePayload(status_change=StatusChange.from_row((change, path)),
                               member=Member.from_row((member, path)), user_errors=[])


def change_request_payload(outcome) -> ChangeRequestPayload:
    return payload(ChangeRequestPayload, "request", ChangeRequest.from_row, outcome)


def transfers_payload(outcome) -> TransfersPayload:
    return TransfersPayload(transfers=[Transfer.of(v) for v in outcome.value] if outcome.ok else [],
                            user_errors=user_errors(outcome.problems))


def transfer_payload(outcome) -> TransferPayload:
    return payload(TransferPayload, "transfer", Transfer.of, outcome)


def ok_payload(outcome) -> Payload:
    return Payload(ok=outcome.ok, user_errors=user_errors(outcome.problems))


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def login(self, info: strawberry.Info, input: LoginInput) -> LoginPayload:
        outcome = await resolvers.login(info, input.username, input.password)
        if not outcome.ok:
            return LoginPayload(token=None, expires_at=None, account=None, user_errors=user_errors(outcome.problems))
        token, expires_at, account_row = outcome.value
        # The payload's account is read by the account that just signed in.
        info.context.sign_in(account_row)
        return LoginPayload(token=token, expires_at=expires_at, account=Account.from_row(account_row), user_errors=[])

    @strawberry.mutation(description=(
        "实名注册: claim the MEMBER account of an ACTIVE member record whose ID number, name and phone match.\n"
        "The username is the ID number; sign-in also accepts the phone. Any mismatch answers alike."))
    async def register_member(self, info: strawberry.Info, input: RegisterMemberInput) -> AccountPayload:
        outcome = await resolvers.register_member(info, input)
        if outcome.ok:
            # Like login: the payload's account is read by the account just made (no token: sign in next).
            info.context.sign_in(outcome.value)
        return account_payload(outcome)

    @auth_mutation(requires=Role.MEMBER)
    async def logout(self, info: strawberry.Info) -> Payload:
        return ok_payload(await resolvers.logout(info))

    @auth_mutation(requires=Role.MEMBER)
    async def change_password(self, info: strawberry.Info, input: ChangePasswordInput) -> Payload:
        return ok_payload(await resolvers.change_password(info, input.current_password, input.new_password))

    @auth_mutation(requires=Role.ADMIN)
    async def create_account(self, info: strawberry.Info, input: CreateAccountInput) -> AccountPayload:
        return account_payload(await resolvers.create_account(info, input))

    @auth_mutation(requires=Role.ADMIN)
    async def update_account(self, info: strawberry.Info, input: UpdateAccountInput) -> AccountPayload:
        return account_payload(await resolvers.update_account(info, input))

    @auth_mutation(requires=Role.ADMIN)
    async def reset_password(self, info: strawberry.Info, input: ResetPasswordInput) -> AccountPayload:
        return account_payload(await resolvers.reset_password(info, input))

    @auth_mutation(requires=Role.ADMIN)
    async def create_organization(self, info: strawberry.Info, input: CreateOrganizationInput) -> OrganizationPayload:
        return organization_payload(await resolvers.create_organization(info, input))

    @auth_mutation(requires=Role.ADMIN)
    async def update_organization(self, info: strawberry.Info, input: UpdateOrganizationInput) -> OrganizationPayload:
        return organization_payload(await resolvers.update_organization(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def create_member(self, info: strawberry.Info, input: CreateMemberInput) -> MemberPayload:
        return payload(MemberPayload, "member", Member.from_row, await resolvers.create_member(info, input))

    @auth_mutation(requires=Role.ADMIN)
    async def rename_organization(self, info: strawberry.Info, input: RenameOrganizationInput) -> OrganizationPayload:
        return organization_payload(await resolvers.rename_organization(info, input))

    @auth_mutation(requires=Role.ADMIN, description="变更隶属关系: with the whole subtree and all their members, in one transaction.")
    async def move_organization(self, info: strawberry.Info, input: MoveOrganizationInput) -> OrganizationPayload:
        return organization_payload(await resolvers.move_organization(info, input))

    @auth_mutation(requires=Role.ADMIN, description="撤销: only from a strictly higher level, once no member remains.")
    async def revoke_organization(self, info: strawberry.Info, input: RevokeOrganizationInput) -> OrganizationPayload:
        return organization_payload(await resolvers.revoke_organization(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def set_leadership_term(self, info: strawberry.Info, input: SetLeadershipTermInput) -> OrganizationPayload:
        return organization_payload(await resolvers.set_leadership_term(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def appoint_leader(self, info: strawberry.Info, input: AppointLeaderInput) -> LeaderPositionPayload:
        return payload(LeaderPositionPayload, "position", LeaderPosition.from_row, await resolvers.appoint_leader(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def end_leader_position(self, info: strawberry.Info, input: EndLeaderPositionInput) -> LeaderPositionPayload:
        return payload(LeaderPositionPayload, "position", LeaderPosition.from_row, await resolvers.end_leader_position(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def add_org_record(self, info: strawberry.Info, input: AddOrgRecordInput) -> OrgRecordPayload:
        return payload(OrgRecordPayload, "record", OrgRecord.from_row, await resolvers.add_org_record(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def add_difficulty(self, info: strawberry.Info, input: AddDifficultyInput) -> DifficultyPayload:
        return payload(DifficultyPayload, "difficulty", Difficulty.from_row, await resolvers.add_difficulty(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def revoke_difficulty(self, info: strawberry.Info, input: RevokeDifficultyInput) -> DifficultyPayload:
        return payload(DifficultyPayload, "difficulty", Difficulty.from_row, await resolvers.revoke_difficulty(info, input))

    # ------------------------------------------------ issue 8: member lifecycle

    @auth_mutation(requires=Role.OPERATOR)
    async def update_member(self, info: strawberry.Info, input: UpdateMemberInput) -> MemberPayload:
        return member_payload(await lifecycle_resolvers.update_member(info, input))

    @auth_mutation(requires=Role.ADMIN)
    async def correct_id_number(self, info: strawberry.Info, input: CorrectIdNumberInput) -> MemberPayload:
        return member_payload(await lifecycle_resolvers.correct_id_number(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def approve_members(self, info: strawberry.Info, input: ReviewMembersInput) -> MembersPayload:
        return members_payload(await lifecycle_resolvers.review(info, input, approve=True))

    @auth_mutation(requires=Role.OPERATOR)
    async def reject_members(self, info: strawberry.Info, input: ReviewMembersInput) -> MembersPayload:
        return members_payload(await lifecycle_resolvers.review(info, input, approve=False))

    @auth_mutation(requires=Role.OPERATOR)
    async def resubmit_member(self, info: strawberry.Info, input: ResubmitMemberInput) -> MemberPayload:
        return member_payload(await lifecycle_resolvers.resubmit(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def delete_rejected_members(self, info: strawberry.Info, input: DeleteRejectedMembersInput) -> Payload:
        return ok_payload(await lifecycle_resolvers.delete_rejected(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def promote_member(self, info: strawberry.Info, input: PromoteMemberInput) -> MemberPayload:
        return member_payload(await lifecycle_resolvers.promote(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def convert_inflow_to_direct(self, info: strawberry.Info, input: ConvertInflowInput) -> MemberPayload:
        return member_payload(await lifecycle_resolvers.convert_inflow(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def record_status_change(self, info: strawberry.Info, input: RecordStatusChangeInput) -> StatusChangePayload:
        return status_change_payload(await lifecycle_resolvers.record_status_change(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def transfer_members(self, info: strawberry.Info, input: TransferMembersInput) -> TransfersPayload:
        return transfers_payload(await transfer_resolvers.transfer_members(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def accept_transfer(self, info: strawberry.Info, input: DecideTransferInput) -> TransferPayload:
        return transfer_payload(await transfer_resolvers.accept(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def reject_transfer(self, info: strawberry.Info, input: DecideTransferInput) -> TransferPayload:
        return transfer_payload(await transfer_resolvers.reject(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def cancel_transfer(self, info: strawberry.Info, input: DecideTransferInput) -> TransferPayload:
        return transfer_payload(await transfer_resolvers.cancel(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def add_member_records(self, info: strawberry.Info, input: AddMemberRecordsInput) -> MemberRecordsPayload:
        return records_payload(await lifecycle_resolvers.add_member_records(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def update_member_record(self, info: strawberry.Info, input: UpdateMemberRecordInput) -> MemberRecordsPayload:
        return records_payload(await lifecycle_resolvers.update_member_record(info, input))

    @auth_mutation(requires=Role.OPERATOR)
    async def delete_member_records(self, info: strawberry.Info, input: DeleteMemberRecordsInput) -> Payload:
        return ok_payload(await lifecycle_resolvers.delete_member_records(info, input))

    @auth_mutation(requires=Role.VIEWER, description="Save a cross-tab (统计表格) for the branch; the caller owns it.")
    async def save_stat_definition(self, info: strawberry.Info, input: SaveStatDefinitionInput) -> StatDefinitionPayload:
        return payload(StatDefinitionPayload, "definition", StatDefinition.from_row,
                       await statistics_resolvers.save_definition(info, input))

    @auth_mutation(requires=Role.VIEWER, description="Only the owner or an ADMIN (else NOT_ALLOWED).")
    async def delete_stat_definition(self, info: strawberry.Info, input: DeleteStatDefinitionInput) -> Payload:
        return ok_payload(await statistics_resolvers.delete_definition(info, input))

    # ------------------------------------------------ issue 12: self-service requests (党员自助)

    @auth_mutation(requires=Role.MEMBER, description="The member's own profile edit, applied when approved.")
    async def request_profile_change(self, info: strawberry.Info, input: RequestProfileChangeInput) -> ChangeRequestPayload:
        return change_request_payload(await change_request_resolvers.request_profile_change(info, input))

    @auth_mutation(requires=Role.MEMBER, description="The member's dues payment of this month (党费), recorded when approved.")
    async def request_dues(self, info: strawberry.Info, input: RequestDuesInput) -> ChangeRequestPayload:
        return change_request_payload(await change_request_resolvers.request_dues(info, input))

    @auth_mutation(requires=Role.MEMBER, description="The member's request to transfer out (组织关系转接).")
    async def request_transfer(self, info: strawberry.Info, input: RequestTransferInput) -> ChangeRequestPayload:
        return change_request_payload(await change_request_resolvers.request_transfer(info, input))

    @auth_mutation(requires=Role.OPERATOR, description="Approve (the change is applied) or reject (reason required).")
    async def decide_change_request(self, info: strawberry.Info, input: DecideChangeRequestInput) -> ChangeRequestPayload:
        return change_request_payload(await change_request_resolvers.decide(info, input))

    # ------------------------------------------------ issue 11: flows, representatives, volunteers

    @auth_mutation(requires=Role.OPERATOR, description="流出: an ACTIVE member is FLOWING_OUT from `since` (one open flow at a time).")
    async def flow_out(self, info: strawberry.Info, input: FlowOutInput) -> FlowPayload:
        return payload(FlowPayload, "flow", Flow.from_row, await flow_resolvers.flow_out(info, input))

    @auth_mutation(requires=Role.OPERATOR, description="An open flow's destination, reason or contact; a field left out stays.")
    async def update_flow(self, info: strawberry.Info, input: UpdateFlowInput) -> FlowPayload:
        return payload(FlowPayload, "flow", Flow.from_row, await flow_resolvers.update_flow(info, input))

    @auth_mutation(requires=Role.OPERATOR, description="返回: the flow ends on `date`; the member is ACTIVE again from that day.")
    async def return_from_flow(self, info: strawberry.Info, input: ReturnFromFlowInput) -> FlowPayload:
        return payload(FlowPayload, "flow", Flow.from_row, await flow_resolvers.return_from_flow(info, input))

    @auth_mutation(requires=Role.OPERATOR, description="A 党代表 seat of a FULL member on the roll: one per member per level and term.")
    async def add_representative_term(self, info: strawberry.Info,
                                      input: AddRepresentativeTermInput) -> RepresentativeTermPayload:
        return payload(RepresentativeTermPayload, "representative_term", RepresentativeTerm.from_row,
                       await flow_resolvers.add_representative_term(info, input))

    @auth_mutation(requires=Role.OPERATOR, description="资格终止: ends a seat on `date`, with the reason; once.")
    async def terminate_representative(self, info: strawberry.Info,
                                       input: TerminateRepresentativeInput) -> RepresentativeTermPayload:
        return payload(RepresentativeTermPayload, "representative_term", RepresentativeTerm.from_row,
                       await flow_resolvers.terminate_representative(info, input))

    @auth_mutation(requires=Role.OPERATOR, description="The member's volunteer record (党员志愿者), created or replaced.")
    async def set_volunteer(self, info: strawberry.Info, input: SetVolunteerInput) -> VolunteerPayload:
        return payload(VolunteerPayload, "volunteer", Volunteer.from_row, await flow_resolvers.set_volunteer(info, input))
