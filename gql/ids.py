"""Opaque global ids: base64url of 'Type:pk', without padding.

One object, one id. Decoding used to accept whatever `urlsafe_b64decode` and `str.isdigit` let
through: '=' padding or none, the standard alphabet's '+/' as well, full-width and Arabic-Indic
digits ('Organization:１' and 'Organization:٣' were organization 1 and 3), leading zeros, and any
size of number (`Organization:99999999999999999999` reached SQLite as "int too large", and anything
above 2^31−1 reached PostgreSQL's int4 bind: INTERNAL_SERVER_ERROR on both). Now an id is accepted
only when it is exactly what `to_global_id` prints for the pk it decodes to (decode, re-encode,
compare), and primary keys are 1..2^31−1 on both engines alike (PostgreSQL's INTEGER; SQLite would
store more, but one answer on both engines is the rule). Everything else is malformed: absent
(null) for reads, INVALID for mutation inputs.
"""
from __future__ import annotations

import base64
import binascii
import re

from db.errors import DomainError

MAX_PK = 2 ** 31 - 1
# The longest id that can be canonical: a type name of at most 40 ASCII letters and a 10-digit pk.
MAX_ID_LENGTH = 70
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
_RAW = re.compile(r"([A-Z][A-Za-z]{0,39}):([1-9][0-9]{0,9})")  # ASCII digits only, no leading zero


class MalformedId(ValueError):
    pass


def to_global_id(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def from_global_id(global_id: str) -> tuple[str, int]:
    """(type name, pk) of a canonical id; MalformedId for anything else."""
    if not isinstance(global_id, str) or len(global_id) > MAX_ID_LENGTH or not _ALPHABET.fullmatch(global_id):
        raise MalformedId("不是有效的 ID")
    try:
        raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode("ascii")
    except (binascii.Error, ValueError) as exc:
        raise MalformedId("不是有效的 ID") from exc
    match = _RAW.fullmatch(raw)
    if match is None:
        raise MalformedId("不是有效的 ID")
    type_name, pk = match.group(1), int(match.group(2))
    if pk > MAX_PK or to_global_id(type_name, pk) != global_id:
        raise MalformedId("不是有效的 ID")
    return type_name, pk


def pk_of(global_id: str | None, type_name: str) -> int | None:
    """The primary key if the id is well formed and names `type_name`, else None (reads: absent)."""
    if global_id is None:
        return None
    try:
        kind, pk = from_global_id(global_id)
    except MalformedId:
        return None
    return pk if kind == type_name else None


def input_pk(global_id: str | None, type_name: str, field: list[str] | str) -> int | None:
    """For mutation inputs: malformed → INVALID, another type's id → NOT_FOUND."""
    if global_id is None:
        return None
    try:
        kind, pk = from_global_id(global_id)
    except MalformedId as exc:
        raise DomainError("INVALID", str(exc), field) from exc
    if kind != type_name:
        raise DomainError("NOT_FOUND", "对象不存在或不在本账户的管辖范围内", field)
    return pk
