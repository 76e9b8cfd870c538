"""Generate a synthetic Tianjin: the export drops of street centres and workstations.

Deterministic for a seed: each source draws from its own random stream, so the files of
a source are the same whichever scale includes it. A ground-truth manifest records every
injected defect (file, row, kind, the rule it must trip) and every file written.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from quality.lookups import is_working_day
from quality.standards import ItemStandard, StandardVersion, catalogue
from tierhub.errors import ConfigError
from tierhub.reference import Division, divisions, field_dictionary
from tierhub.synth.defects import DEFECTS, DefectKind
from tierhub.synth.people import BANKS, EDUCATION, USCC_CHARS, Person, corrupt_check, make_person, make_uscc
from tierhub.synth.writers import Cell, write_csv, write_xlsx

SCALES: dict[str, tuple[str, ...] | None] = {
    "demo": ("120101", "120117"),  # 和平区 (urban) and 宁河区 (rural, former county code 120221)
    "district": ("120116",),  # 滨海新区 (former 塘沽/汉沽/大港 codes)
    "full": None,  # all 16 districts, 5,916 sources
}
ITEMS = ("JY02", "SB01", "SK01")
# Chance that a community/village workstation sends a file for an item in a period.
COMMUNITY_SHARE = {"JY02": 0.45, "SB01": 0.7, "SK01": 0.6}
AGES = {"JY02": (17, 59), "SB01": (17, 64), "SK01": (3, 88)}
SILENT_SHARE = 0.04  # sources that send nothing (the completeness report lists them)
FORMATS = (("csv", "utf-8"), ("csv", "utf-8-sig"), ("csv", "gbk"), ("xlsx", None), ("xlsx", None))
MANIFEST = "manifest.csv"
FILES = "files.csv"


@dataclass(frozen=True, slots=True)
class GeneratedCity:
    """What ``generate_city`` wrote."""

    root: Path
    drops: Path
    sources: int
    files: int
    rows: int
    defects: int


@dataclass(frozen=True, slots=True)
class InjectedDefect:
    """One row of the ground-truth manifest."""

    file: str
    source_id: str
    item_code: str
    row_number: int
    kind: str
    rule: str
    field: str


def select_sources(scale: str) -> list[Division]:
    """The sources a scale covers, in code order."""
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}", fix=f"use one of {', '.join(SCALES)}")
    chosen = SCALES[scale]
    return [s for s in divisions().sources() if chosen is None or s.code[:6] in chosen]


def add_working_days(day: dt.date, count: int) -> dt.date:
    """The date ``count`` working days after ``day``."""
    while count > 0:
        day += dt.timedelta(days=1)
        count -= is_working_day(day)
    return day


class _SourceWriter:
    """Draws the rows of one source's files."""

    def __init__(self, source: Division, seed: int, as_of: dt.date, defect_rate: float, used_ids: set[str]) -> None:
        self.source = source
        self.rng = random.Random(f"{seed}:{source.code}")
        self.as_of = as_of
        self.defect_rate = defect_rate
        self.used_ids = used_ids
        tree = divisions()
        street = tree.get(source.code[:9] + "000")
        self.street = street
        self.district = tree.get(source.code[:6] + "000000")
        self.communities = [c for c in tree.children.get(street.code, [])] or [source]
        others = tree.at_level("community")
        self.foreign = [c for c in self.rng.sample(others, 8) if not c.code.startswith(source.code[:9])][:5]
        self.pool: list[Person] = []
        # Dates of the row drawn last, which ``inject`` may shift.
        self.last_registered = as_of
        self.last_limit = 0

    def resident(self, item_code: str, taken: set[str]) -> Person:
        """A resident of this source's area old enough for the item, not yet in this file.

        Residents come from a per-source pool, so one person shows up in several items
        (registered unemployed, enrolled in the pension, applying for a card).
        """
        low, high = AGES[item_code]
        for person in self.rng.sample(self.pool, len(self.pool)):
            age = (self.as_of - person.birth_date).days // 365
            if person.id_number not in taken and low <= age <= high and self.rng.random() < 0.5:
                return person
        person = make_person(self.rng, self.source.code[:6], low, high, self.as_of, self.used_ids)
        self.pool.append(person)
        return person

    def community(self) -> Division:
        return self.source if self.source.level == "community" else self.rng.choice(self.communities)

    def clean_row(
        self, item: ItemStandard, version: StandardVersion, fields: list[str], taken: set[str]
    ) -> dict[str, Cell]:
        rng = self.rng
        person = self.resident(item.code, taken)
        taken.add(person.id_number)
        community = self.community()
        earliest = max(version.effective_from, self.as_of - dt.timedelta(days=120))
        registered = earliest + dt.timedelta(days=rng.randint(0, (self.as_of - earliest).days - 1))
        limit = version.time_limit.working_days if version.time_limit else 0
        handled = add_working_days(registered, rng.randint(0, limit))
        if handled > self.as_of:
            handled = registered
        documents = [rng.choice((d.name_zh, *d.aliases)) for d in version.documents if d.required or rng.random() < 0.5]
        values: dict[str, Callable[[], Cell]] = {
            "name": lambda: person.name,
            "id_number": lambda: person.id_number.lower() if rng.random() < 0.3 else person.id_number,
            "sex": lambda: rng.choice({"1": ("男", "男性", "1"), "2": ("女", "女性", "2")}[person.sex]),
            "birth_date": lambda: self.date_cell(person.birth_date),
            "ethnicity": lambda: person.ethnicity,
            "education_level": lambda: rng.choice(EDUCATION),
            "mobile_phone": lambda: rng.choice(("", "", "", "+86 ", "86-")) + person.mobile,
            "residence_address": lambda: (
                f"天津市{self.district.name}{self.street.name}{community.name}"
                f"{rng.randint(1, 30)}号楼{rng.randint(1, 6)}门{rng.randint(101, 1802)}"
            ),
            "hukou_address": lambda: f"天津市{self.district.name}{self.street.name}{community.name}",
            "hukou_type": lambda: rng.choice(("农业户口", "非农业户口", "居民户口")),
            "community_code": lambda: community.code,
            "employer_name": lambda: (
                f"天津市{rng.choice(('宏达', '津港', '海河', '渤海', '联合'))}"
                f"{rng.choice(('商贸', '物流', '餐饮', '制造'))}有限公司"
            ),
            "employer_uscc": lambda: make_uscc(rng, self.source.code[:6]),
            "registration_date": lambda: self.date_cell(registered),
            "handled_at": lambda: self.date_cell(handled),
            "handling_agency": lambda: f"{self.street.name}劳动保障服务中心",
            "contribution_tier": lambda: rng.choice(("第一档", "第二档", "第三档", "第五档", "第十档")),
            "bank_name": lambda: rng.choice(BANKS),
            "documents": lambda: "、".join(documents),
        }
        row = {f: values[f]() for f in fields}
        self.last_registered, self.last_limit = registered, limit
        return row

    def date_cell(self, day: dt.date) -> Cell:
        style = self.rng.random()
        if style < 0.35:
            return day  # a date cell in XLSX, ISO text in CSV
        if style < 0.7:
            return day.isoformat()
        if style < 0.85:
            return f"{day.year}/{day.month}/{day.day}"
        return day.strftime("%Y%m%d")

    def inject(
        self, kind: DefectKind, row: dict[str, Cell], clean: list[dict[str, Cell]], xlsx: bool
    ) -> dict[str, Cell]:
        rng = self.rng
        row = dict(row)
        ident = str(row.get("id_number", "")).upper()
        if kind.kind == "id_bad_checksum":
            row["id_number"] = corrupt_check(rng, ident, "0123456789X")
        elif kind.kind == "id_float_damaged":
            row["id_number"] = float(ident[:15] + "000") if xlsx else f"{float(ident[:17]):.5E}".replace("E+", "E+")
        elif kind.kind == "id_17_chars":
            row["id_number"] = ident[:17]
        elif kind.kind == "future_date":
            future = self.as_of + dt.timedelta(days=rng.randint(3, 200))
            row["registration_date"] = future.isoformat()
            if "handled_at" in row:
                row["handled_at"] = future.isoformat()
        elif kind.kind == "sex_mismatch":
            male = int(ident[16]) % 2 == 1
            row["sex"] = rng.choice(("女", "2")) if male else rng.choice(("男", "1"))
        elif kind.kind == "birth_mismatch":
            birth = dt.date(int(ident[6:10]), int(ident[10:12]), int(ident[12:14]))
            row["birth_date"] = (birth + dt.timedelta(days=rng.choice((-400, -31, 1, 10, 365)))).isoformat()
        elif kind.kind == "unknown_code":
            row["ethnicity"] = rng.choice(("火星族", "99", "汉族人", "其它民族"))
        elif kind.kind == "community_outside_source":
            row["community_code"] = rng.choice(self.foreign).code
        elif kind.kind == "unknown_division":
            row["community_code"] = self.source.code[:9] + "9" + f"{rng.randint(50, 99)}"
        elif kind.kind == "missing_required":
            row["mobile_phone"] = None
        elif kind.kind == "missing_document":
            item_docs = str(row["documents"]).split("、")
            row["documents"] = "、".join(item_docs[1:])  # the first listed is always required
        elif kind.kind == "duplicate_row":
            row = dict(rng.choice(clean))
        elif kind.kind == "time_limit_exceeded":
            registered = self.as_of - dt.timedelta(days=rng.randint(60, 100))
            row["registration_date"] = registered.isoformat()
            row["handled_at"] = add_working_days(registered, self.last_limit + rng.randint(2, 8)).isoformat()
        elif kind.kind == "bad_mobile":
            mobile = str(row["mobile_phone"])[-11:]
            row["mobile_phone"] = mobile[:-1]
        elif kind.kind == "date_order":
            row["handled_at"] = (self.last_registered - dt.timedelta(days=rng.randint(2, 20))).isoformat()
        elif kind.kind == "bad_uscc":
            code = str(row["employer_uscc"])
            row["employer_uscc"] = corrupt_check(rng, code, USCC_CHARS)
        return row

    def files(self) -> Iterator[tuple[ItemStandard, StandardVersion]]:
        if self.rng.random() < SILENT_SHARE:
            return
        for code in ITEMS:
            if self.source.level == "street" or self.rng.random() < COMMUNITY_SHARE[code]:
                item = catalogue().find(code)
                yield item, item.version_for(self.as_of)


