"""Members through GraphQL: entry with validation (createMember) and the member lists
(Organization.members, Query.members): filters, ordering, keyset paging, totalCount."""
from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
from dataclasses import dataclass

import pytest

from db import clock
from db.services import members as member_service
from db import idnumber, models
from db.engine import make_sessionmaker
from gql.ids import from_global_id, to_global_id
from tests.conftest import error_codes, gid
from tests.factories import make_member, make_org

ALL_STATUSES = ["PENDING_APPROVAL", "REJECTED", "ACTIVE", "FLOWING_OUT", "TRANSFERRING", "TRANSFERRED_OUT", "LEFT"]
DEFAULT_STATUSES = {"ACTIVE", "FLOWING_OUT", "TRANSFERRING"}
_sequence = itertools.count(1)


def id_number(birth: dt.date, female: bool = False, region: str = "110105") -> str:
    """A valid number, unique in this module (another region than tests.factories uses)."""
    n = next(_sequence) % 500
    return idnumber.make(region, birth, n * 2 if female else n * 2 + 1)


def id_number_ending_in_x(birth: dt.date = dt.date(1980, 1, 1)) -> str:
    for seq in range(1, 1000, 2):
        number = idnumber.make("110106", birth, seq)
        if number.endswith("X"):
            return number
    raise AssertionError("no check digit X")


def with_wrong_check_digit(number: str) -> str:
    last = number[-1]
    return number[:-1] + ("0" if last != "0" else "1")


