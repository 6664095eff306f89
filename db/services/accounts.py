"""Accounts: who may manage whom, sign-in with lockout, bearer tokens, passwords.

Password hashing is passed in (`hasher`, with hash/verify/needs_rehash), so these rules stay
plain and testable; gql.auth.passwords supplies the argon2id one.

No password is hashed or verified inside a transaction. argon2 takes 0.1–0.4 s; inside SQLite's
BEGIN IMMEDIATE that held the database's one write lock for the whole check, and 20 anonymous
clients sending wrong passwords cut an administrator's writes from 49–60/s to 0.2–0.3/s, some
failing with "database is locked" (on PostgreSQL each check held a pooled connection). So
`authenticate` and `change_password` take `run`, which runs one short write transaction, and
check passwords between transactions; `create` and `reset_password` take a hash computed before.

The lockout counts in SQL: an attempt is claimed (the counter incremented, and the account
locked when the claim is the 5th) by one conditional UPDATE before the password is checked, so
however many sign-ins arrive at once, at most MAX_FAILED_LOGINS wrong passwords are checked
against an account per lockout window. (The read-modify-write before it, on PostgreSQL: 40 wrong
passwords with 20 in flight were all checked, the counter ended at 3 and the account never
locked.)
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol, TypeVar

from sqlalchemy import bindparam, case, func, literal, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import changes, fast, models
from db.branch import Actor, Branch, accounts
from db.branch import get as branch_get
from db.changes import touch
from db.errors import DomainError, Problems
from db.pagination import SortKey, keyset_page
from db.roles import ROLES, at_least
from db.services import audit
from db.services import members as member_service
from db.services import organizations
from db.tree import within

USERNAME = re.compile(r"[A-Za-z0-9_.@-]{3,64}")  # with fullmatch
PASSWORD_MIN_LENGTH = 10
MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
SIGN_IN_FAILED = "用户名或密码错误，或账户已被暂时锁定"


class Hasher(Protocol):
    async def hash(self, password: str) -> str: ...
    async def verify(self, password_hash: str, password: str) -> bool: ...
    def needs_rehash(self, password_hash: str) -> bool: ...


R = TypeVar("R")
# Runs `work` in one short write transaction (committed when it returns, rolled back when it raises).
Run = Callable[[Callable[[AsyncSession], Awaitable[R]]], Awaitable[R]]


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The 10,000 most common passwords, lower-cased: the first 10,000 of the frequency-ranked
    list zxcvbn 4.5.0 ships (MIT; from Mark Burnett's and xato's public password corpora), in
    db/common_passwords.txt. Only 283 of them are 10 characters or longer, but those are the ones
    the length rule lets through (`1q2w3e4r5t`, `password12`, `qwertyuiop`...)."""
    text = (Path(__file__).resolve().parent.parent / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def character_classes(password: str) -> int:
    """Lower-case letters, upper-case letters, digits, anything else (Chinese characters,
    punctuation): how many of the four the password uses."""
    return sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                any(c.isdigit() for c in password),
                any(not (c.islower() or c.isupper() or c.isdigit()) for c in password)))


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why a new password is refused (None when it is accepted): at least 10 characters, not all
    of one class (only digits, only lower-case letters...), not the username (in any case,
    forwards or backwards), not one of the 10,000 most common passwords."""
    password = password or ""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"密码至少 {PASSWORD_MIN_LENGTH} 位"
    if len(password) > 128:
        return "密码不能超过 128 位"
    if character_classes(password) < 2:
        return "密码不能全是同一类字符：请混合使用大写字母、小写字母、数字或符号中的至少两类"
    name = (username or "").strip().lower()
    if name and password.lower() in (name, name[::-1]):
        return "密码不能与用户名相同"
    if password.lower() in common_passwords():
        return "这个密码是最常见的密码之一，请换一个"
    return None


def may_manage(actor: Actor, target_path: str, target_role: str) -> bool:
    """An ADMIN manages accounts of its branch, and other ADMIN accounts only strictly below it."""
    if not actor.branch.holds_path(target_path):
        return False
    if target_role == "ADMIN":
        return target_path != actor.branch.path
    return True


async def get(session: AsyncSession, branch: Branch, account_id: int | None,
              field: list[str] | str | None = None) -> tuple[models.Account, str]:
    """The account inside the branch and its organization's path; otherwise NOT_FOUND."""
    account, organization = await branch_get(session, branch, models.Account, account_id, "账户", field)
    return account, organization.path


