"""实名注册 (registerMember): a member claims its own account by ID number, name and phone.

What a stranger learns must not depend on whether an ID number is on file. Every attempt that is
well formed takes the same steps, in the same order, whatever the database holds:

1. claim an attempt for the ID number (one UPSERT on registration_attempt, keyed by the number's
   SHA-256, in a short write transaction of its own): counted as failed until it succeeds, the
   MAX_FAILED_LOGINS-th claim locks the number for LOCKOUT, as sign-in does for an account
   (db.services.accounts.claim_attempt). A number on file and one that is not are counted alike;
   a locked number answers exactly like a mismatch;
2. hash the password (argon2, 0.1–0.4 s) outside any transaction, on every path: on a miss the
   hash is of the given password all the same (the "dummy" work of the miss path is this very
   hash, thrown away), so the time is the hash's on both paths;
3. one short write transaction: the member with that number, locked (FOR UPDATE), is compared
   with name and phone and must be ACTIVE; on a match the MEMBER account is created by the
   accounts service acting as the member itself (its self-only branch), username = the ID number,
   phone = the member's phone (sign-in accepts either). A mismatch of any kind raises the one
   NO_MATCH answer; the member already having an account answers DUPLICATE (only a caller who
   gave the matching number, name and phone gets that far).

Measured with bench/registration.py (production argon2, 40 rounds, a loaded machine where a hash
took ~1 s): the medians of an unknown number, a wrong name, a wrong phone and a locked number
differ by at most 2.8% (SQLite) and 4.3% (PostgreSQL), well inside the median-to-p90 spread of
each (~600 ms); the statements are the same and in the same order (tests/test_self_service.py).

One account per member: the lock on the member row orders two registrations of the same member
(the second sees the first's account); the unique index on account.member_id is the backstop
(IntegrityError → DUPLICATE).
"""
from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import case, delete, literal, null, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db import changes, idnumber, models
from db.branch import Actor, Branch
from db.errors import DomainError, Problems
from db.services import accounts, audit

NO_MATCH = "未找到与身份证号码、姓名和手机号相符的在册党员，或尝试次数过多（请稍后再试）"


def normalized_phone(phone: str | None) -> str:
    return "".join(ch for ch in (phone or "") if ch not in " -\t")


def attempt_key(id_number: str) -> str:
    return hashlib.sha256(id_number.encode()).hexdigest()


def _upsert(session: AsyncSession):
    return (postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert)(
        models.RegistrationAttempt)


async def claim(session: AsyncSession, key: str, moment: dt.datetime) -> bool:
    """Count an attempt for `key` before anything is compared; False when the key is locked (no
    claim then). One statement, atomic on both engines (an INSERT ... ON CONFLICT DO UPDATE whose
    WHERE sees the row version a concurrent claim left)."""
    r = models.RegistrationAttempt
    expired = r.locked_until.is_not(None)  # the WHERE below leaves only locks that ran out
    count = case((expired, 1), else_=r.failures + 1)
    stmt = _upsert(session).values(key=key, failures=1, locked_until=None)
    stmt = stmt.on_conflict_do_update(
        index_elements=[r.key],
        set_={"failures": count,
              "locked_until": case((count >= accounts.MAX_FAILED_LOGINS,
                                    literal(moment + accounts.LOCKOUT, models.UtcDateTime())), else_=null())},
        where=(r.locked_until.is_(None)) | (r.locked_until <= moment),
    ).returning(r.failures)
    row = (await session.execute(stmt.execution_options(**{changes.UNTRACKED: True}))).first()
    return row is not None


def _input_problems(id_number: str, name: str, phone: str, password: str) -> str:
    """Problems of the input's shape alone (nothing read from the database); the normalized number."""
    problems = Problems()
    number = ""
    try:
        number = idnumber.parse(id_number)[0]
    except idnumber.InvalidIdNumber as exc:
        problems.add("INVALID", str(exc), ["idNumber"])
    if not (name or "").strip():
        problems.add("INVALID", "姓名不能为空", ["name"])
    if not normalized_phone(phone):
        problems.add("INVALID", "手机号不能为空", ["phone"])
    if (message := accounts.password_problem(password)):
        problems.add("INVALID", message, ["password"])
    problems.raise_if_any()
    return number


async def register(run: accounts.Run, hasher: accounts.Hasher, *, id_number: str, name: str, phone: str,
                   password: str) -> tuple[models.Account, str]:
    """registerMember: the new account and its organization's path; DomainError otherwise."""
    number = _input_problems(id_number, name, phone, password)
    key = attempt_key(number)
    claimed = await run(lambda session: claim(session, key, accounts.now()))
    password_hash = await hasher.hash(password)  # every path, outside any transaction (step 2)

    async def create(session: AsyncSession) -> tuple[models.Account, str]:
        m, o = models.Member, models.Organization
        row = (await session.execute(
            select(m, o.path).join(o, o.id == m.organization_id).where(m.id_number == number)
            .with_for_update(of=m))).first()
        matches = (row is not None and claimed and row[0].status == "ACTIVE"
                   and row[0].name == name.strip()
                   and normalized_phone(row[0].phone) == normalized_phone(phone))
        if not matches:
            raise DomainError("NOT_FOUND", NO_MATCH)
        member, path = row
        self_actor = Actor(account_id=None, role="MEMBER", organization_id=member.organization_id,
                           branch=Branch.of_member(path, member.id))
        if (await session.execute(select(models.Account.id).where(models.Account.member_id == member.id))).first():
            raise DomainError("DUPLICATE", "该党员已注册账户，请直接登录（用户名为身份证号码或手机号）")
        account = await accounts.create(
            session, self_actor, hasher, organization_id=member.organization_id, username=number,
            password=password, name=member.name, role="MEMBER", phone=member.phone, gender=member.gender,
            birth_date=member.birth_date, member_id=member.id, password_hash=password_hash)
        audit.act_as(session, account.id)  # the entry names the account that registered (no one was signed in)
        await session.execute(delete(models.RegistrationAttempt).where(models.RegistrationAttempt.key == key)
                              .execution_options(**{changes.UNTRACKED: True}))
        return account, path

    try:
        return await run(create)
    except IntegrityError as exc:
        # A concurrent registration of the same member (or a username taken meanwhile).
        raise DomainError("DUPLICATE", "该党员已注册账户，请直接登录（用户名为身份证号码或手机号）") from exc

