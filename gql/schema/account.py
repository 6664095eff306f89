from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry import Private

from db import models
from gql.auth.directives import Role, auth
from gql.ids import to_global_id
from gql.schema.base import Gender, Node, UserError

OrganizationType = Annotated["Organization", strawberry.lazy("gql.schema.organization")]
MemberType = Annotated["Member", strawberry.lazy("gql.schema.member")]


@strawberry.type(directives=[auth(Role.ADMIN, allow_self=True)])
class Account(Node):
    id: strawberry.ID
    username: str
    name: str
    phone: str | None
    gender: Gender | None
    birth_date: dt.date | None
    role: Role
    disabled: bool
    must_change_password: bool
    last_login_at: dt.datetime | None
    created_at: dt.datetime
    pk: Private[int]
    organization_pk: Private[int]
    member_pk: Private[int | None]
    scope_path: Private[str]
    owner_account_id: Private[int]
    owner_member_id: Private[int | None]

    @classmethod
    def from_row(cls, row: tuple[models.Account, str] | None) -> "Account | None":
        """From an (account, its organization's path) pair."""
        if row is None:
            return None
        a, path = row
        return cls(
            id=strawberry.ID(to_global_id("Account", a.id)), username=a.username, name=a.name,
            phone=a.phone, gender=Gender(a.gender) if a.gender else None, birth_date=a.birth_date,
            role=Role(a.role), disabled=a.disabled, must_change_password=a.must_change_password,
            last_login_at=a.last_login_at, created_at=a.created_at, pk=a.id,
            organization_pk=a.organization_id, member_pk=a.member_id, scope_path=path,
            owner_account_id=a.id, owner_member_id=a.member_id,
        )

    @strawberry.field(description="The branch this account is scoped to.")
    async def organization(self, info: strawberry.Info) -> OrganizationType:
        from gql.schema.organization import Organization

        return Organization.from_row(await info.context.loaders.organization.load(self.organization_pk))

    @strawberry.field(description="The member record of a MEMBER account.")
    async def member(self, info: strawberry.Info) -> MemberType | None:
        from gql.schema.member import Member

        if self.member_pk is None:
            return None
        return Member.from_row(await info.context.loaders.member.load(self.member_pk))


@strawberry.input
class LoginInput:
    username: str
    password: str


@strawberry.type
class LoginPayload:
    token: str | None = strawberry.field(description="Send as `Authorization: Bearer <token>`.")
    expires_at: dt.datetime | None
    account: Account | None
    user_errors: list[UserError]


@strawberry.input
class ChangePasswordInput:
    current_password: str
    new_password: str


@strawberry.input
class CreateAccountInput:
    organization_id: strawberry.ID
    username: str
    password: str
    name: str
    role: Role
    phone: str | None = None
    gender: Gender | None = None
    birth_date: dt.date | None = None
    member_id: strawberry.ID | None = None


@strawberry.input
class UpdateAccountInput:
    account_id: strawberry.ID
    name: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    role: Role | None = strawberry.UNSET
    organization_id: strawberry.ID | None = strawberry.UNSET
    disabled: bool | None = strawberry.UNSET


@strawberry.input
class ResetPasswordInput:
    account_id: strawberry.ID
    temporary_password: str = strawberry.field(description="The account must change it at next sign-in.")


@strawberry.type
class AccountPayload:
    account: Account | None
    user_errors: list[UserError]
