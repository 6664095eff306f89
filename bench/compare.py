"""Benchmark: dangjian side by side with PostGraphile v4 and bare SQL, over the same tables (issue 7).

    .venv/bin/python -m bench [compare] [--orgs 50000] [--members 1000000] [--duration 5] [--rounds 3]
        [--connections 16 1] [--workloads W1 W2 W1-root] [--contenders dangjian dangjian-w2 ...]
        [--baseline DIR --contenders dangjian dangjian-base postgraphile]

Why this way: a dashboard builder's alternative to this API is a GraphQL layer generated over
PostgreSQL (PostGraphile) or hand-written SQL, so the question is the ratio to those on the same
data, the same machine and in the same minute, not an absolute figure (this machine's 2 cores are
shared: absolute numbers drift with the load; ratios from interleaved rounds drift much less).

What it does, every step bounded in time and every socket on 127.0.0.1:
1. Data: the demo data set (db/demo.py `generate`, seed 3) in a PostgreSQL schema of the local
   `test` database and in an SQLite file under var/bench/ -- the same ones bench/dashboard.py
   builds and reuses (`bench_dash` at the default size). A login role named like the schema has
   the schema as its search_path, so the product reaches it through a plain DATABASE_URL (SQLAlchemy
   passes URL query options to asyncpg as keyword arguments, so `?search_path=` cannot be used).
   An ADMIN account at the root (`bench_cmp_admin`) hashed with the production argon2 profile.
   Building the default size took 223 s (PostgreSQL, with VACUUM ANALYZE) and 123 s (SQLite) here.
2. PostGraphile: npm `postgraphile@4` + `postgraphile-plugin-connection-filter@2` +
   `@graphile/pg-aggregates@0.1` (W3, W4), installed at
   run time into var/bench/node/ (ignored, never committed), served by bench/postgraphile_server.js
   over the same schema, with three SQL functions over the materialized path (the subtree is the
   range [path, path minus its last '/' plus '0'), db/tree.py) so that it answers the same
   questions: organization_subtree_member_count(o) and organization_subtree_members(o) as computed
   columns.
   `postgraphile-signed` (W0, W3, W4 only) is the same PostGraphile signed in, as a deployment over
   party-member data would be and as the product always is: a JSON Web Token verified in process
   (jwtSecret, HS256), whose claims PostGraphile sets per request in a transaction (BEGIN, one
   SELECT set_config(...), the query, COMMIT: its documented way), and the cross-tab functions
   answer only for an organization inside the token's `branch` claim, as the product checks the
   scope organization against the caller's branch. The product's cold request does the same work
   in kind: a token looked up, a transaction around the reads, the branch checked. Without it the
   ratio compares a signed-in, scoped request with an anonymous one.
3. The product served as documented for production: `python -m gql.serve` (1 worker, and 2
   workers as `dangjian-w2`; `--no-access-log`), DATABASE_URL at the bench schema, production
   password profile, the exact response cache (gql.cache) off: these are the cold figures. The
   same with the cache on as `dangjian-warm` / `dangjian-w2-warm` (unchanged data, so every
   request after the first is a hit: the figure of a dashboard refreshed over data that did not
   change). SQLite as `dangjian-sqlite` (1 worker, cold). It signs in once per server before any load.
   `dangjian-base` serves the checkout given by --baseline (say `git archive OLD | tar -x -C DIR`)
   the same way (cold): a change measured before and after in one run, interleaved, on the same data.
4. Bare SQL: the statements a hand-written endpoint would send (2 per request), over an asyncpg pool
   in this process: the floor, with no HTTP and no JSON in the way.
5. Checks once that every contender gives the same answer to every workload, then measures with
   a closed loop: `wrk` (Debian package) for the HTTP servers, N asyncio loops for bare SQL; at each
   connection count, in interleaved rounds (every contender once per round, then again); the
   figures are medians over the rounds. Prints req/s, p50, p99 and dangjian ÷ PostGraphile, with the
   load average, and the CPU per request of each contender's server processes, of PostgreSQL's
   backends and of the client (wrk, or this process for bare SQL), read from /proc around each
   measurement (cpu_split): whether a server is bound by its own core or waits on PostgreSQL;
   appends JSON lines to var/bench/results/compare-<time>.jsonl.

Workloads:
- W0: a signed-in `{ __typename }` (PostGraphile: the same, signed out): no field reads the database,
  so it measures the served stack's floor for a request -- HTTP, the body, the token lookup and the
  session around it, GraphQL, the JSON -- the cost every cold request pays before its own fields.
  Not in the default list; PostGraphile only as a reference (bare SQL has no such request).
- W1: an organization with its children and the subtree member count of each (a county-level
  committee: the level-1 district/county committee with the most children; at the default size
  桃源县, 22 children, 169 organizations, 3,262 members; --county CODE picks another).
- W2: the first 50 members of that subtree, women with education 21 or 31, with their organization's name.
- W1-root: W1 at the root (134 children, 1,000,000 members at the default size).
- W3: crossTab EDUCATION × GENDER over the county's subtree; W3-root at the root.
- W4: crossTab CHILD_ORGANIZATION × AGE_BAND over the county's subtree; W4-root at the root.
- W3-100, W3-10k, W3-100k, W3-1m (and W4-...): the same over the organization (with children) whose
  subtree holds the nearest number of members to 100, 10,000 and 100,000, and the root (at the
  default size: 100, 10,043, 30,229 -- the largest subtree below the root of the flat demo tree --
  and 1,000,000). Not in the default list: `--workloads W3-100 W3-10k ...`.
  PostGraphile answers W3/W4 with @graphile/pg-aggregates 0.1 (`groupedAggregates`, counted with
  `distinctCount`, its only count) over two SQL functions returning a view-typed set of the
  subtree's members (education and gender; child organization and age band), what a developer adds
  to a generated layer for these questions. Bare SQL computes the same table as a hand-written
  endpoint would: one GROUP BY over the subtree range, ages from the same date bounds
  (db.services.statistics). The summary adds "time ÷ SQL" (SQL's req/s over the contender's).
  A request over 1,000,000 members takes seconds: give those a longer --duration (8 s or more).
"""
from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import datetime as dt
import hashlib
import hmac
import json
import math
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import func, select, text
from sqlalchemy.orm import aliased

from bench import dashboard
from bench.data import stale_tables
from db import models
from db.branch import SYSTEM_ACTOR
from db.engine import POSTGRES_SETTINGS, PROJECT_ROOT, make_engine, make_sessionmaker
from db.services import accounts
from gql.auth.passwords import hasher_named

