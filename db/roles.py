"""Roles, weakest first. VIEWER and above act over the account's branch; MEMBER only on itself."""
from __future__ import annotations

ROLES = ("MEMBER", "VIEWER", "OPERATOR", "ADMIN")
RANK = {name: rank for rank, name in enumerate(ROLES)}


def at_least(role: str, required: str) -> bool:
    return RANK[role] >= RANK[required]