def generate_city(
    out: Path,
    *,
    scale: str = "demo",
    seed: int = 7,
    as_of: dt.date | None = None,
    defect_rate: float = 0.06,
    progress: Callable[[int, int], None] | None = None,
) -> GeneratedCity:
    """Write the drops of every source of ``scale`` under ``out/drops`` plus the manifests."""
    as_of = as_of or dt.date.today()
    sources = select_sources(scale)
    drops = out / "drops"
    drops.mkdir(parents=True, exist_ok=True)
    used_ids: set[str] = set()
    defects: list[InjectedDefect] = []
    inventory: list[tuple[str, str, str, str, str, int]] = []
    labels = {name: (spec.zh_header, *spec.aliases) for name, spec in field_dictionary().items()}
    for done, source in enumerate(sources, start=1):
        writer = _SourceWriter(source, seed, as_of, defect_rate, used_ids)
        rng = writer.rng
        folder = drops / source.code[:6] / source.code
        for item, version in writer.files():
            fields = [f.field for f in version.fields]
            if item.code == "JY02" and rng.random() < 0.3:
                fields = [f for f in fields if f not in ("employer_name", "employer_uscc")]
            applicable = [d for d in DEFECTS if d.field in fields and (d.needs is None or d.needs in fields)]
            kind_of_file, encoding = rng.choice(FORMATS)
            xlsx = kind_of_file == "xlsx"
            count = rng.randint(20, 80) if source.level == "street" else rng.randint(3, 25)
            rows: list[dict[str, Cell]] = []
            kinds: list[DefectKind | None] = []
            clean: list[dict[str, Cell]] = []
            taken: set[str] = set()
            for _ in range(count):
                row = writer.clean_row(item, version, fields, taken)
                kind = rng.choice(applicable) if rng.random() < defect_rate else None
                if kind is not None and kind.kind == "duplicate_row" and not clean:
                    kind = None
                if kind is None:
                    clean.append(row)
                else:
                    row = writer.inject(kind, row, clean, xlsx)
                rows.append(row)
                kinds.append(kind)
            order = list(fields)
            if rng.random() < 0.2:
                rng.shuffle(order)
            header = [rng.choice(labels[f]) for f in order]
            cells = [[r.get(f) for f in order] for r in rows]
            name = f"{item.name_zh}_{source.code}_{as_of:%Y%m%d}.{kind_of_file}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            if xlsx:
                title = f"{writer.street.name}劳动保障服务中心{item.name_zh}台账"
                subtitle = f"填报单位：{source.name}　填报日期：{as_of:%Y年%m月%d日}" if rng.random() < 0.5 else None
                first_row = (
                    write_xlsx(
                        path,
                        title,
                        subtitle,
                        ["序号", *header],
                        [[str(i), *c] for i, c in enumerate(cells, 1)],
                        rng.random() < 0.5,
                    )
                    + 1
                )
            else:
                write_csv(path, header, cells, encoding or "utf-8")
                first_row = 2
            relative = path.relative_to(drops).as_posix()
            inventory.append((relative, source.code, item.code, kind_of_file, encoding or "", len(rows)))
            for offset, kind in enumerate(kinds):
                if kind is not None:
                    defects.append(
                        InjectedDefect(
                            relative, source.code, item.code, first_row + offset, kind.kind, kind.rule, kind.field
                        )
                    )
        if progress is not None:
            progress(done, len(sources))
    _write_manifests(out, defects, inventory)
    return GeneratedCity(
        root=out,
        drops=drops,
        sources=len(sources),
        files=len(inventory),
        rows=sum(i[-1] for i in inventory),
        defects=len(defects),
    )


def _write_manifests(
    out: Path, defects: list[InjectedDefect], inventory: list[tuple[str, str, str, str, str, int]]
) -> None:
    with (out / MANIFEST).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "source_id", "item_code", "row_number", "kind", "rule", "field"])
        writer.writerows((d.file, d.source_id, d.item_code, d.row_number, d.kind, d.rule, d.field) for d in defects)
    with (out / FILES).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "source_id", "item_code", "format", "encoding", "rows"])
        writer.writerows(inventory)


def read_manifest(out: Path) -> list[InjectedDefect]:
    """The injected defects of a generated city."""
    with (out / MANIFEST).open(encoding="utf-8", newline="") as handle:
        return [
            InjectedDefect(
                r["file"], r["source_id"], r["item_code"], int(r["row_number"]), r["kind"], r["rule"], r["field"]
            )
            for r in csv.DictReader(handle)
        ]
