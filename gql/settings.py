"""Settings from the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from db.engine import database_url


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=database_url)
    host: str = field(default_factory=lambda: os.environ.get("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(os.environ.get("PORT", "8000")))
    token_ttl_seconds: int = field(default_factory=lambda: int(os.environ.get("DANGJIAN_TOKEN_TTL", str(12 * 3600))))
    # "production" (RFC 9106 low-memory argon2id) or "cheapest" (the test suite only).
    password_profile: str = field(default_factory=lambda: os.environ.get("DANGJIAN_PASSWORD_PROFILE", "production"))
    # Request bodies above this are refused with 413 before anything parses them (1 MiB).
    max_body_bytes: int = 1024 * 1024
    # POST /import/members: the largest upload and the most data rows one import takes.
    max_import_bytes: int = field(default_factory=lambda: int(os.environ.get("DANGJIAN_IMPORT_MAX_BYTES", str(64 << 20))))
    import_max_rows: int = field(default_factory=lambda: int(os.environ.get("DANGJIAN_IMPORT_MAX_ROWS", "200000")))
    # Entries of the exact response cache per process (gql.cache); 0 switches it off.
    response_cache_entries: int = field(default_factory=lambda: int(os.environ.get("DANGJIAN_RESPONSE_CACHE", "2000")))
    # Introspection (`__schema`, `__type`) and "Did you mean ...?" suggestions in validation
    # errors: on by default (GraphiQL needs introspection); DANGJIAN_INTROSPECTION=off and
    # DANGJIAN_FIELD_SUGGESTIONS=off switch them off where nobody browses the schema.
    introspection: bool = field(default_factory=lambda: _flag("DANGJIAN_INTROSPECTION", True))
    field_suggestions: bool = field(default_factory=lambda: _flag("DANGJIAN_FIELD_SUGGESTIONS", True))
    # A request still unanswered after this many seconds is answered 503 (TIMEOUT) and its work
    # cancelled. The slowest legitimate requests measured are exports and statistics over the
    # 50,000-organization demo tree (a few seconds); 30 s leaves them room.
    request_timeout_seconds: float = field(
        default_factory=lambda: float(os.environ.get("DANGJIAN_REQUEST_TIMEOUT", "30")))
    # Sign-in attempts per client address per window (gql.auth.sign_in_limit / db.services.throttle).
    sign_in_per_address: int = field(default_factory=lambda: int(os.environ.get("DANGJIAN_SIGN_IN_PER_ADDRESS", "30")))
    # 介绍信有效期: a transfer letter is valid this many days from its date (validUntil); a
    # transfer still PENDING after it is overdue (口袋党员).
    transfer_valid_days: int = field(default_factory=lambda: int(os.environ.get("DANGJIAN_TRANSFER_VALID_DAYS", "90")))