HOST = "127.0.0.1"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DIR = PROJECT_ROOT / "var" / "bench"
NODE_DIR = BENCH_DIR / "node"
RESULTS_DIR = BENCH_DIR / "results"
LOG_DIR = BENCH_DIR / "logs"
NPM_PACKAGES = ["postgraphile@4", "postgraphile-plugin-connection-filter@2", "@graphile/pg-aggregates@0.1"]
ADMIN, PASSWORD = "bench_cmp_admin", "Bench2024compare"
DEFAULT_STATUSES = ("ACTIVE", "FLOWING_OUT", "TRANSFERRING")  # db.services.members.DEFAULT_STATUSES
W2_GENDERS, W2_EDUCATION = ["FEMALE"], ["21", "31"]
W2_FIRST = 50
# The subtree sizes W3 and W4 run at (members, about): the organization whose subtree holds the
# nearest number of members (and has children), the root for 1m (pick_organizations).
SIZES = {"100": 100, "10k": 10_000, "100k": 100_000, "1m": None}
WORKLOADS = {
    "W0": "a signed-in { __typename }: the served stack's floor (no field reads the database)",
    "W1": "organization + children + subtree memberCount (county level)",
    "W2": f"first {W2_FIRST} members of a subtree, gender + education filter, with organization name",
    "W1-root": "W1 at the root",
    "W3": "crossTab EDUCATION × GENDER over the county",
    "W4": "crossTab CHILD_ORGANIZATION × AGE_BAND over the county",
    "W3-root": "W3 at the root",
    "W4-root": "W4 at the root",
    **{f"W3-{size}": f"W3 over a subtree of about {size} members" for size in SIZES},
    **{f"W4-{size}": f"W4 over a subtree of about {size} members" for size in SIZES},
}
DEFAULT_WORKLOADS = ["W1", "W2", "W1-root"]
STAT_WORKLOADS = [f"{kind}-{size}" for kind in ("W3", "W4") for size in SIZES]
# Workload kinds each contender can answer (PostGraphile: W3/W4 with the pg-aggregates plugin's
# groupedAggregates).
POSTGRAPHILE_KINDS = ("W0", "W1", "W2", "W3", "W4")


# PostGraphile signed in (postgraphile-signed): the branch-checked cross-tab functions only.
SIGNED_KINDS = ("W0", "W3", "W4")
POSTGRAPHILES = ("postgraphile", "postgraphile-signed")


def supports(contender: str, workload: str) -> bool:
    kind = workload.split("-")[0]
    if contender == "sql":
        return kind != "W0"
    if contender == "postgraphile-signed":
        return kind in SIGNED_KINDS
    return contender != "postgraphile" or kind in POSTGRAPHILE_KINDS
CONTENDERS = {
    "dangjian": "python -m gql.serve, 1 worker, PostgreSQL, response cache off (cold)",
    "dangjian-w2": "python -m gql.serve --workers 2 (TCP_NODELAY), PostgreSQL, cache off",
    "dangjian-warm": "1 worker, PostgreSQL, response cache on (unchanged data: every request after the first a hit)",
    "dangjian-w2-warm": "2 workers, PostgreSQL, response cache on",
    "dangjian-sqlite": "1 worker, SQLite, cache off",
    "dangjian-base": "python -m gql.serve, 1 worker, PostgreSQL, served from the --baseline checkout",
    "postgraphile": "PostGraphile v4 + connection-filter, 1 node process",
    "postgraphile-signed": "the same signed in: a JWT (jwtSecret), its claims set per request in a transaction, "
                           "the cross-tab's organization checked against the caller's branch (W0, W3, W4)",
    "sql": "bare SQL over asyncpg (2 statements per request), no HTTP",
}

# ------------------------------------------------------------------ the questions, three ways

DANGJIAN_QUERY = {
    "W0": "{ __typename }",
    "W1": "query($code: String!) { organization(code: $code) { name memberCount(filter: {scope: SUBTREE}) "
          "children { name memberCount(filter: {scope: SUBTREE}) } } }",
    "W2": "query($code: String!, $genders: [Gender!], $education: [String!]) { organization(code: $code) { "
          f"members(first: {W2_FIRST}, filter: {{scope: SUBTREE, genders: $genders, educationCodes: $education}}) "
          "{ edges { node { name organization { name } } } } } }",
    "W3": "query($org: ID!) { crossTab(input: {organizationId: $org, rows: EDUCATION, columns: GENDER}) "
          "{ rows { key label } columns { key label } cells total } }",
    "W4": "query($org: ID!) { crossTab(input: {organizationId: $org, rows: CHILD_ORGANIZATION, columns: AGE_BAND}) "
          "{ rows { key label } columns { key label } cells total } }",
}
POSTGRAPHILE_QUERY = {
    "W0": "{ __typename }",
    "W1": "query($code: String!) { organizationByCode(code: $code) { name subtreeMemberCount "
          "organizationsByParentId(condition: {status: \"ACTIVE\"}, orderBy: CODE_ASC) "
          "{ nodes { name subtreeMemberCount } } } }",
    "W2": "query($code: String!, $genders: [String!], $education: [String!]) { organizationByCode(code: $code) { "
          f"subtreeMembers(first: {W2_FIRST}, filter: {{gender: {{in: $genders}}, educationCode: {{in: $education}}}}) "
          "{ nodes { name organizationByOrganizationId { name } } } } }",
    # pg-aggregates counts with count(distinct ...) only (no count(*) in 0.1): distinctCount of the key.
    "W3": "query($code: String!) { organizationByCode(code: $code) { subtreeMemberRows { "
          "groupedAggregates(groupBy: [EDUCATION, GENDER]) { keys distinctCount { memberId } } } } }",
    "W4": "query($code: String!) { organizationByCode(code: $code) { subtreeMemberCells { "
          "groupedAggregates(groupBy: [CHILD_ORGANIZATION, AGE_BAND]) { keys distinctCount { memberId } } } } }",
}
# postgraphile-signed: the same cross-tabs through functions that also check the organization
# against the caller's branch, the JWT's `branch` claim (what the product's scope check does).
POSTGRAPHILE_SIGNED_QUERY = {
    "W0": POSTGRAPHILE_QUERY["W0"],
    # Aliased to the anonymous fields' names: one normalize() for both.
    "W3": POSTGRAPHILE_QUERY["W3"].replace("subtreeMemberRows", "subtreeMemberRows: branchMemberRows"),
    "W4": POSTGRAPHILE_QUERY["W4"].replace("subtreeMemberCells", "subtreeMemberCells: branchMemberCells"),
}


def query_for(contender: str, kind: str) -> str:
    if contender == "postgraphile-signed":
        return POSTGRAPHILE_SIGNED_QUERY[kind]
    return (POSTGRAPHILE_QUERY if contender == "postgraphile" else DANGJIAN_QUERY)[kind]


def jwt_for(secret: str, branch: str) -> str:
    """An HS256 JSON Web Token as PostGraphile's jwtSecret verifies it (audience "postgraphile"),
    with the caller's branch (the root's path: the bench's ADMIN) as a claim, valid for a day."""
    def part(value) -> str:
        raw = value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = part({"alg": "HS256", "typ": "JWT"}) + "." + part(
        {"aud": "postgraphile", "sub": ADMIN, "branch": branch, "exp": int(time.time()) + 86_400})
    return head + "." + part(hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest())


