"""Deployment-local header and code aliases: read, check, add (decision 0022).

They live under the tierhub home, never in the repository::

    <home>/aliases/headers.yaml   # header text → canonical field
        人员名称: name
    <home>/aliases/codes.yaml     # code table → text → code
        local_unemployment_reason:
          合同期满: "2"

``load_local_aliases(home)`` reads and checks both files (every field, table and code must
exist; no text may mean two things, locally or against the shipped reference data) and
returns a ``LocalAliases`` value; ``apply_local_aliases(home)`` also puts it in force for the
readers and the judge of this process. ``add_code_alias`` / ``add_header_alias`` refuse an
alias that would give one text two meanings, naming both.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from connectors.readers import DUPLICATE_MARK
from quality.rules import LIST_SEPARATORS
from tierhub.errors import ConfigError
from tierhub.reference import (
    chinese_number,
    code_tables,
    field_dictionary,
    header_index,
    normalise_label,
    shipped_code_tables,
    shipped_header_index,
)
from tierhub.reference.local import LocalAliases, use_local_aliases
from tierhub.standards import Catalogue, catalogue

ALIASES_DIR = "aliases"
HEADERS_FILE = "headers.yaml"
CODES_FILE = "codes.yaml"
HEADERS_NOTE = (
    "# Deployment-local header aliases (tierhub headers map): header text → canonical field.\n"
    "# Read by every sync; see docs/decisions/0022-onboarding-dialects.md.\n"
)
CODES_NOTE = (
    "# Deployment-local code aliases (tierhub codes map): code table → text → code.\n"
    "# Read by every sync; see docs/decisions/0022-onboarding-dialects.md.\n"
)


def aliases_folder(home: Path) -> Path:
    """``<home>/aliases``: where a deployment keeps its local aliases."""
    return Path(home) / ALIASES_DIR


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not readable YAML: {exc}", path=str(path), fix="correct or remove the file") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top", path=str(path), fix="see the file's header comment")
    return data


@dataclass(frozen=True, slots=True)
class Meaning:
    """What one text already means, and where that comes from (for refusals)."""

    target: str  # a code or a field
    text: str  # the text as written where it was defined
    where: str  # "shipped" or the local file


def header_meanings(headers: Mapping[str, str], origin: str) -> dict[str, Meaning]:
    """Folded header → its meaning, shipped first, then ``headers`` (checked: no clash)."""
    shipped = shipped_header_index()
    meanings = {key: Meaning(field, key, "shipped field_dictionary.csv") for key, field in shipped.items()}
    fields = field_dictionary()
    for text, field in headers.items():
        if field not in fields:
            raise ConfigError(
                f"header {text!r} maps to unknown field {field!r}",
                path=origin,
                field=field,
                fix="use a field of field_dictionary.csv (tierhub standards show ITEM lists them)",
            )
        _claim(meanings, normalise_label(text), Meaning(field, text, origin), "header", "field")
    return meanings


def code_meanings(table: str, codes: Mapping[str, str], origin: str) -> dict[str, Meaning]:
    """Folded text → its code in ``table``, shipped first, then ``codes`` (checked: no clash)."""
    tables = shipped_code_tables()
    if table not in tables:
        raise ConfigError(
            f"unknown code table {table!r}",
            path=origin,
            fix=f"use one of: {', '.join(sorted(tables))}",
        )
    known = tables[table]
    meanings = {key: Meaning(code, key, "shipped code table") for key, code in known.lookup.items()}
    for text, code in codes.items():
        _claim(meanings, normalise_label(text), Meaning(resolve_code(table, code, origin), text, origin), table, "code")
    return meanings


def resolve_code(table: str, code: str, origin: str | None = None) -> str:
    """A code of ``table`` given as its code or official name (``1`` for ``01`` too)."""
    known = shipped_code_tables()[table]
    if code in known.names:
        return code
    by_name = {normalise_label(n): c for c, n in known.names.items()}
    found = by_name.get(normalise_label(code)) or known.lookup.get(normalise_label(code))
    if found is None or not (code.isdigit() or normalise_label(code) in by_name):
        raise ConfigError(
            f"{table}: {code!r} is not a code of the table",
            path=origin,
            fix="codes: " + ", ".join(f"{c} {n}" for c, n in known.names.items()),
        )
    return found


def _claim(meanings: dict[str, Meaning], key: str, new: Meaning, what: str, target: str) -> None:
    old = meanings.get(key)
    if old is not None and old.target != new.target:
        raise ConfigError(
            f"{what} {new.text!r} → {target} {new.target} ({new.where}) clashes with "
            f"{old.text!r} → {target} {old.target} ({old.where}): one text cannot mean two {target}s",
            path=new.where if new.where.endswith(".yaml") else None,
            fix="keep one of the two",
        )
    meanings.setdefault(key, new)


def _string_map(data: Any, path: Path, what: str) -> dict[str, str]:
    if not isinstance(data, dict):
        raise ConfigError(f"{what}: expected a mapping of text → value", path=str(path))
    out: dict[str, str] = {}
    for key, value in data.items():
        if key is None or value is None or isinstance(value, (dict, list)):
            raise ConfigError(f"{what}: entry {key!r}: {value!r} is not text → value", path=str(path))
        out[str(key)] = str(value)
    return out


def read_header_aliases(home: Path) -> dict[str, str]:
    """``headers.yaml`` as written (header text → field), unchecked."""
    path = aliases_folder(home) / HEADERS_FILE
    return _string_map(_read_yaml(path), path, "headers")


def read_code_aliases(home: Path) -> dict[str, dict[str, str]]:
    """``codes.yaml`` as written (table → text → code), unchecked."""
    path = aliases_folder(home) / CODES_FILE
    return {str(t): _string_map(m, path, str(t)) for t, m in _read_yaml(path).items()}


def load_local_aliases(home: Path) -> LocalAliases:
    """Read and check ``<home>/aliases/{headers,codes}.yaml``; empty when they do not exist.

    Raises ``ConfigError`` (naming the file and entry) for an unknown field, table or code, and
    for a text that would mean two fields or two codes (locally or against the shipped data).
    """
    folder = aliases_folder(home)
    headers = read_header_aliases(home)
    header_meanings(headers, str(folder / HEADERS_FILE))
    codes = read_code_aliases(home)
    origin = str(folder / CODES_FILE)
    for table, mapping in codes.items():
        code_meanings(table, mapping, origin)
    return LocalAliases(
        headers=tuple(sorted(headers.items())),
        codes=tuple(
            sorted((t, text, resolve_code(t, code, origin)) for t, m in codes.items() for text, code in m.items())
        ),
        origin=str(folder),
    )


def apply_local_aliases(home: Path) -> LocalAliases:
    """Load the local aliases of ``home`` and put them in force for this process."""
    aliases = load_local_aliases(home)
    use_local_aliases(aliases)
    return aliases


# -- suggestions ---------------------------------------------------------------------------

SUGGESTION_LIMIT = 3
SUGGESTION_CUTOFF = 0.3  # below this similarity a code is not worth showing
_CN_NUMERAL_RUN = re.compile("[零一二两三四五六七八九十]+")


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A code that a text may mean, with how alike they are (0–1) and the spelling that matched."""

    code: str
    name: str
    score: float
    matched: str


