"""Server secrets: the key of the pagination cursors.

The key comes from DANGJIAN_SECRET_KEY when it is set; otherwise it is generated once and kept in
the database (table `server_secret`), because that is the one place every worker process of a
deployment already shares: several uvicorn workers, or hosts behind one PostgreSQL, all find the
same key there, and it survives restarts and redeploys without a file to copy around (a file under
var/ would give each host its own key and break cursors between them). Two processes that start
at once both try to insert; the primary key lets one win and both read the winner back.

Each process keeps the key per engine after its first read, so a request costs no query for it.
"""
from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
import weakref

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from db import models
from db.engine import WRITE_OPTION

ENVIRONMENT = "DANGJIAN_SECRET_KEY"
MIN_SECRET_LENGTH = 32
CURSOR_SECRET = "cursor"
_CURSOR_INFO = b"dangjian pagination cursor key v1"

_keys: "weakref.WeakKeyDictionary[object, bytes]" = weakref.WeakKeyDictionary()


def _derive(secret: bytes) -> bytes:
    """A 256-bit key for the cursors from any secret (HKDF-SHA256), so the same secret could
    later key other things under another `info` without the keys being related."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CURSOR_INFO).derive(secret)


def configured_secret() -> bytes | None:
    """DANGJIAN_SECRET_KEY, if set; refuses one too short to be a secret."""
    value = os.environ.get(ENVIRONMENT)
    if not value:
        return None
    if len(value) < MIN_SECRET_LENGTH:
        raise ValueError(f"{ENVIRONMENT} must be at least {MIN_SECRET_LENGTH} characters "
                         "(for example: python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return value.encode()


async def _read(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        value = (await connection.execute(
            select(models.ServerSecret.value).where(models.ServerSecret.name == CURSOR_SECRET))).scalar_one_or_none()
        await connection.rollback()
    return value


async def _stored_secret(engine: AsyncEngine) -> bytes:
    """The database's secret, created on first use, on connections of its own (a request's read
    transaction is never turned into a write, whatever isolation the request's session uses)."""
    value = await _read(engine)
    if value is None:
        options = {WRITE_OPTION: True}
        if engine.dialect.name == "postgresql":
            options.update(isolation_level="READ COMMITTED", postgresql_readonly=False)
        async with engine.connect() as connection:
            connection = await connection.execution_options(**options)
            try:
                await connection.execute(insert(models.ServerSecret).values(
                    name=CURSOR_SECRET, value=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                    created_at=dt.datetime.now(dt.timezone.utc)))
                await connection.commit()
            except IntegrityError:  # another process was first: use its secret
                await connection.rollback()
        value = await _read(engine)
    return value.encode()


async def cursor_key(bind: AsyncEngine | AsyncSession) -> bytes:
    """The cursor key for the database behind `bind` (an engine, or a session bound to one)."""
    engine = bind.bind if isinstance(bind, AsyncSession) else bind
    if isinstance(engine, AsyncConnection):
        engine = engine.engine
    key = _keys.get(engine.sync_engine)
    if key is None:
        configured = configured_secret()
        key = _derive(configured if configured is not None else await _stored_secret(engine))
        _keys[engine.sync_engine] = key
    return key


def forget_keys() -> None:
    """Drop the keys this process holds (tests: a fresh process reads them back)."""
    _keys.clear()
