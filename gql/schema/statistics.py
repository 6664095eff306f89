"""Statistics (统计): crossTab with drill-through, saved tables (统计表格)."""
from __future__ import annotations

import datetime as dt
from enum import Enum
from types import SimpleNamespace

import strawberry
from strawberry import Private

from db import models
from db.services.statistics import Table
from gql.auth.directives import Role, auth
from gql.auth.errors import BadUserInput
from gql.ids import to_global_id
from gql.resolvers import statistics as resolvers
from gql.schema.account import Account
from gql.schema.base import Connection, Node, Scope, UserError, connection, plain_input
from gql.schema.member import Member, MemberFilter
from gql.schema.organization import Organization


@strawberry.enum
class StatSubject(Enum):
    MEMBERS = "MEMBERS"
    ORGANIZATIONS = "ORGANIZATIONS"


@strawberry.enum(description=(
    "A dimension to group by. For MEMBERS: every one but ORG_TYPE. For ORGANIZATIONS: CHILD_ORGANIZATION,\n"
    "ORG_TYPE, LEVEL. CHILD_ORGANIZATION groups by the direct child of the scope organization that holds the row.\n\n"
    "Keys and order of the values (rows and columns list every value that occurs, then 未填 with key NONE):\n"
    "coded values (ETHNICITY, EDUCATION, JOB_POSITION, TECHNICAL_TITLE) keyed by code in code-table order;\n"
    "GENDER, CATEGORY, AFFILIATION, STATUS, ORG_TYPE keyed by the enum value in the enum's order; HAS_ACCOUNT\n"
    "YES (是) then NO (否); bands youngest first; JOIN_YEAR (key '2010') and LEVEL (the depth, '0' at the\n"
    "root) ascending; CHILD_ORGANIZATION keyed by the organization's id, the scope organization itself first\n"
    "(members held directly, labelled 本级), then its children by code. Organizations count when ACTIVE."))
class Dimension(Enum):
    CHILD_ORGANIZATION = "CHILD_ORGANIZATION"
    ORG_TYPE = "ORG_TYPE"
    LEVEL = "LEVEL"
    GENDER = "GENDER"
    ETHNICITY = "ETHNICITY"
    EDUCATION = "EDUCATION"
    AGE_BAND = strawberry.enum_value("AGE_BAND", description="Age at the as-of date in bands: ≤30, 31–35, 36–40, 41–45, 46–50, 51–55, 56–60, 61–70, ≥71.")
    PARTY_AGE_BAND = strawberry.enum_value("PARTY_AGE_BAND", description="党龄 (years since joinedOn) in bands: <5, 5–9, 10–19, 20–29, 30–39, 40–49, ≥50.")
    JOIN_YEAR = "JOIN_YEAR"
    CATEGORY = "CATEGORY"
    AFFILIATION = "AFFILIATION"
    STATUS = "STATUS"
    JOB_POSITION = "JOB_POSITION"
    TECHNICAL_TITLE = "TECHNICAL_TITLE"
    HAS_ACCOUNT = "HAS_ACCOUNT"


@plain_input
@strawberry.input(description=(
    "交叉统计: counts by one or two dimensions over the scope, as of a date (default today).\n\n"
    "Members are counted as memberCount counts them with the same filter (default statuses included);\n"
    "the input's `scope` decides, the filter's own `scope` is not used. A filter is refused for\n"
    "ORGANIZATIONS, as are a dimension the subject does not have and the same dimension twice\n"
    "(BAD_USER_INPUT). An organization that is absent or outside the caller's branch is NOT_FOUND."))
class CrossTabInput:
    subject: StatSubject = StatSubject.MEMBERS
    organization_id: strawberry.ID
    scope: Scope = Scope.SUBTREE
    rows: Dimension
    columns: Dimension | None = None
    filter: MemberFilter | None = None
    as_of: dt.date | None = strawberry.field(default=None, description=(
        "Count the scope as it stood at the end of this date (e.g. 12-31 for the annual report): each\n"
        "member's organization, category and status from the dated history, ages and 党龄 at that date.\n"
        "Default today. MEMBERS: the members placed that day in an organization of the scope, with their\n"
        "category and status of that day. The tree is the one of that day too, from the organizations'\n"
        "dated parents (organization moves): SUBTREE is the organization and its descendants at the end of\n"
        "that day, CHILD_ORGANIZATION the direct child that held the member's organization that day (labels\n"
        "are today's names); an organization moved into the scope since counts from its move on, one moved\n"
        "out counts until it. Only the organizations of that tree that the caller's branch held that day or\n"
        "holds today are counted (memberBalance's ends likewise). 党龄 and JOIN_YEAR count joinedOn only\n"
        "once reached; LEVEL (an organization's\n"
        "depth) and the other attributes (gender, education, ...) are today's. ORGANIZATIONS: as they are\n"
        "today. A date after today or before 1900-01-01 is BAD_USER_INPUT."))


@strawberry.type
class DimensionValue:
    key: str
    label: str


