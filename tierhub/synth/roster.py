"""The synthetic staff roster (协管员/工作人员名册, JC03): one roster export per street centre.

Each street centre sends the people of its own centre (工作人员) and the coordinator of each of
its communities (社区协管员) and villages (村协管员), plus an informant (信息员) in about a third
of the villages. Ages and education follow the picture the policy study's Table 1 draws:
centre staff younger and mostly with a college degree, village coordinators older, most with
junior or senior middle school. Every row is clean. The roster draws from its own random
stream per centre and is written after every other file, so the rest of the city is byte for
byte what it was without it.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from tierhub.reference import Division, divisions
from tierhub.standards import catalogue
from tierhub.synth.people import make_person
from tierhub.synth.writers import Cell, write_csv

ROSTER = "JC03"
# post → (youngest, oldest, [(GB/T 4658 code, weight)])
PROFILES: dict[str, tuple[int, int, list[tuple[str, int]]]] = {
    "01": (24, 58, [("14", 4), ("21", 45), ("31", 35), ("41", 8), ("61", 8)]),
    "02": (28, 60, [("21", 15), ("31", 40), ("41", 15), ("61", 25), ("71", 5)]),
    "03": (35, 65, [("21", 3), ("31", 12), ("41", 10), ("61", 35), ("71", 35), ("81", 5)]),
    "04": (40, 70, [("31", 5), ("61", 30), ("71", 50), ("81", 15)]),
}
HEADER = [
    "姓名",
    "公民身份号码",
    "性别",
    "出生日期",
    "联系电话",
    "文化程度",
    "岗位",
    "所属社区",
    "入职时间",
    "登记日期",
]
CENTRE_STAFF = (4, 10)
INFORMANT_SHARE = 0.33


def roster_rows(street: Division, seed: int, as_of: dt.date, used_ids: set[str]) -> list[list[Cell]]:
    """The current roster of one street centre: its staff, then a coordinator per community."""
    rng = random.Random(f"{seed}:roster:{street.code}")
    tree = divisions()
    people: list[tuple[str, str | None]] = [("01", None)] * rng.randint(*CENTRE_STAFF)
    for community in tree.children.get(street.code, []):
        village = community.unit_type == "村委会"
        people.append(("03" if village else "02", community.code))
        if village and rng.random() < INFORMANT_SHARE:
            people.append(("04", community.code))
    reported = as_of - dt.timedelta(days=rng.randint(0, 20))
    rows: list[list[Cell]] = []
    for post, community_code in people:
        low, high, education = PROFILES[post]
        person = make_person(rng, street.code[:6], low, high, reported, used_ids)
        earliest = person.birth_date + dt.timedelta(days=365 * 20 + 5)  # hired at 20 at the earliest
        span = max((reported - earliest).days, 1)
        hired = min(earliest + dt.timedelta(days=rng.randint(0, span)), reported)
        codes, weights = zip(*education, strict=True)
        rows.append(
            [
                person.name,
                person.id_number,
                person.sex,
                person.birth_date,
                person.mobile,
                rng.choices(codes, weights)[0],
                post,
                community_code,
                hired,
                reported,
            ]
        )
    return rows


def write_rosters(
    drops: Path, sources: list[Division], seed: int, as_of: dt.date, used_ids: set[str]
) -> list[tuple[str, str, str, str, str, int]]:
    """Write one roster CSV per street centre among ``sources``; the inventory lines of the files."""
    item = catalogue().items[ROSTER]
    if not item.versions[-1].in_force(as_of):
        return []
    written = []
    for street in sources:
        if street.level != "street":
            continue
        rows = roster_rows(street, seed, as_of, used_ids)
        folder = drops / street.code[:6] / street.code
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{item.name_zh}_{street.code}_{as_of:%Y%m%d}.csv"
        write_csv(path, HEADER, rows, "utf-8-sig")
        written.append((path.relative_to(drops).as_posix(), street.code, ROSTER, "csv", "utf-8-sig", len(rows)))
    return written