def years_ago(years: int, today: dt.date | None = None) -> dt.date:
    today = today or clock.today()
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def cursor(values: list) -> str:
    """A hand-made cursor in the old format (base64 of plain JSON): to the server, a forgery.
    Real cursors are sealed (db.pagination; tests/test_cursors.py)."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


CREATE = """
mutation($input: CreateMemberInput!) {
  createMember(input: $input) {
    member {
      id name idNumber gender birthDate status category affiliation reviewNote joinedOn
      education { code label } ethnicity { code label } organization { code }
    }
    userErrors { field message code }
  }
}"""

COUNT_ALL = """query($statuses: [MemberStatus!]) { members(filter: {statuses: $statuses}) { totalCount } }"""


async def member_total(api) -> int:
    result = await api.as_("root_admin", COUNT_ALL, {"statuses": ALL_STATUSES})
    assert "errors" not in result, result
    return result["data"]["members"]["totalCount"]


def fields(**overrides) -> dict:
    data = {"name": "新党员", "idNumber": id_number(dt.date(1990, 5, 20)), "category": "FULL",
            "appliedOn": "2010-03-01", "joinedOn": "2012-07-01", "confirmedOn": "2013-07-01", "ethnicityCode": "01"}
    data.update(overrides)
    return data


async def create(api, username, organization, **overrides):
    return await api.as_(username, CREATE, {"input": {
        "organizationId": gid("Organization", organization), "fields": fields(**overrides)}})


def payload(result) -> dict:
    assert "errors" not in result, result
    return result["data"]["createMember"]


def problems(result) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in payload(result)["userErrors"]]


# ------------------------------------------------------------------ createMember


async def test_create_takes_gender_and_birth_date_from_the_id_number(api, world):
    before = await member_total(api)
    woman = payload(await create(api, "a_operator", world.orgs["a1"], name="刘洋",
                                 idNumber=id_number(dt.date(1991, 2, 3), female=True), educationCode="21"))
    assert woman["userErrors"] == []
    m = woman["member"]
    assert (m["name"], m["gender"], m["birthDate"], m["status"], m["category"], m["affiliation"]) == (
        "刘洋", "FEMALE", "1991-02-03", "ACTIVE", "FULL", "DIRECT")
    assert m["organization"]["code"] == "001001001"
    assert m["education"] == {"code": "21", "label": "大学本科毕业"}
    assert m["ethnicity"] == {"code": "01", "label": "汉族"}

    number = id_number(dt.date(1988, 12, 31))
    man = payload(await create(api, "a_operator", world.orgs["a2"], name="孙强", idNumber=number))
    assert (man["member"]["gender"], man["member"]["birthDate"]) == ("MALE", "1988-12-31")
    assert man["member"]["idNumber"] == number

    # A lowercase check character is accepted and stored upper case.
    x_number = id_number_ending_in_x()
    with_x = payload(await create(api, "a_operator", world.orgs["a2"], name="马骁", idNumber=x_number.lower()))
    assert with_x["userErrors"] == []
    assert with_x["member"]["idNumber"] == x_number
    assert await member_total(api) == before + 3

    # Readable afterwards through the list and by ID number.
    found = await api.as_("a_admin", """query($n: String!) { member(idNumber: $n) { name gender birthDate } }""",
                          {"n": x_number})
    assert found["data"]["member"] == {"name": "马骁", "gender": "MALE", "birthDate": "1980-01-01"}


async def test_create_rejects_an_invalid_id_number(api, world):
    before = await member_total(api)
    wrong_check = with_wrong_check_digit(id_number(dt.date(1990, 5, 20)))
    future = idnumber.make("110105", clock.today() + dt.timedelta(days=1), 11)
    for bad in (wrong_check, wrong_check[:17], "110105199002301234", "11010519900520A23X", "", future,
                "１１０１０５１９９００５２０１２３４"):
        result = await create(api, "a_operator", world.orgs["a1"], idNumber=bad)
        assert payload(result)["member"] is None, bad
        assert problems(result) == [("INVALID", ["fields", "idNumber"])], (bad, result)
    assert await member_total(api) == before


async def test_create_rejects_a_duplicate_id_number_anywhere(api, world):
    before = await member_total(api)
    # b1_only is outside a_operator's branch: ID numbers are unique across the whole system.
    for existing in (world.members["a1_first"], world.members["b1_only"]):
        result = await create(api, "a_operator", world.orgs["a2"], idNumber=existing.id_number)
        assert payload(result)["member"] is None
        assert problems(result) == [("DUPLICATE", ["fields", "idNumber"])], result
    x_number = id_number_ending_in_x(dt.date(1979, 3, 4))
    assert payload(await create(api, "a_operator", world.orgs["a2"], idNumber=x_number))["userErrors"] == []
    again = await create(api, "a_operator", world.orgs["a1"], idNumber=x_number.lower())
    assert problems(again) == [("DUPLICATE", ["fields", "idNumber"])]
    assert await member_total(api) == before + 1


async def test_create_rejects_a_code_outside_its_table(api, world):
    before = await member_total(api)
    for field in ("educationCode", "ethnicityCode", "degreeCode", "jobPositionCode", "technicalTitleCode"):
        result = await create(api, "a_operator", world.orgs["a1"], **{field: "ZZ"})
        assert payload(result)["member"] is None
        assert problems(result) == [("INVALID", ["fields", field])], result
    # 99 is no ethnicity (01-56, 97, 98).
    result = await create(api, "a_operator", world.orgs["a1"], ethnicityCode="99")
    assert problems(result) == [("INVALID", ["fields", "ethnicityCode"])], result
    assert await member_total(api) == before


async def test_admission_age_rules(api, world):
    before = await member_total(api)
    birth = dt.date(2000, 6, 15)

    def admitted(joined: str, **more):
        return dict(idNumber=id_number(birth), category="PROBATIONARY", appliedOn="2017-01-01",
                    joinedOn=joined, confirmedOn=None, **more)

    # 17 years and 364 days old: cannot be admitted, with or without a note.
    for note in (None, "经上级党委审核同意"):
        result = await create(api, "a_operator", world.orgs["a1"], **admitted("2018-06-14", reviewNote=note))
        assert payload(result)["member"] is None
        assert [e["code"] for e in payload(result)["userErrors"]] == ["INVALID"], result
        assert payload(result)["userErrors"][0]["field"] == ["fields", "joinedOn"]
    # Exactly 18: needs a review note (blank does not count).
    for note in (None, "   "):
        result = await create(api, "a_operator", world.orgs["a1"], **admitted("2018-06-15", reviewNote=note))
        assert payload(result)["member"] is None
        assert problems(result) == [("INVALID", ["fields", "reviewNote"])], result
    # 18 and a half, still under 19: needs one too.
    result = await create(api, "a_operator", world.orgs["a1"], **admitted("2019-01-10"))
    assert problems(result) == [("INVALID", ["fields", "reviewNote"])], result
    assert await member_total(api) == before

    ok = payload(await create(api, "a_operator", world.orgs["a1"],
                              **admitted("2018-06-15", reviewNote="年满十八周岁，经人工审核")))
    assert ok["userErrors"] == []
    assert ok["member"]["reviewNote"] == "年满十八周岁，经人工审核"
    assert ok["member"]["joinedOn"] == "2018-06-15"
    # 19 on the day: no note needed.
    nineteen = payload(await create(api, "a_operator", world.orgs["a1"], **admitted("2019-06-15")))
    assert nineteen["userErrors"] == []
    assert await member_total(api) == before + 2


async def test_create_reports_all_problems_and_writes_nothing(api, world):
    before = await member_total(api)
    result = await create(api, "a_operator", world.orgs["a1"], name="  ", educationCode="ZZ",
                          idNumber=with_wrong_check_digit(id_number(dt.date(1990, 1, 1))))
    assert payload(result)["member"] is None
    assert sorted(tuple(f) for _, f in problems(result)) == [
        ("fields", "educationCode"), ("fields", "idNumber"), ("fields", "name")]
    assert {c for c, _ in problems(result)} == {"INVALID"}
    assert await member_total(api) == before


async def test_create_rejects_overlong_text(api, world):
    """Text longer than the record holds is the caller's mistake: INVALID on that field, never a crash
    or a silently stored value."""
    before = await member_total(api)
    for field, limit in (("name", 100), ("phone", 40), ("nativePlace", 100)):
        result = await api.as_("a_operator", CREATE, {"input": {
            "organizationId": gid("Organization", world.orgs["a1"]), "fields": fields(**{field: "长" * (limit + 1)})}})
        assert "errors" not in result, (field, result)
        assert problems(result) == [("INVALID", ["fields", field])], (field, result)
    assert await member_total(api) == before
    longest = payload(await create(api, "a_operator", world.orgs["a1"], name="长" * 100, phone="1" * 40,
                                   nativePlace="湖" * 100))
    assert longest["userErrors"] == []
    assert await member_total(api) == before + 1


async def test_create_below_operator_is_forbidden(api, world):
    before = await member_total(api)
    for username in ("a_viewer", "a1_viewer", "a1_member"):
        result = await create(api, username, world.orgs["a1"])
        assert error_codes(result) == ["FORBIDDEN"], (username, result)
    assert await member_total(api) == before


async def test_create_outside_the_branch_is_not_found(api, world):
    before = await member_total(api)
    result = await create(api, "a_operator", world.orgs["b1"])
    assert problems(result) == [("NOT_FOUND", ["organizationId"])]
    assert await member_total(api) == before


async def test_create_in_an_organization_requiring_approval_starts_pending(api, world):
    changed = await api.as_("a_admin", """mutation($id: ID!) { updateOrganization(input: {organizationId: $id,
        requiresApproval: true}) { organization { requiresApproval } userErrors { code } } }""",
                            {"id": gid("Organization", world.orgs["a1"])})
    assert changed["data"]["updateOrganization"]["organization"]["requiresApproval"] is True
    created = payload(await create(api, "a_operator", world.orgs["a1"], name="待审党员"))
    assert created["userErrors"] == []
    assert created["member"]["status"] == "PENDING_APPROVAL"
    # Not in the default lists and counts, but there when asked for.
    query = """query($s: [MemberStatus!]) { organization(code: "001001001") {
        members(filter: {statuses: $s}) { totalCount edges { node { name status } } } memberCount(filter: {statuses: $s}) } }"""
    default = (await api.as_("a_operator", query, {"s": None}))["data"]["organization"]
    assert "待审党员" not in [e["node"]["name"] for e in default["members"]["edges"]]
    assert default["members"]["totalCount"] == default["memberCount"] == 2
    pending = (await api.as_("a_operator", query, {"s": ["PENDING_APPROVAL"]}))["data"]["organization"]
    assert [e["node"] for e in pending["members"]["edges"]] == [{"name": "待审党员", "status": "PENDING_APPROVAL"}]
    assert pending["memberCount"] == 1
    # A2 requires no approval.
    other = payload(await create(api, "a_operator", world.orgs["a2"], name="直接入库"))
    assert other["member"]["status"] == "ACTIVE"


# ------------------------------------------------------------------ lists: data


@dataclass
class Person:
    name: str
    org: str
    gender: str
    birth: dt.date
    category: str = "FULL"
    affiliation: str = "DIRECT"
    status: str = "ACTIVE"
    education: str | None = None
    joined: dt.date | None = dt.date(2015, 7, 1)
    has_account: bool = False
    pk: int | None = None

    @property
    def age(self) -> int:
        today = clock.today()
        return today.year - self.birth.year - ((today.month, today.day) < (self.birth.month, self.birth.day))


# Global ids of the world's organizations, set by the `crowd` fixture.
ORG_IDS: dict[str, str] = {}
SUBTREES = {"root": {"root", "a", "b", "a1", "a2", "b1"}, "a": {"a", "a1", "a2"}, "b": {"b", "b1"},
            "a1": {"a1"}, "a2": {"a2"}, "b1": {"b1"}}


@pytest.fixture
async def crowd(world, engine) -> list[Person]:
    """The world's four members plus a varied crowd in A1, A2 and B1."""
    people = [
        Person("李明", "a1", "MALE", world.members["a1_first"].birth_date, has_account=True,
               pk=world.members["a1_first"].id, joined=dt.date(2010, 7, 1)),
        Person("王芳", "a1", "FEMALE", world.members["a1_second"].birth_date, pk=world.members["a1_second"].id,
               joined=dt.date(2010, 7, 1)),
        Person("赵刚", "a2", "MALE", world.members["a2_only"].birth_date, pk=world.members["a2_only"].id,
               joined=dt.date(2010, 7, 1)),
        Person("陈静", "b1", "FEMALE", world.members["b1_only"].birth_date, pk=world.members["b1_only"].id,
               joined=dt.date(2010, 7, 1)),
    ]
    thirty = years_ago(30)
    more = [
        Person("周申请", "a1", "MALE", dt.date(1998, 3, 3), category="APPLICANT", joined=None, education="21"),
        Person("吴积极", "a1", "FEMALE", dt.date(1997, 4, 4), category="ACTIVIST", affiliation="INFLOW",
               joined=None, education="14"),
        Person("郑预备", "a1", "MALE", dt.date(1996, 5, 5), category="PROBATIONARY", joined=dt.date(2024, 7, 1),
               education="14"),
        Person("孙流出", "a1", "MALE", dt.date(1980, 1, 1), status="FLOWING_OUT", joined=dt.date(2005, 7, 1)),
        Person("何转接", "a2", "FEMALE", dt.date(1981, 1, 1), status="TRANSFERRING", joined=dt.date(2005, 7, 1)),
        Person("钱离开", "a1", "MALE", dt.date(1970, 1, 1), status="LEFT", joined=dt.date(1995, 7, 1)),
        Person("冯转出", "a2", "MALE", dt.date(1971, 1, 1), status="TRANSFERRED_OUT", joined=dt.date(1995, 7, 1)),
        Person("待审甲", "a1", "FEMALE", dt.date(1990, 1, 1), status="PENDING_APPROVAL"),
        Person("退回乙", "a2", "MALE", dt.date(1990, 1, 1), status="REJECTED"),
        # Same name and birth date as others: orderings must break ties.
        Person("李明", "a2", "MALE", dt.date(1990, 1, 1), affiliation="INFLOW", education="21"),
        Person("李明", "b1", "MALE", dt.date(1990, 1, 1), joined=dt.date(2015, 7, 1)),
        Person("刚满三十", "a2", "FEMALE", thirty, joined=dt.date(2015, 7, 1) if thirty.year < 1996 else None,
               category="FULL" if thirty.year < 1996 else "APPLICANT"),
        Person("差一天三十", "a2", "MALE", thirty + dt.timedelta(days=1),
               joined=dt.date(2015, 7, 1) if thirty.year < 1996 else None,
               category="FULL" if thirty.year < 1996 else "APPLICANT"),
        Person("乙区党员", "b1", "FEMALE", dt.date(1975, 8, 8), education="31", joined=dt.date(2000, 7, 1)),
    ]
    async with make_sessionmaker(engine)() as session, session.begin():
        orgs = {key: await session.get(models.Organization, org.id) for key, org in world.orgs.items()}
        for p in more:
            joined = p.joined
            values = dict(name=p.name, id_number=id_number(p.birth, female=p.gender == "FEMALE"),
                          category=p.category, affiliation=p.affiliation, education_code=p.education,
                          applied_on=dt.date(p.birth.year + 18, 1, 1) if joined is None else joined.replace(month=1),
                          joined_on=joined, confirmed_on=None)
            if p.category == "FULL":
                values["confirmed_on"] = joined.replace(year=joined.year + 1)
            if p.category == "ACTIVIST":
                values["activist_on"] = values["applied_on"] + dt.timedelta(days=200)
            if joined is not None and joined.year - p.birth.year < 20:
                values["review_note"] = "人工审核"
            member = await make_member(session, orgs[p.org], **values)
            p.pk = member.id
            if p.status != "ACTIVE":
                await member_service.set_status(session, member, p.status)
    ORG_IDS.clear()
    ORG_IDS.update({key: to_global_id("Organization", o.id) for key, o in world.orgs.items()})
    return people + more