async def own_row(session: AsyncSession, account: models.Account) -> tuple[models.Account, str]:
    """An account that has just proven who it is (sign-in), with its organization's path. The
    organization id is the account row's own (trusted), never one a client chose."""
    organization_path = (await session.execute(
        select(models.Organization.path).where(models.Organization.id == account.organization_id))).scalar_one()
    return account, organization_path


async def with_path(session: AsyncSession, actor: Actor, account: models.Account) -> tuple[models.Account, str]:
    """An account the caller just wrote, with its organization's path (for the payload)."""
    return await get(session, actor.branch, account.id)


async def create(session: AsyncSession, actor: Actor, hasher: Hasher, *, organization_id: int,
                 username: str, password: str, name: str, role: str, phone: str | None = None,
                 gender: str | None = None, birth_date: dt.date | None = None,
                 member_id: int | None = None, password_hash: str | None = None) -> models.Account:
    """`password_hash`: the password's hash computed before the transaction (see the module
    docstring); without it the password is hashed here, for scripts that hold no lock anyone waits on."""
    organization = await organizations.get(session, actor.branch, organization_id, "organizationId")
    problems = Problems()
    username = (username or "").strip()
    name = (name or "").strip()
    if not USERNAME.fullmatch(username):
        problems.add("INVALID", "用户名须为 3–64 位字母、数字或 _ . @ -", ["username"])
    if not name:
        problems.add("INVALID", "姓名不能为空", ["name"])
    organizations.check_lengths(problems, {"name": name, "phone": phone},
                                {"name": ("name", 100), "phone": ("phone", 40)})
    if (message := password_problem(password, username)):
        problems.add("INVALID", message, ["password"])
    if role not in ROLES:
        problems.add("INVALID", "未知的角色", ["role"])
    elif not at_least(actor.role, role):
        problems.add("NOT_ALLOWED", "不能授予高于自己的角色", ["role"])
    if role == "MEMBER" and member_id is None:
        problems.add("INVALID", "党员账户须关联党员信息", ["memberId"])
    if role != "MEMBER" and member_id is not None:
        # The CHECK on account: only a MEMBER account is linked to a member record.
        problems.add("INVALID", "只有党员账户（MEMBER）关联党员信息", ["memberId"])
    problems.raise_if_any()
    if not may_manage(actor, organization.path, role):
        raise DomainError("NOT_ALLOWED", "只能为下级党组织创建管理员账户", "role")
    if member_id is not None:
        member = await member_service.get(session, actor.branch, member_id, "memberId")
        if member.organization_id != organization.id:
            raise DomainError("INVALID", "党员账户须建在该党员所在的党组织", "organizationId")
        if (await session.execute(select(models.Account.id).where(models.Account.member_id == member.id))).first():
            raise DomainError("DUPLICATE", "该党员已有账户", "memberId")
    if (await session.execute(select(models.Account.id).where(models.Account.username == username))).first():
        raise DomainError("DUPLICATE", "用户名已被使用", "username")
    account = models.Account(
        username=username, password_hash=password_hash or await hasher.hash(password), name=name, role=role,
        organization_id=organization.id, phone=phone, gender=gender, birth_date=birth_date,
        member_id=member_id, disabled=False, must_change_password=False, failed_logins=0,
    )
    session.add(account)
    await session.flush()
    return account


async def update_fields(session: AsyncSession, actor: Actor, account_id: int, changes: dict[str, Any]) -> models.Account:
    """Change name, phone, role, organization or disabled (the keys present in `changes`)."""
    account, path = await get(session, actor.branch, account_id, "accountId")
    if not may_manage(actor, path, account.role):
        raise DomainError("NOT_ALLOWED", "只能管理下级党组织的管理员账户", "accountId")
    if "name" in changes:
        name = (changes["name"] or "").strip()
        if not name or len(name) > 100:
            raise DomainError("INVALID", "姓名不能为空，且不能超过 100 个字符", "name")
        account.name = name
    if "phone" in changes:
        if changes["phone"] is not None and len(changes["phone"]) > 40:
            raise DomainError("INVALID", "不能超过 40 个字符", "phone")
        account.phone = changes["phone"]
    new_path = path
    if changes.get("organization_id") is not None:
        organization = await organizations.get(session, actor.branch, changes["organization_id"], "organizationId")
        if account.member_id is not None and organization.id != account.organization_id:
            raise DomainError("INVALID", "党员账户随党员所在党组织，不能单独调整", "organizationId")
        account.organization_id, new_path = organization.id, organization.path
    if changes.get("role") is not None:
        role = changes["role"]
        if not at_least(actor.role, role):
            raise DomainError("NOT_ALLOWED", "不能授予高于自己的角色", "role")
        if role == "MEMBER" and account.member_id is None:
            raise DomainError("INVALID", "党员账户须关联党员信息", "role")
        if role != "MEMBER" and account.member_id is not None:
            raise DomainError("INVALID", "党员账户不能改为其他角色，请另建账户", "role")
        account.role = role
    if not may_manage(actor, new_path, account.role):
        raise DomainError("NOT_ALLOWED", "只能管理下级党组织的管理员账户", "role")
    if changes.get("disabled") is not None:
        account.disabled = changes["disabled"]
        if account.disabled:
            await revoke_tokens(session, account.id)
    await session.flush()
    return account


