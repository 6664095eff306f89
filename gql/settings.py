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
    # POST /import/members: the largest upload and the most data rows one import takes.
    max_import_bytes: int = field(default_factory=lambda: int(os.environ.get("DANGJIAN_IMPORT_MAX_BYTES", str(64 << 20))))
    import_max_rows: int = field(default_factory=lambda: int(os.environ.get("DANGJIAN_IMPORT_MAX_ROWS", "200000")))
    # Entries of the exact response cache per process (gql.cache); 0 switches it off.
    response_cache_entries: int = field(default_factory=lambda: int(os.environ.get("DANGJIAN_RESPONSE_CACHE", "2000")))