def names(people) -> list[str]:
    return sorted(p.name for p in people)


def expected(crowd, org="root", scope="SELF", statuses=None, **preds) -> list[str]:
    orgs = SUBTREES[org] if scope == "SUBTREE" else {org}
    statuses = set(statuses) if statuses else DEFAULT_STATUSES
    chosen = [p for p in crowd if p.org in orgs and p.status in statuses and all(f(p) for f in preds.values())]
    return names(chosen)


ORG_MEMBERS = """
query($code: String!, $filter: MemberFilter, $orderBy: MemberOrder, $first: Int, $after: String) {
  organization(code: $code) {
    members(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id name gender birthDate joinedOn createdAt status organization { code } } }
    }
    memberCount(filter: $filter)
  }
}"""

# Only the connection: an error in it must not be mixed up with its siblings (see test_request_errors).
ORG_PAGE = """
query($code: String!, $filter: MemberFilter, $orderBy: MemberOrder, $first: Int, $after: String) {
  organization(code: $code) {
    members(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name } }
    }
  }
}"""

QUERY_MEMBERS = """
query($org: ID, $filter: MemberFilter, $orderBy: MemberOrder, $first: Int, $after: String) {
  members(organizationId: $org, filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id name gender birthDate joinedOn createdAt status organization { code } } }
  }
}"""

