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

from tierhub.errors import ConfigError
from tierhub.reference import Division, divisions, field_dictionary
from tierhub.standards import ItemStandard, StandardVersion, catalogue
from tierhub.synth.anomalies import Anomaly, anomaly_visits, city_anomalies, quiet_from, write_anomalies
from tierhub.synth.defects import DEFECTS, DefectInjector, DefectKind, targets
from tierhub.synth.mix import MIX, expected_rows, files_for
from tierhub.synth.mobility import Visit, city_movers, visits_by_source
from tierhub.synth.people import Person, make_person
from tierhub.synth.roster import write_rosters
from tierhub.synth.situations import city_situations, write_ground_truth
from tierhub.synth.values import RowFacts, ValueDrawer
from tierhub.synth.wild import PLAIN, WILD, WildWriter
from tierhub.synth.writers import Cell, write_csv, write_xlsx

SCALES: dict[str, tuple[str, ...] | None] = {
    "demo": ("120101", "120117"),  # 和平区 (urban) and 宁河区 (rural, former county code 120221)
    "district": ("120116",),  # 滨海新区 (former 塘沽/汉沽/大港 codes)
    "full": None,  # all 16 districts, 5,916 sources
}
SILENT_SHARE = 0.04  # sources that send nothing (the completeness report lists them)
OPTIONAL_COLUMN_DROP = 0.08  # chance a file leaves out the column of an optional field
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


def defect_weights(as_of: dt.date) -> dict[str, float]:
    """How likely each kind is chosen where it applies: rarer applicability, higher weight.

    Without it, a kind that only one light item allows (a calendar-day limit, a disability
    certificate) would hardly ever be injected; with it, each kind gets a similar share.
    """
    reach: dict[str, float] = {d.kind: 0.0 for d in DEFECTS}
    for item in catalogue():
        if item.code not in MIX:  # items written apart (the staff roster, tierhub.synth.roster)
            continue
        version = item.version_for(as_of) if any(v.in_force(as_of) for v in item.versions) else item.versions[-1]
        fields = [f.field for f in version.fields if not f.carried]
        for kind in DEFECTS:
            if targets(kind, version, fields):
                reach[kind.kind] += expected_rows(item.code)
    return {kind: 1.0 / rows**2 if rows else 0.0 for kind, rows in reach.items()}


class _SourceWriter:
    """Draws the rows of one source's files."""

    def __init__(
        self, source: Division, seed: int, as_of: dt.date, used_ids: set[str], anomaly: Anomaly | None = None
    ) -> None:
        self.source = source
        self.anomaly = anomaly  # tierhub.synth.anomalies: an anomalous point always sends
        self.quiet_from = quiet_from(anomaly)
        self.rng = random.Random(f"{seed}:{source.code}")
        self.as_of = as_of
        self.used_ids = used_ids
        tree = divisions()
        street = tree.get(source.code[:9] + "000")
        self.street = street
        self.district = tree.get(source.code[:6] + "000000")
        self.communities = [c for c in tree.children.get(street.code, [])] or [source]
        others = tree.at_level("community")
        foreign = [c for c in self.rng.sample(others, 8) if not c.code.startswith(source.code[:9])][:5]
        self.pool: list[Person] = []
        self.drawer = ValueDrawer(self.rng, as_of, source, street, self.district)
        self.injector = DefectInjector(self.rng, self.drawer, foreign)

    def resident(self, item_code: str, taken: set[str]) -> Person:
        """A resident of this source's area old enough for the item, not yet in this file.

        Residents come from a per-source pool, so one person shows up in several items
        (registered unemployed, enrolled in the pension, applying for a card).
        """
        low, high = MIX[item_code].ages
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
        self,
        item: ItemStandard,
        version: StandardVersion,
        fields: list[str],
        taken: set[str],
        xlsx: bool,
        visit: tuple[Person, Visit] | None = None,
    ) -> tuple[dict[str, Cell], RowFacts, Person]:
        """A row that passes every rule of ``version``, with what was drawn for it.

        ``visit``: a mover's record at this source (the person, and the day of the visit).
        """
        earliest = max(version.effective_from, self.as_of - dt.timedelta(days=120))
        last = self.as_of if self.quiet_from is None else max(self.quiet_from - dt.timedelta(days=1), earliest)
        span = max((last - earliest).days - (self.quiet_from is None), 0)
        drawn = min(earliest + dt.timedelta(days=self.rng.randint(0, span)), last)
        if visit is not None and visit[0].id_number not in taken:
            person, registered = visit[0], min(max(visit[1].day, earliest), self.as_of if visit[1].injected else last)
        else:
            person, registered = self.resident(item.code, taken), drawn
        taken.add(person.id_number)
        row, facts = self.drawer.row(item, version, fields, person, self.community(), registered, xlsx)
        return row, facts, person

    def files(self) -> Iterator[tuple[ItemStandard, StandardVersion, int]]:
        if self.rng.random() < SILENT_SHARE and self.anomaly is None:
            return
        for code, rows in files_for(self.rng, self.source):
            item = catalogue().find(code)
            yield item, item.version_for(self.as_of), rows


