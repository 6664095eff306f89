"""The audit trail (操作记录): who changed what, when, from where, with the values before and after.

One entry per successful mutation, written in the transaction of the change (a rolled-back
write leaves none), by the one write path (gql.resolvers.write) and not by each service: while a
write runs, a flush hook (below) collects the rows the ORM session inserts, changes and deletes,
with each changed column's old and new value from the attribute history SQLAlchemy keeps anyway.
A mutation added later gets its entry with no code of its own; a service that writes with Core
statements (compare-and-set UPDATEs, subtree rewrites) still gets its entry, with the target
and organization from what the mutation returned, though without those rows' values.

An entry is one INSERT: the organization is taken from the target object in memory, or computed
inside the same statement by a scalar subquery (a record's member's organization), never by a
SELECT of its own. Measured: see the bench note in gql/resolvers/write.py.

Never in an entry: passwords, tokens and hashes (a column named like one shows as '***', the
access_token table not at all), bookkeeping tables and rollup counters; ID numbers are masked
(db.idnumber.mask) in every column named id_number and wherever an 18- or 15-digit ID number
appears in a text value (a username, a note).

`record()` is the plain function for everything else (failed sign-ins, exports, imports, the
command line). Entries are append-only: a flush or a Core statement that would update or delete
one raises AuditImmutable.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import operator
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, false, func, insert, inspect, or_, select
from sqlalchemy.sql.elements import BindParameter, ClauseElement
from sqlalchemy.orm import Session

from db import models
from db.changes import UNTRACKED, UNTRACKED_TABLES
from db.idnumber import mask
from db.pagination import SortKey, keyset_page
from db.tree import within

# Actor label of writes from the command line (python -m db ...).
CLI = "cli"
# Action of a refused or failed sign-in (its own transaction; the mutation itself is `login`).
SIGN_IN_FAILED = "loginFailed"

# Off only in bench/audit_cost.py, to measure what the trail costs a write.
RECORDING = True

_COLLECTOR = "dangjian.audit"
# Tables whose rows never appear in an entry: bookkeeping, the trail itself, and bearer tokens.
SILENT_TABLES = UNTRACKED_TABLES | {"audit_entry", "access_token"}
# Rollups and counters: derived, not changed by anyone.
SILENT_COLUMNS = frozenset({"direct_member_count", "subtree_member_count", "subtree_changes", "own_changes"})
SECRET = re.compile(r"password|token|hash|secret", re.IGNORECASE)
HIDDEN = "***"
ID_NUMBER_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{17}[0-9Xx]|\d{15})(?![0-9A-Za-z])")
# An entry lists at most this many objects (a batch of 500 records says how many it left out).
MAX_OBJECTS = 50
MAX_CHANGES_CHARS = 60_000


class AuditImmutable(RuntimeError):
    """Something tried to change or delete an audit entry."""


# ------------------------------------------------------------------ values


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return ID_NUMBER_IN_TEXT.sub(lambda m: mask(m.group(1)), value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, dict):
        return sanitized(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return _plain(str(value))


def _field(key: str, value: Any) -> Any:
    if SECRET.search(key):
        return HIDDEN
    if value is not None and "id_number" in key and isinstance(value, str):
        return mask(value)
    return _plain(value)


def sanitized(changes: dict) -> dict:
    """`changes` fit for an entry: secrets hidden, ID numbers masked, values JSON-plain."""
    return {str(k): _field(str(k), v) for k, v in changes.items()}


# ------------------------------------------------------------------ collecting a write's rows


@dataclass
class Collector:
    objects: dict[tuple[str, Any], dict] = field(default_factory=dict)
    first: Any = None  # the first object written (the target when the mutation returns none)
    omitted: int = 0
    core_writes: int = 0
    actor_account_id: int | None = None  # set by act_as()

    def add(self, obj, kind: str) -> None:
        state = inspect(obj)
        mapper = state.mapper
        table = mapper.local_table.name
        if table in SILENT_TABLES:
            return
        pk = state.identity[0] if state.identity and len(state.identity) == 1 else state.dict.get("id")
        key = (mapper.class_.__name__, pk)
        entry = self.objects.get(key)
        if entry is None and len(self.objects) >= MAX_OBJECTS:
            self.omitted += 1
            return
        values = state.dict
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for attr in mapper.column_attrs:
            name = attr.key
            if name in SILENT_COLUMNS:
                continue
            if kind == "new":
                if values.get(name) is not None:
                    after[name] = _field(name, values[name])
            elif kind == "deleted":
                if name in values:
                    before[name] = _field(name, values[name])
            else:
                history = state.attrs[name].load_history()
                if history.added or history.deleted:
                    old = history.deleted[0] if history.deleted else None
                    new = history.added[0] if history.added else None
                    if old != new:
                        before[name], after[name] = _field(name, old), _field(name, new)
        if kind == "dirty" and not after:
            return
        self.merge(key[0], pk, obj, {"new": "create", "dirty": "update", "deleted": "delete"}[kind], before, after)

    def merge(self, type_name: str, pk, obj, op: str, before: dict, after: dict) -> None:
        key = (type_name, pk)
        entry = self.objects.get(key)
        if entry is None:
            if len(self.objects) >= MAX_OBJECTS:
                self.omitted += 1
                return
            entry = self.objects[key] = {"type": type_name, "id": pk, "op": op}
            if self.first is None:
                self.first = obj if obj is not None else (type_name, pk)
        elif op == "delete":
            entry["op"] = "delete"
        if before:
            entry.setdefault("before", {})
            for name, value in before.items():
                entry["before"].setdefault(name, value)
        if after:
            entry.setdefault("after", {}).update(after)

    def changes(self) -> dict:
        found: dict[str, Any] = {"objects": list(self.objects.values())}
        if self.omitted:
            found["omitted"] = self.omitted
        return found


def start(session) -> Collector:
    """Collect the rows this session writes from now on (until finish() or stop())."""
    collector = Collector()
    if RECORDING:
        session.info[_COLLECTOR] = collector
    return collector


def stop(session) -> None:
    session.info.pop(_COLLECTOR, None)


def act_as(session, account_id: int) -> None:
    """The entry's actor is this account (a sign-in: no account was signed in when it began)."""
    collector = session.info.get(_COLLECTOR)
    if collector is not None:
        collector.actor_account_id = account_id


