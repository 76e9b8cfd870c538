"""Reference data shipped with tierhub: divisions, code tables, field dictionary.

The files live in ``tierhub/reference/data`` with their sources in ``SOURCES.md``; this
package only reads them. Each loader is cached: the tables are small and immutable.
"""

from __future__ import annotations

import csv
import functools
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TypeVar

from tierhub.errors import ConfigError, ReferenceDataError
from tierhub.reference.local import active_local_aliases

DATA = Path(str(resources.files("tierhub.reference") / "data"))

LEVELS = ("city", "district", "street", "community")
LOCAL_TABLE_PREFIX = "local_"
# Significant prefix length of a 12-digit NBS code at each level: a node's subtree is
# every code that starts with its prefix, so "is X inside Y" is one string comparison.
PREFIX_LENGTH = {"city": 2, "district": 6, "street": 9, "community": 12}


def read_csv_rows(path: Path) -> Iterator[dict[str, str]]:
    """Yield the rows of a UTF-8 reference CSV as dicts."""
    with path.open(encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)


@dataclass(frozen=True, slots=True)
class Division:
    """One node of the division tree (city, district, street or community)."""

    code: str
    name: str
    level: str
    parent_code: str | None
    unit_type: str

    @property
    def prefix(self) -> str:
        """The code prefix shared by every node in this node's subtree."""
        return self.code[: PREFIX_LENGTH[self.level]]

    @property
    def district_code(self) -> str | None:
        """The 12-digit code of the district this node lies in (None for the city)."""
        return None if self.level == "city" else self.code[:6] + "000000"

    @property
    def street_code(self) -> str | None:
        """The 12-digit code of the street this node lies in (streets and communities)."""
        return self.code[:9] + "000" if self.level in ("street", "community") else None


class DivisionTree:
    """The city → district → street → community tree, indexed by code."""

    def __init__(self, divisions: list[Division]) -> None:
        self.by_code = {d.code: d for d in divisions}
        self._levels: dict[str, list[Division]] = {}
        self.children: dict[str, list[Division]] = {}
        for division in divisions:
            if division.parent_code:
                self.children.setdefault(division.parent_code, []).append(division)

    def __len__(self) -> int:
        return len(self.by_code)

    def get(self, code: str) -> Division:
        """The node with this 12-digit code; raises if there is none."""
        try:
            return self.by_code[code]
        except KeyError:
            raise ReferenceDataError(
                f"division code {code!r} is not in the NBS 2023 table",
                fix="use a 12-digit 统计用区划代码 of a Tianjin division",
            ) from None

    def district_codes(self, codes: list[str]) -> list[str]:
        """Each 6- or 12-digit district code as its 12-digit code; raises ``ConfigError`` for any other code."""
        districts = self.at_level("district")
        known = ", ".join(f"{d.code[:6]} {d.name}" for d in districts)
        chosen: list[str] = []
        for code in codes:
            full = code + "000000" if len(code) == 6 else code
            node = self.by_code.get(full) if full.isdigit() and len(full) == 12 else None
            if node is None or node.level != "district":
                what = f"a {node.level} ({node.name}), not a district" if node else "not a Tianjin district code"
                raise ConfigError(f"district {code!r} is {what}", field="district", fix=f"use one of: {known}")
            chosen.append(full)
        return chosen

    def contains(self, ancestor: str, code: str) -> bool:
        """Whether ``code`` lies in the subtree of ``ancestor`` (a node contains itself)."""
        return code in self.by_code and code.startswith(self.get(ancestor).prefix)

    def at_level(self, level: str) -> list[Division]:
        """Every node of one level, in code order."""
        if level not in self._levels:
            self._levels[level] = sorted((d for d in self.by_code.values() if d.level == level), key=lambda d: d.code)
        return self._levels[level]

    def sources(self) -> list[Division]:
        """The 5,916 reporting sources: street centres and community/village workstations."""
        return sorted([*self.at_level("street"), *self.at_level("community")], key=lambda d: d.code)

    def subtree(self, code: str) -> list[Division]:
        """Every node inside ``code``'s subtree, itself included."""
        prefix = self.get(code).prefix
        return [d for d in self.by_code.values() if d.code.startswith(prefix)]


_tree_in_use: DivisionTree | None = None


def divisions() -> DivisionTree:
    """The division tree in use: Tianjin's (NBS 2023), unless ``use_divisions`` set another."""
    return _tree_in_use or tianjin_divisions()


def use_divisions(tree: DivisionTree | None) -> None:
    """Serve ``tree`` as this process's division tree (None: Tianjin's again).

    For simulations only (bench/resync_scale.py syncs a province made of copies of Tianjin's
    tree); call it before anything reads the tree: lookups built from it are kept per process.
    """
    global _tree_in_use
    _tree_in_use = tree