CODES = {"root": "001", "a": "001001", "b": "001002", "a1": "001001001", "a2": "001001002", "b1": "001002001"}


async def org_members(api, org="root", username="root_admin", **variables):
    result = await api.as_(username, ORG_MEMBERS, {"code": CODES[org], "first": 100, **variables})
    assert "errors" not in result, result
    data = result["data"]["organization"]
    connection = data["members"]
    assert connection["totalCount"] == data["memberCount"], "totalCount and memberCount disagree"
    return connection


async def query_members(api, username="root_admin", **variables):
    variables.setdefault("first", 100)
    result = await api.as_(username, QUERY_MEMBERS, variables)
    assert "errors" not in result, result
    return result["data"]["members"]


def listed(connection) -> list[str]:
    return sorted(e["node"]["name"] for e in connection["edges"])


async def check(api, crowd, org, member_filter, **preds):
    """The filter gives the expected members through Organization.members (and memberCount) and
    through Query.members(organizationId:)."""
    scope = member_filter.get("scope") or "SELF"
    want = expected(crowd, org, scope, member_filter.get("statuses"), **preds)
    via_org = await org_members(api, org, filter=member_filter)
    assert listed(via_org) == want, (org, member_filter)
    assert via_org["totalCount"] == len(want), (org, member_filter)
    via_query = await query_members(api, org=ORG_IDS[org], filter=member_filter)
    assert listed(via_query) == want, (org, member_filter, "Query.members")
    assert via_query["totalCount"] == len(want), (org, member_filter, "Query.members")


