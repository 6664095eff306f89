"""Data versions of branches: what lets a repeated read be answered from a cache, exactly.

The version of a branch anchored at organization A is a number that grows by at least one with
every committed write that could change what a reader of A's branch sees, in any process:

    version(A) = writes that touched A or anything below it
               + writes that touched a strict ancestor of A itself (a rename or a move of an
                 ancestor changes paths, depths and codes below it; a write to the root by the
                 fallback below reaches everyone)

A write *touches* the organizations that own what it changed: a member's, an account's or a
record's organization (old and new one when it moves), an organization itself (a rename, an
address), or an organization's place in the tree (a move changes the path, code and depth of
everything below it: `own`, which readers below it see as well; they see nothing else of it).
At commit every touched organization and each of its ancestors get one row in the append-only
`branch_change` log (`own` = 1 where the organization's place changed); like the
member-count deltas (db.services.members) the log is folded now and then into
organization.subtree_changes / own_changes in one statement, so a write locks no row that writers
in other branches need (not the root's), and a read of the version costs two index lookups over
the anchor's ancestor chain and the few rows written since the last fold, whatever the size of
the branch. Counting rows rather than taking the largest sequence number keeps it exact under
concurrency: two writes that commit out of their sequence order still each add one.

What is touched is collected without asking the services to remember it:
- every ORM flush touches the organizations of the rows it inserted, changed or deleted
  (Organization by its id, rows with an organization_id, a member_id or an account_id through
  those), whose paths are read at commit FOR KEY SHARE: a concurrent move of an ancestor (which
  rewrites those paths) either waits for the write or is seen by it, so the marks land on the
  chain the rows are in when the write commits;
- a Core UPDATE/DELETE/INSERT (a compare-and-set, a subtree rewrite) cannot be mapped to rows, so
  the service that runs one calls `touch()` with what it changed;
- fail safe: a write whose rows cannot be mapped, or a Core statement in a transaction that
  touched nothing explicitly, touches the root: every branch's version moves (correct, only less
  cached). tests/test_response_cache.py runs every mutation of the schema and fails when one
  falls back to the root or leaves a reader of its organization with an unchanged version.

Statements that change nothing a reader sees (the folds themselves) carry the execution option
UNTRACKED. Writes outside a Session (raw connections: migrations, the demo loader on an empty
database) are not seen: restart the servers after loading data that way.
"""
from __future__ import annotations

import logging
from itertools import chain

from sqlalchemy import and_, bindparam, case, event, func, insert, inspect, or_, select
from sqlalchemy.orm import Session

from db import models
from db.tree import ancestor_ids

log = logging.getLogger("dangjian.changes")

# Execution option for statements no reader can see (rollup folds).
UNTRACKED = "dangjian_untracked"
# Tables that hold no data of their own that a reader sees.
# audit_entry: an entry is written with the change it records, which moves the versions already
# (auditLog responses are not cached: gql.app, Context.uncacheable).
UNTRACKED_TABLES = frozenset({"member_count_delta", "branch_change", "server_secret", "audit_entry",
                              "registration_attempt", "sign_in_throttle", "idempotency_key"})

_TOUCHED = "dangjian.touched"
_EXPLICIT = "dangjian.touched_explicitly"
_CORE_DML = "dangjian.core_dml"
_UNMAPPED = "dangjian.unmapped_write"
_KEYS = (_TOUCHED, _EXPLICIT, _CORE_DML, _UNMAPPED)
# Set when branch_change rows were written: read by db.services.members.fold_after_write.
FOLD_DUE = "member_count_fold_due"
# The last root fallbacks, for tests and for the log.
fallbacks: list[str] = []


def _touched(info) -> dict[str, set]:
    touched = info.get(_TOUCHED)
    if touched is None:
        touched = info[_TOUCHED] = {"organization": set(), "organization_row": set(), "path": set(),
                                    "row_path": set(), "former_row_path": set(), "member": set(),
                                    "account": set()}
    return touched


def touch(session, *, organizations=(), organization_rows=(), paths=(), row_paths=(), members=(),
          accounts=()) -> None:
    """Declare what a write changed; at commit the owners' organizations and their ancestors get
    their marks. `session` is an AsyncSession or a Session.

    - organizations / paths: data held in these organizations (members, accounts, records):
      readers of the organization and above see it;
    - organization_rows / row_paths: the organization's place in the tree (path, code, depth):
      readers below it see it too (an ancestor's own write);
    - members / accounts: rows of these, resolved to their organizations at commit (a member's,
      and the destination of its PENDING transfer, whose branch reads the member until then)."""
    info = session.info
    touched = _touched(info)
    touched["organization"].update(i for i in organizations if i is not None)
    touched["organization_row"].update(i for i in organization_rows if i is not None)
    touched["path"].update(p for p in paths if p)
    touched["row_path"].update(p for p in row_paths if p)
    touched["member"].update(i for i in members if i is not None)
    touched["account"].update(i for i in accounts if i is not None)
    info[_EXPLICIT] = True


