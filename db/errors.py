"""The one domain error type of db.services: a business-rule failure the caller can fix."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Problem:
    code: str  # INVALID, NOT_FOUND, DUPLICATE, CONFLICT, NOT_ALLOWED (the contract's ErrorCode)
    message: str
    field: list[str] | None = None


class DomainError(Exception):
    def __init__(self, code: str, message: str, field: list[str] | str | None = None):
        if isinstance(field, str):
            field = [field]
        self.problems = [Problem(code, message, field)]
        super().__init__(message)

    @classmethod
    def of(cls, problems: list[Problem]) -> "DomainError":
        error = cls(problems[0].code, problems[0].message, problems[0].field)
        error.problems = list(problems)
        return error


def not_found(what: str, field: list[str] | str | None) -> DomainError:
    return DomainError("NOT_FOUND", f"{what}不存在或不在本账户的管辖范围内", field)


def invalid(message: str, field: list[str] | str | None) -> DomainError:
    return DomainError("INVALID", message, field)


@dataclass
class Problems:
    """Collects every input problem of one request before raising them together."""

    items: list[Problem] = field(default_factory=list)

    def add(self, code: str, message: str, field_path: list[str] | str | None) -> None:
        if isinstance(field_path, str):
            field_path = [field_path]
        self.items.append(Problem(code, message, field_path))

    def raise_if_any(self) -> None:
        if self.items:
            raise DomainError.of(self.items)