# The subtree range is db/tree.py's: [path, path without its last '/' + '0'); the path column compares
# bytewise (COLLATE "C").
def postgraphile_functions(schema: str) -> list[str]:
    """Computed columns for PostGraphile, in the bench schema. Names are schema-qualified (PostGraphile
    sets no search_path) and there is no SET clause, so PostgreSQL can inline the SQL bodies."""
    s = f'"{schema}"'
    statuses = ", ".join(f"'{status}'" for status in DEFAULT_STATUSES)
    return [
        f"""CREATE OR REPLACE FUNCTION {s}.organization_subtree_member_count(o {s}.organization) RETURNS integer
LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(d.direct_member_count), 0)::integer FROM {s}.organization d
  WHERE d.path >= o.path AND d.path < left(o.path, -1) || '0'
$$""",
        f"""COMMENT ON FUNCTION {s}.organization_subtree_member_count({s}.organization) IS
  'Members of the organization and its descendants (the statuses counted by default).'""",
        # The product's folded rollup (migration 0008) would take the computed column's name;
        # PostGraphile keeps answering with the range sum above, as a generated layer would.
        f"""COMMENT ON COLUMN {s}.organization.subtree_member_count IS E'@omit'""",
        f"""CREATE OR REPLACE FUNCTION {s}.organization_subtree_members(o {s}.organization) RETURNS SETOF {s}.member
LANGUAGE sql STABLE AS $$
  SELECT m.* FROM {s}.member m JOIN {s}.organization d ON d.id = m.organization_id
  WHERE d.path >= o.path AND d.path < left(o.path, -1) || '0' AND m.status IN ({statuses})
  ORDER BY d.path, m.id
$$""",
        f"""COMMENT ON FUNCTION {s}.organization_subtree_members({s}.organization) IS
  'Members of the organization and its descendants in tree order (the statuses listed by default).'""",
        # W3 and W4: the members of the subtree as a view-typed set that groupedAggregates can group
        # (what a developer adds to a generated layer for these questions). W3: education (NONE for
        # an empty one: pg-aggregates 0.1 fails on a null key, "Cannot return null for non-nullable
        # field keys") and gender. W4: the direct child of o holding the member (o itself for its
        # own members) and the age band today.
        f"""DROP FUNCTION IF EXISTS {s}.organization_subtree_member_rows({s}.organization)""",
        f"""DROP VIEW IF EXISTS {s}.member_cell CASCADE""",
        f"""CREATE VIEW {s}.member_cell AS
  SELECT m.id AS member_id, ''::text AS education, ''::text AS gender, ''::text AS child_organization,
    ''::text AS age_band FROM {s}.member m WHERE false""",
        f"""COMMENT ON VIEW {s}.member_cell IS E'@omit all,many'""",
        f"""CREATE OR REPLACE FUNCTION {s}.organization_subtree_member_rows(o {s}.organization) RETURNS SETOF {s}.member_cell
LANGUAGE sql STABLE AS $$
  SELECT m.id, coalesce(m.education_code, 'NONE')::text, m.gender::text, NULL::text, NULL::text
  FROM {s}.member m JOIN {s}.organization d ON d.id = m.organization_id
  WHERE d.path >= o.path AND d.path < left(o.path, -1) || '0' AND m.status IN ({statuses})
$$""",
        f"""CREATE OR REPLACE FUNCTION {s}.organization_subtree_member_cells(o {s}.organization) RETURNS SETOF {s}.member_cell
LANGUAGE sql STABLE AS $$
  SELECT m.id, NULL::text, NULL::text,
    CASE WHEN d.path = o.path THEN o.id::text
         ELSE split_part(substr(d.path, length(o.path) + 1), '/', 1) END,
    CASE WHEN m.birth_date IS NULL THEN 'NONE'
         WHEN m.birth_date > current_date - interval '31 years' THEN '0-30'
         WHEN m.birth_date > current_date - interval '36 years' THEN '31-35'
         WHEN m.birth_date > current_date - interval '41 years' THEN '36-40'
         WHEN m.birth_date > current_date - interval '46 years' THEN '41-45'
         WHEN m.birth_date > current_date - interval '51 years' THEN '46-50'
         WHEN m.birth_date > current_date - interval '56 years' THEN '51-55'
         WHEN m.birth_date > current_date - interval '61 years' THEN '56-60'
         WHEN m.birth_date > current_date - interval '71 years' THEN '61-70'
         ELSE '71-' END
  FROM {s}.member m JOIN {s}.organization d ON d.id = m.organization_id
  WHERE d.path >= o.path AND d.path < left(o.path, -1) || '0' AND m.status IN ({statuses})
$$""",
        *branch_checked(s),
    ]


def branch_checked(s: str) -> list[str]:
    """organization_branch_member_rows / _cells: the two cross-tab functions, answering only for an
    organization inside the caller's branch (the JWT's claim `branch`, a path: the organization's
    path starts with it); with no claim the setting is missing and the statement fails."""
    made = []
    for kind in ("rows", "cells"):
        made.append(f"""CREATE OR REPLACE FUNCTION {s}.organization_branch_member_{kind}(o {s}.organization)
RETURNS SETOF {s}.member_cell LANGUAGE sql STABLE AS $$
  SELECT * FROM {s}.organization_subtree_member_{kind}(o)
  WHERE starts_with(o.path, current_setting('jwt.claims.branch'))
$$""")
    return made


SUBTREE_COUNT = ("(SELECT coalesce(sum(d.direct_member_count), 0) FROM organization d "
                 "WHERE d.path >= {o}.path AND d.path < left({o}.path, -1) || '0')")
SQL_W1_ORG = f"SELECT o.id, o.name, {SUBTREE_COUNT.format(o='o')} FROM organization o WHERE o.code = $1"
SQL_W1_CHILDREN = (f"SELECT c.name, {SUBTREE_COUNT.format(o='c')} FROM organization c "
                   "WHERE c.parent_id = $1 AND c.status = 'ACTIVE' ORDER BY c.code")
SQL_W2_ORG = "SELECT path FROM organization WHERE code = $1"
SQL_W2_MEMBERS = ("SELECT m.name, d.name FROM member m JOIN organization d ON d.id = m.organization_id "
                  "WHERE d.path >= $1 AND d.path < $2 AND m.status = ANY($3::text[]) "
                  "AND m.gender = ANY($4::text[]) AND m.education_code = ANY($5::text[]) "
                  f"ORDER BY d.path, m.id LIMIT {W2_FIRST}")


SQL_ORG = "SELECT id, path FROM organization WHERE code = $1"
SQL_W3 = ("SELECT coalesce(m.education_code, 'NONE'), m.gender, count(*) FROM member m "
          "JOIN organization d ON d.id = m.organization_id "
          "WHERE d.path >= $1 AND d.path < $2 AND m.status = ANY($3::text[]) GROUP BY 1, 2")
SQL_W4 = ("SELECT CASE WHEN d.path = $1 THEN $4::text "
          "ELSE substr(d.path, $5::int, strpos(substr(d.path, $5::int), '/') - 1) END AS child, "
          "CASE WHEN m.birth_date > $6::date THEN '0-30' WHEN m.birth_date > $7::date THEN '31-35' "
          "WHEN m.birth_date > $8::date THEN '36-40' WHEN m.birth_date > $9::date THEN '41-45' "
          "WHEN m.birth_date > $10::date THEN '46-50' WHEN m.birth_date > $11::date THEN '51-55' "
          "WHEN m.birth_date > $12::date THEN '56-60' WHEN m.birth_date > $13::date THEN '61-70' ELSE '71-' END AS band, "
          "count(*) FROM member m JOIN organization d ON d.id = m.organization_id "
          "WHERE d.path >= $1 AND d.path < $2 AND m.status = ANY($3::text[]) GROUP BY 1, 2")