def _history_values(state, key: str) -> list:
    """Current and previous values of a loaded attribute, without loading anything."""
    attr = state.attrs.get(key) if key in state.mapper.attrs else None
    if attr is None:
        return []
    history = attr.load_history()
    return [v for v in chain(history.added or (), history.unchanged or (), history.deleted or ()) if v is not None]


def _changed(state, key: str) -> bool:
    """An attribute of a persistent object changed in this flush (without loading anything)."""
    if key not in state.mapper.attrs:
        return False
    history = state.attrs[key].load_history()
    return bool(history.deleted) and bool(history.added)


def _touch_object(info, obj, deleted: bool = False) -> None:
    state = inspect(obj)
    table = state.mapper.local_table.name
    if table in UNTRACKED_TABLES:
        return
    touched = _touched(info)
    if isinstance(obj, models.Organization):
        # Its id, for the path it has at commit (read there under a lock: the path this object
        # holds in memory may predate a move of an ancestor that committed since it was loaded),
        # and any path it had before a change of its path in this transaction (a path is "~..."
        # until the insert gives the id). A deleted row has only the paths it had.
        if deleted:
            paths = [p for p in _history_values(state, "path") if p.startswith("/")]
        else:
            attr = state.attrs.get("path") if "path" in state.mapper.attrs else None
            paths = [p for p in ((attr.load_history().deleted or ()) if attr is not None else ())
                     if p and p.startswith("/")]
        ids = [] if deleted else [i for i in [state.dict.get("id")] if i is not None]
        touched["former_row_path"].update(paths)
        # Readers below an organization see of it only what places them: its path, code and
        # depth (`parent` and `ancestors` stop at the top of the reader's branch). A change of
        # those is an own-row change that moves their versions too; any other change (name,
        # address, status, leadership, version) is seen from the organization and above only.
        structural = deleted or any(_changed(state, key) for key in ("path", "code", "depth"))
        touched["organization_row" if structural else "organization"].update(ids)
        if paths or ids:
            return
    else:
        # A member's own row, or a row of a member (its records, steps, placements): the member
        # too, for the receiving end of its pending transfer (record()).
        member_ids = [state.dict.get("id")] if isinstance(obj, models.Member) else _history_values(state, "member_id")
        touched["member"].update(i for i in member_ids if i is not None)
        for key, kind in (("organization_id", "organization"), ("member_id", "member"), ("account_id", "account")):
            values = _history_values(state, key)
            if values:
                touched[kind].update(values)
                return
    info[_UNMAPPED] = True
    log.warning("a write to %s could not be mapped to organizations: every branch's version moves", table)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush_context) -> None:
    info = session.info
    for obj in session.new:
        _touch_object(info, obj)
    for obj in session.deleted:
        _touch_object(info, obj, deleted=True)
    for obj in session.dirty:
        if session.is_modified(obj, include_collections=False):
            _touch_object(info, obj)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    if state.execution_options.get(UNTRACKED) or state.local_execution_options.get(UNTRACKED):
        return
    table = getattr(state.statement, "table", None)
    if table is not None and table.name in UNTRACKED_TABLES:
        return
    state.session.info[_CORE_DML] = True


# Off only in bench/count_writes.py, to measure what the marks cost a write.
RECORDING = True


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    info = session.info
    if not RECORDING:
        for key in _KEYS:
            info.pop(key, None)
        return
    if not any(key in info for key in _KEYS) and not (session.new or session.dirty or session.deleted):
        return
    if session.new or session.dirty or session.deleted:
        session.flush()  # the commit would flush after this hook: collect its rows first
    record(session)