def generate_city(
    out: Path,
    *,
    scale: str = "demo",
    seed: int = 7,
    as_of: dt.date | None = None,
    defect_rate: float = 0.06,
    progress: Callable[[int, int], None] | None = None,
    dialects: str = PLAIN,
) -> GeneratedCity:
    """Write the drops of every source of ``scale`` under ``out/drops`` plus the manifests.

    ``dialects="wild"`` rewrites the text exports as offices save them (``tierhub.synth.wild``).
    """
    if dialects not in (PLAIN, WILD):
        raise ConfigError(f"unknown dialects {dialects!r}", fix=f"use {PLAIN} or {WILD}")
    wild = WildWriter(seed, out / "drops") if dialects == WILD else None
    as_of = as_of or dt.date.today()
    sources = select_sources(scale)
    drops = out / "drops"
    drops.mkdir(parents=True, exist_ok=True)
    used_ids: set[str] = set()
    defects: list[InjectedDefect] = []
    inventory: list[tuple[str, str, str, str, str, int]] = []
    labels = {name: (spec.zh_header, *spec.aliases) for name, spec in field_dictionary().items()}
    weights = defect_weights(as_of)
    movers = city_movers(seed, as_of, used_ids)
    situations = city_situations(seed, as_of, used_ids)
    anomalies = city_anomalies(seed, as_of, situations)
    written: list[Anomaly] = []
    codes = {s.code for s in sources}
    visiting = visits_by_source([*(s.mover for s in situations), *movers], codes)
    for done, source in enumerate(sources, start=1):
        writer = _SourceWriter(source, seed, as_of, used_ids, anomalies.get(source.code))
        rng = writer.rng
        folder = drops / source.code[:6] / source.code
        files = list(writer.files())
        visits = visiting.get(source.code, [])
        odd, extra_visits = anomaly_visits(
            writer.anomaly, [(i.code, n) for i, _, n in files], len(visits), seed, as_of, used_ids
        )
        written += [odd] if odd is not None else []
        planned = _plan_visits([*visits, *extra_visits], [item.code for item, _, _ in files], as_of)
        for code in sorted(planned.keys() - {item.code for item, _, _ in files}):  # an injected situation's item
            extra = catalogue().find(code)
            files.append((extra, extra.version_for(as_of), 0))
        for item, version, count in files:
            visitors = planned.get(item.code, [])
            count = max(count, len(visitors))
            needed = {name for _, v in visitors for name, _ in v.cells}
            fields = [f.field for f in version.fields if not f.carried]
            if item.code == "JY02" and rng.random() < 0.3:
                fields = [f for f in fields if f not in ("employer_name", "employer_uscc")]
            fields = [
                f.field
                for f in version.fields
                if f.field in fields and (f.required or rng.random() >= OPTIONAL_COLUMN_DROP or f.field in needed)
            ]
            applicable = [(d, found) for d in DEFECTS if (found := targets(d, version, fields))]
            kind_of_file, encoding = rng.choice(FORMATS)
            xlsx = kind_of_file == "xlsx"
            rows: list[dict[str, Cell]] = []
            kinds: list[tuple[DefectKind, str] | None] = []
            clean: list[dict[str, Cell]] = []
            taken: set[str] = set()
            for index in range(count):
                visit = visitors[index] if index < len(visitors) else None
                row, facts, person = writer.clean_row(item, version, fields, taken, xlsx, visit)
                # A situation's record (tierhub.synth.situations) stays clean and is never copied as a duplicate.
                injected = visit is not None and visit[1].injected
                if visit is not None and injected:
                    row.update(visit[1].cells)
                chosen: tuple[DefectKind, str] | None = None
                if not injected and applicable and rng.random() < defect_rate:
                    kind, found = rng.choices(applicable, [weights[d.kind] for d, _ in applicable])[0]
                    if kind.kind != "duplicate_row" or clean:
                        chosen = (kind, rng.choice(found))
                if chosen is not None:
                    row = writer.injector.inject(chosen[0], chosen[1], version, row, facts, person, clean, xlsx)
                elif not injected:
                    clean.append(row)
                rows.append(row)
                kinds.append(chosen)
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
            elif wild is not None:
                marks = [None if k is None else k[1] for k in kinds]
                dialect_file = wild.write(path, writer.street.name, version, order, header, cells, marks, len(visitors))
                path, first_row, kind_of_file, encoding = dialect_file
            else:
                write_csv(path, header, cells, encoding or "utf-8")
                first_row = 2
            relative = path.relative_to(drops).as_posix()
            inventory.append((relative, source.code, item.code, kind_of_file, encoding or "", len(rows)))
            for offset, chosen in enumerate(kinds):
                if chosen is not None:
                    kind, target = chosen
                    row_number = first_row + offset
                    defects.append(
                        InjectedDefect(relative, source.code, item.code, row_number, kind.kind, kind.rule, target)
                    )
        if progress is not None:
            progress(done, len(sources))
    inventory += write_rosters(drops, sources, seed, as_of, used_ids)  # last: the rest is unchanged by it
    _write_manifests(out, defects, inventory)
    if wild is not None:
        wild.finish(out)
    write_ground_truth(out, situations, codes)
    write_anomalies(out, written)
    return GeneratedCity(
        root=out,
        drops=drops,
        sources=len(sources),
        files=len(inventory),
        rows=sum(i[-1] for i in inventory),
        defects=len(defects),
    )


def _plan_visits(
    visits: list[tuple[Person, Visit]], items: list[str], as_of: dt.date
) -> dict[str, list[tuple[Person, Visit]]]:
    """Which of this source's files each mover's visit lands in: the visit's item if the source
    reports it this period, else the first item it reports that serves the person's age."""
    planned: dict[str, list[tuple[Person, Visit]]] = {}
    for person, visit in visits:
        if visit.injected:  # exactly its item: generate_city adds the file if the source lacks it
            planned.setdefault(visit.item_code, []).append((person, visit))
            continue
        age = (as_of - person.birth_date).days // 365
        fits = [c for c in items if MIX[c].ages[0] <= age <= MIX[c].ages[1] and c != "SB12"]
        item = visit.item_code if visit.item_code in items else (fits[0] if fits else None)
        if item is not None:
            planned.setdefault(item, []).append((person, visit))
    return planned


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