@cache
def tianjin_divisions() -> DivisionTree:
    """The Tianjin division tree (NBS 2023)."""
    rows = [
        Division(
            code=row["code"],
            name=row["name"],
            level=row["level"],
            parent_code=row["parent_code"] or None,
            unit_type=row["unit_type"],
        )
        for row in read_csv_rows(DATA / "divisions.csv")
    ]
    if any(r.level not in LEVELS or len(r.code) != 12 for r in rows):
        raise ReferenceDataError("divisions.csv has a row with a bad level or code length")
    return DivisionTree(rows)


T = TypeVar("T")


class ByDivision(dict[str, T]):
    """Records keyed by division code, each made on first lookup from the code and the division's
    name (the code itself when the tree does not know it)."""

    def __init__(self, make: Callable[[str, str], T]) -> None:
        super().__init__()
        self._make = make
        self._tree = divisions()

    def __missing__(self, code: str) -> T:
        node = self._tree.by_code.get(code)
        made = self[code] = self._make(code, node.name if node else code)
        return made


@functools.lru_cache(maxsize=1 << 16)
def normalise_label(text: str) -> str:
    """Fold a header or code label for lookup: NFKC, no spaces, no '*' markers."""
    # The header scan folds every cell of a file's top rows, most of them data no cache has seen:
    # str.split() drops exactly the characters str.isspace() names (checked over every code point
    # in tests/test_reference.py), and ASCII text is its own NFKC form. ~0.3 µs a cell against
    # ~0.6 µs for NFKC and a regular expression on every cell (decision 0034).
    if text.isascii():
        return "".join(text.split()).replace("*", "").lower()
    return "".join(unicodedata.normalize("NFKC", text).split()).replace("*", "").replace("※", "").lower()


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One canonical field of the field dictionary."""

    field: str
    zh_header: str
    aliases: tuple[str, ...]
    type: str
    standard: str


@cache
def field_dictionary() -> dict[str, FieldSpec]:
    """Canonical fields by snake_case name."""
    specs: dict[str, FieldSpec] = {}
    for row in read_csv_rows(DATA / "field_dictionary.csv"):
        aliases = tuple(a.strip() for a in row["aliases"].split(";") if a.strip() not in ("", "—"))
        specs[row["field"]] = FieldSpec(
            field=row["field"],
            zh_header=row["zh_header"],
            aliases=aliases,
            type=row["type"],
            standard=row["standard_or_code_table"],
        )
    return specs


def header_index() -> dict[str, str]:
    """Folded header text (Chinese header, alias or canonical name) → canonical field.

    Includes the deployment-local header aliases in force (``tierhub.reference.local``).
    """
    return _header_index(active_local_aliases().headers)


@cache
def shipped_header_index() -> dict[str, str]:
    """Folded header text → canonical field from the shipped field dictionary alone."""
    index: dict[str, str] = {}
    for spec in field_dictionary().values():
        for label in (spec.field, spec.zh_header, *spec.aliases):
            key = normalise_label(label)
            if index.get(key, spec.field) != spec.field:
                raise ReferenceDataError(
                    f"header {label!r} is an alias of both {index[key]} and {spec.field}",
                    fix="make each alias in field_dictionary.csv name one field",
                )
            index[key] = spec.field
    return index


@functools.lru_cache(maxsize=8)
def _header_index(local: tuple[tuple[str, str], ...]) -> dict[str, str]:
    if not local:
        return shipped_header_index()
    index = dict(shipped_header_index())
    for label, canonical in local:
        key = normalise_label(label)
        if index.get(key, canonical) != canonical:
            raise ReferenceDataError(
                f"local header alias {label!r} → {canonical} clashes with {label!r} → {index[key]}",
                fix="remove one of them from <home>/aliases/headers.yaml",
            )
        index[key] = canonical
    return index


@dataclass(frozen=True, slots=True)
class CodeTable:
    """A code table with the free-text forms that map to its codes.

    National tables are named after their standard (``gbt3304_ethnicity``); local
    人社/医保 tables start with ``local_`` (inferred, editable: see SOURCES.md).
    """

    name: str
    names: dict[str, str]  # code → official name
    lookup: dict[str, str]  # folded accepted text → code

    @property
    def is_local(self) -> bool:
        """Whether this is a local (人社/医保) table rather than a national standard."""
        return self.name.startswith(LOCAL_TABLE_PREFIX)

    def resolve(self, text: str) -> str | None:
        """The code for a cell's text, or None if the text names no code."""
        return self.lookup.get(normalise_label(text))


_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
# Interchangeable endings of a category name as people write it (低保家庭人员 / 低保户 / 低保家庭).
_PERSON_SUFFIXES = ("家庭人员", "家庭户", "人员", "家庭", "户", "")
# Decorations around an ordinal or amount: 第五档 / 5档 / 5 / 五档 / 300元.
_ORDINAL = ("第{n}档", "{n}档", "第{n}级", "{n}级", "第{n}类", "{n}类")


