"""Mutation resolvers: input → db service call → rows for the payload."""
from __future__ import annotations

import asyncio
import datetime as dt

from db import models
from db.branch import get as branch_get
from db.errors import DomainError, Problem
from db.services import accounts, difficulties, leadership, members, org_records, organizations, registration, throttle
from gql.auth import tokens
from gql.ids import input_pk
from gql.resolvers.common import provided, viewer_of
from db.services import audit
from gql.resolvers.write import Outcome, audited_run, write

MEMBER_FIELDS = ("name", "id_number", "ethnicity_code", "native_place", "education_code", "degree_code",
                 "job_position_code", "technical_title_code", "phone", "category", "applied_on",
                 "activist_on", "candidate_on", "joined_on", "confirmed_on", "review_note")


def _value(enum_or_none):
    return enum_or_none.value if enum_or_none is not None else None


async def _outside_transactions(info, steps) -> Outcome:
    """For the mutations that check a password: `steps(run)` calls `run(work)` for each short
    write transaction and checks or hashes passwords between them, never inside one (argon2's
    0.1–0.4 s inside SQLite's BEGIN IMMEDIATE held every other writer back). Each transaction
    that changes something writes the mutation's audit entry (gql.resolvers.write.audited_run)."""
    context = info.context
    try:
        return Outcome(value=await steps(audited_run(info)))
    except DomainError as exc:
        return Outcome(problems=exc.problems)
    finally:
        context.loaders.clear_all()


async def _read_briefly(info, work):
    """`work` in a read transaction of its own, ended before this returns (no write lock on
    SQLite, no connection kept on PostgreSQL while a password is checked after it)."""
    db = info.context.db
    await db.idle()  # the token lookup's read, if any
    try:
        return await db.read(work)
    finally:
        await db.idle()


async def _end_read(info) -> None:
    """End the read transaction the request opened to look up its token, before a password is
    hashed: it would otherwise stay open (a pooled connection on PostgreSQL) for the whole hash."""
    await info.context.db.idle()


ADDRESS_THROTTLED = "这个网络地址的登录尝试过多，请 15 分钟后再试"
# A refusal for an exhausted address is answered after this delay. A client flooding in a closed
# loop otherwise gets its refusals as fast as the server can make them and takes the whole event
# loop: bench/sign_in_flood.py with 200 clients from one address, refused at once, cut an
# administrator's writes to 0.1/s on SQLite; waiting costs the server nothing (no CPU, no
# connection), and it paces the flood at most 200 requests per delay.
THROTTLED_DELAY = 10.0
# Addresses known to have used their allowance, until when, are kept per app (Context.exhausted,
# the view's one dict): answered without a database read. A window cannot reopen before its end
# except by a right password elsewhere giving an attempt back, so this can refuse one attempt the
# database would allow, never the other way round.


def client_address(info) -> str:
    """The client's address as the server sees it (behind a reverse proxy, uvicorn's
    --proxy-headers and --forwarded-allow-ips make it the forwarded one)."""
    return (info.context.address or "unknown")[:64]


async def claim_address(info) -> bool:
    """Count a password-checking attempt (login, registerMember) against the client's address
    (db.services.throttle); False, after THROTTLED_DELAY, when the address has used its allowance."""
    address, limit = client_address(info), info.context.settings.sign_in_per_address
    _exhausted_until = info.context.exhausted
    # One claim per address at a time in this process (striped locks; waiting costs nothing):
    # 200 attempts arriving at once all read "not exhausted" and queued 200 write transactions
    # on SQLite's one write lock, stalling every other writer for 20 s (bench/sign_in_flood.py);
    # in turn, the claim after the allowance is used marks the address and the rest are
    # refused without touching the database.
    locks = info.context.address_locks
    async with locks[hash(address) % len(locks)]:
        moment = accounts.now()
        until = _exhausted_until.get(address)
        if until is None or until <= moment:
            _exhausted_until.pop(address, None)
            window_end = await _read_briefly(info, lambda session: throttle.exhausted(session, address, limit, moment))
            if window_end is None and await info.context.db.write(
                    lambda session: throttle.claim(session, address, limit, moment)):
                return True
            if len(_exhausted_until) > 100_000:
                _exhausted_until.clear()
            _exhausted_until[address] = window_end or moment + dt.timedelta(seconds=10)
    await asyncio.sleep(THROTTLED_DELAY)
    return False