def _main_object(value, depth: int = 0):
    if isinstance(value, models.Base):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and depth < 3:
        value = tuple(getattr(value, f.name) for f in dataclasses.fields(value))
    if isinstance(value, (tuple, list)) and depth < 3:
        for item in value:
            found = _main_object(item, depth + 1)
            if found is not None:
                return found
    return None


def target_of(value) -> tuple[Any, Any]:
    """The main object of what a write returned (the object itself, or the first object of a
    (row, path) pair), and the object whose organization the entry takes: a list of several
    gives their type and no id, and the first one's organization."""
    if isinstance(value, list) and len(value) > 1:
        first = _main_object(value[0])
        return ((type(first).__name__, None), first) if first is not None else (None, None)
    found = _main_object(value)
    return found, found


async def finish(session, *, actor, action: str, result=None, address: str | None = None,
                 only_if_changed: bool = False, extra: dict | None = None) -> bool:
    """Write the entry of the write collected since start(): flush what is pending (its rows
    reach the collector), then one INSERT. With `only_if_changed`, nothing is written for a
    transaction that changed nothing (the reads and claims of a sign-in)."""
    collector = session.info.get(_COLLECTOR)
    if collector is None:
        collector = Collector()
    if not RECORDING:
        stop(session)
        return False
    await session.flush()
    stop(session)
    if only_if_changed and not (collector.objects or collector.core_writes or collector.omitted):
        return False
    target, placed = target_of(result)
    if target is None:
        target = placed = collector.first
    account_id = collector.actor_account_id or getattr(actor, "account_id", None)
    if target is None and account_id is not None:
        target = ("Account", account_id)  # signing out: the account itself
    changes = collector.changes()
    if extra:
        changes.update(sanitized(extra))
    organization = _target(placed)[2] if placed is not None and placed is not target else None
    await record(session, actor=collector.actor_account_id or actor, action=action, target=target,
                 organization=organization, changes=changes, address=address)
    return True


