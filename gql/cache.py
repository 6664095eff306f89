"""The exact response cache: a repeated read of unchanged data costs two index lookups.

A dashboard refreshes the same queries again and again over data that changes a few times a day.
A response is kept under everything it depends on:
- the operation (document text and operation name) and its variables;
- the caller: account, role, organization path, member link, must-change-password (the account
  row is re-read from its token on every request, so a role change, a move or a disabled account
  is a different key or no viewer at once);
- today's date (ages, 党龄 and "today" defaults are computed from it), and the cursor key (the
  cursors in a response are sealed with it);
- the data version of the caller's branch (db.changes.branch_version), read in the request's own
  snapshot before anything else, so a response is never newer than the version it is stored
  under; any committed write in the branch, in any worker process, moves the version and the
  next read runs afresh.

Only successful queries are kept (no errors, no mutation, not signed out). One entry per key:
a new version replaces the old response, so the memory is bounded by the number of distinct
(operation, variables, account) triples, at most `entries` of them (least recently used out).
Per process: each worker keeps its own, and each checks the version in the database.

`DANGJIAN_RESPONSE_CACHE=0` switches it off (the number is the entry limit, default 2000).
Measured in bench/compare.py (the `dangjian-cached` rows against `dangjian`).
"""
from __future__ import annotations

import datetime as dt
import json
from collections import OrderedDict
from functools import lru_cache
from typing import Any

from graphql import OperationType, get_operation_ast, parse
from graphql.error import GraphQLError


@lru_cache(maxsize=512)
def is_query(document: str, operation_name: str | None) -> bool:
    """The operation a request runs is a query (parsed once per distinct document)."""
    try:
        operation = get_operation_ast(parse(document), operation_name)
    except (GraphQLError, RecursionError, ValueError):
        return False
    return operation is not None and operation.operation == OperationType.QUERY


class ResponseCache:
    def __init__(self, entries: int):
        self.entries = entries
        self._store: OrderedDict[tuple, tuple[int, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def key(self, query: str | None, operation_name: str | None, variables: dict | None, viewer,
            salt: bytes = b"") -> tuple | None:
        if viewer is None or not query:
            return None
        try:
            variables_key = json.dumps(variables or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError):
            return None
        return (query, operation_name, variables_key, viewer.account_id, viewer.role, viewer.organization_path,
                viewer.member_id, viewer.must_change_password, dt.date.today().isoformat(), salt)

    def get(self, key: tuple, version: int):
        entry = self._store.get(key)
        if entry is None or entry[0] != version:
            self.misses += 1
            return None
        self._store.move_to_end(key)
        self.hits += 1
        return entry[1]

    def put(self, key: tuple, version: int, result) -> None:
        self._store[key] = (version, result)
        self._store.move_to_end(key)
        while len(self._store) > self.entries:
            self._store.popitem(last=False)

    def __len__(self) -> int:
        return len(self._store)
