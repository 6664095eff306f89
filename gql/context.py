from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from db import models
from db.services import accounts
from gql.auth import tokens
from gql.auth.passwords import Argon2Hasher
from gql.auth.viewer import Viewer
from gql.db import Db
from gql.resolvers.loaders import Loaders
from gql.settings import Settings


@dataclass
class Context:
    request: Any
    response: Any
    db: Db
    settings: Settings
    hasher: Argon2Hasher
    viewer: Viewer | None = None
    # Client addresses that used their sign-in allowance, until when (the app's one dict: see
    # gql.resolvers.mutations.claim_address).
    exhausted: dict = field(default_factory=dict)
    address_locks: tuple = field(default_factory=lambda: (asyncio.Lock(),))
    loaders: Loaders = field(init=False)
    # Set by a resolver whose answer must never come from the response cache: auditLog (failed
    # sign-ins write entries but move no data version, see db.services.accounts.claim_attempt), a
    # past-date crossTab and memberBalance (gql.resolvers.statistics.reads_past: no branch version
    # covers members that were in the scope then and are elsewhere now).
    uncacheable: bool = False

    def __post_init__(self):
        self._make_loaders()

    def _make_loaders(self):
        viewer = self.viewer
        self.loaders = Loaders(
            self.db, viewer.branch if viewer else None,
            own_account_id=viewer.account_id if viewer else None,
            sees_accounts=bool(viewer and viewer.has_role("ADMIN")))

    @property
    def address(self) -> str | None:
        """The client's address as the server sees it (the peer; a proxy in front is not
        looked through), for the audit trail."""
        client = getattr(self.request, "client", None)
        return getattr(client, "host", None) if client is not None else None

    def sign_in(self, account_row: tuple[models.Account, str]) -> None:
        self.viewer = viewer_of_account(*account_row)
        self._make_loaders()


def viewer_of_account(account: models.Account, organization_path: str) -> Viewer:
    return Viewer(account_id=account.id, role=account.role, organization_id=account.organization_id,
                  organization_path=organization_path, member_id=account.member_id,
                  must_change_password=account.must_change_password)


async def viewer_for_request(db: Db, authorization: str | None) -> Viewer | None:
    token = tokens.bearer(authorization)
    if token is None:
        return None
    found = await db.read(lambda s: accounts.for_token(s, tokens.token_hash(token)))
    if found is None:
        return None
    return Viewer(account_id=found.id, role=found.role, organization_id=found.organization_id,
                  organization_path=found.path, member_id=found.member_id,
                  must_change_password=found.must_change_password)