async def reset_password(session: AsyncSession, actor: Actor, hasher: Hasher, account_id: int,
                         temporary_password: str, password_hash: str | None = None) -> models.Account:
    """`password_hash`: the temporary password's hash computed before the transaction."""
    account, path = await get(session, actor.branch, account_id, "accountId")
    if account.id == actor.account_id or not may_manage(actor, path, account.role):
        raise DomainError("NOT_ALLOWED", "只能重置下级账户的密码；本人请用修改密码", "accountId")
    if (message := password_problem(temporary_password, account.username)):
        raise DomainError("INVALID", message, "temporaryPassword")
    account.password_hash = password_hash or await hasher.hash(temporary_password)
    account.must_change_password = True
    account.failed_logins = 0
    account.locked_until = None
    await revoke_tokens(session, account.id)
    await session.flush()
    return account


async def change_password(run: Run, hasher: Hasher, account_id: int, current_password: str,
                          new_password: str) -> None:
    """The signed-in account changes its own password. Both hash operations run outside any
    transaction; the write is a compare-and-set on the hash that was verified, so a password
    changed or reset meanwhile is not overwritten on the strength of the old one."""
    found = await run(lambda session: _password_hash(session, account_id))
    current_hash, username = found if found else (None, None)
    if current_hash is None or not await hasher.verify(current_hash, current_password or ""):
        raise DomainError("INVALID", "当前密码不正确", "currentPassword")
    if (message := password_problem(new_password, username)):
        raise DomainError("INVALID", message, "newPassword")
    if new_password == current_password:
        raise DomainError("INVALID", "新密码不能与当前密码相同", "newPassword")
    new_hash = await hasher.hash(new_password)

    async def store(session: AsyncSession) -> None:
        changed = (await session.execute(
            update(models.Account)
            .where(models.Account.id == account_id, models.Account.password_hash == current_hash)
            .values(password_hash=new_hash, must_change_password=False)
            .returning(models.Account.id)
            .execution_options(synchronize_session=False))).first()
        if changed is None:
            raise DomainError("INVALID", "当前密码不正确", "currentPassword")
        touch(session, accounts=[account_id])
        await revoke_tokens(session, account_id)

    await run(store)


async def _password_hash(session: AsyncSession, account_id: int) -> tuple[str, str] | None:
    """The account's password hash and username."""
    row = (await session.execute(
        select(models.Account.password_hash, models.Account.username).where(models.Account.id == account_id))).first()
    return tuple(row) if row else None


@dataclass
class SignIn:
    account: models.Account | None
    # What `then` returned (in the transaction that recorded the success).
    value: Any = None


@dataclass
class _Attempt:
    account_id: int
    password_hash: str
    disabled: bool


async def claimable(session: AsyncSession, username: str, moment: dt.datetime) -> int | None:
    """The id of the account with this username when it is not locked; a plain read, so that the
    attempts a flood is made of (unknown usernames, locked accounts) take no write lock at all.

    A MEMBER account also signs in by its phone (实名注册 gives it the member's phone): the
    username wins, and a phone shared by several MEMBER accounts names none of them (each still
    signs in by its username, the ID number). Both probes are on indexes (username, phone)."""
    a = models.Account
    name = (username or "").strip()
    rows = (await session.execute(
        select(a.id, a.username == name, (a.locked_until.is_(None)) | (a.locked_until <= moment))
        .where((a.username == name) | ((a.phone == name) & (a.role == "MEMBER")))
        .order_by((a.username == name).desc(), a.id).limit(3))).all()
    if not rows:
        return None
    if not rows[0][1] and len(rows) > 1:
        return None  # an ambiguous phone
    account_id, _, unlocked = rows[0]
    return account_id if unlocked else None