# ------------------------------------------------------------------ writing an entry


def _model_named(type_name: str):
    for mapper in models.Base.registry.mappers:
        if mapper.class_.__name__ == type_name:
            return mapper.class_
    return None


def _organization_by_pk(model, pk):
    """SQL (or a value): the organization of the `model` row `pk`, inside the INSERT."""
    if model is None or pk is None:
        return None
    if model is models.Organization:
        return pk
    table = model.__table__
    if "organization_id" in table.c:
        return select(table.c.organization_id).where(table.c.id == pk).scalar_subquery()
    if "member_id" in table.c:
        return _member_organization(select(table.c.member_id).where(table.c.id == pk).scalar_subquery())
    if "account_id" in table.c:
        return _account_organization(select(table.c.account_id).where(table.c.id == pk).scalar_subquery())
    return None


def _member_organization(member_id):
    m = models.Member.__table__
    return select(m.c.organization_id).where(m.c.id == member_id).scalar_subquery()


def _account_organization(account_id):
    a = models.Account.__table__
    return select(a.c.organization_id).where(a.c.id == account_id).scalar_subquery()


def _target(target) -> tuple[str, Any, Any]:
    """(type name, pk, organization: a value, SQL or None) of a target: an ORM object, or a
    (type name, pk) pair whose pk may be a SQL expression."""
    if target is None:
        return "", None, None
    if isinstance(target, tuple):
        type_name, pk = target
        return type_name, pk, _organization_by_pk(_model_named(type_name), pk)
    state = inspect(target)
    values = state.dict
    pk = state.identity[0] if state.identity and len(state.identity) == 1 else values.get("id")
    model = state.mapper.class_
    if model is models.Organization:
        organization = pk
    elif values.get("organization_id") is not None:
        organization = values["organization_id"]
    elif values.get("member_id") is not None:
        organization = _member_organization(values["member_id"])
    elif values.get("account_id") is not None:
        organization = _account_organization(values["account_id"])
    else:
        organization = _organization_by_pk(model, pk)
    return model.__name__, pk, organization


def _actor(actor) -> tuple[int | None, str | None, int | None]:
    """(account id, label, the actor's organization) of an Actor, an account id, a label or None."""
    if actor is None:
        return None, None, None
    if isinstance(actor, str):
        return None, actor[:40], None
    if isinstance(actor, int):
        return actor, None, _account_organization(actor)
    account_id = getattr(actor, "account_id", None)
    return account_id, None if account_id is not None else "system", getattr(actor, "organization_id", None)


def _dumped(changes) -> str | None:
    if changes is None:
        return None
    if isinstance(changes, str):
        changes = {"note": changes}
    data = sanitized(changes) if isinstance(changes, dict) else {"values": _plain(changes)}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    objects = data.get("objects")
    while len(text) > MAX_CHANGES_CHARS and isinstance(objects, list) and objects:
        objects.pop()
        data["omitted"] = data.get("omitted", 0) + 1
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text) > MAX_CHANGES_CHARS:  # one huge value: say so rather than cut JSON in half
        text = json.dumps({"omitted": "too long", "chars": len(text)})
    return text