def age_bounds(today: dt.date | None = None) -> list[dt.date]:
    """The birth-date bounds of the age bands (db.services.statistics.AGE_BANDS): born after the
    i-th bound is younger than the i-th band's highest age + 1."""
    from db.services.statistics import AGE_BANDS, years_before
    today = today or dt.date.today()
    return [years_before(today, highest + 1) for _, _, highest in AGE_BANDS if highest is not None]


def variables(workload: str, code: str, ids: dict[str, int] | None = None) -> dict:
    if workload == "W0":
        return {}
    if workload in ("W3", "W4"):
        from gql.ids import to_global_id
        # $org for the product, $code for PostGraphile (each ignores the variable it does not declare).
        return {"org": to_global_id("Organization", (ids or {})[code]), "code": code}
    if workload == "W2":
        return {"code": code, "genders": W2_GENDERS, "education": W2_EDUCATION}
    return {"code": code}


def normalize(contender: str, workload: str, data: dict):
    """Each answer as plain tuples, to compare across contenders."""
    kind = workload.split("-")[0]
    if kind == "W0":
        return data["__typename"]
    if contender in POSTGRAPHILES:
        org = data["organizationByCode"]
        if kind == "W1":
            return (org["name"], org["subtreeMemberCount"],
                    [(c["name"], c["subtreeMemberCount"]) for c in org["organizationsByParentId"]["nodes"]])
        if kind == "W3":
            groups = org["subtreeMemberRows"]["groupedAggregates"]
            return sorted((k[0], k[1], int(g["distinctCount"]["memberId"]))
                          for g in groups for k in [g["keys"]])
        if kind == "W4":
            groups = org["subtreeMemberCells"]["groupedAggregates"]
            return sorted((k[0], k[1], int(g["distinctCount"]["memberId"])) for g in groups for k in [g["keys"]])
        return [(n["name"], n["organizationByOrganizationId"]["name"]) for n in org["subtreeMembers"]["nodes"]]
    if kind in ("W3", "W4"):
        from gql.ids import from_global_id
        table = data["crossTab"]

        def key(value: dict) -> str:
            return str(from_global_id(value["key"])[1]) if kind == "W4" else value["key"]

        return sorted((key(r), c["key"], n)
                      for r, line in zip(table["rows"], table["cells"]) for c, n in zip(table["columns"], line) if n)
    org = data["organization"]
    if kind == "W1":
        return (org["name"], org["memberCount"], [(c["name"], c["memberCount"]) for c in org["children"]])
    return [(e["node"]["name"], e["node"]["organization"]["name"]) for e in org["members"]["edges"]]


async def sql_answer(connection, workload: str, code: str):
    if workload in ("W3", "W4"):
        org_id, path = await connection.fetchrow(SQL_ORG, code)
        statuses = list(DEFAULT_STATUSES)
        if workload == "W3":
            rows = await connection.fetch(SQL_W3, path, path[:-1] + "0", statuses)
        else:
            rows = await connection.fetch(SQL_W4, path, path[:-1] + "0", statuses, str(org_id), len(path) + 1,
                                          *age_bounds())
        return sorted((r[0], r[1], int(r[2])) for r in rows)
    if workload.startswith("W1"):
        org_id, name, count = await connection.fetchrow(SQL_W1_ORG, code)
        children = await connection.fetch(SQL_W1_CHILDREN, org_id)
        return (name, int(count), [(r[0], int(r[1])) for r in children])
    path = await connection.fetchval(SQL_W2_ORG, code)
    rows = await connection.fetch(SQL_W2_MEMBERS, path, path[:-1] + "0", list(DEFAULT_STATUSES),
                                  W2_GENDERS, W2_EDUCATION)
    return [(r[0], r[1]) for r in rows]


# ------------------------------------------------------------------ data

@dataclass
class Data:
    schema: str
    sqlite_file: str | None
    orgs: int
    members: int
    codes: dict[str, str]  # workload → organization code
    shape: dict[str, str] = field(default_factory=dict)  # workload → "N children, M members"
    ids: dict[str, int] = field(default_factory=dict)  # organization code → id


def role_url(schema: str) -> str:
    return f"postgresql://{schema}@127.0.0.1:5432/test"


