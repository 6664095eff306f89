"""argon2id password hashing.

Parameters: RFC 9106's second recommended option ("low memory": t=3, m=64 MiB, p=4), argon2-cffi's
default profile. Hashes made with other parameters are replaced at the next sign-in.

Hashes are computed on a pool of their own with HASHING_THREADS threads (half the cores), never
on asyncio's default executor. One check at this profile takes ~0.2 s of CPU (0.4–0.5 s of wall
time on the 2 shared cores measured on); 20 clients sending wrong passwords kept 6 checks running
at once (the default executor's size on 2 cores) and starved the event loop: with bench.sign_in_flood,
once no lock was held through a check any more, an administrator's writes still fell from 59/s
to 2.4/s on SQLite (p99 3.9 s) and from 26/s to 0.3/s on PostgreSQL; with this pool, 36/s → 21/s
(p50 12 ms, p99 0.44 s) and 31/s → 6/s (p50 0.15 s, p99 0.38 s). Queued checks wait in the event
loop, holding nothing; a flood makes sign-ins slow (2 per second here), not everything else.
"""
from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

PRODUCTION = profiles.RFC_9106_LOW_MEMORY
# For the test suite only: hashing at production cost would take most of its time.
CHEAPEST = profiles.CHEAPEST
HASHING_THREADS = max(1, (os.cpu_count() or 2) // 2)


class Argon2Hasher:
    def __init__(self, parameters=PRODUCTION, threads: int = HASHING_THREADS):
        self._hasher = PasswordHasher.from_parameters(parameters)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        # Verified against when the username is unknown, so that both failures cost the same.
        self.dummy_hash = self._hasher.hash("dangjian-dummy-password")

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await self._run(check)

    async def _run(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def hasher_named(name: str) -> Argon2Hasher:
    return Argon2Hasher(CHEAPEST if name == "cheapest" else PRODUCTION)