async def login(info, username: str, password: str) -> Outcome:
    settings, hasher = info.context.settings, info.context.hasher
    if not await claim_address(info):
        return Outcome(problems=[Problem("NOT_ALLOWED", ADDRESS_THROTTLED, None)])

    async def issue(session, account):
        audit.act_as(session, account.id)  # the entry of this sign-in names the account that signed in
        token = tokens.new_token()
        expires_at = accounts.now() + dt.timedelta(seconds=settings.token_ttl_seconds)
        await accounts.store_token(session, account.id, tokens.token_hash(token), expires_at)
        # By the signed-in account row's own organization id (server-trusted), never a client's id.
        return token, expires_at, await accounts.own_row(session, account)

    outcome = await _outside_transactions(info, lambda run: accounts.authenticate(
        run, hasher, username, password, hasher.dummy_hash, then=issue,
        read=lambda work: _read_briefly(info, work), address=info.context.address))
    if not outcome.ok or outcome.value.account is None:
        return Outcome(problems=[Problem("INVALID", accounts.SIGN_IN_FAILED, None)])
    address = client_address(info)
    await info.context.db.write(lambda session: throttle.release(session, address))
    return Outcome(value=outcome.value.value)


async def register_member(info, data) -> Outcome:
    """实名注册: the steps of db.services.registration, each write a short transaction of its own and
    the password hashed between them (never inside one). Counted against the client's address
    like a sign-in (claim_address): each attempt costs a password hash."""
    if not await claim_address(info):
        return Outcome(problems=[Problem("NOT_ALLOWED", ADDRESS_THROTTLED, None)])
    await _end_read(info)
    return await _outside_transactions(info, lambda run: registration.register(
        run, info.context.hasher, id_number=data.id_number, name=data.name, phone=data.phone,
        password=data.password))


async def logout(info) -> Outcome:
    viewer = viewer_of(info)
    return await write(info, lambda s, _a: accounts.revoke_tokens(s, viewer.account_id))


async def change_password(info, current_password: str, new_password: str) -> Outcome:
    viewer, hasher = viewer_of(info), info.context.hasher
    return await _outside_transactions(info, lambda run: accounts.change_password(
        run, hasher, viewer.account_id, current_password, new_password))


async def _with_path(session, actor, account: models.Account):
    return await accounts.with_path(session, actor, account)


async def _hash_if_valid(info, password: str, username: str | None = None) -> str | None:
    """The password's hash, computed before the write transaction opens; None for a password the
    service will refuse anyway (it says why)."""
    if accounts.password_problem(password, username) is not None:
        return None
    await _end_read(info)
    return await info.context.hasher.hash(password)


async def create_account(info, data) -> Outcome:
    hasher = info.context.hasher
    password_hash = await _hash_if_valid(info, data.password, data.username)

    async def action(session, actor):
        account = await accounts.create(
            session, actor, hasher,
            organization_id=input_pk(data.organization_id, "Organization", "organizationId"),
            username=data.username, password=data.password, name=data.name, role=data.role.value,
            phone=data.phone, gender=_value(data.gender), birth_date=data.birth_date,
            member_id=input_pk(data.member_id, "Member", "memberId"), password_hash=password_hash)
        return await _with_path(session, actor, account)

    return await write(info, action)


async def update_account(info, data) -> Outcome:
    async def action(session, actor):
        changes = provided(data, "name", "phone", "role", "organization_id", "disabled")
        if changes.get("role") is not None:
            changes["role"] = changes["role"].value
        if "organization_id" in changes:
            changes["organization_id"] = input_pk(changes["organization_id"], "Organization", "organizationId")
        account = await accounts.update_fields(
            session, actor, input_pk(data.account_id, "Account", "accountId"), changes)
        return await _with_path(session, actor, account)

    return await write(info, action)