# ------------------------------------------------------------------ lists: filters


async def test_scope_self_versus_subtree(api, crowd):
    for org in ("root", "a", "a1", "a2", "b", "b1"):
        await check(api, crowd, org, {})
        await check(api, crowd, org, {"scope": "SELF"})
        await check(api, crowd, org, {"scope": "SUBTREE"})
    assert expected(crowd, "a", "SUBTREE") and not expected(crowd, "a", "SELF")


async def test_scope_subtree_of_a_deeper_tree(api, crowd, world, engine):
    async with make_sessionmaker(engine)() as session, session.begin():
        a1 = await session.get(models.Organization, world.orgs["a1"].id)
        group = await make_org(session, a1, "甲一支第一党小组", "001", type="PROVISIONAL")
        await make_member(session, group, name="小组成员")
    result = await org_members(api, "a", filter={"scope": "SUBTREE", "nameContains": "小组"})
    assert listed(result) == ["小组成员"]
    result = await org_members(api, "a1", filter={"scope": "SELF", "nameContains": "小组"})
    assert listed(result) == []


async def test_name_and_id_number_filters(api, crowd, world):
    await check(api, crowd, "root", {"scope": "SUBTREE", "nameContains": "李"}, f=lambda p: "李" in p.name)
    await check(api, crowd, "a", {"scope": "SUBTREE", "nameContains": "李明"}, f=lambda p: p.name == "李明")
    await check(api, crowd, "root", {"scope": "SUBTREE", "nameContains": "三十"}, f=lambda p: "三十" in p.name)
    for wildcard in ("%", "_", "李%"):
        await check(api, crowd, "root", {"scope": "SUBTREE", "nameContains": wildcard}, f=lambda p: False)
    number = world.members["a1_second"].id_number
    await check(api, crowd, "root", {"scope": "SUBTREE", "idNumber": number}, f=lambda p: p.name == "王芳")
    await check(api, crowd, "b", {"scope": "SUBTREE", "idNumber": number}, f=lambda p: False)
    # A VIEWER sees the number masked, and so may not search by it (a search would confirm a guess).
    refused = await api.as_("a_viewer", ORG_MEMBERS, {"code": CODES["a"], "first": 100,
                                                     "filter": {"scope": "SUBTREE", "idNumber": number}})
    assert error_codes(refused) == ["FORBIDDEN"], refused


async def test_category_affiliation_and_gender_filters(api, crowd):
    sub = {"scope": "SUBTREE"}
    await check(api, crowd, "root", {**sub, "categories": ["FULL"]}, f=lambda p: p.category == "FULL")
    await check(api, crowd, "a", {**sub, "categories": ["APPLICANT", "ACTIVIST"]},
                f=lambda p: p.category in ("APPLICANT", "ACTIVIST"))
    await check(api, crowd, "a1", {"categories": ["PROBATIONARY"]}, f=lambda p: p.category == "PROBATIONARY")
    await check(api, crowd, "root", {**sub, "affiliations": ["INFLOW"]}, f=lambda p: p.affiliation == "INFLOW")
    await check(api, crowd, "root", {**sub, "affiliations": ["DIRECT"]}, f=lambda p: p.affiliation == "DIRECT")
    await check(api, crowd, "root", {**sub, "genders": ["FEMALE"]}, f=lambda p: p.gender == "FEMALE")
    await check(api, crowd, "a", {**sub, "genders": ["MALE"], "categories": ["FULL"]},
                f=lambda p: p.gender == "MALE" and p.category == "FULL")
    await check(api, crowd, "root", {**sub, "genders": ["MALE", "FEMALE"]}, f=lambda p: True)


async def test_status_filter_and_its_default(api, crowd):
    sub = {"scope": "SUBTREE"}
    default = await org_members(api, "root", filter=sub)
    assert not {"待审甲", "退回乙", "钱离开", "冯转出"} & set(listed(default))
    assert {"孙流出", "何转接"} <= set(listed(default))
    await check(api, crowd, "root", sub)
    for status in ALL_STATUSES:
        await check(api, crowd, "root", {**sub, "statuses": [status]}, f=lambda p, s=status: p.status == s)
    await check(api, crowd, "root", {**sub, "statuses": ALL_STATUSES})
    await check(api, crowd, "a", {**sub, "statuses": ["LEFT", "TRANSFERRED_OUT"], "genders": ["MALE"]},
                f=lambda p: p.gender == "MALE")