async def prepare_postgres(orgs: int, members: int, county: str | None, rebuild: bool = False) -> Data:
    engine, where = await dashboard.open_engine("postgresql", orgs, members)
    schema = dashboard.schema_name(orgs, members)
    try:
        stale = await stale_tables(engine)
    finally:
        await engine.dispose()
    if stale or rebuild:
        print(f"postgresql: rebuilding schema {schema}"
              + (f" (tables older than the models: {', '.join(stale)})" if stale else ""), flush=True)
        admin = make_engine(dashboard.POSTGRES)
        async with admin.begin() as connection:
            await connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        await admin.dispose()
    # The bulk load runs with session_replication_role = replica: no foreign-key triggers (the
    # generator makes consistent rows by construction). With them, each member_placement row's
    # check is planned while `member` still looks empty and then scans an index on a non-leading
    # column: the load crawls after ~160,000 members (seen at 20,000 / 400,000 and at the default size).
    engine = make_engine(dashboard.POSTGRES, connect_args={"server_settings": {
        "search_path": schema, "session_replication_role": "replica"}})
    try:
        info = await dashboard.prepare(engine, orgs, members)  # generates once, VACUUM ANALYZE once
        print(f"postgresql ({where}): {info['orgs']} organizations, {info['members']} members", flush=True)
        await ensure_admin(engine)
        codes, shape, ids = await pick_organizations(engine, county)
        async with engine.begin() as connection:
            for statement in postgraphile_functions(schema):
                await connection.exec_driver_sql(statement)
            # The product's login role for this schema (see the module docstring).
            exists = await connection.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": schema})
            if not exists:
                await connection.exec_driver_sql(f'CREATE ROLE "{schema}" LOGIN')
            await connection.exec_driver_sql(f'ALTER ROLE "{schema}" SET search_path = "{schema}"')
            await connection.exec_driver_sql(f'GRANT USAGE ON SCHEMA "{schema}" TO "{schema}"')
            await connection.exec_driver_sql(f'GRANT ALL ON ALL TABLES IN SCHEMA "{schema}" TO "{schema}"')
            await connection.exec_driver_sql(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{schema}"')
    finally:
        await engine.dispose()
    return Data(schema, None, orgs, members, codes, shape, ids)


async def prepare_sqlite(orgs: int, members: int, rebuild: bool = False) -> str:
    engine, where = await dashboard.open_engine("sqlite", orgs, members)
    stale = await stale_tables(engine)
    if stale or rebuild:
        await engine.dispose()
        print(f"sqlite: rebuilding {where}" + (f" (tables older than the models: {', '.join(stale)})"
                                               if stale else ""), flush=True)
        for suffix in ("", "-wal", "-shm"):
            Path(where + suffix).unlink(missing_ok=True)
        engine, where = await dashboard.open_engine("sqlite", orgs, members)
    try:
        info = await dashboard.prepare(engine, orgs, members)
        print(f"sqlite ({where}): {info['orgs']} organizations, {info['members']} members", flush=True)
        await ensure_admin(engine)
    finally:
        await engine.dispose()
    return where


async def ensure_admin(engine) -> None:
    """An ADMIN at the root, its password hashed with the production profile (only when missing)."""
    sessionmaker = make_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        if await session.scalar(select(models.Account.id).where(models.Account.username == ADMIN)):
            return
        root = await session.scalar(select(models.Organization.id).where(models.Organization.parent_id.is_(None)))
        await accounts.create(session, SYSTEM_ACTOR, hasher_named("production"), organization_id=root,
                              username=ADMIN, password=PASSWORD, name="对比基准管理员", role="ADMIN")


async def pick_organizations(engine, county: str | None) -> tuple[dict[str, str], dict[str, str], dict[str, int]]:
    """The county: the level-1 district or county committee (name ends 区委员会/县委员会) with the
    most children, unless --county names a code."""
    o = models.Organization
    child = aliased(o)
    children = select(func.count(child.id)).where(child.parent_id == o.id).scalar_subquery()
    async with make_sessionmaker(engine)() as session:
        root = (await session.execute(select(o.code, o.path).where(o.parent_id.is_(None)))).one()
        if county is None:
            rows = (await session.execute(select(o.code, o.name, children).where(o.depth == 1))).all()
            counties = [r for r in rows if r.name.endswith(("区委员会", "县委员会"))] or rows
            county = max(counties, key=lambda r: (r[2], r.code)).code
        shape, ids = {}, {}
        for workload, code in (("W1", county), ("W1-root", root.code)):
            org = (await session.execute(select(o.id, o.name, o.path).where(o.code == code))).one()
            ids[code] = org.id
            n_children = await session.scalar(select(func.count()).where(o.parent_id == org.id))
            n_members = await session.scalar(select(func.sum(o.direct_member_count)).where(
                o.path >= org.path, o.path < org.path[:-1] + "0"))
            shape[workload] = f"{org.name} ({code}): {n_children} children, {n_members} members"
        # W3/W4 at each size: subtree member counts from the direct counts, summed up the paths.
        rows = (await session.execute(select(o.id, o.code, o.name, o.path, o.direct_member_count)
                                      .where(o.status == "ACTIVE"))).all()
        by_id = {str(r.id): r for r in rows}
        subtree = {r.id: 0 for r in rows}
        children_of: dict[int, int] = {}
        for r in rows:
            ancestors = [int(i) for i in r.path.strip("/").split("/") if i in by_id]
            for a in ancestors:
                subtree[a] += r.direct_member_count or 0
            if len(ancestors) > 1:
                children_of[ancestors[-2]] = children_of.get(ancestors[-2], 0) + 1
        sized = {}
        for size, target in SIZES.items():
            if target is None:
                pick = by_id[str((await session.execute(select(o.id).where(o.code == root.code))).scalar_one())]
            else:
                pick = min((r for r in rows if children_of.get(r.id, 0) >= 2),
                           key=lambda r: (abs(math.log(max(subtree[r.id], 1) / target)), r.code))
            sized[size] = pick.code
            ids[pick.code] = pick.id
            text_ = f"{pick.name} ({pick.code}): {children_of.get(pick.id, 0)} children, {subtree[pick.id]} members"
            for kind in ("W3", "W4"):
                shape[f"{kind}-{size}"] = text_
    shape["W2"] = shape["W3"] = shape["W4"] = shape["W1"]
    shape["W3-root"] = shape["W4-root"] = shape["W1-root"]
    shape["W0"] = "no organization (a signed-in { __typename })"
    codes = {"W0": root.code, "W1": county, "W2": county, "W3": county, "W4": county,
             "W1-root": root.code, "W3-root": root.code, "W4-root": root.code,
             **{f"{kind}-{size}": code for size, code in sized.items() for kind in ("W3", "W4")}}
    return codes, shape, ids


# ------------------------------------------------------------------ servers

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/graphql"

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)  # its own session: uvicorn and its workers
                self.process.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


_started: list[Server] = []


@atexit.register
def _stop_all() -> None:
    """No server outlives the run, whatever ends it (each runs in a session of its own)."""
    for server in _started:
        server.stop()


def _terminate(_signum, _frame):
    raise KeyboardInterrupt  # unwinds through the `finally` that stops the servers


def start(name: str, command: list[str], env: dict, port: int, cwd: Path = PROJECT_ROOT) -> Server:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / f"{name}.log"
    process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                               stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(name, process, port, log)
    _started.append(server)
    return server


