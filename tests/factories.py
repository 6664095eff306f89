"""Reusable builders: small trees, members and accounts made through the db services."""
from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from db import clock, idnumber, models
from db.branch import SYSTEM_ACTOR
from db.engine import make_sessionmaker
from db.services import accounts, members, organizations
from gql.auth.passwords import CHEAPEST, Argon2Hasher

PASSWORD = "Passw0rd2024"
HASHER = Argon2Hasher(CHEAPEST)
_sequence = itertools.count(1)


def new_id_number(birth: dt.date = dt.date(1985, 6, 15), region: str = "430102", female: bool = False) -> str:
    n = next(_sequence)
    seq = (n * 2) % 1000 if female else (n * 2 + 1) % 1000
    # Every 500 numbers the birth date moves on one day (not one year: a process that makes a few
    # thousand members would otherwise be born too late to have joined in 2010).
    return idnumber.make(region, birth + dt.timedelta(days=n // 500), seq)


def member_fields(**overrides) -> dict:
    fields = {
        "name": "张三", "id_number": new_id_number(), "category": "FULL",
        "applied_on": dt.date(2008, 3, 1), "joined_on": dt.date(2010, 7, 1), "confirmed_on": dt.date(2011, 7, 1),
        "education_code": None, "ethnicity_code": "01",
    }
    fields.update(overrides)
    return fields


async def make_root(session, name="中共示范市委员会", code="001") -> models.Organization:
    return await organizations.create_root(session, name=name, code=code, established_on=dt.date(1990, 1, 1))


async def make_org(session, parent, name, suffix, type="COMMITTEE", **kwargs) -> models.Organization:
    return await organizations.create(session, SYSTEM_ACTOR, parent_id=parent.id, name=name, type=type,
                                      code_suffix=suffix, established_on=kwargs.pop("established_on", dt.date(2000, 1, 1)),
                                      **kwargs)


async def make_member(session, organization, **overrides) -> models.Member:
    affiliation = overrides.pop("affiliation", "DIRECT")
    return await members.create(session, SYSTEM_ACTOR, organization_id=organization.id,
                                affiliation=affiliation, fields=member_fields(**overrides))


async def set_member_status(engine: AsyncEngine, member_ids, status: str) -> None:
    """Give members a status the way the status workflows will (the rollup follows)."""
    async with make_sessionmaker(engine)() as session, session.begin():
        for member_id in member_ids:
            await members.set_status(session, await session.get(models.Member, member_id), status)


async def make_account(session, organization, username, role, member=None, password=PASSWORD) -> models.Account:
    return await accounts.create(session, SYSTEM_ACTOR, HASHER, organization_id=organization.id,
                                 username=username, password=password, name=username, role=role,
                                 member_id=member.id if member else None)


@dataclass
class World:
    """root ─┬─ A ─┬─ A1 (members a1_first, a1_second; a MEMBER account for a1_first)
             │     └─ A2 (member a2_only)
             └─ B ─── B1 (member b1_only)
    Accounts: root_admin; a_admin, a_operator, a_viewer; a1_admin, a1_viewer; b_admin, b_viewer; a1_member."""

    orgs: dict[str, models.Organization] = field(default_factory=dict)
    members: dict[str, models.Member] = field(default_factory=dict)
    accounts: dict[str, models.Account] = field(default_factory=dict)


async def build_world(engine: AsyncEngine) -> World:
    world = World()
    async with make_sessionmaker(engine)() as session, session.begin():
        root = await make_root(session)
        a = await make_org(session, root, "中共示范市甲区委员会", "001")
        b = await make_org(session, root, "中共示范市乙区委员会", "002")
        a1 = await make_org(session, a, "中共示范市甲区第一支部委员会", "001", type="BRANCH")
        a2 = await make_org(session, a, "中共示范市甲区第二支部委员会", "002", type="BRANCH")
        b1 = await make_org(session, b, "中共示范市乙区第一支部委员会", "001", type="BRANCH")
        world.orgs.update(root=root, a=a, b=b, a1=a1, a2=a2, b1=b1)
        world.members["a1_first"] = await make_member(session, a1, name="李明")
        world.members["a1_second"] = await make_member(session, a1, name="王芳", id_number=new_id_number(female=True))
        world.members["a2_only"] = await make_member(session, a2, name="赵刚")
        world.members["b1_only"] = await make_member(session, b1, name="陈静", id_number=new_id_number(female=True))
        for username, org, role in [
            ("root_admin", root, "ADMIN"), ("a_admin", a, "ADMIN"), ("a_operator", a, "OPERATOR"),
            ("a_viewer", a, "VIEWER"), ("a1_admin", a1, "ADMIN"), ("a1_viewer", a1, "VIEWER"),
            ("b_admin", b, "ADMIN"), ("b_viewer", b, "VIEWER"),
        ]:
            world.accounts[username] = await make_account(session, org, username, role)
        world.accounts["a1_member"] = await make_account(
            session, a1, "a1_member", "MEMBER", member=world.members["a1_first"])
    return world


async def load_world(engine: AsyncEngine, ids: dict) -> World:
    """The world's objects read from a database that holds its rows (copied from a template that
    build_world made: tests/conftest.py), by their ids; detached, every column loaded."""
    from sqlalchemy import select

    world = World()
    async with make_sessionmaker(engine)() as session:
        for kind, model in (("orgs", models.Organization), ("members", models.Member), ("accounts", models.Account)):
            rows = {row.id: row for row in await session.scalars(select(model).where(model.id.in_(ids[kind].values())))}
            getattr(world, kind).update({key: rows[row_id] for key, row_id in ids[kind].items()})
    return world


async def make_varied_members(session, organizations, count: int, seed: int = 9) -> list[models.Member]:
    """`count` members spread over `organizations` with varied fields (gender, ages from 22 to 85,
    education, ethnicity, job position, technical title, every category, both affiliations; some
    fields empty), for statistics. Deterministic for a seed."""
    import random

    from db import codes

    rng = random.Random(seed)
    today = clock.today()
    educations = [c for c, _ in codes.entries("education")][:8] + [None, None]
    ethnicities = ["01", "01", "01", "02", "03", None]
    positions = [c for c, _ in codes.entries("job_position")][:4] + [None]
    titles = [c for c, _ in codes.entries("technical_title")] + [None, None]
    made = []
    for n in range(count):
        organization = organizations[n % len(organizations)]
        birth = dt.date(today.year - rng.randint(22, 85), rng.randint(1, 12), rng.randint(1, 28))
        category = rng.choice(["APPLICANT", "ACTIVIST", "CANDIDATE", "PROBATIONARY", "FULL", "FULL", "FULL"])
        applied = _years_later(birth, 18) + dt.timedelta(days=rng.randint(30, 300))
        fields = {
            "name": f"党员{n}", "id_number": new_id_number(birth, female=rng.random() < 0.45), "category": category,
            "education_code": rng.choice(educations), "ethnicity_code": rng.choice(ethnicities),
            "job_position_code": rng.choice(positions), "technical_title_code": rng.choice(titles),
            "applied_on": applied, "joined_on": None, "confirmed_on": None, "review_note": "人工审核通过",
        }
        if category in ("PROBATIONARY", "FULL"):
            latest = (today - applied).days - 400
            joined = applied + dt.timedelta(days=rng.randint(200, max(201, latest)))
            if category == "PROBATIONARY":
                joined = min(joined, today - dt.timedelta(days=rng.randint(1, 300)))
            fields["joined_on"] = max(joined, applied)
            if category == "FULL":
                fields["confirmed_on"] = min(fields["joined_on"] + dt.timedelta(days=366), today)
        affiliation = "INFLOW" if rng.random() < 0.2 else "DIRECT"
        made.append(await members.create(session, SYSTEM_ACTOR, organization_id=organization.id,
                                         affiliation=affiliation, fields=fields))
    return made


def _years_later(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)
