"""操作记录 (the audit trail) as the contract shows it: ADMIN only, scoped by the entry's
organization (db.services.audit.page); no mutation changes or deletes an entry."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry import Private

from db import models
from gql.auth.directives import Role, auth
from gql.ids import MAX_PK, to_global_id
from gql.schema.base import Node, Scope

AccountType = Annotated["Account", strawberry.lazy("gql.schema.account")]
OrganizationType = Annotated["Organization", strawberry.lazy("gql.schema.organization")]


@strawberry.type(directives=[auth(Role.ADMIN)],
                 description="One write, as the system saw it: who, when, what, and the values before and after.")
class AuditEntry(Node):
    id: strawberry.ID
    at: dt.datetime
    action: str = strawberry.field(description="The mutation's name, e.g. createMember.")
    target_type: str
    target_id: strawberry.ID | None
    changes: str | None = strawberry.field(description=(
        "JSON text of the changed fields' old and new values; ID numbers and passwords never appear in clear."))
    actor_label: str | None = strawberry.field(description=(
        "Who acted when no account did: 'cli' for the command line (python -m db ...), 'system' for other jobs."))
    address: str | None = strawberry.field(description="The client's address as the server saw it.")
    pk: Private[int]
    actor_pk: Private[int | None]
    organization_pk: Private[int | None]
    scope_path: Private[str]

    @classmethod
    def from_row(cls, row: tuple[models.AuditEntry, str] | None) -> "AuditEntry | None":
        """From an (entry, its organization's path) pair."""
        if row is None:
            return None
        e, path = row
        target = (to_global_id(e.target_type, e.target_id)
                  if e.target_type and e.target_id is not None and 0 < e.target_id <= MAX_PK else None)
        return cls(id=strawberry.ID(to_global_id("AuditEntry", e.id)), at=e.at, action=e.action,
                   target_type=e.target_type, target_id=strawberry.ID(target) if target else None,
                   changes=e.changes, actor_label=e.actor_label, address=e.address, pk=e.id,
                   actor_pk=e.actor_account_id, organization_pk=e.organization_id, scope_path=path)

    @strawberry.field
    async def actor(self, info: strawberry.Info) -> AccountType | None:
        from gql.schema.account import Account

        if self.actor_pk is None:
            return None
        return Account.from_row(await info.context.loaders.account.load(self.actor_pk))

    @strawberry.field
    async def organization(self, info: strawberry.Info) -> OrganizationType | None:
        from gql.schema.organization import Organization

        if self.organization_pk is None:
            return None
        return Organization.from_row(await info.context.loaders.organization.load(self.organization_pk))


@strawberry.input
class AuditFilter:
    organization_id: strawberry.ID | None = None
    scope: Scope | None = None
    actions: list[str] | None = None
    actor_id: strawberry.ID | None = None
    target_id: strawberry.ID | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
