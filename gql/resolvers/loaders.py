"""Per-request DataLoaders: every nested list or object field batches through one of these, so a
query costs a number of statements that depends on its shape, not on the rows it returns.

All of them read through db.branch, so an id outside the caller's branch loads as None.

Organizations come with their plain member counts (issue 7). Every statement that loads
organizations (by code, by id, children) selects the subtree count too (the folded column plus the
organization's pending deltas: an index-only probe per row), and the row already holds the direct
count; `member_count()` answers an unfiltered `memberCount` / `totalCount` of an organization
loaded in this request from those, with no statement of its own. The values are the ones
count_by_anchor's plain branches would read, in the same read transaction (one snapshot), so the
answers are identical; a filtered count, or a self-only (MEMBER) branch, still goes through the
`member_count_loader`. W1 (an organization, its children and the subtree count of each) went from
4 statements to 2 (7 round trips to 5 with BEGIN and ROLLBACK)."""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import bindparam

from strawberry.dataloader import DataLoader

from db import models
from db.branch import Branch, accounts, members_in_sight, organizations, staff_organizations
from db.services import members as member_service
from db.services import change_requests, flows, member_records, reads, representatives, transfers
from db.services.members import MemberQuery, subtree_count
from db.services import statistics
from gql.db import Db

# The unfiltered member queries (SELF, SUBTREE): the ones an organization's loaded row answers.
PLAIN_COUNTS = {False: MemberQuery(subtree=False), True: MemberQuery(subtree=True)}
# The plain counts of the organization rows a statement selects (see the module docstring).
COUNTS = (models.Organization.__table__.c.direct_member_count.label("direct_count"),
          subtree_count().label("subtree_count"))
# The hot organization statements, built once for staff branches (db.branch.staff_organizations),
# of table columns only, so that they run on SQLAlchemy's Core path (no ORM compile state).
# Organizations are read as Core rows of the table's columns (attribute access by the models'
# names) and the two counts: they are only read (gql.schema's from_row, Leadership.of), and ORM
# loading of W1's 23 organizations (identity map, instance state) was ~8% of its CPU (py-spy).
_O = models.Organization.__table__.c
ORGANIZATION_COLUMNS = (*models.Organization.__table__.c, *COUNTS)
ORGANIZATION_BY_CODE = staff_organizations(*ORGANIZATION_COLUMNS).where(_O.code == bindparam("code"))
ORGANIZATIONS_BY_ID = staff_organizations(*ORGANIZATION_COLUMNS).where(_O.id.in_(bindparam("ids", expanding=True)))
CHILDREN = (staff_organizations(*ORGANIZATION_COLUMNS).where(_O.parent_id.in_(bindparam("ids", expanding=True)))
            .order_by(_O.code))


# Loader attribute → its batch function.
_BATCH_FUNCTIONS = {
    "organization": "_organizations", "member": "_members", "account": "_accounts",
    "account_by_member": "_accounts_by_member", "children": "_children", "member_page": "_member_pages",
    "member_count_loader": "_member_counts", "open_positions": "_open_positions", "position": "_positions",
    "history": "_history", "difficulty": "_difficulties", "member_difficulties": "_member_difficulties",
    "difficulty_page": "_difficulty_pages", "record": "_records", "record_page": "_record_pages",
    "difficulty_count": "_difficulty_counts", "descendant_page": "_descendant_pages",
    "descendant_count": "_descendant_counts", "record_count": "_record_counts",
    "member_record": "_member_records", "member_record_page": "_member_record_pages",
    "member_record_count": "_member_record_counts", "status_change": "_status_changes",
    "member_status_changes": "_member_status_changes",
    "stat_definition": "_stat_definitions", "change_request": "_change_requests",
    "audit_entry": "_audit_entries", "transfer": "_transfers", "member_transfers": "_member_transfers",
    "flow": "_flows", "member_flows": "_member_flows", "representative_term": "_representative_terms",
    "member_representative_terms": "_member_representative_terms", "volunteer": "_volunteers",
    "member_volunteer": "_member_volunteers",
}


