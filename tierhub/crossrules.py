"""Cross-programme rules (跨项目协查规则): checks only a city-wide person view makes possible.

Each rule is data in ``catalogue/_cross_rules.yaml``: two sides (sets of items with optional
field filters and the date that counts), how the two records must relate (where, when,
unless), the tier that must act, and the messages. One engine (``warehouse/crosscheck.py``)
compiles every rule to SQL; no rule has code of its own (decision 0020).

A pair is one record of ``first`` and one of ``second`` of the same ID number:

- ``where``: ``other_source`` (two service points), ``other_district`` or ``any``;
- ``when``: ``after`` (second strictly later than first), ``not_before`` (second on or after
  first), ``overlap`` (either order: both are states still in force), ``within_days`` (either
  order, at most ``days`` apart);
- ``unless``: items whose record of the person, dated between the two (inclusive), explains
  the pair (a cancellation, a transfer, a new registration);
- the case goes to the division (``act_tier``) that holds the later record.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tierhub.errors import CatalogueError
from tierhub.standards import CATALOGUE_DIR, catalogue

CROSS_RULES_FILE = "_cross_rules.yaml"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldFilter(_Model):
    """A condition on one field of a side's records: one of the codes, or simply filled in."""

    field: str
    any_of: tuple[str, ...] = ()
    filled: bool = False

    @model_validator(mode="after")
    def _one_test(self) -> Self:
        if bool(self.any_of) == self.filled:
            raise ValueError(f"filter on {self.field}: give either any_of or filled: true")
        return self


class Side(_Model):
    """One side of a pair: records of these items, filtered, dated by ``date`` (else the business date).

    ``date`` names date fields tried in order (the first filled one counts), falling back to
    the record's business date.
    """

    items: tuple[str, ...] = Field(min_length=1)
    filters: tuple[FieldFilter, ...] = ()
    date: tuple[str, ...] = ()


class When(_Model):
    """How the two dates must relate."""

    relation: Literal["after", "not_before", "overlap", "within_days"]
    days: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _days_with_window(self) -> Self:
        if (self.relation == "within_days") != (self.days is not None):
            raise ValueError("days goes with within_days, and only with it")
        return self


class CrossRule(_Model):
    """One cross-programme rule: the pattern, who acts, and what staff read."""

    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    title_zh: str
    title_en: str
    zh: str
    en: str
    first: Side
    second: Side
    where: Literal["other_source", "other_district", "any"]
    when: When
    unless: tuple[str, ...] = ()
    act_tier: Literal["district", "street"]
    evidence: tuple[str, ...] = ()  # fields of the records the case cites (beside item, date, place)

    @property
    def symmetric(self) -> bool:
        """Both sides are the same set of records: each pair is found once, earlier record first."""
        return self.first == self.second


def _fields_of(code: str) -> dict[str, str]:
    """Field → type over every version of an item."""
    return {f.field: f.type for v in catalogue().items[code].versions for f in v.fields}


def _check_against_catalogue(rule: CrossRule) -> None:
    items = catalogue().items
    for code in (*rule.first.items, *rule.second.items, *rule.unless):
        if code not in items:
            raise ValueError(f"rule {rule.code}: {code} is not an item of the catalogue")
    for side in (rule.first, rule.second):
        for code in side.items:
            missing = [f.field for f in side.filters if f.field not in _fields_of(code)]
            if missing:
                raise ValueError(f"rule {rule.code}: item {code} has no field {missing[0]} to filter on")
        for name in side.date:
            types = [_fields_of(code).get(name) for code in side.items]
            if "date" not in types or any(t not in (None, "date") for t in types):
                raise ValueError(f"rule {rule.code}: {name} is not a date field of {', '.join(side.items)}")
    every = {name for code in (*rule.first.items, *rule.second.items) for name in _fields_of(code)}
    unknown = [name for name in rule.evidence if name not in every]
    if unknown:
        raise ValueError(f"rule {rule.code}: no item of the rule has the evidence field {unknown[0]}")


@cache
def cross_rules(directory: Path = CATALOGUE_DIR) -> tuple[CrossRule, ...]:
    """Every cross-programme rule, checked against the catalogue (CatalogueError if one is wrong)."""
    path = directory / CROSS_RULES_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        rules = tuple(CrossRule.model_validate(r) for r in data["rules"])
        for rule in rules:
            _check_against_catalogue(rule)
    except (yaml.YAMLError, ValidationError, TypeError, KeyError, ValueError) as exc:
        raise CatalogueError(f"invalid cross-programme rule: {exc}", path=str(path)) from exc
    codes = [r.code for r in rules]
    if len(set(codes)) != len(codes):
        raise CatalogueError("two cross-programme rules share a code", path=str(path))
    return rules