def chinese_number(text: str) -> int | None:
    """一 … 九十九 as an int (十二 → 12, 二十 → 20); None if ``text`` is not such a numeral."""
    if not text or any(ch not in _CN_DIGITS and ch != "十" for ch in text):
        return None
    if "十" not in text:
        return _CN_DIGITS[text] if len(text) == 1 else None
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1:
        return None
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


def spelling_variants(name: str) -> set[str]:
    """The unambiguous other spellings of one code name (folded): Arabic for Chinese ordinals
    (第五档 → 第5档, 5档), and the interchangeable person/household endings (低保家庭人员 → 低保户).

    ``code_tables`` drops any variant two codes of a table would share: never a guess.
    """
    variants: set[str] = set()
    for pattern in _ORDINAL:
        head, _, tail = pattern.partition("{n}")
        if name.startswith(head) and name.endswith(tail) and len(name) > len(head) + len(tail):
            number = chinese_number(name[len(head) : len(name) - len(tail)])
            if number is not None:
                variants.update(normalise_label(p.format(n=number)) for p in _ORDINAL if p.endswith(tail))
                variants.add(normalise_label(name[len(head) :]))  # 五档 for 第五档
    for suffix in _PERSON_SUFFIXES[:-1]:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            stem = name[: -len(suffix)]
            variants.update(normalise_label(stem + other) for other in _PERSON_SUFFIXES if stem + other != name)
            break
    return variants


def code_tables() -> dict[str, CodeTable]:
    """Every code table by file stem, with the deployment-local code aliases in force."""
    return _code_tables(active_local_aliases().codes)


@functools.lru_cache(maxsize=8)
def _code_tables(local: tuple[tuple[str, str, str], ...]) -> dict[str, CodeTable]:
    shipped = shipped_code_tables()
    if not local:
        return shipped
    added: dict[str, dict[str, str]] = {}
    for table, text, code in local:
        if table not in shipped or code not in shipped[table].names:
            raise ReferenceDataError(
                f"local code alias {text!r} → {table} {code!r}: no such code table or code",
                fix="correct <home>/aliases/codes.yaml",
            )
        added.setdefault(table, {})[normalise_label(text)] = code
    return {
        name: CodeTable(name, t.names, {**t.lookup, **added[name]}) if name in added else t
        for name, t in shipped.items()
    }


@cache
def shipped_code_tables() -> dict[str, CodeTable]:
    """Every shipped code table by file stem, e.g. ``gbt2261_1_sex`` or ``local_hukou_type``.

    A table is a CSV whose first column is the code and whose ``name`` column (else the
    second) is the official name; ``code_aliases.csv`` adds free-text forms per table.
    """
    aliases: dict[str, dict[str, str]] = {}
    for row in read_csv_rows(DATA / "code_aliases.csv"):
        aliases.setdefault(row["table"], {})[normalise_label(row["text"])] = row["code"]
    tables: dict[str, CodeTable] = {}
    for path in sorted((DATA / "code_tables").glob("*.csv")):
        rows = list(read_csv_rows(path))
        code_key = next(iter(rows[0]))
        name_key = "name" if "name" in rows[0] else list(rows[0])[1]
        names = {row[code_key]: row[name_key] for row in rows}
        lookup: dict[str, str] = {}
        for code, name in names.items():
            lookup[normalise_label(code)] = code
            lookup[normalise_label(name)] = code
            if code.isdigit() and len(code) == 2 and code.startswith("0"):
                lookup.setdefault(code[1:], code)  # "1" for "01": Excel drops the zero
            if "alpha2" in rows[0]:
                alpha2 = next(r["alpha2"] for r in rows if r[code_key] == code)
                if alpha2:
                    lookup[normalise_label(alpha2)] = code
            if name.endswith("族") and len(name) > 1:
                lookup.setdefault(normalise_label(name[:-1]), code)  # 汉 for 汉族
            if "amount" in rows[0]:
                # A tier table that knows each tier's amount: 300 / 300元 / ￥300 name the tier.
                amount = next(r["amount"] for r in rows if r[code_key] == code).strip()
                if amount:
                    for form in (amount, f"{amount}元", f"{amount}.00", f"{amount}.00元"):
                        lookup.setdefault(normalise_label(form), code)
        variants: dict[str, set[str]] = {}
        for code, name in names.items():
            for variant in spelling_variants(name):
                variants.setdefault(variant, set()).add(code)
        for variant, found in variants.items():
            if len(found) == 1 and variant not in lookup:
                lookup[variant] = next(iter(found))
        lookup.update(aliases.get(path.stem, {}))
        tables[path.stem] = CodeTable(name=path.stem, names=names, lookup=lookup)
    return tables
