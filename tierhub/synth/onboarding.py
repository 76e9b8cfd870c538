"""One export in a new dialect for the demo to onboard (issue #14).

``tierhub demo`` drops it beside the plain synthetic city: 劝业场街道's 失业登记 saved as Excel's
"Unicode 文本" (UTF-16LE with BOM, tab-separated) under a 数据透视 title band, in which some rows
give the unemployment reason as 协商解除 — a spelling no shipped code table knows. The sync holds
those rows (CODE_UNKNOWN); the demo then maps the spelling as a data engineer would
(``<home>/aliases/codes.yaml``) and re-judges them (``tierhub rejudge``). Its own random stream:
the plain city's files are unchanged.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

from tierhub.reference import divisions, field_dictionary
from tierhub.standards import catalogue
from tierhub.synth.people import make_person
from tierhub.synth.values import ValueDrawer
from tierhub.synth.wild import BY_NAME, write_wild
from tierhub.synth.writers import Cell

SOURCE = "120101001000"  # 和平区 劝业场街道
ITEM = "JY02"
DIALECT = "excel_unicode_text_pivot"
ROWS = 12
HELD_EVERY = 3  # every third row names its reason in the office's own spelling
SPELLING = ("local_unemployment_reason", "协商解除", "1")  # (table, text, code 解除劳动合同)


@dataclass(frozen=True, slots=True)
class OnboardingExport:
    """The export written, its dialect, and the alias that onboards it."""

    path: Path
    source_id: str
    item_code: str
    dialect: str
    encoding: str
    delimiter: str
    rows: int
    held_rows: list[int]  # row numbers held until the alias is mapped
    table: str
    text: str
    code: str


def write_onboarding_export(drops: Path, seed: int, as_of: dt.date) -> OnboardingExport:
    """Write the demo's new-dialect export under ``drops`` (same bytes for the same seed and day)."""
    rng = random.Random(f"{seed}:onboarding:{as_of}")
    tree = divisions()
    source = tree.get(SOURCE)
    district = tree.get(SOURCE[:6] + "000000")
    communities = tree.children.get(SOURCE, []) or [source]
    item = catalogue().find(ITEM)
    version = item.version_for(as_of)
    fields = [f.field for f in version.fields if not f.carried and f.field not in ("employer_name", "employer_uscc")]
    drawer = ValueDrawer(rng, as_of, source, source, district)
    used: set[str] = set()
    cells: list[list[Cell]] = []
    held: list[int] = []
    dialect = BY_NAME[DIALECT]
    first_row = dialect.title_rows + 2
    for index in range(ROWS):
        person = make_person(rng, SOURCE[:6], 20, 55, as_of, used)
        registered = as_of - dt.timedelta(days=rng.randint(2, 20))
        row, _ = drawer.row(item, version, fields, person, rng.choice(communities), registered, False)
        if index % HELD_EVERY == 1:
            row["unemployment_reason"] = SPELLING[1]
            held.append(first_row + index)
        cells.append([row.get(f) for f in fields])
    header = [field_dictionary()[f].zh_header for f in fields]
    folder = drops / SOURCE[:6] / SOURCE
    folder.mkdir(parents=True, exist_ok=True)
    path, written, encoding, first = write_wild(
        folder,
        f"{item.name_zh}_{SOURCE}_{as_of:%Y%m%d}_unicode",
        f"{source.name}{item.name_zh}统计表（数据透视）",
        header,
        cells,
        rng,
        dialect=dialect,
    )
    assert first == first_row
    return OnboardingExport(
        path=path,
        source_id=SOURCE,
        item_code=item.code,
        dialect=written.name,
        encoding=encoding,
        delimiter="tab",
        rows=ROWS,
        held_rows=held,
        table=SPELLING[0],
        text=SPELLING[1],
        code=SPELLING[2],
    )
