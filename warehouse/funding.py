"""Funding by workload (以事定费): each street centre's records × the bureau's price per item.

The bureau's prices are a data file it edits, ``<TIERHUB_HOME>/prices.csv``
(``item_code,price_yuan``; ``#`` lines are comments). Until it exists, the shipped
``tierhub/reference/data/prices-example.csv`` is used — placeholder numbers, not official
prices — and ``PriceList.example`` says so, so every page and sheet can show the warning.
Workload is ``warehouse.marts.workload`` (each record once, in its latest accepted copy, in the
period of its business date), per street centre with its communities' workstations; the staff
count beside it comes from the current roster (``warehouse.roster``). Decision 0025.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb

import tierhub.reference
from tierhub.errors import ConfigError
from tierhub.reference import ByDivision
from tierhub.standards import catalogue
from warehouse.marts import Period, workload
from warehouse.roster import staff_counts

PRICES = "prices.csv"
EXAMPLE_PRICES = Path(tierhub.reference.__file__).parent / "data" / "prices-example.csv"


@dataclass(frozen=True, slots=True)
class PriceList:
    """Yuan per record of each item, where they came from, and whether they are the shipped example."""

    prices: dict[str, Decimal]
    path: Path
    example: bool


def load_prices(home: Path) -> PriceList:
    """The bureau's prices from ``home/prices.csv``, else the shipped example (marked as such).

    Raises ConfigError naming the file, line and field for an unknown item, a bad number or a
    missing column.
    """
    own = home / PRICES
    path, example = (own, False) if own.is_file() else (EXAMPLE_PRICES, True)
    lines = [line for line in path.read_text(encoding="utf-8-sig").splitlines()]
    body = [(n, line) for n, line in enumerate(lines, 1) if line.strip() and not line.lstrip().startswith("#")]
    if not body:
        raise ConfigError(f"{path}: no header line", fix="start the file with the line item_code,price_yuan")
    header_no, header = body[0]
    reader = csv.DictReader(io.StringIO("\n".join(line for _, line in body)))
    if reader.fieldnames is None or not {"item_code", "price_yuan"} <= set(reader.fieldnames):
        raise ConfigError(
            f"{path} line {header_no}: columns {header!r}; expected item_code,price_yuan",
            fix="name the columns item_code,price_yuan",
        )
    items = catalogue().items
    prices: dict[str, Decimal] = {}
    for (number, _), row in zip(body[1:], reader, strict=True):
        code = (row["item_code"] or "").strip().upper()
        if code not in items:
            raise ConfigError(
                f"{path} line {number}: item_code {code!r} is no service item of the catalogue",
                fix="use a code from `tierhub standards list`",
            )
        try:
            price = Decimal((row["price_yuan"] or "").strip())
        except InvalidOperation:
            price = Decimal(-1)
        if price < 0 or not price.is_finite():
            raise ConfigError(
                f"{path} line {number}: price_yuan {row['price_yuan']!r} of {code} is not an amount in yuan",
                fix="write a number ≥ 0, e.g. 12.5",
            )
        if code in prices:
            raise ConfigError(f"{path} line {number}: {code} is priced twice", fix="keep one line per item")
        prices[code] = price
    return PriceList(prices, path, example)


@dataclass
class CentreFunding:
    """One street centre's workload-based funding for a period, beside its staff."""

    code: str
    name: str
    records: Counter[str] = field(default_factory=Counter)  # item → records
    amount: Decimal = Decimal(0)
    unpriced: int = 0  # records of items the price list leaves out
    staff: Counter[str] = field(default_factory=Counter)  # post → people on the roster

    @property
    def workload(self) -> int:
        """Records handled in the period (every item)."""
        return sum(self.records.values())

    @property
    def head_count(self) -> int:
        """People on the centre's current roster, its communities' coordinators included."""
        return sum(self.staff.values())

    @property
    def per_head(self) -> Decimal | None:
        """Funding per person on the roster (None: no roster received)."""
        return (self.amount / self.head_count).quantize(Decimal("0.01")) if self.head_count else None


@dataclass
class Funding:
    """Every street centre of a scope for one period, and the price list used."""

    scope: str
    period: Period
    prices: PriceList
    centres: list[CentreFunding]

    @property
    def total(self) -> Decimal:
        """The scope's funding for the period."""
        return sum((c.amount for c in self.centres), Decimal(0))

    @property
    def head_count(self) -> int:
        """People on the rosters of the scope's centres."""
        return sum(c.head_count for c in self.centres)


def centre_funding(con: duckdb.DuckDBPyConnection, scope: str, period: Period, prices: PriceList) -> Funding:
    """Each street centre inside ``scope``: records per item in ``period`` × price, and its roster."""
    centres = ByDivision(CentreFunding)
    for work in workload(con, scope, [period], by="street"):
        found = centres[work.division_code]
        found.records[work.item_code] += work.records
        price = prices.prices.get(work.item_code)
        if price is None:
            found.unpriced += work.records
        else:
            found.amount += price * work.records
    for code, posts in staff_counts(con, scope).items():
        centres[code].staff.update(posts)
    return Funding(str(scope), period, prices, [centres[k] for k in sorted(centres)])