async def test_education_and_age_filters(api, crowd):
    sub = {"scope": "SUBTREE"}
    await check(api, crowd, "root", {**sub, "educationCodes": ["14"]}, f=lambda p: p.education == "14")
    await check(api, crowd, "root", {**sub, "educationCodes": ["21", "31"]}, f=lambda p: p.education in ("21", "31"))
    await check(api, crowd, "root", {**sub, "educationCodes": []}, f=lambda p: False)
    # The age boundary: 刚满三十 turns 30 today, 差一天三十 turns 30 tomorrow.
    by_name = {p.name: p for p in crowd}
    assert by_name["刚满三十"].age == 30 and by_name["差一天三十"].age == 29
    for low, high in ((30, None), (None, 29), (30, 30), (29, 29), (None, 30), (31, None), (20, 40), (0, 150)):
        flt = {**sub, "minAge": low, "maxAge": high}
        await check(api, crowd, "root", flt,
                    f=lambda p, lo=low, hi=high: (lo is None or p.age >= lo) and (hi is None or p.age <= hi))
    at_thirty = await org_members(api, "root", filter={**sub, "minAge": 30, "maxAge": 30})
    assert "刚满三十" in listed(at_thirty) and "差一天三十" not in listed(at_thirty)


async def test_has_account_filter(api, crowd):
    sub = {"scope": "SUBTREE"}
    with_account = await org_members(api, "root", filter={**sub, "hasAccount": True})
    assert [(e["node"]["name"], e["node"]["organization"]["code"]) for e in with_account["edges"]] == [
        ("李明", "001001001")]
    await check(api, crowd, "root", {**sub, "hasAccount": True}, f=lambda p: p.has_account)
    await check(api, crowd, "root", {**sub, "hasAccount": False}, f=lambda p: not p.has_account)
    await check(api, crowd, "a1", {"hasAccount": False}, f=lambda p: not p.has_account)


async def test_query_members_covers_the_callers_branch(api, crowd):
    everything = await query_members(api)
    assert listed(everything) == expected(crowd, "root", "SUBTREE")
    assert everything["totalCount"] == len(expected(crowd, "root", "SUBTREE"))
    a_only = await query_members(api, username="a_viewer")
    assert listed(a_only) == expected(crowd, "a", "SUBTREE")
    women = await query_members(api, username="b_viewer", filter={"genders": ["FEMALE"]})
    assert listed(women) == expected(crowd, "b", "SUBTREE", g=lambda p: p.gender == "FEMALE")
    # An organization outside the caller's branch is as if it did not exist.
    outside = await query_members(api, username="a_viewer", org=ORG_IDS["b1"], filter={"scope": "SUBTREE"})
    assert outside["edges"] == [] and outside["totalCount"] == 0


async def test_filters_reject_out_of_range_values(api, crowd):
    for flt in ({"minAge": -1}, {"maxAge": 151}, {"minAge": 2 ** 31 - 1}):
        result = await api.as_("root_admin", QUERY_MEMBERS, {"filter": flt})
        assert error_codes(result) == ["BAD_USER_INPUT"], (flt, result)


# ------------------------------------------------------------------ lists: order and paging


def node_key(node, field):
    value = {"NAME": node["name"], "BIRTH_DATE": node["birthDate"], "JOINED_ON": node["joinedOn"],
             "CREATED_AT": node["createdAt"]}[field]
    return value


async def walk(fetch, size: int) -> tuple[list[dict], int]:
    """Every page of `size`, following endCursor; returns the nodes and the totalCounts seen."""
    nodes, after, totals = [], None, set()
    for _ in range(200):
        page = await fetch(first=size, after=after)
        totals.add(page["totalCount"])
        assert len(page["edges"]) <= size
        nodes += [e["node"] for e in page["edges"]]
        if page["edges"]:
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            assert len(totals) == 1
            return nodes, totals.pop()
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("paging does not end")


