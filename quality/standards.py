"""The unified standards catalogue: one YAML file per service item (事项), read as data.

Adding an item, a version, a document alias or a code needs a data change only. The
validator, the handbook and the reports all read the catalogue through this module.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tierhub.errors import CatalogueError, StandardNotFound
from tierhub.reference import code_tables, field_dictionary, normalise_label

CATALOGUE_DIR = Path(__file__).parent / "catalogue"

Check = Literal[
    "gb11643",
    "sex_matches_id",
    "birth_date_matches_id",
    "mobile",
    "gb32100",
    "division_in_source",
    "not_future",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldRule(_Model):
    """How one canonical field is checked for an item."""

    field: str
    required: bool = False
    type: Literal["string", "date"] = "string"
    code_table: str | None = None
    check: Check | None = None
    level: Literal["district", "street", "community"] | None = None

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value not in field_dictionary():
            raise ValueError(f"{value!r} is not a field of field_dictionary.csv")
        return value

    @field_validator("code_table")
    @classmethod
    def _known_table(cls, value: str | None) -> str | None:
        if value is not None and value not in code_tables():
            raise ValueError(f"{value!r} is not a shipped code table")
        return value


class Document(_Model):
    """A required document (要件) and the names a record may list it under."""

    code: str
    name_zh: str
    aliases: tuple[str, ...] = ()
    required: bool = True

    @property
    def labels(self) -> list[str]:
        """Every folded name that counts as this document."""
        return [normalise_label(x) for x in (self.name_zh, *self.aliases)]


class TimeLimit(_Model):
    """A time limit in working days between two date fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    working_days: int
    from_: str = Field(alias="from")
    to: str


class Step(_Model):
    """One process step and the tier that does it."""

    tier: Literal["city", "district", "street", "community"]
    zh: str
    en: str


class StandardVersion(_Model):
    """One version of an item's standard, in force from ``effective_from``."""

    version: str
    effective_from: dt.date
    effective_to: dt.date | None = None
    business_date: str
    time_limit: TimeLimit | None = None
    fields: tuple[FieldRule, ...]
    date_order: tuple[tuple[str, str], ...] = ()
    documents: tuple[Document, ...] = ()
    steps: tuple[Step, ...] = ()

    def field(self, name: str) -> FieldRule | None:
        """The rule for one field, if the standard names it."""
        return next((f for f in self.fields if f.field == name), None)

    def in_force(self, day: dt.date) -> bool:
        """Whether this version applies to a record with this business date."""
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)


class ItemStandard(_Model):
    """A service item (事项) and every version of its standard."""

    code: str
    name_zh: str
    name_en: str
    aliases: tuple[str, ...] = ()
    category: Literal["employment", "social_insurance", "social_security_card", "labour_relations", "base"]
    owner_system: Literal["人社", "医保", "税务"]
    dataset: str
    versions: tuple[StandardVersion, ...]

    def version_for(self, day: dt.date) -> StandardVersion:
        """The version in force on a business date."""
        for version in self.versions:
            if version.in_force(day):
                return version
        raise StandardNotFound(
            f"item {self.code} {self.name_zh} has no standard version in force on {day}",
            fix="add a version covering that date to the catalogue",
        )


class Catalogue:
    """Every item standard, found by code, Chinese name or alias."""

    def __init__(self, items: list[ItemStandard]) -> None:
        self.items = {item.code: item for item in items}
        self._names: dict[str, str] = {}
        for item in items:
            for label in (item.code, item.name_zh, *item.aliases):
                self._names[normalise_label(label)] = item.code

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items.values())

    def __len__(self) -> int:
        return len(self.items)

    def find(self, name_or_code: str) -> ItemStandard:
        """The item with this code, Chinese name or alias."""
        code = self._names.get(normalise_label(name_or_code))
        if code is None:
            raise StandardNotFound(
                f"no service item is called {name_or_code!r}",
                fix=f"use one of {', '.join(sorted(self.items))} or its Chinese name",
            )
        return self.items[code]


def load_item(path: Path) -> ItemStandard:
    """Parse one catalogue file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return ItemStandard.model_validate(data)
    except (yaml.YAMLError, ValidationError, TypeError) as exc:
        raise CatalogueError(f"invalid standard: {exc}", path=str(path)) from exc


@cache
def catalogue(directory: Path = CATALOGUE_DIR) -> Catalogue:
    """Load every ``*.yaml`` item file of the catalogue (files starting with ``_`` are not items)."""
    return Catalogue([load_item(p) for p in sorted(directory.glob("[!_]*.yaml"))])


@cache
def rule_messages(directory: Path = CATALOGUE_DIR) -> dict[str, dict[str, str]]:
    """Rule code → message templates (zh, en, fix_zh, fix_en)."""
    data = yaml.safe_load((directory / "_rules.yaml").read_text(encoding="utf-8"))
    return {code: dict(texts) for code, texts in data.items()}