async def record(session, *, actor, action: str, target=None, organization=None, changes=None,
                 address: str | None = None) -> None:
    """Write one audit entry (one INSERT) in the session's current transaction.

    actor: a db.branch.Actor, an account id, a label such as CLI, or None (nobody signed in);
    target: an ORM object or a (type name, pk) pair (pk may be a SQL expression), or None;
    organization: an organization id; by default the target's (or the actor's) organization;
    changes: a dict, made safe here (secrets hidden, ID numbers masked) and stored as JSON."""
    account_id, label, actor_organization = _actor(actor)
    target_type, target_id, target_organization = _target(target)
    if organization is None:
        organization = target_organization if target_organization is not None else actor_organization
        if target_organization is not None and actor_organization is not None and not isinstance(
                target_organization, int):
            # A row deleted by this write has no organization left to find: the actor's, then.
            organization = func.coalesce(target_organization, actor_organization)
    elif isinstance(organization, models.Organization):
        organization = organization.id
    values = {"at": dt.datetime.now(dt.timezone.utc), "actor_account_id": account_id, "actor_label": label,
              "action": action[:64], "target_type": target_type[:40], "target_id": target_id,
              "organization_id": organization, "address": (address or None) and address[:64],
              "changes": _dumped(changes)}
    sql = {k: v for k, v in values.items() if isinstance(v, ClauseElement)}
    if sql:  # the organization (or the target) found inside the INSERT
        await session.execute(_INSERT.values(**sql), {k: v for k, v in values.items() if k not in sql})
    else:  # the statement built once: its compiled form is cached
        await session.execute(_INSERT, values)


# Table, not ORM entity: SQLAlchemy's Core path (no ORM compile state), as db.branch's prebuilt statements.
_INSERT = insert(models.AuditEntry.__table__)


# ------------------------------------------------------------------ hooks


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _flush_context) -> None:
    collector = session.info.get(_COLLECTOR)
    if collector is None:
        return
    for obj in session.new:
        collector.add(obj, "new")
    for obj in session.dirty:
        if session.is_modified(obj, include_collections=False):
            collector.add(obj, "dirty")
    for obj in session.deleted:
        collector.add(obj, "deleted")


@event.listens_for(Session, "before_flush")
def _append_only(session: Session, _flush_context, _instances) -> None:
    for obj in session.dirty:
        if isinstance(obj, models.AuditEntry) and session.is_modified(obj):
            raise AuditImmutable("操作记录不能修改")
    for obj in session.deleted:
        if isinstance(obj, models.AuditEntry):
            raise AuditImmutable("操作记录不能删除")


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    name = table.name if table is not None else None
    if name == "audit_entry":
        if not state.is_insert:
            raise AuditImmutable("操作记录不能修改或删除")
        return
    collector = state.session.info.get(_COLLECTOR)
    if collector is None or name in SILENT_TABLES:
        return
    if state.execution_options.get(UNTRACKED) or state.local_execution_options.get(UNTRACKED):
        return
    collector.core_writes += 1
    if state.is_update or state.is_delete:
        _core_rows(collector, state.session, state.statement, state.is_delete)


