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

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tierhub.errors import ConfigError
from tierhub.reference import (
    field_dictionary,
    normalise_label,
    shipped_code_tables,
    shipped_header_index,
)
from tierhub.reference.local import LocalAliases, use_local_aliases

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