async def reset_password(info, data) -> Outcome:
    hasher = info.context.hasher
    password_hash = await _hash_if_valid(info, data.temporary_password)

    async def action(session, actor):
        account = await accounts.reset_password(
            session, actor, hasher, input_pk(data.account_id, "Account", "accountId"), data.temporary_password,
            password_hash=password_hash)
        return await _with_path(session, actor, account)

    return await write(info, action)


async def create_organization(info, data) -> Outcome:
    return await write(info, lambda session, actor: organizations.create(
        session, actor, parent_id=input_pk(data.parent_id, "Organization", "parentId"),
        name=data.name, type=data.type.value, code_suffix=data.code_suffix, short_name=data.short_name,
        requires_approval=data.requires_approval, established_on=data.established_on,
        contact_phone=data.contact_phone, address=data.address))


async def update_organization(info, data) -> Outcome:
    async def action(session, actor):
        changes = provided(data, *organizations.UPDATABLE)
        if changes.get("type") is not None:
            changes["type"] = changes["type"].value
        return await organizations.update_fields(
            session, actor, input_pk(data.organization_id, "Organization", "organizationId"),
            data.expected_version, changes)

    return await write(info, action)


async def create_member(info, data) -> Outcome:
    async def action(session, actor):
        fields = provided(data.fields, *MEMBER_FIELDS)
        if fields.get("category") is not None:
            fields["category"] = fields["category"].value
        member = await members.create(
            session, actor, organization_id=input_pk(data.organization_id, "Organization", "organizationId"),
            affiliation=data.affiliation.value, fields=fields, since=data.since)
        return member, (await branch_get(session, actor.branch, models.Organization, member.organization_id,
                                         "党组织"))[1].path

    return await write(info, action)



# ------------------------------------------------------------ issue 3: organization management


def _org_pk(data, field="organizationId"):
    return input_pk(data.organization_id, "Organization", field)


async def rename_organization(info, data) -> Outcome:
    return await write(info, lambda session, actor: organizations.rename(
        session, actor, _org_pk(data), data.name, data.date, data.reason))


async def move_organization(info, data) -> Outcome:
    return await write(info, lambda session, actor: organizations.move(
        session, actor, _org_pk(data), input_pk(data.new_parent_id, "Organization", "newParentId"),
        data.code_suffix, data.date, data.reason))


async def revoke_organization(info, data) -> Outcome:
    return await write(info, lambda session, actor: organizations.revoke(
        session, actor, _org_pk(data), data.date, data.reason))


async def set_leadership_term(info, data) -> Outcome:
    return await write(info, lambda session, actor: leadership.set_term(
        session, actor, _org_pk(data), data.election_method.value, data.elected_on, data.term_ends_on,
        data.last_changed_on))


async def _position_row(session, actor, position):
    _position, organization = await leadership.get_position(session, actor.branch, position.id, "positionId")
    return position, organization.path


async def appoint_leader(info, data) -> Outcome:
    async def action(session, actor):
        position = await leadership.appoint(
            session, actor, _org_pk(data), input_pk(data.member_id, "Member", "memberId"), data.title.value,
            data.since)
        return await _position_row(session, actor, position)

    return await write(info, action)


async def end_leader_position(info, data) -> Outcome:
    async def action(session, actor):
        position = await leadership.end_position(
            session, actor, input_pk(data.position_id, "LeaderPosition", "positionId"), data.until)
        return await _position_row(session, actor, position)

    return await write(info, action)


async def add_difficulty(info, data) -> Outcome:
    return await write(info, lambda session, actor: difficulties.add(
        session, actor, input_pk(data.member_id, "Member", "memberId"), data.kind_code, data.description,
        data.recorded_on))


async def revoke_difficulty(info, data) -> Outcome:
    return await write(info, lambda session, actor: difficulties.revoke(
        session, actor, input_pk(data.difficulty_id, "Difficulty", "difficultyId"), data.date))


async def add_org_record(info, data) -> Outcome:
    return await write(info, lambda session, actor: org_records.add(
        session, actor, _org_pk(data), data.kind.value, data.title, data.held_on, data.content))
