"""The one place where a caller's reach becomes SQL.

A Branch is what an account may see: its organization and every descendant (本级及下级), or, for a
MEMBER account, its own member record and its own organization. Every read of scoped rows starts
from `organizations()` or `members()` below, so the branch filter is always in the SQL, on an
index, and an object outside the branch simply does not come back.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, select

from db import models
from db.tree import contains, within


@dataclass(frozen=True)
class Branch:
    path: str
    # Set for MEMBER accounts: the branch shrinks to this member and its organization.
    self_member_id: int | None = None

    @property
    def is_self_only(self) -> bool:
        return self.self_member_id is not None

    def holds(self, path_column):
        """SQL: an organization path (column) lies in the branch."""
        if self.is_self_only:
            return path_column == self.path
        return within(path_column, self.path)

    def organization_condition(self):
        return self.holds(models.Organization.path)

    def holds_path(self, path: str) -> bool:
        if self.is_self_only:
            return path == self.path
        return contains(self.path, path)


# The whole tree, for system jobs (CLI, demo, migrations) that act for no account.
SYSTEM = Branch(path="/")


def organizations(branch: Branch) -> Select:
    return select(models.Organization).where(branch.organization_condition())


def members(branch: Branch, *columns) -> Select:
    """Members in the branch, joined to their organization (whose path gives tree order)."""
    stmt = select(*(columns or (models.Member,))).join(
        models.Organization, models.Organization.id == models.Member.organization_id
    )
    if branch.is_self_only:
        return stmt.where(models.Member.id == branch.self_member_id)
    if branch.path == "/":
        return stmt
    return stmt.where(within(models.Organization.path, branch.path))


def owned_by_member(branch: Branch, member_id_column):
    """Rows hanging from a member (difficulties, ...): a MEMBER account reaches only its own."""
    if branch.is_self_only:
        return member_id_column == branch.self_member_id
    return member_id_column.is_not(None)


def hanging(branch: Branch, entity, *columns) -> Select:
    """Rows of `entity` (anything with an organization_id) whose organization is in the branch,
    selected with `columns` (default: the row and its organization)."""
    return (select(*(columns or (entity, models.Organization)))
            .join(models.Organization, models.Organization.id == entity.organization_id)
            .where(branch.organization_condition()))


def accounts(branch: Branch) -> Select:
    stmt = select(models.Account).join(
        models.Organization, models.Organization.id == models.Account.organization_id
    )
    if branch.is_self_only:
        return stmt.where(models.Account.member_id == branch.self_member_id)
    return stmt.where(within(models.Organization.path, branch.path))


@dataclass(frozen=True)
class Actor:
    """Who performs a service call: an account, or the system (CLI, demo generator)."""

    account_id: int | None
    role: str
    organization_id: int | None
    branch: Branch


SYSTEM_ACTOR = Actor(account_id=None, role="ADMIN", organization_id=None, branch=SYSTEM)
