"""The signed-in account of a request, resolved per request from its token (never from the
token itself: moves and role changes must take effect at once)."""
from __future__ import annotations

from dataclasses import dataclass

from db.branch import Actor, Branch
from db.roles import at_least


@dataclass(frozen=True)
class Viewer:
    account_id: int
    role: str
    organization_id: int
    organization_path: str
    member_id: int | None
    must_change_password: bool

    @property
    def branch(self) -> Branch:
        if self.role == "MEMBER":
            return Branch(path=self.organization_path, self_member_id=self.member_id)
        return Branch(path=self.organization_path)

    @property
    def actor(self) -> Actor:
        return Actor(account_id=self.account_id, role=self.role,
                     organization_id=self.organization_id, branch=self.branch)

    def has_role(self, required: str) -> bool:
        return at_least(self.role, required)
