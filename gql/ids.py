"""Opaque global ids: base64url of 'Type:pk'."""
from __future__ import annotations

import base64

from db.errors import DomainError


class MalformedId(ValueError):
    pass


def to_global_id(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def from_global_id(global_id: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode((global_id + "=" * (-len(global_id) % 4)).encode()).decode()
        type_name, _, pk = raw.partition(":")
        if not type_name or not pk.isdigit():
            raise ValueError
        return type_name, int(pk)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedId(f"不是有效的 ID：{global_id!r}") from exc


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
