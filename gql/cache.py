"""The exact response cache: a repeated read of unchanged data costs one index lookup.

A dashboard refreshes the same queries again and again over data that changes a few times a day.
A response is kept under everything it depends on:
- the operation (document text and operation name) and its variables;
- the caller: account, role, organization path, member link, must-change-password;
- today's date (ages, 党龄 and "today" defaults are computed from it), and the cursor key (the
  cursors in a response are sealed with it);
- the data version of the caller's branch (db.changes.branch_version), read in the request's own
  snapshot before any field, so a response is never newer than the version it is stored under;
  any committed write in the branch, in any worker process, moves the version and the next read
  runs afresh.

Two paths:
- In the view (`GraphQLView.execute_operation`): the token is looked up as always, then the
  version, in the request's snapshot; a hit skips execution, a miss executes and stores.
- In front of the view (`fast_hit`), for a token seen before: one statement checks the token
  exactly as the view's lookup does (live, not revoked, not expired, account not disabled) and
  returns the account's columns with the data version of the branch of the account last seen
  for it; when the account is unchanged and the version is the stored response's, the stored
  bytes are the answer, without GraphQL and without a transaction. Any other case falls through
  to the view.

Only successful queries are kept (no errors, no mutation, not signed out). One entry per key: a
new version replaces the old response; at most `entries` of them and `max_bytes` (documents and
bodies counted, 64 MB by default; an entry above a sixteenth of it is not kept), least recently
used out: a document can be 1 MB of comments, so a count alone bounded nothing. Per process:
each worker keeps its own, and each checks the version in the database on every request.
Writes made outside a SQLAlchemy Session (raw SQL in psql, migrations) are not seen: after one,
restart the servers (or make any write through the API in the branch).

`DANGJIAN_RESPONSE_CACHE=0` switches it off (the number is the entry limit, default 2000).
Measured in bench/compare.py (`dangjian-warm` against `dangjian`).
"""
from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import OperationType, get_operation_ast, parse
from graphql.error import GraphQLError

from sqlalchemy.exc import DBAPIError

from db import clock
from db.services import accounts
from gql.auth import tokens


# Documents longer than this are parsed again rather than remembered (memory, not speed).
MEMO_CHARS = 20_000


def is_query(document: str, operation_name: str | None) -> bool:
    """The operation a request runs is a query (parsed once per distinct short document)."""
    if len(document) > MEMO_CHARS:
        return _is_query.__wrapped__(document, operation_name)
    return _is_query(document, operation_name)


@lru_cache(maxsize=512)
def _is_query(document: str, operation_name: str | None) -> bool:
    try:
        operation = get_operation_ast(parse(document), operation_name)
    except (GraphQLError, RecursionError, ValueError):
        return False
    return operation is not None and operation.operation == OperationType.QUERY


@dataclass
class Entry:
    version: int
    result: Any  # the ExecutionResult, for a hit inside the view
    body: bytes | None = None  # the response's bytes, for a hit in front of it
    size: int = 0  # bytes counted against the budget


class ResponseCache:
    def __init__(self, entries: int, max_bytes: int = 64_000_000):
        self.entries = entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._store: OrderedDict[tuple, Entry] = OrderedDict()
        self._tokens: OrderedDict[str, KnownToken] = OrderedDict()
        self.hits = 0
        self.fast_hits = 0
        self.misses = 0

    # ---------------------------------------------------------------- responses

    def key(self, query: str | None, operation_name: str | None, variables: dict | None, viewer,
            salt: bytes = b"") -> tuple | None:
        if viewer is None or not query:
            return None
        try:
            variables_key = json.dumps(variables or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError):
            return None
        return (query, operation_name, variables_key, viewer.account_id, viewer.role, viewer.organization_path,
                viewer.member_id, viewer.must_change_password, clock.today().isoformat(), salt)

    def get(self, key: tuple, version: int) -> Entry | None:
        entry = self._store.get(key)
        if entry is None or entry.version != version:
            self.misses += 1
            return None
        self._store.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: tuple, version: int, result, body: bytes | None = None) -> None:
        # The document, and the body twice (the bytes and the ExecutionResult they came from).
        size = len(key[0]) + 2 * len(body or b"") + 200
        old = self._store.pop(key, None)
        if old is not None:
            self.bytes -= old.size
        if size > self.max_bytes // 16:
            return
        self._store[key] = Entry(version, result, body, size)
        self.bytes += size
        while len(self._store) > self.entries or self.bytes > self.max_bytes:
            self.bytes -= self._store.popitem(last=False)[1].size

    def __len__(self) -> int:
        return len(self._store)

    # ---------------------------------------------------------------- tokens

    def know_token(self, token_hash: str, viewer) -> None:
        """The account a token was last seen to sign in (its path and the key are computed from
        it before the statement that checks it again)."""
        self._tokens[token_hash] = viewer
        self._tokens.move_to_end(token_hash)
        while len(self._tokens) > self.entries:
            self._tokens.popitem(last=False)

    # ---------------------------------------------------------------- the path in front of the view

    async def fast_hit(self, body: bytes, authorization: str | None, engine, salt: bytes) -> bytes | None:
        """The stored bytes of this request's response when its token still signs in the same
        account and the branch is at the response's version; None sends the request on to the
        view (which answers every other case, errors included)."""
        token = tokens.bearer(authorization)
        # A \uD800-\uDFFF escape may be a lone surrogate, which the view refuses anywhere in the
        # body (BAD_USER_INPUT, not valid Unicode) and json.loads takes: the view decides (a pair,
        # an escaped emoji, is only answered one step later, from the same cache).
        if token is None or not body or b"\\ud" in body or b"\\uD" in body:
            return None
        token_hash = tokens.token_hash(token)
        viewer = self._tokens.get(token_hash)
        if viewer is None:
            return None
        try:
            request = json.loads(body)
        except (ValueError, RecursionError):
            return None
        if not isinstance(request, dict) or request.get("extensions"):
            return None
        query, name, variables = request.get("query"), request.get("operationName"), request.get("variables")
        if not isinstance(query, str) or not isinstance(name, (str, type(None))) \
                or not isinstance(variables, (dict, type(None))):
            return None
        key = self.key(query, name, variables, viewer, salt)
        entry = self._store.get(key) if key is not None else None
        if entry is None or entry.body is None:
            return None  # nothing to answer with: no statement spent
        try:
            async with engine.connect() as connection:
                if engine.dialect.name == "postgresql":  # one statement: no BEGIN and ROLLBACK around it
                    connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
                row = await accounts.token_and_version(connection, token_hash, viewer.organization_path)
        except DBAPIError:
            return None  # a dead pooled connection: the view's read retries on a fresh one
        if row is None or tuple(row[:6]) != (viewer.account_id, viewer.role, viewer.organization_id,
                                             viewer.organization_path, viewer.member_id,
                                             viewer.must_change_password):
            return None
        if int(row[6]) != entry.version:
            return None
        self._store.move_to_end(key)
        self.fast_hits += 1
        return entry.body
