from __future__ import annotations

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
    loaders: Loaders = field(init=False)

    def __post_init__(self):
        self._make_loaders()
        # Set by a field whose answer depends on the dated history of a past day (a past-date
        # crossTab, a memberBalance): the response is then not kept by the response cache
        # (gql.cache: the branch's data version does not cover such answers).
        self.reads_past = False

    def _make_loaders(self):
        viewer = self.viewer
        self.loaders = Loaders(
            self.db, viewer.branch if viewer else None,
            own_account_id=viewer.account_id if viewer else None,
            sees_accounts=bool(viewer and viewer.has_role("ADMIN")))

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
