"""Settings from the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from db.engine import database_url


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=database_url)
    host: str = field(default_factory=lambda: os.environ.get("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(os.environ.get("PORT", "8000")))
    token_ttl_seconds: int = field(default_factory=lambda: int(os.environ.get("DANGJIAN_TOKEN_TTL", str(12 * 3600))))
    # "production" (RFC 9106 low-memory argon2id) or "cheapest" (the test suite only).
    password_profile: str = field(default_factory=lambda: os.environ.get("DANGJIAN_PASSWORD_PROFILE", "production"))
    max_body_bytes: int = 1_000_000
    # Entries of the exact response cache per process (gql.cache); 0 switches it off.
    response_cache_entries: int = field(default_factory=lambda: int(os.environ.get("DANGJIAN_RESPONSE_CACHE", "2000")))
    # 介绍信有效期: a transfer letter is valid this many days from its date (validUntil); a
    # transfer still PENDING after it is overdue (口袋党员).
    transfer_valid_days: int = field(default_factory=lambda: int(os.environ.get("DANGJIAN_TRANSFER_VALID_DAYS", "90")))