@pytest.mark.parametrize("field", ["NAME", "BIRTH_DATE", "JOINED_ON", "CREATED_AT"])
async def test_ordering_and_paging_give_one_consistent_sequence(api, crowd, field):
    flt = {"scope": "SUBTREE", "statuses": ALL_STATUSES}
    total = len(crowd)
    orders = {}
    for direction in ("ASC", "DESC"):
        order = {"field": field, "direction": direction}

        async def via_org(**kw):
            return await org_members(api, "root", filter=flt, orderBy=order, **kw)

        async def via_query(**kw):
            return await query_members(api, filter={"statuses": ALL_STATUSES}, orderBy=order, **kw)

        for fetch in (via_org, via_query):
            whole = await fetch(first=100)
            assert whole["totalCount"] == total and whole["pageInfo"]["hasNextPage"] is False
            big = [e["node"]["id"] for e in whole["edges"]]
            assert len(big) == total == len(set(big))
            # One at a time through the organization's list; a few at a time across the branch.
            for size in ((1,) if fetch is via_org else (5,)):
                nodes, count = await walk(fetch, size)
                ids = [n["id"] for n in nodes]
                assert count == total
                assert ids == big, (field, direction, size, fetch.__name__)
            orders[(direction, fetch.__name__)] = [e["node"] for e in whole["edges"]]
        assert [n["id"] for n in orders[(direction, "via_org")]] == [n["id"] for n in orders[(direction, "via_query")]]

    asc, desc = orders[("ASC", "via_org")], orders[("DESC", "via_org")]
    if field == "JOINED_ON":
        # Members not yet admitted (no joinedOn) come last in either direction.
        admitted = lambda nodes: [n["id"] for n in nodes if n["joinedOn"]]  # noqa: E731
        waiting = lambda nodes: [n["id"] for n in nodes if not n["joinedOn"]]  # noqa: E731
        assert waiting(asc) and asc[-len(waiting(asc)):] == [n for n in asc if not n["joinedOn"]]
        assert desc[-len(waiting(desc)):] == [n for n in desc if not n["joinedOn"]]
        assert admitted(desc) == list(reversed(admitted(asc)))
        assert waiting(desc) == list(reversed(waiting(asc)))
        asc = [n for n in asc if n["joinedOn"]]
    else:
        assert [n["id"] for n in desc] == [n["id"] for n in reversed(asc)]
    # The sequence really is ordered by the field, ties broken the same way every time.
    keys = [node_key(n, field) for n in asc]
    if field == "NAME":
        # Equal names are adjacent (the collation is the database's).
        seen = []
        for k in keys:
            if seen and k != seen[-1]:
                assert k not in seen, keys
            seen.append(k)
    else:
        present = [(k, from_global_id(n["id"])[1]) for k, n in zip(keys, asc) if k is not None]
        if field == "CREATED_AT":
            present = [(dt.datetime.fromisoformat(k), pk) for k, pk in present]
        assert present == sorted(present), field
        # Members without the value are all at one end.
        missing = [i for i, k in enumerate(keys) if k is None]
        assert missing == list(range(len(keys) - len(missing), len(keys))) or missing == list(range(len(missing)))
    if field == "NAME":
        assert keys.count("李明") == 3


async def test_pages_of_many_organizations_at_once(api, crowd):
    """children { members(first:) } pages every child in one go; each equals the child's own page."""
    query = """query($order: MemberOrder) { organization(code: "001") { children {
        code members(filter: {scope: SUBTREE}, orderBy: $order, first: 2) {
          totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } } } }"""
    for order in (None, {"field": "NAME", "direction": "DESC"}, {"field": "BIRTH_DATE"}):
        result = await api.as_("root_admin", query, {"order": order})
        assert "errors" not in result, result
        for child in result["data"]["organization"]["children"]:
            org = {"001001": "a", "001002": "b"}[child["code"]]
            alone = await org_members(api, org, filter={"scope": "SUBTREE"}, orderBy=order, first=2)
            mine = child["members"]
            assert [(e["cursor"], e["node"]["id"]) for e in mine["edges"]] == [
                (e["cursor"], e["node"]["id"]) for e in alone["edges"]], (order, org)
            assert (mine["totalCount"], mine["pageInfo"]) == (alone["totalCount"], alone["pageInfo"]), (order, org)
            assert child["members"]["totalCount"] == len(expected(crowd, org, "SUBTREE"))


async def test_page_size_limits(api, crowd):
    for first in (0, 101, -1):
        result = await api.as_("root_admin", ORG_PAGE, {"code": "001", "first": first})
        assert error_codes(result) == ["BAD_USER_INPUT"], (first, result)
        result = await api.as_("root_admin", QUERY_MEMBERS, {"first": first})
        assert error_codes(result) == ["BAD_USER_INPUT"], (first, result)
    edge = await query_members(api, first=100)
    assert len(edge["edges"]) == len(expected(crowd, "root", "SUBTREE"))
    one = await query_members(api, first=1)
    assert len(one["edges"]) == 1 and one["pageInfo"]["hasNextPage"] is True
    assert one["totalCount"] == len(expected(crowd, "root", "SUBTREE"))
    default = await api.as_("root_admin", """{ members(filter: {statuses: [ACTIVE]}) { edges { cursor } } }""")
    assert 1 <= len(default["data"]["members"]["edges"]) <= 100


TAMPERED = [
    "not-a-cursor", "!!!!", "", cursor([]), cursor([1, 2, 3, 4]), cursor([2, "李明", 1]), cursor([1, 1]),
    cursor([1, {"x": 1}, 1]), cursor([1, [1], 1]), cursor({"a": 1}), cursor("x"), cursor(None),
]


