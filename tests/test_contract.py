"""The served schema against the public contract (../shared/contract/schema.graphql), and the
committed SDL snapshot, so that every change of the API shows in review."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from db.services.exports import ROSTER_COLUMNS
from gql.schema.export import SDL_FILE, sdl

ROOT = Path(__file__).resolve().parent.parent
CHECKER = ROOT.parent / "shared" / "tools" / "contract_check.py"

# What issue 2 (the organization tree, accounts and sign-in) promises of the contract.
FOUNDATION = [
    "Query.node", "Query.nodes", "Query.viewer", "Query.organization", "Query.member", "Query.members",
    "Query.accounts", "Query.codes",
    "Mutation.login", "Mutation.logout", "Mutation.changePassword", "Mutation.createAccount",
    "Mutation.updateAccount", "Mutation.resetPassword", "Mutation.createOrganization",
    "Mutation.updateOrganization", "Mutation.createMember",
    "Account", "AccountConnection", "AccountEdge", "LoginPayload", "AccountPayload", "Payload",
    "OrganizationConnection", "OrganizationEdge", "OrganizationPayload", "MemberConnection", "MemberEdge",
    "MemberPayload", "PageInfo", "UserError", "Code", "CodeTable", "Role", "ErrorCode", "Scope", "Gender",
    "OrgType", "OrgStatus", "MemberCategory", "Affiliation", "MemberStatus", "MemberOrderField", "OrderDirection",
    "MemberOrder", "MemberFilter", "MemberFields", "CreateMemberInput", "CreateOrganizationInput",
    "UpdateOrganizationInput", "LoginInput", "ChangePasswordInput", "CreateAccountInput", "UpdateAccountInput",
    "ResetPasswordInput",
] + [f"Organization.{f}" for f in (
    "id", "code", "name", "shortName", "type", "status", "requiresApproval", "establishedOn", "revokedOn",
    "revokeReason", "contactPhone", "address", "depth", "parent", "ancestors", "children", "descendants",
    "members", "memberCount", "version")] + [f"Member.{f}" for f in (
    "id", "name", "idNumber", "gender", "birthDate", "ethnicity", "nativePlace", "education", "degree",
    "jobPosition", "technicalTitle", "phone", "category", "affiliation", "status", "organization", "appliedOn",
    "activistOn", "candidateOn", "joinedOn", "confirmedOn", "reviewNote", "rejectionReason", "account",
    "createdAt", "updatedAt", "version", "completeness")] + ["Completeness"]


# What issue 3 (organization management) promises.
ORGANIZATION_MANAGEMENT = [
    "Mutation.renameOrganization", "Mutation.moveOrganization", "Mutation.revokeOrganization",
    "Mutation.setLeadershipTerm", "Mutation.appointLeader", "Mutation.endLeaderPosition",
    "Mutation.addDifficulty", "Mutation.revokeDifficulty", "Mutation.addOrgRecord",
    "Organization", "OrganizationFilter", "Leadership", "LeaderPosition", "OrgRecord", "OrgRecordConnection",
    "OrgEvent", "OrgEventKind", "Difficulty", "DifficultyConnection", "Member.difficulties",
    "RenameOrganizationInput", "MoveOrganizationInput", "RevokeOrganizationInput", "SetLeadershipTermInput",
    "AppointLeaderInput", "EndLeaderPositionInput", "AddOrgRecordInput", "AddDifficultyInput",
    "RevokeDifficultyInput", "LeaderPositionPayload", "OrgRecordPayload", "DifficultyPayload",
]


def run_checker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECKER), *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not CHECKER.exists(), reason="shared/tools not beside the project")
def test_contract_compatible_and_no_auth_gap():
    result = run_checker()
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 incompatible; 0 without @auth" in result.stdout


@pytest.mark.skipif(not CHECKER.exists(), reason="shared/tools not beside the project")
def test_contract_parts_of_the_foundation_present():
    result = run_checker("--only", *FOUNDATION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sdl_snapshot_is_current():
    assert SDL_FILE.read_text(encoding="utf-8") == sdl(), "run: python -m gql.schema.export"


@pytest.mark.skipif(not CHECKER.exists(), reason="shared/tools not beside the project")
def test_contract_parts_of_organization_management_present():
    result = run_checker("--only", *ORGANIZATION_MANAGEMENT)
    assert result.returncode == 0, result.stdout + result.stderr


# What issue 8 (member lifecycle) promises of the contract (Member.completeness and
# MemberFilter.completenessBelow are in FOUNDATION already).
MEMBER_LIFECYCLE = [
    "Mutation.updateMember", "Mutation.correctIdNumber", "Mutation.approveMembers", "Mutation.rejectMembers",
    "Mutation.resubmitMember", "Mutation.deleteRejectedMembers", "Mutation.promoteMember",
    "Mutation.convertInflowToDirect", "Mutation.recordStatusChange", "Mutation.addMemberRecords",
    "Mutation.updateMemberRecord", "Mutation.deleteMemberRecords", "Query.pendingApprovals",
    "Query.membersWithoutRecord", "Member.records", "Member.statusChanges",
    "UpdateMemberInput", "CorrectIdNumberInput", "ReviewMembersInput", "ResubmitMemberInput",
    "DeleteRejectedMembersInput", "PromoteMemberInput", "ConvertInflowInput", "MembersPayload",
    "MemberRecordKind", "MemberRecord", "MemberRecordConnection", "MemberRecordEdge", "MemberRecordFields",
    "AddMemberRecordsInput", "UpdateMemberRecordInput", "DeleteMemberRecordsInput", "MemberRecordsPayload",
    "StatusChangeKind", "StatusChange", "RecordStatusChangeInput", "StatusChangePayload",
]

# What issue 9's first part (cross-tabs of today, drill-through, saved tables) promises.
STATISTICS = [
    "Query.crossTab", "Query.statDefinitions", "Mutation.saveStatDefinition", "Mutation.deleteStatDefinition",
    "StatSubject", "Dimension", "CrossTabInput", "DimensionValue", "CrossTab", "StatDefinition",
    "SaveStatDefinitionInput", "DeleteStatDefinitionInput", "StatDefinitionPayload",
    "Query.memberBalance", "MemberBalance", "BalanceLine", "BalanceKind",
]

TRANSFERS = [
    "Query.transfers", "Query.organizationDirectory", "Mutation.transferMembers", "Mutation.acceptTransfer",
    "Mutation.rejectTransfer", "Mutation.cancelTransfer", "Member.transfers",
    "Transfer", "TransferStatus", "TransferDirection", "TransferFilter", "TransferMembersInput",
    "DecideTransferInput", "TransfersPayload", "TransferPayload", "TransferConnection", "TransferEdge",
    "OrganizationRef",
]


# What issue 11's second half (flows, representatives, volunteers) promises.
FLOWS_REPRESENTATIVES = [
    "Mutation.flowOut", "Mutation.updateFlow", "Mutation.returnFromFlow", "Member.flows",
    "Flow", "FlowStatus", "FlowOutInput", "UpdateFlowInput", "ReturnFromFlowInput", "FlowPayload",
    "Mutation.addRepresentativeTerm", "Mutation.terminateRepresentative", "Member.representativeTerms",
    "Query.representatives", "RepresentativeLevel", "RepresentativeTerm", "AddRepresentativeTermInput",
    "TerminateRepresentativeInput", "RepresentativeTermPayload", "LevelTerm", "RepresentativeQuery",
    "RepresentativeSummary",
    "Mutation.setVolunteer", "Member.volunteer", "Query.volunteers", "Volunteer", "VolunteerFilter",
    "VolunteerConnection", "VolunteerEdge", "SetVolunteerInput", "VolunteerPayload",
]


@pytest.mark.skipif(not CHECKER.exists(), reason="shared/tools not beside the project")
def test_contract_parts_of_flows_and_representatives_present():
    result = run_checker("--only", *FLOWS_REPRESENTATIVES)
    assert result.returncode == 0, result.stdout + result.stderr


# What issue 10 (exports and the bulk import, HTTP beside /graphql) relies on: the roster's
# `columns` are these Member fields, the statistics files are crossTab, a saved table's result and
# memberBalance, and the import judges rows as createMember does.
EXPORTS = [f"Member.{f}" for f in ROSTER_COLUMNS] + [
    "Query.crossTab", "StatDefinition", "Query.memberBalance", "Mutation.createMember", "MemberFilter",
    "CreateMemberInput", "MemberFields"]


@pytest.mark.skipif(not CHECKER.exists(), reason="shared/tools not beside the project")
def test_contract_parts_of_exports_present():
    result = run_checker("--only", *EXPORTS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(not CHECKER.exists(), reason="shared/tools not beside the project")
def test_contract_parts_of_the_member_lifecycle_present():
    result = run_checker("--only", *MEMBER_LIFECYCLE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(not CHECKER.exists(), reason="shared/tools not beside the project")
def test_contract_parts_of_statistics_present():
    result = run_checker("--only", *STATISTICS)
    assert result.returncode == 0, result.stdout + result.stderr


# What issue 12's audit trail (操作记录) promises.
AUDIT = ["Query.auditLog", "AuditEntry", "AuditEntryConnection", "AuditEntryEdge", "AuditFilter"]


@pytest.mark.skipif(not CHECKER.exists(), reason="shared/tools not beside the project")
def test_contract_parts_of_the_audit_trail_present():
    result = run_checker("--only", *AUDIT)
    assert result.returncode == 0, result.stdout + result.stderr


# What issue 12's self-service part (实名注册, 党员自助 requests) promises.
SELF_SERVICE = [
    "Mutation.registerMember", "RegisterMemberInput", "Query.changeRequests", "Mutation.requestProfileChange",
    "Mutation.requestDues", "Mutation.requestTransfer", "Mutation.decideChangeRequest",
    "ChangeRequestKind", "ChangeRequestStatus", "ChangeRequest", "ChangeRequestConnection", "ChangeRequestEdge",
    "RequestProfileChangeInput", "RequestDuesInput", "RequestTransferInput", "DecideChangeRequestInput",
    "ChangeRequestPayload",
]


@pytest.mark.skipif(not CHECKER.exists(), reason="shared/tools not beside the project")
def test_contract_parts_of_self_service_present():
    result = run_checker("--only", *SELF_SERVICE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(not CHECKER.exists(), reason="shared/tools not beside the project")
def test_contract_parts_of_transfers_present():
    result = run_checker("--only", *TRANSFERS)
    assert result.returncode == 0, result.stdout + result.stderr
