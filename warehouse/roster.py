"""The staff roster (协管员/工作人员名册, JC03) as marts: who works where, and the study's Table 1.

A centre sends its whole roster each time someone joins or leaves, so the current roster of a
service point is the rows of its latest roster export (the newest business date, then the
newest file). Table 1 of the policy study behind issue #19 tabulates age and education of
centre staff, community coordinators and village coordinators/informants; ``table_one``
reproduces it per district (or street) and post. Ages are counted at ``as_of``; education
groups are GB/T 4658's ``level_group`` (the code table's own grouping).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import duckdb

import tierhub.reference
from tierhub.reference import code_tables, divisions
from tierhub.scope import Scope
from tierhub.standards import catalogue
from warehouse.marts import Level
from warehouse.schema import fact_table

ROSTER = "JC03"
AGE_BANDS = ((0, 35, "≤35"), (36, 45, "36–45"), (46, 55, "46–55"), (56, 200, "≥56"))
# GB/T 4658 level groups, highest first, as the study's columns run.
EDUCATION_GROUPS = ("研究生", "大学本科", "大学专科", "中专/职高/技校", "高中", "初中及以下")


@dataclass(frozen=True, slots=True)
class StaffMember:
    """One person on a current roster."""

    source_id: str
    street_code: str
    id_number: str
    name: str
    birth_date: dt.date
    education_level: str
    staff_post: str
    community_code: str | None
    hire_date: dt.date


@dataclass
class TableOneRow:
    """One line of Table 1: a division × post, with head count, age bands and education groups."""

    division_code: str
    division_name: str
    post: str
    post_name: str
    staff: int = 0
    ages: Counter[str] = field(default_factory=Counter)
    education: Counter[str] = field(default_factory=Counter)
    mean_age: float | None = None


def current_roster(con: duckdb.DuckDBPyConnection, scope: str) -> list[StaffMember]:
    """Everyone on the latest roster export of each service point inside ``scope``."""
    table = fact_table(catalogue().items[ROSTER])
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name || '.' || table_name = ?", [table]
    ).fetchall()
    if exists != [(1,)]:
        return []
    rows = con.execute(
        f"""
        WITH latest AS (
            SELECT source_id, arg_max(file_id, (registration_date, file_id)) AS file_id FROM {table}
            WHERE superseded_by_load IS NULL AND starts_with(source_id, ?) GROUP BY source_id
        )
        SELECT f.source_id, f.id_number, f.name, f.birth_date, f.education_level, f.staff_post,
               f.community_code, f.hire_date
        FROM {table} f JOIN latest l USING (source_id, file_id)
        WHERE f.superseded_by_load IS NULL ORDER BY f.source_id, f.staff_post, f.id_number
        """,
        [Scope(scope).prefix],
    ).fetchall()
    return [
        StaffMember(str(s), str(s)[:9] + "000", str(i), str(n or ""), b, str(e), str(p), c, h)
        for s, i, n, b, e, p, c, h in rows
    ]


def age_band(birth: dt.date, as_of: dt.date) -> str:
    """The Table 1 age band of someone born on ``birth``, at ``as_of``."""
    age = as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))
    return next(label for low, high, label in AGE_BANDS if low <= age <= high)


def education_group(code: str) -> str:
    """The Table 1 education group of a GB/T 4658 code: the table's ``level_group``, with 初中,
    小学 and 其他 pooled as 初中及以下 (as the study does)."""
    group = _level_groups().get(code)
    return group if group in EDUCATION_GROUPS else "初中及以下"


@cache
def _level_groups() -> dict[str, str]:
    path = Path(tierhub.reference.__file__).parent / "data" / "code_tables" / "gbt4658_education.csv"
    with path.open(encoding="utf-8") as handle:
        return {row["code"]: row["level_group"] for row in csv.DictReader(handle)}


def table_one(
    con: duckdb.DuckDBPyConnection, scope: str, *, by: Level = "district", as_of: dt.date | None = None
) -> list[TableOneRow]:
    """Table 1 per division (``district`` or ``street``) × post inside ``scope``: staff, ages, education."""
    as_of = as_of or dt.date.today()
    posts = code_tables()["local_staff_post"].names
    tree = divisions()
    found: dict[tuple[str, str], TableOneRow] = {}
    ages: dict[tuple[str, str], list[int]] = {}
    for member in current_roster(con, scope):
        code = member.source_id[:6] + "000000" if by == "district" else member.street_code
        key = (code, member.staff_post)
        row = found.get(key)
        if row is None:
            node = tree.by_code.get(code)
            row = found[key] = TableOneRow(
                code, node.name if node else code, member.staff_post, posts.get(member.staff_post, member.staff_post)
            )
        row.staff += 1
        row.ages[age_band(member.birth_date, as_of)] += 1
        row.education[education_group(member.education_level)] += 1
        ages.setdefault(key, []).append((as_of - member.birth_date).days // 365)
    for key, row in found.items():
        row.mean_age = sum(ages[key]) / len(ages[key])
    return [found[k] for k in sorted(found)]


def staff_counts(con: duckdb.DuckDBPyConnection, scope: str) -> dict[str, Counter[str]]:
    """Street centre code → post → people on its current roster (its communities' included)."""
    counts: dict[str, Counter[str]] = {}
    for member in current_roster(con, scope):
        counts.setdefault(member.street_code, Counter())[member.staff_post] += 1
    return counts