@strawberry.type
class CrossTab:
    rows: list[DimensionValue]
    columns: list[DimensionValue] = strawberry.field(description="A single column keyed 'total' when no column dimension was asked for.")
    cells: list[list[int]] = strawberry.field(description="cells[i][j] counts rows[i] × columns[j].")
    row_totals: list[int]
    column_totals: list[int]
    total: int
    table: Private[Table]
    keys: Private[dict[str, str]]  # exposed key → the service's key

    @classmethod
    def from_table(cls, table: Table) -> "CrossTab":
        keys: dict[str, str] = {}

        def exposed(values):
            out = []
            for v in values:
                key = to_global_id("Organization", v.organization_id) if v.organization_id is not None else v.key
                keys[key] = v.key
                out.append(DimensionValue(key=key, label=v.label))
            return out

        return cls(rows=exposed(table.rows), columns=exposed(table.columns), cells=table.cells,
                   row_totals=table.row_totals, column_totals=table.column_totals, total=table.total,
                   table=table, keys=keys)

    @strawberry.field(description=(
        "Drill-through (穿透查询): the members counted in one cell, or in a whole row when `column` is\n"
        "omitted; keys are those of `rows` and `columns`. totalCount equals that cell. MEMBERS only.\n"
        "In tree order, keyset-paged like every member list; a key that is not a row or column of this\n"
        "table is BAD_USER_INPUT. As of a past date every member counted is listed, with `organization` the\n"
        "one of that day (in the scope); one since transferred out of the caller's branch as the letter of\n"
        "that transfer shows it (see Member: nothing of the record the other branch keeps now). Except a\n"
        "member gone from the caller's branch without such a transfer (only the history moves one so), and\n"
        "a member counted through an organization that is outside the caller's branch now (moved\n"
        "out since: its CHILD_ORGANIZATION row is labelled （已划出本级管辖的党组织）) or was outside it that\n"
        "day (moved in since) and the member is not in the caller's branch today: counted, not listed, so\n"
        "totalCount is then less than the cell (neither the organization nor such a member exists for the\n"
        "caller; memberBalance's lines do the same)."))
    async def members(self, info: strawberry.Info, row: str, column: str | None = None, first: int | None = None,
                      after: str | None = None) -> Connection[Member]:
        row_key = self.keys.get(row) if row in {v.key for v in self.rows} else None
        column_key = None
        if column is not None:
            column_key = self.keys.get(column) if column in {v.key for v in self.columns} else None
            if column_key is None:
                raise BadUserInput(f"列 {column!r} 不是这张表的列")
        if row_key is None:
            raise BadUserInput(f"行 {row!r} 不是这张表的行")
        page, count = await resolvers.drill_through(info, self.table, row_key, column_key, first, after)
        return connection(_listed(page.rows), page.cursors, page.has_next_page, count)


@strawberry.type(description="A saved statistics table (统计表格), rerun on demand and exported.",
                 directives=[auth(Role.VIEWER)])
class StatDefinition(Node):
    id: strawberry.ID
    name: str
    subject: StatSubject
    scope: Scope
    rows: Dimension
    columns: Dimension | None
    created_at: dt.datetime
    pk: Private[int]
    scope_path: Private[str]
    row: Private[models.StatDefinition]

    @classmethod
    def from_row(cls, row: tuple[models.StatDefinition, str] | None) -> "StatDefinition | None":
        """From a (definition, its organization's path) pair."""
        if row is None:
            return None
        d, path = row
        return cls(id=strawberry.ID(to_global_id("StatDefinition", d.id)), name=d.name,
                   subject=StatSubject(d.subject), scope=Scope(d.scope), rows=Dimension(d.rows),
                   columns=Dimension(d.columns) if d.columns else None, created_at=d.created_at,
                   pk=d.id, scope_path=path, row=d)

    @strawberry.field
    async def organization(self, info: strawberry.Info) -> Organization:
        return Organization.from_row(await info.context.loaders.organization.load(self.row.organization_id))

    @strawberry.field(description="Who saved it. Readable, as every Account, by an ADMIN of a branch holding it or by the owner itself.")
    async def owner(self, info: strawberry.Info) -> Account:
        return Account.from_row(await resolvers.owner(info, self.row.owner_account_id))

    @strawberry.field(description="The table computed now (or as of `asOf`, as CrossTabInput.asOf), with the saved filter.")
    async def result(self, info: strawberry.Info, as_of: dt.date | None = None) -> CrossTab:
        return CrossTab.from_table(await resolvers.result(info, self.row, as_of))


@strawberry.input
class SaveStatDefinitionInput:
    name: str
    cross_tab: CrossTabInput = strawberry.field(description="The table to save; its asOf is not kept (result(asOf:) chooses the date).")


@strawberry.input
class DeleteStatDefinitionInput:
    definition_id: strawberry.ID


@strawberry.type
class StatDefinitionPayload:
    definition: StatDefinition | None
    user_errors: list[UserError]


# ------------------------------------------------------------------ member balance (党员增减)


