"""Injected anomalous service points: a surge, a silence and a drift in amounts per district.

The outlier analysis (``warehouse.outliers``, decision 0027) must find a service point whose
weekly volume or amounts depart from its own history and from its peers. Each district gets
three street centres, drawn from the seed alone (so a source's files stay the same whichever
scale includes it):

- **surge** — in the report week (the ISO week before the as-of date's week) the centre
  registers ``SURGE_FACTOR`` times its usual weekly rate of records, all of one item it
  does not otherwise send (a campaign, a backlog typed in at once);
- **silence** — the centre's records stop ``SILENT_WEEKS`` weeks before the report week ends
  (the report week and the two before it are empty, and so are the days after it);
- **drift** — the centre's resident pension contributions (SB03 ``contribution_amount``)
  are ``DRIFT_FACTOR`` times the usual amounts in the last ``DRIFT_WEEKS`` weeks (a tier
  entered as a multi-year total), with ``DRIFT_HISTORY`` ordinary ones before.

Their records are injected visits (``tierhub.synth.mobility.Visit``): clean, of exactly their
item. An anomalous point is never one of the sources that send nothing at all. The ground
truth is written beside the manifest as ``anomalies.csv``; ``tests/test_outliers.py`` scores
the outlier list against it.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tierhub.reference import divisions
from tierhub.synth.mix import MIX
from tierhub.synth.mobility import Visit
from tierhub.synth.people import Person, make_person
from tierhub.synth.situations import Situation
from tierhub.synth.values import NUMBERS

ANOMALIES = "anomalies.csv"
SURGE_FACTOR = 10
SURGE_MIN = 40  # records in the surge week at least, whatever the usual rate
HISTORY_DAYS = 120  # the generator draws registration dates over the 120 days before the as-of date
SILENT_WEEKS = 3
DRIFT_ITEM, DRIFT_FIELD = "SB03", "contribution_amount"
DRIFT_FACTOR = 3
DRIFT_WEEKS = 6
DRIFT_RECENT, DRIFT_HISTORY = 12, 10
KINDS = ("surge", "silence", "drift")


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One anomalous service point: what is odd (kind), where, and over which days."""

    kind: str
    source_code: str
    start: dt.date  # first day of the odd stretch
    end: dt.date  # its last day (the report week's Sunday; a silence lasts to the as-of date)
    item_code: str = ""  # surge: the item surging; drift: the item whose amounts drift
    field: str = ""  # drift: the amount field


def report_week(as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The ISO week before the one holding ``as_of`` (what the Monday report covers)."""
    monday = as_of - dt.timedelta(days=as_of.isoweekday() - 1 + 7)
    return monday, monday + dt.timedelta(days=6)


def city_anomalies(seed: int, as_of: dt.date, situations: Sequence[Situation]) -> dict[str, Anomaly]:
    """Every district's three anomalous street centres, by source code.

    The silent centre is one where no injected situation (``tierhub.synth.situations``) has a
    record inside its silence, so the cross-programme cases stay as drawn.
    """
    start, end = report_week(as_of)
    quiet_from = start - dt.timedelta(weeks=SILENT_WEEKS - 1)
    busy = {v.source_code for s in situations for v in s.mover.visits if v.day >= quiet_from}
    streets: dict[str, list[str]] = {}
    for source in divisions().sources():
        if source.level == "street":
            streets.setdefault(source.code[:6], []).append(source.code)
    found: dict[str, Anomaly] = {}
    for district, codes in sorted(streets.items()):
        rng = random.Random(f"{seed}:anomalies:{district}")
        order = rng.sample(sorted(codes), len(codes))
        silent = next((c for c in order if c not in busy), None)
        others = [c for c in order if c != silent]
        if silent is None or len(others) < 2:
            continue
        found[others[0]] = Anomaly("surge", others[0], start, end)
        found[silent] = Anomaly("silence", silent, quiet_from, as_of)
        drift_from = end - dt.timedelta(weeks=DRIFT_WEEKS) + dt.timedelta(days=1)
        found[others[1]] = Anomaly("drift", others[1], drift_from, end, DRIFT_ITEM, DRIFT_FIELD)
    return found


def quiet_from(anomaly: Anomaly | None) -> dt.date | None:
    """The first day a silent source has no records (None: not silent)."""
    return anomaly.start if anomaly is not None and anomaly.kind == "silence" else None


def anomaly_visits(
    anomaly: Anomaly | None,
    files: Sequence[tuple[str, int]],
    visits: int,
    seed: int,
    as_of: dt.date,
    used_ids: set[str],
) -> tuple[Anomaly | None, list[tuple[Person, Visit]]]:
    """The injected records of an anomalous source, and the anomaly as it was written.

    ``files``: the (item code, rows) the source sends this period; ``visits``: how many
    movers' records it holds besides.
    """
    if anomaly is None or anomaly.kind == "silence":
        return anomaly, []
    rng = random.Random(f"{seed}:anomaly:{anomaly.source_code}")
    district = anomaly.source_code[:6]
    found: list[tuple[Person, Visit]] = []

    def visit(item: str, first: dt.date, last: dt.date, cells: tuple[tuple[str, str], ...] = ()) -> None:
        person = make_person(rng, district, *MIX[item].ages, as_of, used_ids)
        day = first + dt.timedelta(days=rng.randint(0, (last - first).days))
        found.append((person, Visit(anomaly.source_code, item, day, cells, injected=True)))

    if anomaly.kind == "surge":  # in an item it does not send otherwise, so its usual records stay as drawn
        sent = {code for code, _ in files}
        unsent = [c for c in sorted(MIX) if c not in sent]
        item = rng.choice([c for c in unsent if MIX[c].tier == "heavy"] or unsent)
        usual = (sum(rows for _, rows in files) + visits) * 7 / HISTORY_DAYS
        for _ in range(max(SURGE_MIN, round(SURGE_FACTOR * usual))):
            visit(item, anomaly.start, anomaly.end)
        return Anomaly("surge", anomaly.source_code, anomaly.start, anomaly.end, item), found
    low, high, step = NUMBERS[DRIFT_FIELD]
    history_from = as_of - dt.timedelta(days=HISTORY_DAYS - 7)
    for _ in range(DRIFT_HISTORY):
        visit(DRIFT_ITEM, history_from, anomaly.start - dt.timedelta(days=1))
    for _ in range(DRIFT_RECENT):
        amount = rng.randrange(low, high + 1, step) * DRIFT_FACTOR
        visit(DRIFT_ITEM, anomaly.start, anomaly.end, ((DRIFT_FIELD, str(amount)),))
    return anomaly, found


def write_anomalies(out: Path, anomalies: Sequence[Anomaly]) -> None:
    """``anomalies.csv``: kind, source_id, item_code, field, start, end — the points written."""
    with (out / ANOMALIES).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kind", "source_id", "item_code", "field", "start", "end"])
        for a in sorted(anomalies, key=lambda a: (a.source_code, a.kind)):
            writer.writerow([a.kind, a.source_code, a.item_code, a.field, a.start.isoformat(), a.end.isoformat()])


def read_anomalies(out: Path) -> list[Anomaly]:
    """The anomalous service points of a generated city."""
    with (out / ANOMALIES).open(encoding="utf-8", newline="") as handle:
        return [
            Anomaly(
                r["kind"],
                r["source_id"],
                dt.date.fromisoformat(r["start"]),
                dt.date.fromisoformat(r["end"]),
                r["item_code"],
                r["field"],
            )
            for r in csv.DictReader(handle)
        ]
