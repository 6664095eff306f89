"""The one mechanism that enforces @auth, for every field of every operation, deny by default.

Each field's rule is read from the @auth of the field's type or of the root field, in this order:
signed in → role → branch. Root fields without @auth are refused unless they are one of the
public ones. Objects of @auth types carry `scope_path` (their organization's path) and, where they
belong to a member or an account, `owner_member_id` / `owner_account_id`; an object outside the
caller's branch reaching this point is a resolver bug and fails loudly (ScopeViolation, masked),
never silently.

How it runs: the served schema puts `check` in front of the resolver of every field whose rule is
not public (`install`, once, when the schema is built: the rule of a field depends only on the
schema), so every resolution of such a field is checked, as before, and a field of a type without
@auth (DimensionValue's key and label, a connection's edges) costs nothing. It used to be a
SchemaExtension `resolve` hook (AuthGuard, still here for other schemas, tests/test_role_boundaries.py):
that made strawberry build a graphql-core MiddlewareManager per request and run every field of
every response, public or not, through a chain of partials and the hook. Measured on a cold
crossTab over 100 members (bench/compare.py W3-100: 15 row/column objects, 13 × 2 cells; the ASGI
app called in process, response cache off, py-spy --gil): completing that answer took 23.5% of the
worker's CPU samples with the hook (4.4% in the hook itself), 13.3% without.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLObjectType, GraphQLSchema, default_field_resolver
from strawberry.extensions import SchemaExtension

from gql.auth.directives import Auth
from gql.auth.errors import Forbidden, ScopeViolation, Unauthenticated

log = logging.getLogger("dangjian.auth")

PUBLIC_ROOT_FIELDS = frozenset({
    "Query.node", "Query.nodes", "Query.viewer", "Query.codes",
    "Mutation.login", "Mutation.registerMember",
})
# What an account that must change its password may still do.
BEFORE_PASSWORD_CHANGE = frozenset({"Query.viewer", "Mutation.changePassword", "Mutation.logout", "Mutation.login"})


@dataclass(frozen=True)
class Rule:
    requires: str
    allow_self: bool
    on_root: bool


PUBLIC = None
DENY = Rule("DENY", False, True)
# Keyed by the type object itself (not its name), so a rule never leaks across schemas.
_rules: dict[tuple[GraphQLObjectType, str], Rule | None] = {}


def _auth_of(definition: Any) -> Auth | None:
    for directive in getattr(definition, "directives", None) or ():
        if isinstance(directive, Auth):
            return directive
    return None


def rule_for(info, parent_type: GraphQLObjectType, field_name: str) -> Rule | None:
    return rule_in(info.schema, parent_type, field_name)


def rule_in(schema: GraphQLSchema, parent_type: GraphQLObjectType, field_name: str) -> Rule | None:
    """The rule of `parent_type.field_name` in `schema` (PUBLIC: None)."""
    key = (parent_type, field_name)
    if key in _rules:
        return _rules[key]
    rule: Rule | None = PUBLIC
    if field_name.startswith("__"):
        rule = PUBLIC
    else:
        field = parent_type.fields[field_name]
        field_auth = _auth_of(field.extensions.get("strawberry-definition"))
        roots = (schema.query_type, schema.mutation_type, schema.subscription_type)
        if any(parent_type is root for root in roots if root is not None):
            if field_auth is not None:
                rule = Rule(field_auth.requires.value, field_auth.allow_self, True)
            elif f"{parent_type.name}.{field_name}" in PUBLIC_ROOT_FIELDS:
                rule = PUBLIC
            else:
                rule = DENY
        else:
            type_auth = field_auth or _auth_of(parent_type.extensions.get("strawberry-definition"))
            if type_auth is not None:
                rule = Rule(type_auth.requires.value, type_auth.allow_self, False)
    _rules[key] = rule
    return rule


def is_self(source: Any, viewer, type_name: str) -> bool:
    if viewer.member_id is not None and getattr(source, "owner_member_id", None) == viewer.member_id:
        return True
    if getattr(source, "owner_account_id", None) == viewer.account_id:
        return True
    # A MEMBER's own organization hangs from its member record.
    return type_name == "Organization" and source.scope_path == viewer.organization_path


def may_ask_for(viewer, node_type) -> bool:
    """Whether the viewer's role may read objects of `node_type` at all (its @auth), judged from
    the type alone so that the answer says nothing about any object: MEMBER and VIEWER callers
    asking for a LeaderPosition id get FORBIDDEN whether it exists or not. allowSelf types stay
    askable at any role (the caller's own object loads; any other is null)."""
    auth = _auth_of(getattr(node_type, "__strawberry_definition__", None))
    if auth is None:
        return False
    return viewer.has_role(auth.requires.value) or auth.allow_self


def require_signed_in(info) -> None:
    """For the public `node`/`nodes`: signed in, and not held at a forced password change."""
    viewer = info.context.viewer
    if viewer is None:
        raise Unauthenticated()
    if viewer.must_change_password:
        raise Forbidden("密码已被重置，请先修改密码（changePassword）")


# An account held at a forced password change reads nothing but itself: its own Account (not
# the member record behind it), and of its organization the id and name a sign-in screen shows.
# Not a count, not a list, not a cursor: `viewer { organization { memberCount } }` is FORBIDDEN.
HELD_ACCOUNT_DENIED = frozenset({"member"})
HELD_ORGANIZATION_FIELDS = frozenset({"id", "name"})


def _who_am_i(source: Any, viewer, type_name: str, field_name: str) -> bool:
    """What an account held at a forced password change may still read (see above)."""
    if type_name == "Account":
        return (getattr(source, "owner_account_id", None) == viewer.account_id
                and field_name not in HELD_ACCOUNT_DENIED)
    if type_name == "Organization":
        return source.scope_path == viewer.organization_path and field_name in HELD_ORGANIZATION_FIELDS
    return False


# What a MEMBER account reads of the objects around its own record that are not its own: of its
# organization the id and the name (the contract: "their own organization's name; nothing
# else"), not its address, code, counts or lists. Any other field is FORBIDDEN, whatever the
# object; the rows behind them stay out of reach in db.branch as well.
MEMBER_CONTEXT_FIELDS = {"Organization": frozenset({"id", "name"})}


# What a Member read through a transfer's letter (db.branch, the letter reach: the side of a
# transfer that no longer reads the member itself) answers, each from the transfer's frozen copy
# or as null / empty / the caller's end (gql/schema/member.py, Member.from_letter). Deny by
# default: a Member field added later is FORBIDDEN through the letter until it is listed here
# with an answer that holds nothing of the member's current record.
LETTER_MEMBER_FIELDS = frozenset({
    # from the copy frozen on the transfer
    "id", "name", "gender", "birthDate", "ethnicity", "idNumber", "category", "affiliation", "joinedOn",
    # null
    "nativePlace", "phone", "appliedOn", "activistOn", "candidateOn", "confirmedOn", "reviewNote",
    "rejectionReason", "education", "degree", "jobPosition", "technicalTitle", "volunteer", "account",
    # empty
    "difficulties", "records", "statusChanges", "transfers", "flows", "representativeTerms",
    # non-null, documented answers: TRANSFERRING, when the letter was made (twice), 0, not
    # assessed, the caller's end of the transfer
    "status", "createdAt", "updatedAt", "version", "completeness", "organization",
})


def check(rule: Rule, source: Any, info) -> None:
    viewer = info.context.viewer
    name = f"{info.parent_type.name}.{info.field_name}"
    if rule is DENY:
        log.error("refused %s: the field carries no @auth", name)
        raise Forbidden(f"{name} 未声明访问规则，拒绝访问")
    if viewer is None:
        raise Unauthenticated()
    if rule.on_root:
        if viewer.must_change_password and name not in BEFORE_PASSWORD_CHANGE:
            raise Forbidden("密码已被重置，请先修改密码（changePassword）")
        if viewer.has_role(rule.requires) or (rule.allow_self and viewer.role == "MEMBER"):
            return
        raise Forbidden()
    if viewer.must_change_password and not _who_am_i(source, viewer, info.parent_type.name, info.field_name):
        # Reading through `viewer` must not bypass the forced change.
        raise Forbidden("密码已被重置，请先修改密码（changePassword）")
    scope_path = getattr(source, "scope_path", None)
    if scope_path is None:
        raise ScopeViolation(f"{name}: object without scope_path")
    if getattr(source, "letter_reach", False) and info.field_name not in LETTER_MEMBER_FIELDS:
        raise Forbidden("该党员已不在本账户的管辖范围内，只能读取转接介绍信所载的信息")
    if viewer.has_role(rule.requires):
        if scope_path.startswith(viewer.organization_path):
            return
        if rule.allow_self and is_self(source, viewer, info.parent_type.name):
            return
        log.error("scope violation: %s at %s reached account %s", name, scope_path, viewer.account_id)
        raise ScopeViolation(f"{name}: object outside the caller's branch")
    if rule.allow_self and is_self(source, viewer, info.parent_type.name):
        context_fields = MEMBER_CONTEXT_FIELDS.get(info.parent_type.name) if viewer.role == "MEMBER" else None
        if context_fields is not None and info.field_name not in context_fields:
            raise Forbidden()
        return
    if rule.allow_self and viewer.role == "MEMBER":
        log.error("scope violation: %s reached MEMBER account %s", name, viewer.account_id)
        raise ScopeViolation(f"{name}: object outside the member's own record")
    raise Forbidden()


class AuthGuard(SchemaExtension):
    def resolve(self, _next, root, info, *args, **kwargs):
        rule = rule_for(info, info.parent_type, info.field_name)
        if rule is not PUBLIC:
            check(rule, root, info)
        return _next(root, info, *args, **kwargs)


def guarded(resolve, rule: Rule):
    """`resolve` behind the rule's check: the check runs before the resolver, on every call."""

    def resolver(root, info, **kwargs):
        check(rule, root, info)
        return resolve(root, info, **kwargs)

    resolver._is_default = getattr(resolve, "_is_default", False)  # strawberry's tracing reads it
    resolver.dangjian_rule = rule
    return resolver


def install(schema: GraphQLSchema) -> int:
    """Put `check` in front of every field resolver of `schema` whose rule is not PUBLIC (root
    fields without @auth are DENY: guarded, and refused). Once per schema, when it is built;
    returns the number of fields guarded. A field object shared by two types (none in
    strawberry's schemas) would carry one type's rule into the other: refused here."""
    guarded_fields: dict[int, str] = {}
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            rule = rule_in(schema, type_, name)
            if rule is PUBLIC:
                continue
            if id(field) in guarded_fields or getattr(field.resolve, "dangjian_rule", None) is not None:
                raise RuntimeError(f"{type_.name}.{name}: field already guarded ({guarded_fields.get(id(field))})")
            field.resolve = guarded(field.resolve or default_field_resolver, rule)
            guarded_fields[id(field)] = f"{type_.name}.{name}"
    return len(guarded_fields)
