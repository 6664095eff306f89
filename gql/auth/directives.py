"""The contract's `@auth(requires: Role, allowSelf: Boolean)`, and the helpers that apply it."""
from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry
from strawberry.schema_directive import Location


@strawberry.enum(description="Roles, weakest first. ADMIN > OPERATOR > VIEWER over a branch; MEMBER reaches only itself.")
class Role(Enum):
    MEMBER = strawberry.enum_value("MEMBER", description="党员本人: self-service on one's own record")
    VIEWER = strawberry.enum_value("VIEWER", description="只读: dashboards and statistics over the branch")
    OPERATOR = strawberry.enum_value("OPERATOR", description="经办: enters and maintains members and records in the branch")
    ADMIN = strawberry.enum_value("ADMIN", description="管理员: everything in the branch, accounts and organization changes included")


@strawberry.schema_directive(
    locations=[Location.OBJECT, Location.FIELD_DEFINITION],
    name="auth",
    description=(
        "Access rule on a type or field (权限规则). The caller must be signed in; the object\n"
        "must belong to the caller's own organization or one of its descendants (本级及下级);\n"
        "the caller's role must be at least `requires`. With `allowSelf: true` a MEMBER account\n"
        "may also reach its own member record and what hangs from it."
    ),
)
class Auth:
    requires: Role = Role.VIEWER
    allow_self: bool = False


def auth(requires: Role, allow_self: bool = False) -> Auth:
    return Auth(requires=requires, allow_self=allow_self)


def _describe(requires: Role, allow_self: bool, description: str | None) -> str:
    access = f"Access: {requires.value} or above" + (", or the member itself" if allow_self else "")
    return f"{description}\n\n{access}." if description else f"{access}."


def auth_field(*, requires: Role, allow_self: bool = False, description: str | None = None, **kwargs: Any):
    """A root query field carrying @auth (enforced by gql.auth.guard), its rule also in the description
    because introspection does not show applied directives."""
    return strawberry.field(directives=[auth(requires, allow_self)],
                            description=_describe(requires, allow_self, description), **kwargs)


def auth_mutation(*, requires: Role, allow_self: bool = False, description: str | None = None, **kwargs: Any):
    return strawberry.mutation(directives=[auth(requires, allow_self)],
                               description=_describe(requires, allow_self, description), **kwargs)