async def claim_attempt(session: AsyncSession, account_id: int, moment: dt.datetime) -> _Attempt | None:
    """Count a sign-in attempt before its password is checked, in one conditional UPDATE.

    The attempt counts as failed until a success resets the counter. The claim that reaches
    MAX_FAILED_LOGINS locks the account at once, so no further attempt is claimed while the
    first five are still being checked; a lock that has run out starts a new count. None when the
    account is locked (by a claim since `claimable` read it): no password is checked then.

    The UPDATE is atomic on both engines: PostgreSQL re-checks the WHERE clause on the row
    version left by a concurrent UPDATE (READ COMMITTED), SQLite has one writer."""
    a = models.Account
    expired = a.locked_until.is_not(None)  # the WHERE clause below leaves only locks that ran out
    count = case((expired, 1), else_=a.failed_logins + 1)
    row = (await session.execute(
        update(a)
        .where(a.id == account_id, (a.locked_until.is_(None)) | (a.locked_until <= moment))
        .values(failed_logins=count,
                locked_until=case((count >= MAX_FAILED_LOGINS, literal(moment + LOCKOUT, models.UtcDateTime())),
                                  else_=null()))
        .returning(a.id, a.password_hash, a.disabled)
        # The counter and the lockout are in no response: no data version moves (db.changes),
        # or anyone knowing a username could empty the response caches of its whole chain.
        .execution_options(synchronize_session=False, **{changes.UNTRACKED: True})
    )).first()
    return _Attempt(*row) if row else None


async def record_success(session: AsyncSession, attempt: _Attempt, new_hash: str | None,
                         moment: dt.datetime) -> models.Account | None:
    """Reset the counter and the lock after a right password, and store a rehash; only while the
    account still has the hash that was verified and is not disabled (compare-and-set: a
    password reset or a disabling meanwhile wins)."""
    a = models.Account
    values: dict[str, Any] = {"failed_logins": 0, "locked_until": None, "last_login_at": moment}
    if new_hash is not None:
        values["password_hash"] = new_hash
    row = (await session.execute(
        update(a)
        .where(a.id == attempt.account_id, a.password_hash == attempt.password_hash, a.disabled.is_(False))
        .values(**values)
        .returning(a.id)
        .execution_options(synchronize_session=False)
    )).first()
    if row is None:
        return None
    touch(session, accounts=[attempt.account_id])
    return (await session.execute(
        select(a).where(a.id == attempt.account_id).execution_options(populate_existing=True)
    )).scalar_one()


async def authenticate(run: Run, hasher: Hasher, username: str, password: str, dummy_hash: str,
                       then: Callable[[AsyncSession, models.Account], Awaitable[Any]] | None = None,
                       read: Run | None = None, address: str | None = None) -> SignIn:
    """Check a password with the lockout: find the account (`read`, a short read transaction;
    `run` when not given), claim an attempt (a short write), check the password outside any
    transaction, and on success reset the counter and run `then` (a short write).

    An unknown username, a locked account and a wrong password cost the same one hash check and
    answer alike (SignIn(None)); so does a disabled account, whose attempts count as failures.

    Every refusal writes an audit entry (SIGN_IN_FAILED) in a short transaction of its own, after
    the hash check, so it costs the flood no lock held across a hash; the entry names the account
    the username belongs to (found inside the INSERT) and, through it, the organization whose
    administrators see it. The password is never in it; a username that is an ID number is masked."""
    account_id = await (read or run)(lambda session: claimable(session, username, now()))
    attempt = None
    if account_id is not None:
        attempt = await run(lambda session: claim_attempt(session, account_id, now()))
    if attempt is None:
        await hasher.verify(dummy_hash, password or "")
        await _refused(run, username, account_id, "UNKNOWN_OR_LOCKED" if account_id is None else "LOCKED", address)
        return SignIn(None)
    if not await hasher.verify(attempt.password_hash, password or "") or attempt.disabled:
        # counted when it was claimed; the 5th claim locked the account
        reason = "DISABLED" if attempt.disabled else "WRONG_PASSWORD"
        await _refused(run, username, attempt.account_id, reason, address)
        return SignIn(None)
    new_hash = await hasher.hash(password) if hasher.needs_rehash(attempt.password_hash) else None

    async def succeed(session: AsyncSession) -> SignIn:
        account = await record_success(session, attempt, new_hash, now())
        if account is None:
            return SignIn(None)
        return SignIn(account, await then(session, account) if then else None)

    signed_in = await run(succeed)
    if signed_in.account is None:
        await _refused(run, username, attempt.account_id, "CHANGED_MEANWHILE", address)
    return signed_in