async def wait_ready(server: Server, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise SystemExit(f"{server.name} exited ({server.process.returncode}); see {server.log}:\n"
                                 + server.log.read_text()[-3000:])
            try:
                await http.post(server.url, json={"query": "{ __typename }"})
                return
            except httpx.TransportError:
                await asyncio.sleep(0.3)
    raise SystemExit(f"{server.name} did not answer within {seconds:.0f} s; see {server.log}")


# Worker processes of each contender served by the product on PostgreSQL.
PRODUCT_WORKERS = {"dangjian": 1, "dangjian-w2": 2, "dangjian-warm": 1, "dangjian-w2-warm": 2, "dangjian-base": 1}
POSTGRAPHILE_POOL = 10  # pg-pool's default, which PostGraphile v4 keeps (it queues requests beyond it)
BENCH_OWN_CONNECTIONS = 8  # this process's engines, a sign-in's second connection, psql: a margin


def pool_sizes(contenders: list[str], connections: int, max_connections: int,
               reserved: int) -> tuple[int, int] | None:
    """(pool, overflow) per worker process of the product on PostgreSQL, from the server's
    connection budget; None when no contender is one.

    Every contender runs at once and a pool keeps what it opened, so the product's workers share
    `max_connections` with PostGraphile's pool and the bare-SQL pool. A worker under `connections`
    concurrent requests holds one connection per request in flight: a pool smaller than that
    closes an overflow connection on nearly every check-in and opens a new one for the next request
    (asyncpg's connect, its SSL probe included). With the pool at 8 (this function's fixed
    predecessor), py-spy over a cached W3-100 worker at c=16 found 16% of its samples in asyncpg's
    connect and 4% in closing connections. So: as large as the load, within the budget; the
    overflow gets what is left. A --baseline checkout from before DANGJIAN_DB_MAX_OVERFLOW opens as
    many again as its pool, so it is counted twice. A budget that cannot give every worker 2
    connections stops the run (SystemExit) rather than fail it with "too many clients"."""
    processes = sum(PRODUCT_WORKERS.get(c, 0) * (2 if c == "dangjian-base" else 1) for c in contenders)
    others = (POSTGRAPHILE_POOL * sum(c in POSTGRAPHILES for c in contenders)
              + (connections if "sql" in contenders else 0))
    budget = max_connections - reserved - BENCH_OWN_CONNECTIONS - others
    if budget < 2 * processes:
        raise SystemExit(f"the PostgreSQL server's max_connections ({max_connections}, {reserved} reserved) cannot hold "
                         f"these contenders at {connections} connections: {others} for PostGraphile and bare SQL, "
                         f"{BENCH_OWN_CONNECTIONS} for the harness, 2 at least for each of {processes} product worker "
                         f"processes; use fewer contenders or connections")
    if not processes:
        return None
    pool = min(connections, budget // processes)
    overflow = min(pool, (budget - processes * pool) // processes)
    return pool, overflow


def start_dangjian(name: str, database_url: str, workers: int, root: Path = PROJECT_ROOT,
                   cached: bool = False, pool: tuple[int, int] | None = None) -> Server:
    """The product from the checkout at `root` (this one, or --baseline's for a before/after run),
    with the response cache on (warm) or off (cold), and `pool` (pool_sizes) per worker on
    PostgreSQL (None: the product's defaults, as for SQLite, which has no pool to size)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "DANGJIAN_PASSWORD_PROFILE": "production",
           "PYTHONPATH": str(root), "DANGJIAN_RESPONSE_CACHE": "2000" if cached else "0"}
    if pool is not None:
        env.update({"DANGJIAN_DB_POOL_SIZE": str(pool[0]), "DANGJIAN_DB_MAX_OVERFLOW": str(pool[1])})
    command = [sys.executable, "-m", "gql.serve", "--host", HOST, "--port", str(port),
               "--workers", str(workers), "--no-access-log"]
    return start(name, command, env, port, cwd=root)


def install_postgraphile() -> Path:
    modules = NODE_DIR / "node_modules"
    if not all((modules / name.rsplit("@", 1)[0]).is_dir() for name in NPM_PACKAGES):
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is missing (Debian: apt-get install -y nodejs npm)")
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        print(f"npm install --prefix {NODE_DIR} {' '.join(NPM_PACKAGES)}", flush=True)
        subprocess.run([npm, "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", *NPM_PACKAGES],
                       check=True, timeout=600, stdin=subprocess.DEVNULL)
    return modules


def start_postgraphile(schema: str, name: str = "postgraphile", jwt_secret: str | None = None) -> Server:
    modules = install_postgraphile()
    port = free_port()
    # The server settings the product's engine sets (db/engine.py), for the same plans.
    options = " ".join(f"-c {k}={v}" for k, v in POSTGRES_SETTINGS.items())
    url = f"{PG_URL}?options={options.replace(' ', '%20').replace('=', '%3D')}"
    env = {**os.environ, "NODE_PATH": str(modules), "NODE_ENV": "production"}
    script = Path(__file__).with_name("postgraphile_server.js")
    return start(name, ["node", str(script), url, schema, str(port), *([jwt_secret] if jwt_secret else [])],
                 env, port)


async def root_path(schema: str) -> str:
    connection = await asyncpg.connect(PG_URL, server_settings={"search_path": schema})
    try:
        return await connection.fetchval("SELECT path FROM organization WHERE parent_id IS NULL")
    finally:
        await connection.close()


async def sign_in(server: Server) -> str:
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.post(server.url, json={
            "query": "mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) "
                     "{ token userErrors { message } } }",
            "variables": {"u": ADMIN, "p": PASSWORD}})
        token = response.json()["data"]["login"]["token"]
        if not token:
            raise SystemExit(f"{server.name}: sign-in failed: {response.text}")
        return token


# ------------------------------------------------------------------ load

@dataclass
class Measure:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    # CPU per request (ms) during the measurement: the contender's server processes, PostgreSQL's
    # backends, the load generator (cpu_split).
    cpu: dict | None = None


# ------------------------------------------------------------------ where the CPU goes
#
# Why: at 16 connections the contenders share the machine's cores with PostgreSQL and the load
# generator, so req/s alone does not say whether a server is bound by its own CPU or waits for
# PostgreSQL. On 2026-12-02 the split (a scratch script first) showed a cold W3-100 worker at 96% of
# its core with 1.50 ms of CPU per request against PostGraphile's 0.43 ms, and at W3-10k PostgreSQL
# spending 3.3 ms per request for the product as for bare SQL while the worker sat at 55%: two
# different reasons for one ratio.

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_snapshot() -> dict[int, tuple[str, int, float]]:
    """pid -> (command, parent pid, CPU seconds: user + system, all its threads) from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                line = stat.read()
        except OSError:  # gone meanwhile
            continue
        command = line[line.index("(") + 1:line.rindex(")")]
        fields = line[line.rindex(")") + 2:].split()
        found[int(entry)] = (command, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS)
    return found


def _tree(root: int, snapshot: dict) -> set[int]:
    pids, grew = {root}, True
    while grew:
        grew = False
        for pid, (_, parent, _) in snapshot.items():
            if parent in pids and pid not in pids:
                pids.add(pid)
                grew = True
    return pids


def cpu_split(before: dict, after: dict, server_pid: int | None, client_seconds: float,
              requests: int) -> dict | None:
    """CPU ms per request of the server (its process tree), PostgreSQL (every `postgres` process)
    and the client, between two cpu_snapshot()s. A process started between them counts whole (a
    backend PostGraphile's pool opened again after its 10 s idle timeout); one that ended between
    them is not counted (a backend that disconnected): the figures are floors."""
    if not requests:
        return None

    def spent(pids) -> float:
        return sum(after[p][2] - (before[p][2] if p in before and before[p][0] == after[p][0] else 0)
                   for p in pids if p in after)

    server = spent(_tree(server_pid, after)) if server_pid else None
    postgres = spent(p for p, (command, _, _) in after.items() if command.startswith("postgres"))
    per = 1000 / requests
    return {"server": round(server * per, 3) if server is not None else None,
            "postgres": round(postgres * per, 3), "client": round(client_seconds * per, 3)}


def wrk_script(body: dict, token: str | None) -> str:
    """wrk's request, and a count of the answers that are not a clean 200 (wrk itself counts only
    statuses >= 400 and socket errors; GraphQL reports errors with a 200), printed as BAD n."""
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{json.dumps(body)}]==]",
             'wrk.headers["Content-Type"] = "application/json"']
    if token:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {token}"')
    lines += [
        "local threads = {}",
        "function setup(thread) table.insert(threads, thread) end",
        "function init(args) bad = 0 end",
        "function response(status, headers, body)",
        "  if status ~= 200 or string.find(body, '\"errors\"', 1, true) then bad = bad + 1 end",
        "end",
        "function done(summary, latency, requests)",
        "  local n = 0",
        "  for _, t in ipairs(threads) do n = n + t:get('bad') end",
        "  io.write(string.format('BAD %d\\n', n))",
        "end",
    ]
    return "\n".join(lines) + "\n"


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(output: str) -> Measure:
    def latency(percent: str) -> float:
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        return float(match.group(1)) * UNITS[match.group(2)] if match else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    errors = 0
    bad = re.search(r"^BAD (\d+)$", output, re.M)
    errors += int(bad.group(1)) if bad else 0
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return Measure(float(rps.group(1)) if rps else 0.0, latency("50"), latency("99"),
                   int(total.group(1)) if total else 0, errors)


async def run_wrk(server: Server, body: dict, token: str | None, connections: int, seconds: float) -> Measure:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", dir=BENCH_DIR, delete=False) as script:
        script.write(wrk_script(body, token))
    try:
        command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "30s",
                   "--latency", "-s", script.name, server.url]
        process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.STDOUT)
        output, _ = await asyncio.wait_for(process.communicate(), seconds + 60)
    finally:
        os.unlink(script.name)
    return parse_wrk(output.decode())