def _similarity_forms(text: str) -> set[str]:
    """The folded text, and the same with Chinese numerals as Arabic (第五档 → 第5档)."""
    folded = normalise_label(text)

    def arabic(match: re.Match[str]) -> str:
        number = chinese_number(match.group())
        return str(number) if number is not None else match.group()

    return {folded, _CN_NUMERAL_RUN.sub(arabic, folded)}


def suggest_codes(
    table: str, text: str, limit: int = SUGGESTION_LIMIT, cutoff: float = SUGGESTION_CUTOFF
) -> list[Suggestion]:
    """Up to ``limit`` codes of ``table`` whose name or alias is most like ``text``.

    Similarity is difflib's ratio on folded text (NFKC, no spaces, lower case, Chinese numerals
    also as Arabic), against the official name and every accepted spelling of each code, the
    best per code. A suggestion is only that: nothing is mapped until an engineer says so.
    """
    known = code_tables()[table]
    labels: dict[str, set[str]] = {}
    for label, code in known.lookup.items():
        labels.setdefault(code, set()).add(label)
    wanted = _similarity_forms(text)
    found: list[Suggestion] = []
    for code, name in known.names.items():
        best, matched = 0.0, name
        for label in labels.get(code, set()) | {name}:
            for a in wanted:
                for b in _similarity_forms(label):
                    score = difflib.SequenceMatcher(None, a, b).ratio()
                    if score > best:
                        best, matched = score, label
        if best >= cutoff:
            found.append(Suggestion(code, name, round(best, 2), matched))
    found.sort(key=lambda s: (-s.score, s.code))
    return found[:limit]


# -- adding aliases ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AliasAdded:
    """What ``add_code_alias`` / ``add_header_alias`` did: the file, the entry, whether it was new."""

    path: Path
    text: str
    target: str  # the code or field
    new: bool