class Loaders:
    def __init__(self, db: Db, branch: Branch | None, own_account_id: int | None = None,
                 sees_accounts: bool = False):
        self.db = db
        self.branch = branch
        # Below ADMIN an account reaches no account but its own.
        self.own_account_id = own_account_id
        self.sees_accounts = sees_accounts
        # (organization id, subtree) → the plain member count read with the organization's row.
        self.known_counts: dict[tuple[int, bool], int] = {}
        # Organization id → its row, read in this request in the caller's branch (see known_organization).
        self.known_organizations: dict[int, object] = {}
        # (type name, id) → the GraphQL object made of a row (see memo).
        self.objects: dict[tuple[str, int], object] = {}

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
        self.known_counts.clear()
        self.known_organizations.clear()
        self.objects.clear()
        for name in _BATCH_FUNCTIONS:
            loader = self.__dict__.get(name)
            if loader is not None:
                loader.clear_all()

    def _counted(self, rows) -> list:
        """Organization rows (the table's columns, direct_count, subtree_count), their plain
        counts remembered."""
        found = list(rows)
        organizations_ = self.known_organizations
        for org in found:
            organizations_[org.id] = org
        if not self.branch.is_self_only:  # a MEMBER's counts are filtered to its own record
            known = self.known_counts
            for org in found:
                known[(org.id, False)] = int(org.direct_count or 0)
                known[(org.id, True)] = int(org.subtree_count or 0)
        return found

    def known_organization(self, organization_id: int):
        """The organization's row if this request has read it in the caller's branch (by code, id,
        as a child, or as the organization of a member in a page), else None: a resolver can then
        answer without awaiting the `organization` loader (W2: 50 members' `organization`)."""
        return self.known_organizations.get(organization_id)

    def memo(self, key: tuple[str, int], make):
        """The GraphQL object for `key`, made once per request (and again after a write): 50
        members of a page share a handful of organizations."""
        found = self.objects.get(key)
        if found is None:
            found = self.objects[key] = make()
        return found

    async def _organization_rows(self, prebuilt, params: dict, condition, by_code_order: bool = False):
        """Organization rows (ORGANIZATION_COLUMNS): the statement built once for a staff
        branch, or one built now for a self-only branch (`condition()` on `organizations()`)."""
        if self.branch.is_self_only:
            stmt = organizations(self.branch).with_only_columns(*ORGANIZATION_COLUMNS).where(condition())
            if by_code_order:
                stmt = stmt.order_by(models.Organization.code)
            return await self.db.read(lambda s: s.execute(stmt))
        params = {**params, **self.branch.bounds()}
        return await self.db.read(lambda s: s.execute(prebuilt, params))

    def member_count(self, organization_id: int, query: MemberQuery):
        """The organization's member count under `query`: an int when its row answered it (see
        the module docstring), else an awaitable from the `member_count_loader`."""
        if query == PLAIN_COUNTS[query.subtree]:
            known = self.known_counts.get((organization_id, query.subtree))
            if known is not None:
                return known
        return self.member_count_loader.load((organization_id, query))

    async def organization_by_code(self, code: str) -> models.Organization | None:
        if self.branch is None:
            return None
        found = self._counted(await self._organization_rows(
            ORGANIZATION_BY_CODE, {"code": code}, lambda: models.Organization.code == code))
        return found[0] if found else None

    async def _organizations(self, ids: list[int]):
        if self.branch is None:
            return [None] * len(ids)
        rows = await self._organization_rows(ORGANIZATIONS_BY_ID, {"ids": ids},
                                             lambda: models.Organization.id.in_(ids))
        found = {o.id: o for o in self._counted(rows)}
        return [found.get(i) for i in ids]

    async def _members(self, ids: list[int]):
        """(member, the path it is reached through) pairs: its organization's, or for a member a
        pending transfer brings into the branch, the receiving organization's (db.branch.in_sight)."""
        if self.branch is None:
            return [None] * len(ids)
        stmt = members_in_sight(self.branch).where(models.Member.id.in_(ids))
        found = {m.id: (m, p) for m, p in await self.db.read(lambda s: s.execute(stmt))}
        return [found.get(i) for i in ids]

    async def _audit_entries(self, ids: list[int]):
        """(entry, its organization's path) pairs; `node` of an AuditEntry id. Never cached."""
        from db.services import audit

        if self.branch is None:
            return [None] * len(ids)
        found = await self.db.read(lambda s: audit.by_ids(s, self.branch, ids))
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
        rows = await self._organization_rows(CHILDREN, {"ids": parent_ids},
                                             lambda: models.Organization.parent_id.in_(parent_ids), True)
        by_parent: dict[int, list] = defaultdict(list)
        for org in self._counted(rows):
            by_parent[org.parent_id].append(org)
        return [[o for o in by_parent[p] if include or o.status == "ACTIVE"] for p, include in keys]

    async def _member_pages(self, keys: list[tuple]):
        """Key: (organization id, MemberQuery, MemberOrder, first, after). The members'
        organizations come with the rows (member_service.organization_of) and are remembered for
        a staff branch, whose pages lie inside it (a MEMBER's page is its own record: its
        organization loads as before)."""
        pages = await self._grouped(keys, member_service.page_by_anchor)
        if not self.branch.is_self_only:
            known = self.known_organizations
            for page in pages:
                for member, _path in page.rows:
                    if member.organization_id not in known:
                        known[member.organization_id] = member_service.organization_of(member)
        return pages

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

    # ------------------------------------------------ a member's records and status changes

    async def _member_records(self, ids):
        return await self._read_batch(member_records.records_by_id, ids, lambda: None)

    async def _member_record_pages(self, keys):
        """Key: (member id, kind, first, after)."""
        return await self._grouped(keys, member_records.record_pages)

    async def _member_record_counts(self, keys):
        """Key: (member id, kind)."""
        return await self._grouped(keys, member_records.count_records, 0)

    async def _transfers(self, ids):
        return await self._read_batch(transfers.views_by_id, ids, lambda: None)

    async def _member_transfers(self, member_ids):
        return await self._read_batch(transfers.views_of_members, member_ids, list)

    async def _status_changes(self, ids):
        return await self._read_batch(member_records.status_changes_by_id, ids, lambda: None)

    async def _member_status_changes(self, member_ids):
        return await self._read_batch(member_records.status_changes_of_members, member_ids, list)

    async def _change_requests(self, ids):
        """(request, its member's organization's path) pairs."""
        return await self._read_batch(change_requests.by_id, ids, lambda: None)

    # ------------------------------------------------ flows, representative seats, volunteers

    async def _flows(self, ids):
        return await self._read_batch(flows.flows_by_id, ids, lambda: None)

    async def _member_flows(self, member_ids):
        return await self._read_batch(flows.flows_of_members, member_ids, list)

    async def _representative_terms(self, ids):
        return await self._read_batch(representatives.terms_by_id, ids, lambda: None)

    async def _member_representative_terms(self, member_ids):
        return await self._read_batch(representatives.terms_of_members, member_ids, list)

    async def _volunteers(self, ids):
        return await self._read_batch(representatives.volunteers_by_id, ids, lambda: None)

    async def _member_volunteers(self, member_ids):
        return await self._read_batch(representatives.volunteer_of_members, member_ids, lambda: None)