async def run_sql(pool, workload: str, code: str, connections: int, seconds: float) -> Measure:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def loop():
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                async with pool.acquire() as connection:
                    await sql_answer(connection, workload, code)
            except Exception:
                errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pick(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

    return Measure(len(latencies) / elapsed, pick(0.50), pick(0.99), len(latencies), errors)


# ------------------------------------------------------------------ the run

def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except Exception:
        return ""


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}, {os.cpu_count()} cores, {model}".strip(", ")


async def run(args) -> int:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing (Debian: apt-get install -y wrk)")
    contenders = list(args.contenders)
    data = await prepare_postgres(args.orgs, args.members, args.county, args.rebuild)
    for workload in args.workloads:
        print(f"  {workload}: {data.shape[workload]}")
    sqlite_file = (await prepare_sqlite(args.orgs, args.members, args.rebuild)
                   if "dangjian-sqlite" in contenders else None)

    servers: dict[str, Server] = {}
    pool = None
    try:
        database_url = role_url(data.schema)
        connection = await asyncpg.connect(PG_URL)
        try:
            budget = [int(await connection.fetchval(f"SHOW {name}"))
                      for name in ("max_connections", "superuser_reserved_connections")]
        finally:
            await connection.close()
        sizes = pool_sizes(contenders, max(args.connections), *budget)
        if sizes is not None:
            print(f"  product's pool per worker: {sizes[0]} connections, {sizes[1]} more at a peak "
                  f"(max_connections {budget[0]})", flush=True)
            if sizes[0] < max(args.connections):
                print(f"  warning: a worker at {max(args.connections)} connections will open and close overflow "
                      f"connections (its pool holds {sizes[0]}): fewer contenders at once measure it better",
                      flush=True)
        for name in contenders:
            if name in PRODUCT_WORKERS:
                root = PROJECT_ROOT
                if name == "dangjian-base":
                    if not args.baseline:
                        raise SystemExit("dangjian-base needs --baseline DIR (a checkout of the code to compare against)")
                    root = Path(args.baseline).resolve()
                servers[name] = start_dangjian(name, database_url, PRODUCT_WORKERS[name], root,
                                               cached=name.endswith("-warm"), pool=sizes)
            elif name == "dangjian-sqlite":
                servers[name] = start_dangjian(name, f"sqlite+aiosqlite:///{sqlite_file}", 1)
            elif name == "postgraphile":
                servers[name] = start_postgraphile(data.schema)
            elif name == "postgraphile-signed":
                secret = secrets.token_hex(32)
                servers[name] = start_postgraphile(data.schema, name, secret)
        for server in servers.values():
            await wait_ready(server)
        tokens = {name: await sign_in(server) for name, server in servers.items() if name.startswith("dangjian")}
        if "postgraphile-signed" in servers:
            tokens["postgraphile-signed"] = jwt_for(secret, await root_path(data.schema))
        if "sql" in contenders:
            pool = await asyncpg.create_pool(
                PG_URL, min_size=max(args.connections), max_size=max(args.connections),
                server_settings={**POSTGRES_SETTINGS, "search_path": data.schema})

        # One check: every contender answers every workload alike.
        answers: dict[str, dict[str, object]] = {}
        async with httpx.AsyncClient(timeout=120) as http:
            for workload in args.workloads:
                kind = workload.split("-")[0]
                for name in contenders:
                    if not supports(name, workload):
                        continue
                    if name == "sql":
                        async with pool.acquire() as connection:
                            answers.setdefault(workload, {})[name] = await sql_answer(connection, kind, data.codes[workload])
                        continue
                    query = query_for(name, kind)
                    headers = {"Authorization": f"Bearer {tokens[name]}"} if name in tokens else {}
                    response = await http.post(servers[name].url, headers=headers, json={
                        "query": query, "variables": variables(kind, data.codes[workload], data.ids)})
                    body = response.json()
                    if response.status_code != 200 or body.get("errors"):
                        raise SystemExit(f"{name} {workload} failed ({response.status_code}): {response.text[:2000]}")
                    answers.setdefault(workload, {})[name] = normalize(name, kind, body["data"])
                reference_name = next(iter(answers[workload]))
                reference = answers[workload][reference_name]
                for name, answer in answers[workload].items():
                    if answer != reference:
                        raise SystemExit(f"{workload}: {name} answers differently from {reference_name}:\n"
                                         f"  {reference_name}: {str(reference)[:600]}\n  {name}: {str(answer)[:600]}")
                size = len(reference[2]) if kind == "W1" else len(reference)
                what = (f"__typename {reference}" if kind == "W0"
                        else f"{reference[1]} members, {size} children" if kind == "W1"
                        else f"{size} nonzero cells, {sum(n for *_, n in reference)} members" if kind in ("W3", "W4")
                        else f"{size} members")
                print(f"  check {workload}: {len(answers[workload])} contenders agree ({what})", flush=True)

        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        started_at = dt.datetime.now(dt.timezone.utc)
        results_file = RESULTS_DIR / f"compare-{started_at:%Y%m%dT%H%M%SZ}.jsonl"
        meta = {"kind": "meta", "at": started_at.isoformat(timespec="seconds"), "commit": git_commit(),
                "machine": machine(), "orgs": data.orgs, "members": data.members, "schema": data.schema,
                "shape": data.shape, "duration_s": args.duration, "rounds": args.rounds,
                "contenders": {c: CONTENDERS[c] for c in contenders}, "loadavg": os.getloadavg()}
        with results_file.open("a") as out:
            out.write(json.dumps(meta, ensure_ascii=False) + "\n")

        async def measure(name: str, workload: str, connections: int, seconds: float) -> Measure:
            kind = workload.split("-")[0]
            # The client's CPU: bare SQL's loops are this process; wrk is a child, reaped when it ends
            # (the servers are children that do not end).
            who = resource.RUSAGE_SELF if name == "sql" else resource.RUSAGE_CHILDREN
            before, started = cpu_snapshot(), resource.getrusage(who)
            if name == "sql":
                m, server_pid = await run_sql(pool, kind, data.codes[workload], connections, seconds), None
            else:
                query = query_for(name, kind)
                body = {"query": query, "variables": variables(kind, data.codes[workload], data.ids)}
                m = await run_wrk(servers[name], body, tokens.get(name), connections, seconds)
                server_pid = servers[name].process.pid
            used = resource.getrusage(who)
            client = used.ru_utime + used.ru_stime - started.ru_utime - started.ru_stime
            m.cpu = cpu_split(before, cpu_snapshot(), server_pid, client, m.requests)
            return m

        # Warm-up: each contender, each workload, once at the highest connection count.
        for workload in args.workloads:
            for name in contenders:
                if supports(name, workload):
                    await measure(name, workload, max(args.connections), args.warmup)

        measured: dict[tuple[str, int, str], list[Measure]] = {}
        loads: list[tuple[float, float, float]] = []
        total = args.rounds * len(args.connections) * sum(supports(n, w) for w in args.workloads for n in contenders)
        done = 0
        for round_no in range(1, args.rounds + 1):
            for workload in args.workloads:
                for connections in args.connections:
                    for name in contenders:
                        if not supports(name, workload):
                            continue
                        m = await measure(name, workload, connections, args.duration)
                        load = os.getloadavg()
                        loads.append(load)
                        measured.setdefault((workload, connections, name), []).append(m)
                        done += 1
                        record = {"kind": "measure", "round": round_no, "workload": workload, "c": connections,
                                  "contender": name, "rps": round(m.requests_per_second, 2),
                                  "p50_ms": round(m.p50_ms, 3), "p99_ms": round(m.p99_ms, 3),
                                  "requests": m.requests, "errors": m.errors, "loadavg": load,
                                  "cpu_ms_per_request": m.cpu}
                        with results_file.open("a") as out:
                            out.write(json.dumps(record) + "\n")
                        print(f"  [{done}/{total}] round {round_no} {workload:7} c={connections:<3} {name:16} "
                              f"{m.requests_per_second:8.1f} req/s  p50 {m.p50_ms:8.2f} ms  p99 {m.p99_ms:8.2f} ms"
                              f"{'  ERRORS ' + str(m.errors) if m.errors else ''}  load {load[0]:.2f}", flush=True)

        summary = summarize(measured, args, contenders)
        load_line = (f"load average during the run: min {min(l[0] for l in loads):.2f}, "
                     f"max {max(l[0] for l in loads):.2f} (1 min); at the end {os.getloadavg()}")
        print()
        print(f"{started_at:%Y-%m-%d %H:%M} UTC, {machine()}, commit {git_commit()}")
        print(f"{data.orgs} organizations, {data.members} members (PostgreSQL schema {data.schema}); "
              f"{args.rounds} interleaved rounds of {args.duration:g} s; medians over the rounds")
        print(load_line)
        print()
        print(summary["table"])
        with results_file.open("a") as out:
            out.write(json.dumps({"kind": "summary", "rows": summary["rows"], "load": load_line}) + "\n")
        print(f"\nJSON lines: {results_file.relative_to(PROJECT_ROOT)}")
        errors = sum(m.errors for ms in measured.values() for m in ms)
        if errors:
            print(f"{errors} failed requests: the figures are not valid")
            return 1
        return 0
    finally:
        if pool is not None:
            await pool.close()
        for server in servers.values():
            server.stop()