def _write_yaml(path: Path, note: str, data: Mapping[str, Any]) -> None:
    """Write ``data`` atomically (a reader never sees half a file), sorted, with ``note`` on top."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(dict(data), allow_unicode=True, sort_keys=True, default_flow_style=False) if data else ""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(note + body, encoding="utf-8")
    os.replace(partial, path)


def code_table_for(name: str) -> str:
    """A code table named by its file stem, or by the one field every item checks against it."""
    tables = shipped_code_tables()
    if name in tables:
        return name
    found = {r.code_table for item in catalogue() for v in item.versions for r in v.fields if r.field == name}
    found.discard(None)
    if len(found) == 1:
        return str(found.pop())
    uses = f"; field {name} uses {', '.join(sorted(map(str, found)))}" if found else ""
    raise ConfigError(
        f"{name!r} is not a code table{uses}",
        fix="name a table: " + ", ".join(sorted(tables)),
    )


def add_code_alias(home: Path, table: str, text: str, code: str) -> AliasAdded:
    """Add ``text`` → ``code`` to ``table`` in ``<home>/aliases/codes.yaml``.

    Refused (``ConfigError`` naming both) if the text already means another code of the table,
    shipped or local; the code may be given as its official name. Adding an alias the table
    already has changes nothing.
    """
    table = code_table_for(table)
    path = aliases_folder(home) / CODES_FILE
    codes = read_code_aliases(home)
    code = resolve_code(table, code, str(path))
    mapping = dict(codes.get(table, {}))
    if not text.strip():
        raise ConfigError("the text to map is empty", path=str(path), fix="give the text as the export writes it")
    meanings = code_meanings(table, mapping, str(path))  # the file as it is must hold
    old = meanings.get(normalise_label(text))
    _claim(meanings, normalise_label(text), Meaning(code, text.strip(), str(path)), table, "code")
    if old is not None:
        return AliasAdded(path, text.strip(), code, new=False)
    mapping[text.strip()] = code
    codes[table] = mapping
    _write_yaml(path, CODES_NOTE, codes)
    return AliasAdded(path, text.strip(), code, new=True)


def add_header_alias(home: Path, header: str, field: str) -> AliasAdded:
    """Add ``header`` → ``field`` to ``<home>/aliases/headers.yaml``; refused if it names another field."""
    path = aliases_folder(home) / HEADERS_FILE
    headers = read_header_aliases(home)
    if not header.strip():
        raise ConfigError("the header to map is empty", path=str(path), fix="give the header as the export writes it")
    meanings = header_meanings(headers, str(path))  # the file as it is must hold
    header_meanings({header.strip(): field}, str(path))  # the field must exist
    key = normalise_label(header)
    old = meanings.get(key)
    _claim(meanings, key, Meaning(field, header.strip(), str(path)), "header", "field")
    if old is not None:
        return AliasAdded(path, header.strip(), field, new=False)
    headers[header.strip()] = field
    _write_yaml(path, HEADERS_NOTE, headers)
    return AliasAdded(path, header.strip(), field, new=True)


# -- unknown values and proposals ----------------------------------------------------------

PROPOSALS_FILE = "codes.proposed.yaml"


class CodeCount(Protocol):
    """One unknown value of the open quarantine (``warehouse.queries.UnknownCodeCount``)."""

    @property
    def item_code(self) -> str: ...
    @property
    def standard_version(self) -> str: ...
    @property
    def field(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def rows(self) -> int: ...


@dataclass
class UnknownCode:
    """A text no code of ``table`` accepts: in how many rows, of which items, and what it may mean."""

    table: str
    field: str
    text: str
    rows: int
    items: list[str]
    suggestions: list[Suggestion]


def code_parts(text: str, multiple: bool) -> list[str]:
    """The code texts of a cell as the judge sees them: NFKC, trimmed; a list cell split."""
    folded = unicodedata.normalize("NFKC", text).strip()
    if not folded:
        return []
    return [p for p in re.split(LIST_SEPARATORS, folded) if p] if multiple else [folded]


def is_known_code(table: str, text: str) -> bool:
    """Whether the judge finds ``text`` (one code's text) in ``table`` (local aliases in force)."""
    return code_tables()[table].lookup.get(text.replace(" ", "").lower()) is not None


def unknown_codes(counts: Iterable[CodeCount], standards: Catalogue | None = None) -> list[UnknownCode]:
    """The unknown values by table and field with counts and suggestions, most rows first.

    Values that the aliases in force now accept (mapped since, awaiting ``rejudge``) are left out.
    """
    standards = standards or catalogue()
    found: dict[tuple[str, str, str], UnknownCode] = {}
    for count in counts:
        item = standards.items.get(count.item_code)
        version = next((v for v in item.versions if v.version == count.standard_version), None) if item else None
        rule = version.field(count.field) if version else None
        if rule is None or rule.code_table is None:
            continue
        for part in code_parts(count.value, rule.multiple):
            if is_known_code(rule.code_table, part):
                continue
            key = (rule.code_table, rule.field, part)
            entry = found.setdefault(key, UnknownCode(rule.code_table, rule.field, part, 0, [], []))
            entry.rows += count.rows
            if count.item_code not in entry.items:
                entry.items.append(count.item_code)
    result = sorted(found.values(), key=lambda u: (u.table, u.field, -u.rows, u.text))
    for entry in result:
        entry.suggestions = suggest_codes(entry.table, entry.text)
        entry.items.sort()
    return result


def write_code_proposals(home: Path, unknown: list[UnknownCode], path: Path | None = None) -> tuple[Path, int, int]:
    """Write each unknown value with its best suggestion as a reviewable alias file.

    Nothing is in force until an engineer reviews the file and runs ``tierhub codes apply``.
    Returns (file, values proposed, values without a suggestion: written commented out).
    """
    target = path or aliases_folder(home) / PROPOSALS_FILE
    lines = [
        "# Proposed code aliases (tierhub codes map --accept-suggestions): code table → text → code.",
        "# Review every entry: keep it, correct its code, or delete it. Entries without a suggestion",
        "# are commented out. Nothing here is in force until: tierhub codes apply " + str(target),
    ]
    proposed = without = 0
    for table in sorted({u.table for u in unknown}):
        names = code_tables()[table].names
        lines.append(f"{table}:")
        for entry in (u for u in unknown if u.table == table):
            note = f"{entry.field}, {entry.rows} rows ({', '.join(entry.items)})"
            text = json.dumps(entry.text, ensure_ascii=False)
            if not entry.suggestions:
                without += 1
                lines.append(f"  # {text}: ''  # no suggestion — {note}; codes: {', '.join(names)}")
                continue
            best, *others = entry.suggestions
            alternatives = "; or " + ", ".join(f"{s.code} {s.name} ({s.score:.2f})" for s in others) if others else ""
            proposed += 1
            lines.append(f'  {text}: "{best.code}"  # {best.name} ({best.score:.2f}){alternatives} — {note}')
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target, proposed, without


def apply_code_proposals(home: Path, path: Path) -> list[AliasAdded]:
    """Add every entry of a reviewed proposals file to ``codes.yaml``, all or none.

    Every entry is checked first (unknown table or code, a text with two meanings — also within
    the file); one refusal leaves ``codes.yaml`` unchanged and names every refused entry.
    """
    proposals = {str(t): _string_map(m, path, str(t)) for t, m in _read_yaml(path).items() if m}
    codes = read_code_aliases(home)
    target = aliases_folder(home) / CODES_FILE
    problems: list[str] = []
    added: list[AliasAdded] = []
    for table, mapping in proposals.items():
        try:
            name = code_table_for(table)
            meanings = code_meanings(name, codes.get(name, {}), str(target))
            for text, code in mapping.items():
                resolved = resolve_code(name, code, str(path))
                old = meanings.get(normalise_label(text))
                _claim(meanings, normalise_label(text), Meaning(resolved, text, str(path)), name, "code")
                if old is None:
                    codes.setdefault(name, {})[text] = resolved
                added.append(AliasAdded(target, text, resolved, new=old is None))
        except ConfigError as exc:
            problems.append(exc.problem)
    if problems:
        raise ConfigError(
            f"{len(problems)} entr{'y' if len(problems) == 1 else 'ies'} refused, nothing applied: "
            + "; ".join(problems),
            path=str(path),
            fix="correct or delete the refused entries and apply again",
        )
    _write_yaml(target, CODES_NOTE, codes)
    return added


def suggest_fields(
    header: str, limit: int = SUGGESTION_LIMIT, cutoff: float = SUGGESTION_CUTOFF
) -> list[tuple[str, float]]:
    """Up to ``limit`` fields whose Chinese header or alias is most like ``header`` (field, score)."""
    wanted = normalise_label(header)
    best: dict[str, float] = {}
    for label, field in header_index().items():
        score = difflib.SequenceMatcher(None, wanted, label).ratio()
        if score >= cutoff and score > best.get(field, 0.0):
            best[field] = round(score, 2)
    return sorted(best.items(), key=lambda x: (-x[1], x[0]))[:limit]


def still_unknown_header(header: str) -> bool:
    """Whether a header recorded as unknown still names no field (not mapped since, not a duplicate)."""
    return f" {DUPLICATE_MARK} " not in header and normalise_label(header) not in header_index()