async def _refused(run: Run, username: str, account_id: int | None, reason: str, address: str | None) -> None:
    username = (username or "").strip()[:64]
    if account_id is None:  # an unknown username, or a locked account: which one, the INSERT finds out
        a = models.Account.__table__
        account_id = select(a.c.id).where(a.c.username == username).scalar_subquery()
    await run(lambda session: audit.record(
        session, actor=None, action=audit.SIGN_IN_FAILED, target=("Account", account_id),
        changes={"username": username, "reason": reason}, address=address))


async def store_token(session: AsyncSession, account_id: int, token_hash: str, expires_at: dt.datetime) -> None:
    session.add(models.AccessToken(account_id=account_id, token_hash=token_hash, expires_at=expires_at))
    await session.flush()


async def revoke_tokens(session: AsyncSession, account_id: int) -> None:
    touch(session, accounts=[account_id])
    await session.execute(
        update(models.AccessToken)
        .where(models.AccessToken.account_id == account_id, models.AccessToken.revoked_at.is_(None))
        .values(revoked_at=now())
        .execution_options(synchronize_session=False))


async def for_token(session: AsyncSession, token_hash: str):
    """The signed-in account of a live token, None when not live: a Core row of what a request's
    viewer needs (id, role, organization_id, member_id, must_change_password and the
    organization's path), not the ORM account (16 columns, an identity-mapped object) on every
    request."""
    found = await fast.rows(session, _FOR_TOKEN, {"token_hash": token_hash, "now": now()})
    return found[0] if found else None


# Built once: its cache key is memoized on the statement object (see db.branch's prebuilt statements).
# Table columns only: SQLAlchemy's Core path, no ORM compile state.
#
# The token's account by a scalar subquery and the organization's path by another, not a join of
# the three tables: PostgreSQL plans every execution (db.engine's force_custom_plan), and a join's
# search cost more than the statement's run. EXPLAIN ANALYZE on the bench data (alternating, 8
# each, 2026-12-02): planning 0.15-0.49 ms (median 0.21) as a join, 0.07-0.30 ms (median 0.10)
# this way; execution 0.03-0.05 ms either way. The same rows: token_hash is unique, an account's
# organization is never null.
_a, _t, _o = models.Account.__table__, models.AccessToken.__table__, models.Organization.__table__


def _token_account(moment: str, moment_type):
    """The id of the live token's account (a scalar subquery; NULL when no token is live)."""
    return (select(_t.c.account_id)
            .where(_t.c.token_hash == bindparam("token_hash"), _t.c.revoked_at.is_(None),
                   _t.c.expires_at > bindparam(moment, type_=moment_type))
            .scalar_subquery())


_PATH = select(_o.c.path).where(_o.c.id == _a.c.organization_id).scalar_subquery().label("path")
_FOR_TOKEN = (
    select(_a.c.id, _a.c.role, _a.c.organization_id, _a.c.member_id, _a.c.must_change_password, _PATH)
    .where(_a.c.id == _token_account("now", _t.c.expires_at.type), _a.c.disabled.is_(False)))
_TOKEN_AND_VERSION = (
    select(_a.c.id, _a.c.role, _a.c.organization_id, _PATH, _a.c.member_id, _a.c.must_change_password,
           changes.VERSION.label("version"))
    .where(_a.c.id == _token_account("moment", models.UtcDateTime()), _a.c.disabled.is_(False)))


async def token_and_version(connection, token_hash: str, path: str):
    """for_token's answer as plain columns (account id, role, organization id, path, member id,
    must_change_password) and the data version of the branch at `path` (db.changes), in one
    statement: the response cache's path in front of GraphQL (gql.cache) checks the token exactly
    as for_token does, every request. None when the token is not live."""
    return (await connection.execute(_TOKEN_AND_VERSION, {
        "token_hash": token_hash, "moment": now(), **changes.version_parameters(path)})).first()


async def page(session: AsyncSession, branch: Branch, anchor_path: str, subtree: bool, first: int,
               after: str | None):
    """Accounts of an organization (or its subtree) in the branch, in tree order; and the
    statement that counts them."""
    keys = [SortKey(models.Organization.path), SortKey(models.Account.id)]
    scope = (within(models.Organization.path, anchor_path) if subtree
             else models.Organization.path == anchor_path)
    stmt = accounts(branch).add_columns(models.Organization.path).where(scope)
    page = await keyset_page(session, stmt, keys, first, after, lambda row: [row[1], row[0].id])
    counting = accounts(branch).with_only_columns(func.count(models.Account.id)).where(scope)
    return page, counting