def summarize(measured, args, contenders: list[str]) -> dict:
    """Three tables: req/s with the ratios to PostGraphile, p50 / p99 latency, and where the CPU went
    (cpu_split), each the median over the rounds."""
    ours = [c for c in contenders if c.startswith("dangjian")]
    ratios = ours if "postgraphile" in contenders else []
    signed = ours if "postgraphile-signed" in contenders else []
    # Time ÷ bare-SQL time: in a closed loop at a fixed connection count, time per request is
    # 1 / throughput, so the ratio is SQL's req/s over the contender's.
    floors = [c for c in contenders if c != "sql"] if "sql" in contenders else []
    head = ["workload", "c", *contenders, *(f"{c} ÷ PostGraphile" for c in ratios),
            *(f"{c} ÷ PostGraphile signed in" for c in signed), *(f"{c} time ÷ SQL" for c in floors)]
    throughput = ["req/s (median of rounds)", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    head = ["workload", "c", *(f"{c} p50 / p99 ms" for c in contenders)]
    if "postgraphile" in contenders and "dangjian" in contenders:
        head.append("dangjian p50 ÷ PostGraphile p50")
    latency = ["latency (median of rounds)", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    head = ["workload", "c", *contenders]
    cpu = ["CPU ms per request, server / PostgreSQL / client (medians of rounds; cpu_split)", "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = []
    for workload in args.workloads:
        for connections in args.connections:
            row: dict = {"workload": workload, "c": connections}
            med = {}
            for name in contenders:
                ms = measured.get((workload, connections, name))
                if not ms:
                    med[name] = (float("nan"), float("nan"), float("nan"))
                    continue
                med[name] = (statistics.median(m.requests_per_second for m in ms),
                             statistics.median(m.p50_ms for m in ms), statistics.median(m.p99_ms for m in ms))
                row[name] = {"rps": round(med[name][0], 1), "p50_ms": round(med[name][1], 2),
                             "p99_ms": round(med[name][2], 2)}
            cells = [f"{med[name][0]:.1f}" if med[name][0] == med[name][0] else "—" for name in contenders]
            for name in ratios:
                ratio = med[name][0] / med["postgraphile"][0] if med["postgraphile"][0] else float("nan")
                row[f"{name}/postgraphile"] = round(ratio, 3)
                cells.append(f"{ratio:.2f}" if ratio == ratio else "—")
            for name in signed:
                theirs = med["postgraphile-signed"][0]
                ratio = med[name][0] / theirs if theirs == theirs and theirs else float("nan")
                row[f"{name}/postgraphile-signed"] = round(ratio, 3) if ratio == ratio else None
                cells.append(f"{ratio:.2f}" if ratio == ratio else "—")
            for name in floors:
                slower = med["sql"][0] / med[name][0] if med[name][0] else float("nan")
                row[f"{name}_time/sql"] = round(slower, 3) if slower == slower else None
                cells.append(f"{slower:.2f}" if slower == slower else "—")
            throughput.append(f"| {workload} | {connections} | " + " | ".join(cells) + " |")
            cells = [f"{med[name][1]:.1f} / {med[name][2]:.1f}" if med[name][1] == med[name][1] else "—"
                     for name in contenders]
            if "postgraphile" in contenders and "dangjian" in contenders:
                slower = med["dangjian"][1] / med["postgraphile"][1] if med["postgraphile"][1] else float("nan")
                row["dangjian_p50/postgraphile_p50"] = round(slower, 2)
                cells.append(f"{slower:.1f}×" if slower == slower else "—")
            latency.append(f"| {workload} | {connections} | " + " | ".join(cells) + " |")
            cells = []
            for name in contenders:
                splits = [m.cpu for m in measured.get((workload, connections, name), []) if m.cpu]
                if not splits:
                    cells.append("—")
                    continue
                part = {k: statistics.median(s[k] for s in splits) if splits[0][k] is not None else None
                        for k in ("server", "postgres", "client")}
                if name in row:
                    row[name]["cpu_ms"] = part
                cells.append(" / ".join("—" if part[k] is None else f"{part[k]:.2f}" for k in ("server", "postgres", "client")))
            cpu.append(f"| {workload} | {connections} | " + " | ".join(cells) + " |")
            rows.append(row)
    return {"rows": rows, "table": "\n".join(throughput + [""] + latency + [""] + cpu)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--orgs", type=int, default=50_000)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (default 5)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per contender and workload")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 1])
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=DEFAULT_WORKLOADS)
    parser.add_argument("--contenders", nargs="+", choices=list(CONTENDERS),
                        default=["dangjian", "dangjian-w2", "dangjian-warm", "dangjian-w2-warm", "dangjian-sqlite",
                                 "postgraphile", "sql"])
    parser.add_argument("--rebuild", action="store_true",
                        help="generate the data again (done by itself when the models gained columns)")
    parser.add_argument("--baseline", help="a checkout of older code (`git worktree add DIR COMMIT`), served "
                                           "as the contender dangjian-base: before and after in one run")
    parser.add_argument("--county", help="organization code for W1 and W2 (default: the level-1 "
                                         "district/county committee with the most children)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench compare", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