def record(session: Session) -> None:
    """Write the marks of this transaction's touched organizations (sync; inside the commit)."""
    info = session.info
    touched = info.get(_TOUCHED) or {}
    explicit = info.get(_EXPLICIT, False)
    fallback = info.get(_UNMAPPED, False) or (info.get(_CORE_DML, False) and not explicit)
    for key in _KEYS:
        info.pop(key, None)
    if not fallback and not any(touched.values()):
        return
    o = models.Organization
    paths = {p for p in touched.get("path", ()) if p.startswith("/")}
    row_paths = {p for p in touched.get("row_path", ()) if p.startswith("/")}
    organization_ids = set(touched.get("organization", ()))
    if touched.get("member"):
        # The members' organizations, and the destination of any PENDING transfer of theirs: the
        # receiving branch reads such a member's live record until the transfer is decided
        # (db.branch, the arriving sight), so an edit there must move its versions too (found by
        # a reviewer: the receiver's cached member kept the old name and phone). A transfer sent
        # concurrently locks the member row first (db.services.transfers), as the member's writes
        # do (db.services.lifecycle.lock_members, member_records): whichever commits second sees
        # the other's row here, or marks the destination itself.
        m, t = models.Member, models.Transfer
        members = sorted(touched["member"])
        for start in range(0, len(members), 5_000):  # bound parameters per statement (asyncpg: 32,767)
            chunk = members[start:start + 5_000]
            organization_ids.update(i for i in session.execute(
                select(m.organization_id).where(m.id.in_(chunk))
                .union_all(select(t.to_organization_id).where(t.member_id.in_(chunk), t.status == "PENDING",
                                                              t.to_organization_id.is_not(None)))).scalars()
                if i is not None)
    if touched.get("account"):
        organization_ids.update(session.execute(
            select(models.Account.organization_id).where(models.Account.id.in_(touched["account"]))).scalars())
    row_ids = set(touched.get("organization_row", ()))
    # A path ends with its organization's id: no need to look up what is known already.
    organization_ids -= {int(p.rstrip("/").rsplit("/", 1)[-1]) for p in paths}
    row_ids -= {int(p.rstrip("/").rsplit("/", 1)[-1]) for p in row_paths}
    row_paths |= {p for p in touched.get("former_row_path", ()) if p.startswith("/")}
    if organization_ids or row_ids:
        # FOR KEY SHARE: a move rewrites the path of every organization below the one it moves
        # (a key update, path is unique), so it waits for this write to commit, or this read
        # waits for the move and reads the new path. Without the lock a move committing between
        # this read and the commit would leave the marks on the old chain, while readers of the
        # new parent already see the moved rows (tests/test_response_cache_review.py). KEY SHARE
        # only (read=True): `key_share=True` alone is FOR NO KEY UPDATE, which every count UPDATE of
        # those rows waits for, and an acceptance (the sender's count, then the receiver's)
        # deadlocked with a member write marking both ends in id order (a reviewer,
        # tests/test_review_cache_sight.py).
        for i, path in session.execute(select(o.id, o.path).where(o.id.in_(organization_ids | row_ids))
                                       .order_by(o.id).with_for_update(read=True, key_share=True)):
            (row_paths if i in row_ids else paths).add(path)
            if i in row_ids and i in organization_ids:
                paths.add(path)
    if fallback:
        fallbacks.append(", ".join(sorted(paths | row_paths)) or "(nothing mapped)")
        del fallbacks[:-20]
        row_paths.update(session.execute(select(o.path).where(o.parent_id.is_(None))).scalars())
    own: dict[int, int] = {}
    for path, is_row in chain(((p, 0) for p in paths), ((p, 1) for p in row_paths)):
        ids = ancestor_ids(path)
        for i in ids[:-1]:
            own.setdefault(i, 0)
        own[ids[-1]] = max(own.get(ids[-1], 0), is_row)
    if not own:
        return
    session.execute(insert(models.BranchChange), [{"organization_id": i, "own": v} for i, v in own.items()])
    info[FOLD_DUE] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    for key in _KEYS:
        session.info.pop(key, None)


# ------------------------------------------------------------------ reading a version

_o = models.Organization.__table__.alias("version_organization")
_c = models.BranchChange.__table__
# The version as one SQL expression, with bound parameters `anchor` (the organization's id) and
# `chain` / `chain2` (its ancestor ids, itself included): see version_parameters().
VERSION = (
    select(func.coalesce(func.sum(case((_o.c.id == bindparam("anchor"), _o.c.subtree_changes),
                                       else_=_o.c.own_changes)), 0))
    .where(_o.c.id.in_(bindparam("chain", expanding=True))).scalar_subquery()
    + select(func.count()).select_from(_c)
    .where(or_(_c.c.organization_id == bindparam("anchor"),
               and_(_c.c.organization_id.in_(bindparam("chain2", expanding=True)), _c.c.own == 1)))
    .scalar_subquery())
_VERSION = select(VERSION)


def version_parameters(path: str) -> dict:
    chain_ids = ancestor_ids(path)
    return {"anchor": chain_ids[-1], "chain": chain_ids, "chain2": chain_ids}


async def branch_version(session, path: str) -> int:
    """The data version of the branch anchored at the organization with this path (one
    statement, so it sees one snapshot even while a fold moves rows into the counters)."""
    return int((await session.execute(_VERSION, version_parameters(path))).scalar_one())


async def fold_branch_changes(session) -> None:
    """Move the pending marks into the counters (inside the fold's write transaction)."""
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy import text
        await session.execute(text(
            "WITH gone AS (DELETE FROM branch_change RETURNING organization_id, own), "
            "sums AS (SELECT organization_id, count(*) AS n, sum(own) AS s FROM gone GROUP BY organization_id) "
            "UPDATE organization SET subtree_changes = organization.subtree_changes + sums.n, "
            "own_changes = organization.own_changes + sums.s "
            "FROM sums WHERE organization.id = sums.organization_id"))
        return
    from sqlalchemy import delete, update
    c = models.BranchChange
    o = models.Organization
    n = select(func.count(c.id)).where(c.organization_id == o.id).scalar_subquery()
    s = select(func.coalesce(func.sum(c.own), 0)).where(c.organization_id == o.id).scalar_subquery()
    await session.execute(
        update(o).where(o.id.in_(select(c.organization_id)))
        .values(subtree_changes=o.subtree_changes + n, own_changes=o.own_changes + s)
        .execution_options(synchronize_session=False, **{UNTRACKED: True}))
    await session.execute(delete(c))
