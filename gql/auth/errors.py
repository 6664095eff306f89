"""Request-level GraphQL errors, each with `extensions.code`."""
from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors


class AppError(GraphQLError):
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str):
        super().__init__(message, extensions={"code": self.code})


class Unauthenticated(AppError):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "请先登录（缺少或已失效的访问令牌）"):
        super().__init__(message)


class Forbidden(AppError):
    code = "FORBIDDEN"

    def __init__(self, message: str = "当前账户的角色无权执行此操作"):
        super().__init__(message)


class BadUserInput(AppError):
    code = "BAD_USER_INPUT"


class QueryTooComplex(AppError):
    code = "QUERY_TOO_COMPLEX"


class ScopeViolation(Exception):
    """An object outside the caller's branch reached the guard: a resolver bug, never a client error.

    Not an AppError, so it is masked as INTERNAL_SERVER_ERROR (and logged)."""


log = logging.getLogger("dangjian.errors")

TOO_COMPLEX_MARKERS = ("exceeds maximum operation depth", "aliases found", "maximum number of tokens",
                       "exceeds the maximum")


def _code_for_request_error(error: GraphQLError) -> str:
    message = error.message
    if message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if any(marker in message for marker in TOO_COMPLEX_MARKERS):
        return "QUERY_TOO_COMPLEX"
    if message.startswith("Variable '$") or "got invalid value" in message:
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


class ErrorPolicy(MaskErrors):
    """Every error leaves with `extensions.code`: ours keep theirs, request errors (syntax,
    validation, limits) get one, and anything else is masked as INTERNAL_SERVER_ERROR with its
    detail in the server log."""

    def __init__(self):
        super().__init__(error_message="服务器内部错误，请稍后重试或联系管理员")

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = []
        for error in errors:
            original = error.original_error
            if isinstance(original, AppError) or (original is None and isinstance(error, AppError)):
                processed.append(error)
            elif original is None:
                processed.append(GraphQLError(
                    error.message, nodes=error.nodes, source=error.source, positions=error.positions,
                    path=error.path, extensions={**(error.extensions or {}), "code": _code_for_request_error(error)}))
            else:
                log.error("internal error at %s", error.path, exc_info=original)
                masked = self.anonymise_error(error)
                masked.extensions = {"code": "INTERNAL_SERVER_ERROR"}
                processed.append(masked)
        return processed
