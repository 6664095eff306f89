"""argon2id password hashing.

Parameters: RFC 9106's second recommended option ("low memory": t=3, m=64 MiB, p=4), argon2-cffi's
default profile. Hashes made with other parameters are replaced at the next sign-in.
"""
from __future__ import annotations

import asyncio

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

PRODUCTION = profiles.RFC_9106_LOW_MEMORY
# For the test suite only: hashing at production cost would take most of its time.
CHEAPEST = profiles.CHEAPEST


class Argon2Hasher:
    def __init__(self, parameters=PRODUCTION):
        self._hasher = PasswordHasher.from_parameters(parameters)
        # Verified against when the username is unknown, so that both failures cost the same.
        self.dummy_hash = self._hasher.hash("dangjian-dummy-password")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def hasher_named(name: str) -> Argon2Hasher:
    return Argon2Hasher(CHEAPEST if name == "cheapest" else PRODUCTION)
