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
        # A MEMBER reaches its member record, never the organization's subtree; without a
        # member record (the CHECK on account forbids it) it reaches nothing (Branch.of_member).
        # Any role but the staff ones (MEMBER, or one this code does not know) fails closed.
        if self.role in ("VIEWER", "OPERATOR", "ADMIN"):
            return Branch(path=self.organization_path)
        return Branch.of_member(self.organization_path, self.member_id)

    @property
    def actor(self) -> Actor:
        return Actor(account_id=self.account_id, role=self.role,
                     organization_id=self.organization_id, branch=self.branch)

    @property
    def sees_id_numbers(self) -> bool:
        """A VIEWER sees ID numbers masked (db.idnumber.mask: the first 3 and the last 2 digits),
        and so may not look members up by one either: with the birth date readable, a lookup
        would confirm a guess of the 5 hidden digits (about 10,000 candidates, 30 aliases a
        request). Every other role sees the numbers of its branch in full."""
        return self.role != "VIEWER"

    def has_role(self, required: str) -> bool:
        return at_least(self.role, required)