async def test_tampered_cursor_is_bad_user_input(api, crowd):
    for after in TAMPERED:
        for document, variables in ((ORG_PAGE, {"code": "001", "filter": {"scope": "SUBTREE"}}),
                                    (QUERY_MEMBERS, {})):
            for order in ((None, {"field": "BIRTH_DATE", "direction": "DESC"}) if after in TAMPERED[:4] else (None,)):
                result = await api.as_("root_admin", document,
                                       {**variables, "orderBy": order, "first": 2, "after": after})
                if after == "":
                    # An empty `after` may mean "from the start"; it must not crash.
                    assert "INTERNAL_SERVER_ERROR" not in error_codes(result), result
                    continue
                assert error_codes(result) == ["BAD_USER_INPUT"], (after, order, result)


async def test_cursor_with_values_of_the_wrong_type_is_bad_user_input(api, crowd):
    """A cursor is opaque, but a client can forge one: values that do not fit the ordering's keys
    (an impossible date, text for a date or an id) are the client's mistake, never a crash."""
    wrong = []
    cases = [([1, {"d": "2020-02-30"}, 1], {"field": "BIRTH_DATE"}),
             ([1, {"t": "yesterday"}, 1], {"field": "CREATED_AT", "direction": "DESC"}),
             ([1, "李明", "abc"], {"field": "NAME"}),
             ([1, "李明", 1], {"field": "BIRTH_DATE"}),
             ([1, "李明", 1], {"field": "JOINED_ON", "direction": "DESC"}),
             ([1, 12, 1], {"field": "NAME"})]
    for values, order in cases:
        for document, variables in ((ORG_PAGE, {"code": "001", "filter": {"scope": "SUBTREE"}}),
                                    (QUERY_MEMBERS, {})):
            result = await api.as_("root_admin", document,
                                   {**variables, "orderBy": order, "first": 2, "after": cursor(values)})
            if error_codes(result) != ["BAD_USER_INPUT"]:
                wrong.append((values, order, "Organization.members" if document is ORG_PAGE else "Query.members",
                              error_codes(result) or "a page"))
    assert wrong == [], "\n".join(map(str, wrong))


async def test_cursor_of_another_ordering_is_bad_user_input(api, crowd):
    """A cursor is bound to its ordering (the associated data of its seal)."""
    page = await query_members(api, orderBy={"field": "NAME"}, first=2)
    after = page["pageInfo"]["endCursor"]
    for order in ({"field": "BIRTH_DATE"}, {"field": "JOINED_ON", "direction": "DESC"}, {"field": "CREATED_AT"},
                  {"field": "NAME", "direction": "DESC"}):
        result = await api.as_("root_admin", QUERY_MEMBERS, {"orderBy": order, "first": 2, "after": after})
        assert error_codes(result) == ["BAD_USER_INPUT"], (order, result)


# ------------------------------------------------------------------ createMember: since


async def _placement_start(engine, member_gid: str) -> dt.date:
    from sqlalchemy import select
    _, pk = from_global_id(member_gid)
    async with make_sessionmaker(engine)() as session:
        return (await session.execute(select(models.MemberPlacement.valid_from)
                                      .where(models.MemberPlacement.member_id == pk))).scalar_one()


async def test_create_places_the_member_from_since(api, world, engine):
    async def made(since=None, **overrides):
        variables = {"input": {"organizationId": gid("Organization", world.orgs["a1"]), "fields": fields(**overrides)}}
        if since is not None:
            variables["input"]["since"] = since
        return payload(await api.as_("a_operator", CREATE, variables))

    explicit = await made(since="2020-04-01", idNumber=id_number(dt.date(1985, 1, 1)))
    assert explicit["userErrors"] == []
    assert await _placement_start(engine, explicit["member"]["id"]) == dt.date(2020, 4, 1)
    # Default: joinedOn, else appliedOn, else today.
    joined = await made(idNumber=id_number(dt.date(1985, 1, 2)))
    assert await _placement_start(engine, joined["member"]["id"]) == dt.date(2012, 7, 1)
    applied = await made(idNumber=id_number(dt.date(1985, 1, 3)), category="APPLICANT", joinedOn=None,
                         confirmedOn=None)
    assert await _placement_start(engine, applied["member"]["id"]) == dt.date(2010, 3, 1)
    neither = await made(idNumber=id_number(dt.date(1985, 1, 4)), category="APPLICANT", joinedOn=None,
                         confirmedOn=None, appliedOn=None)
    assert await _placement_start(engine, neither["member"]["id"]) == clock.today()
    # A day in the future or before birth is refused, and nothing is written.
    before = await member_total(api)
    future = await made(since=(clock.today() + dt.timedelta(days=1)).isoformat(),
                        idNumber=id_number(dt.date(1985, 1, 5)))
    assert [(e["code"], e["field"]) for e in future["userErrors"]] == [("INVALID", ["since"])]
    unborn = await made(since="1980-01-01", idNumber=id_number(dt.date(1985, 1, 6)))
    assert [(e["code"], e["field"]) for e in unborn["userErrors"]] == [("INVALID", ["since"])]
    assert await member_total(api) == before