@strawberry.enum(description="What moved a scope's membership (党员增减) over a period.")
class BalanceKind(Enum):
    ADMITTED = strawberry.enum_value("ADMITTED", description=(
        "发展党员: admitted as PROBATIONARY in the period: in the scope at the start but not yet PROBATIONARY or FULL,\n"
        "or first placed in the period with a placement starting on or before joinedOn (entered with joinedOn as `since`)."))
    RECORDED = strawberry.enum_value("RECORDED", description=(
        "首次录入: a member first recorded in the system (补录), not an admission: first placed in the period, the\n"
        "placement starting after the member's joinedOn."))
    TRANSFERRED_IN = strawberry.enum_value("TRANSFERRED_IN", description=(
        "转入: placed into the scope from outside it (a transfer, or an organization moved in): at the start placed\n"
        "outside the scope (or nowhere, though placed before), or in it with a status not counted (e.g. TRANSFERRED_OUT)."))
    RESTORED = strawberry.enum_value("RESTORED", description="恢复党籍: suspended at the start, counted at the end.")
    DIED = strawberry.enum_value("DIED", description="死亡: LEFT at the end, the latest leaving record on or before `to` a death (去世).")
    LEFT_PARTY = strawberry.enum_value("LEFT_PARTY", description=(
        "出党: withdrawal, removal, expulsion, probation cancelled: LEFT at the end, by another leaving record."))
    SUSPENDED = strawberry.enum_value("SUSPENDED", description="停止党籍: in the scope at the end but suspended.")
    TRANSFERRED_OUT = strawberry.enum_value("TRANSFERRED_OUT", description=(
        "转出: placed outside the scope (a transfer, out of the system, or an organization moved out): at the end placed\n"
        "outside the scope or nowhere, or in it with a status not counted (TRANSFERRED_OUT, ...)."))


@strawberry.type
class BalanceLine:
    kind: BalanceKind
    label: str
    count: int
    balance: Private[object]

    @strawberry.field(description=(
        "The members behind this line, each with `organization` the one that placed it in the scope (an increase:\n"
        "at the end of `to`; a decrease: at the start of `from`), in tree order of those. A member since transferred\n"
        "out of the caller's branch is listed so, as the letter of that transfer shows it (see Member); totalCount\n"
        "equals count, except that a member gone from the caller's branch without such a transfer (only the history\n"
        "moves one so), and a member counted through an\n"
        "organization since moved out of the caller's branch, or through one that was outside it that day (moved in\n"
        "since) when the member is not in the caller's branch today, is counted, not listed (that organization, or\n"
        "that member, does not exist for the caller)."))
    async def members(self, info: strawberry.Info, first: int | None = None,
                      after: str | None = None) -> Connection[Member]:
        page, count = await resolvers.balance_line(info, self.balance, self.kind.value, first, after)
        return connection(_listed(page.rows), page.cursors, page.has_next_page, count)


@strawberry.type(description=(
    "党员增减情况: party members (PROBATIONARY and FULL, not LEFT, SUSPENDED or TRANSFERRED_OUT) of a\n"
    "scope at the start of `from` and at the end of `to`, and every change between, from the dated\n"
    "history: start + sum(increases) - sum(decreases) = end, always.\n\n"
    "Counted at the end of a day: placed that day in an organization of the scope (SUBTREE: the tree of that day),\n"
    "PROBATIONARY or FULL that day, a counted status that day (ACTIVE, FLOWING_OUT, TRANSFERRING), not suspended\n"
    "(停止党籍) that day. The lines are net per member: each member counted at one end only is one line, of the first\n"
    "kind whose rule applies (increases: ADMITTED/RECORDED for a first placement in the period, TRANSFERRED_IN,\n"
    "ADMITTED, RESTORED, TRANSFERRED_IN; decreases: TRANSFERRED_OUT, DIED/LEFT_PARTY, SUSPENDED, TRANSFERRED_OUT);\n"
    "moves within the period that cancel out are no line. Every kind is listed, in the enum's order, count 0\n"
    "included. An organization moved into or out of the scope in the period carries its members in or out."))
class MemberBalance:
    from_: dt.date = strawberry.field(name="from")
    to: dt.date
    start: int
    increases: list[BalanceLine]
    decreases: list[BalanceLine]
    end: int


def member_balance_of(result, start: dt.date, end: dt.date, subtree: bool) -> MemberBalance:
    from db.services.balance import DECREASES, INCREASES

    organization, first, kinds, last = result
    key = (organization, subtree, start, end)

    def lines(labels):
        return [BalanceLine(kind=BalanceKind(k), label=label, count=kinds.get(k, 0), balance=key)
                for k, label in labels.items()]

    return MemberBalance(from_=start, to=end, start=first, increases=lines(INCREASES), decreases=lines(DECREASES),
                         end=last)


def _listed(rows) -> list[Member]:
    """Members listed as of a day, each with its organization of that day (in the caller's branch):
    one in the caller's branch today from its record; one gone from it since, as the letter of the
    transfer that took it out shows it (db.services.balance.with_letters; the letter reach)."""
    nodes = []
    for member, path, organization_id, letter in rows:
        if letter is None:
            node = Member.from_row((member, path))
            node.organization_pk = organization_id
        else:
            node = Member.from_letter(SimpleNamespace(transfer=letter, sight_organization_id=organization_id,
                                                      sight_path=path))
        nodes.append(node)
    return nodes
