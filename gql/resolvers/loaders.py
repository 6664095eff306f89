"""Per-request DataLoaders: every nested list or object field batches through one of these, so a
query costs a number of statements that depends on its shape, not on the rows it returns.

All of them read through db.branch, so an id outside the caller's branch loads as None."""
from __future__ import annotations

from collections import defaultdict

from strawberry.dataloader import DataLoader

from db import models
from db.branch import Branch, accounts, members, organizations
from db.services import members as member_service
from db.services import reads
from db.services import statistics
from gql.db import Db


# Loader attribute → its batch function.
_BATCH_FUNCTIONS = {
    "organization": "_organizations", "member": "_members", "account": "_accounts",
    "account_by_member": "_accounts_by_member", "children": "_children", "member_page": "_member_pages",
    "member_count": "_member_counts", "open_positions": "_open_positions", "position": "_positions",
    "history": "_history", "difficulty": "_difficulties", "member_difficulties": "_member_difficulties",
    "difficulty_page": "_difficulty_pages", "record": "_records", "record_page": "_record_pages",
    "difficulty_count": "_difficulty_counts", "descendant_page": "_descendant_pages",
    "descendant_count": "_descendant_counts", "record_count": "_record_counts",
    "stat_definition": "_stat_definitions",
}


class Loaders:
    def __init__(self, db: Db, branch: Branch | None, own_account_id: int | None = None,
                 sees_accounts: bool = False):
        self.db = db
        self.branch = branch
        # Below ADMIN an account reaches no account but its own.
        self.own_account_id = own_account_id
        self.sees_accounts = sees_accounts

    def __getattr__(self, name: str) -> DataLoader:
        """A loader is made on its first use: a request touches 2 or 3 of the 19, and making all
        of them for every request (twice when it signs in) was 2% of the server's CPU on W1."""
        batch = _BATCH_FUNCTIONS.get(name)
        if batch is None:
            raise AttributeError(name)
        loader = DataLoader(getattr(self, batch))
        setattr(self, name, loader)  # later uses find it in the instance dict
        return loader

    def clear_all(self) -> None:
        for name in _BATCH_FUNCTIONS:
            loader = self.__dict__.get(name)
            if loader is not None:
                loader.clear_all()

    async def _organizations(self, ids: list[int]):
        if self.branch is None:
            return [None] * len(ids)
        stmt = organizations(self.branch).where(models.Organization.id.in_(ids))
        found = {o.id: o for o in (await self.db.read(lambda s: s.execute(stmt))).scalars()}
        return [found.get(i) for i in ids]

    async def _members(self, ids: list[int]):
        """(member, its organization's path) pairs."""
        if self.branch is None:
            return [None] * len(ids)
        stmt = members(self.branch, models.Member, models.Organization.path).where(models.Member.id.in_(ids))
        found = {m.id: (m, p) for m, p in await self.db.read(lambda s: s.execute(stmt))}
        return [found.get(i) for i in ids]

    def _visible_accounts(self):
        stmt = accounts(self.branch).add_columns(models.Organization.path)
        if not self.sees_accounts:
            stmt = stmt.where(models.Account.id == self.own_account_id)
        return stmt

    async def _accounts(self, ids: list[int]):
        if self.branch is None:
            return [None] * len(ids)
        stmt = self._visible_accounts().where(models.Account.id.in_(ids))
        found = {a.id: (a, p) for a, p in await self.db.read(lambda s: s.execute(stmt))}
        return [found.get(i) for i in ids]

    async def _accounts_by_member(self, member_ids: list[int]):
        if self.branch is None:
            return [None] * len(member_ids)
        stmt = self._visible_accounts().where(models.Account.member_id.in_(member_ids))
        found = {a.member_id: (a, p) for a, p in await self.db.read(lambda s: s.execute(stmt))}
        return [found.get(i) for i in member_ids]

    async def _children(self, keys: list[tuple[int, bool]]):
        """Key: (parent id, include revoked)."""
        if self.branch is None:
            return [[] for _ in keys]
        parent_ids = sorted({k[0] for k in keys})
        stmt = (organizations(self.branch)
                .where(models.Organization.parent_id.in_(parent_ids))
                .order_by(models.Organization.code))
        by_parent: dict[int, list] = defaultdict(list)
        for org in (await self.db.read(lambda s: s.execute(stmt))).scalars():
            by_parent[org.parent_id].append(org)
        return [[o for o in by_parent[p] if include or o.status == "ACTIVE"] for p, include in keys]

    async def _member_pages(self, keys: list[tuple]):
        """Key: (organization id, MemberQuery, MemberOrder, first, after)."""
        return await self._grouped(keys, member_service.page_by_anchor)

    async def _member_counts(self, keys: list[tuple]):
        """Key: (organization id, MemberQuery)."""
        return await self._grouped(keys, member_service.count_by_anchor, 0)

    # ------------------------------------------------ the organization's affairs

    async def _read_batch(self, read, keys, empty):
        """Run `read(session, branch, keys)` → {key: value} and answer in key order."""
        if self.branch is None:
            return [empty() for _ in keys]
        found = await self.db.read(lambda s: read(s, self.branch, keys))
        return [found.get(k, empty()) for k in keys]

    async def _open_positions(self, org_ids):
        return await self._read_batch(reads.open_positions, org_ids, list)

    async def _positions(self, ids):
        return await self._read_batch(reads.positions_by_id, ids, lambda: None)

    async def _history(self, org_ids):
        return await self._read_batch(reads.events, org_ids, list)

    async def _stat_definitions(self, ids):
        """(definition, its organization's path) pairs."""
        return await self._read_batch(statistics.definitions_by_id, ids, lambda: None)

    async def _difficulties(self, ids):
        return await self._read_batch(reads.difficulties_by_id, ids, lambda: None)

    async def _member_difficulties(self, member_ids):
        return await self._read_batch(reads.difficulties_of_members, member_ids, list)

    async def _grouped(self, keys, read, missing=None):
        """Keys are (organization id, *arguments); one statement per distinct arguments, which
        answers {organization id: value} for all the organizations sharing them."""
        groups: dict[tuple, list[int]] = defaultdict(list)
        for org_id, *args in keys:
            groups[tuple(args)].append(org_id)
        values = {}
        for args, org_ids in groups.items():
            result = await self.db.read(lambda s: read(s, self.branch, org_ids, *args))
            for org_id in org_ids:
                values[(org_id, *args)] = result.get(org_id, missing)
        return [values[k] for k in keys]

    async def _difficulty_counts(self, keys):
        """Key: (organization id, subtree, include revoked)."""
        return await self._grouped(keys, reads.count_difficulties, 0)

    async def _record_counts(self, keys):
        """Key: (organization id, kind)."""
        return await self._grouped(keys, reads.count_records, 0)

    async def _difficulty_pages(self, keys):
        """Key: (organization id, subtree, include revoked, first, after)."""
        return await self._grouped(keys, reads.difficulty_pages)

    async def _records(self, ids):
        return await self._read_batch(reads.records_by_id, ids, lambda: None)

    async def _record_pages(self, keys):
        """Key: (organization id, kind, first, after)."""
        return await self._grouped(keys, reads.record_pages)

    async def _descendant_pages(self, keys):
        """Key: (organization id, criteria, first, after)."""
        return await self._grouped(keys, reads.descendant_pages)

    async def _descendant_counts(self, keys):
        """Key: (organization id, criteria)."""
        return await self._grouped(keys, reads.count_descendants, 0)