def _core_rows(collector: Collector, session: Session, statement, deleting: bool) -> None:
    """What a Core UPDATE or DELETE of rows named by id (`id = :pk`, `id IN (...)`: the services'
    compare-and-set writes and batch deletes) did, with the old values of the objects the session
    holds for those rows: what the flush hook cannot see. Other statements (by another column,
    computed values such as version + 1) are only counted."""
    table = getattr(statement, "table", None)
    if table is None:
        return
    mapper = _MAPPERS.get(table.name)
    if mapper is None:
        return
    table = mapper.local_table  # the statement's may be an annotated copy
    pks: list = []
    for criterion in getattr(statement, "_where_criteria", ()):
        left, right = getattr(criterion, "left", None), getattr(criterion, "right", None)
        if (getattr(left, "table", None) is not table or getattr(left, "key", None) != "id"
                or not isinstance(right, BindParameter)):
            continue
        op = getattr(criterion, "operator", None)
        if op is operator.eq and isinstance(right.value, int):
            pks = [right.value]
        elif getattr(op, "__name__", "") == "in_op" and isinstance(right.value, (list, tuple)):
            pks = [v for v in right.value if isinstance(v, int)]
    values = {} if deleting else (getattr(statement, "_values", None) or {})
    for pk in pks:
        obj = session.identity_map.get(mapper.identity_key_from_primary_key([pk]))
        old = inspect(obj).dict if obj is not None else {}
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        if deleting:
            before = {name: _field(name, value) for name, value in old.items()
                      if not name.startswith("_") and name in mapper.columns and name not in SILENT_COLUMNS}
        for key, value in values.items():
            name = key if isinstance(key, str) else getattr(key, "key", None)
            if name is None or name in SILENT_COLUMNS or not isinstance(value, BindParameter):
                continue
            new = value.value
            if name in old:
                if old[name] == new:
                    continue
                before[name] = _field(name, old[name])
            after[name] = _field(name, new)
        if deleting or after:
            collector.merge(mapper.class_.__name__, pk, obj, "delete" if deleting else "update", before, after)


_MAPPERS = {mapper.local_table.name: mapper for mapper in models.Base.registry.mappers}


# ------------------------------------------------------------------ reading the trail


@dataclass(frozen=True)
class AuditQuery:
    actions: tuple[str, ...] | None = None
    actor_account_id: int | None = None
    target: tuple[str, int] | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def _conditions(branch, anchor_path: str | None, subtree: bool, query: AuditQuery):
    """The branch (db.branch) as SQL over the entry's organization; entries of no organization
    (a sign-in with an unknown username, the command line before any organization) belong to
    the root's branch only."""
    e, o = models.AuditEntry, models.Organization
    if anchor_path is not None:
        conditions = [branch.holds(o.path), within(o.path, anchor_path) if subtree else o.path == anchor_path]
    elif branch.path.count("/") == 2:  # the root's branch: '/1/'
        conditions = [or_(e.organization_id.is_(None), branch.holds(o.path))]
    else:
        conditions = [branch.holds(o.path)]
    if query.actions is not None:
        conditions.append(e.action.in_(query.actions))
    if query.actor_account_id is not None:
        conditions.append(e.actor_account_id == query.actor_account_id)
    if query.target is not None:
        conditions += [e.target_type == query.target[0], e.target_id == query.target[1]]
    if query.since is not None:
        conditions.append(e.at >= query.since)
    if query.until is not None:
        conditions.append(e.at <= query.until)
    return conditions


def _entries(branch, *columns):
    e, o = models.AuditEntry, models.Organization
    return (select(*(columns or (e, func.coalesce(o.path, branch.path).label("path"))))
            .select_from(e).outerjoin(o, o.id == e.organization_id))


async def page(session, branch, anchor_path: str | None, subtree: bool, query: AuditQuery, first: int,
               after: str | None):
    """Entries in the branch (or under `anchor_path`), newest first; and the statement that counts them.
    A self-only (MEMBER) branch reaches none."""
    e = models.AuditEntry
    conditions = _conditions(branch, anchor_path, subtree, query)
    if branch.is_self_only:
        conditions = [false()]
    keys = [SortKey(e.id, descending=True)]
    found = await keyset_page(session, _entries(branch).where(*conditions), keys, first, after,
                              lambda row: [row[0].id])
    counting = _entries(branch, func.count(e.id)).where(*conditions)
    return found, counting


async def by_ids(session, branch, ids: list[int]) -> dict[int, tuple]:
    """(entry, its organization's path) by id, for the entries the branch reaches."""
    if branch.is_self_only or not ids:
        return {}
    e = models.AuditEntry
    rows = await session.execute(_entries(branch).where(*_conditions(branch, None, True, AuditQuery()),
                                                        e.id.in_(ids)))
    return {row[0].id: (row[0], row[1]) for row in rows}
