"""Injected cross-programme situations: each rule of ``_cross_rules.yaml`` made to fire, and near-misses.

A situation is a new person with records at two or three service points of the demo's two
districts (和平区 120101, 宁河区 120117), in a sequence that a cross-programme rule must
flag — enrolled in the resident pension in both districts — or a near-miss it must not:
a proper transfer (转移接续) between two enrolments, card applications 60 days apart, a
certification before the death. The ground truth (rule, ID number, fires yes/no) is written
beside the manifest as ``crosschecks.csv``; ``tests/test_crosscheck.py`` scores the rules
against it and against an independent Python oracle for the accidental hits among ordinary
records (decision 0020).

Drawn from the seed alone, like the movers; situations whose points lie outside the scale
are not written (nor listed in the ground truth).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

from tierhub.reference import divisions
from tierhub.synth.mobility import Mover, Visit
from tierhub.synth.people import make_person

CROSSCHECKS = "crosschecks.csv"
PER_KIND = 2  # people per situation kind
HOME, AWAY = "120101", "120117"  # the demo's districts


@dataclass(frozen=True, slots=True)
class Step:
    """One record of a situation: the item, where (home, home2: another point at home, away),
    the day offset from the situation's start, and cells written over the drawn row."""

    item: str
    where: str
    offset: int
    cells: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of situation: the rule it concerns, whether it must fire, the ages that fit every item."""

    label: str
    rule: str
    fires: bool
    ages: tuple[int, int]
    steps: tuple[Step, ...]


DEATH = (("cancellation_reason", "死亡"),)
OTHER_PENSION = (("cancellation_reason", "已享受其他基本养老保障待遇"),)
OTHER_GROUND = (("cancellation_reason", "其他"),)

KINDS: tuple[Kind, ...] = (
    Kind(
        "pension in two districts",
        "DUAL_RESIDENT_PENSION",
        True,
        (30, 50),
        (Step("SB01", "home", 0), Step("SB01", "away", 30)),
    ),
    Kind(
        "pension moved with a transfer (转移接续)",
        "DUAL_RESIDENT_PENSION",
        False,
        (30, 50),
        (Step("SB01", "home", 0), Step("SB07", "away", 20), Step("SB01", "away", 25)),
    ),
    Kind(
        "pension cancelled, then enrolled elsewhere",
        "DUAL_RESIDENT_PENSION",
        False,
        (60, 63),
        (Step("SB01", "home", 0), Step("SB06", "home", 15, OTHER_GROUND), Step("SB01", "away", 40)),
    ),
    Kind(
        "medical insurance in two districts",
        "DUAL_RESIDENT_MEDICAL",
        True,
        (20, 60),
        (Step("YB01", "home", 0), Step("YB01", "away", 20)),
    ),
    Kind(
        "resident and employee pension at once",
        "RESIDENT_AND_EMPLOYEE_PENSION",
        True,
        (30, 50),
        (Step("SB01", "home", 0), Step("SB08", "away", 20)),
    ),
    Kind(
        "resident pension cancelled before the employee pension",
        "RESIDENT_AND_EMPLOYEE_PENSION",
        False,
        (45, 55),
        (Step("SB01", "home", 0), Step("SB06", "home", 10, OTHER_GROUND), Step("SB08", "away", 30)),
    ),
    Kind(
        "benefit claimed while employed elsewhere",
        "BENEFIT_WHILE_EMPLOYED",
        True,
        (25, 50),
        (Step("JY01", "home", 0), Step("SB10", "away", 30)),
    ),
    Kind(
        "benefit after an unemployment registration",
        "BENEFIT_WHILE_EMPLOYED",
        False,
        (25, 50),
        (Step("JY01", "home", 0), Step("JY02", "away", 15), Step("SB10", "away", 25)),
    ),
    Kind(
        "certified after the death cancellation",
        "BENEFIT_AFTER_DEATH",
        True,
        (61, 65),
        (Step("SB06", "home", 0, (*DEATH, ("death_date", "-5"))), Step("SB05", "away", 20)),
    ),
    Kind(
        "certified before the death",
        "BENEFIT_AFTER_DEATH",
        False,
        (61, 65),
        (Step("SB05", "away", 0), Step("SB06", "home", 20, (*DEATH, ("death_date", "-5")))),
    ),
    Kind(
        "pension claimed after a death in the retiree records",
        "BENEFIT_AFTER_RECORDED_DEATH",
        True,
        (61, 65),
        (Step("JC02", "home", 0, (("death_date", "-2"), ("benefit_status", "终止领取"))), Step("SB04", "away", 15)),
    ),
    Kind(
        "pension claimed after cancellation",
        "BENEFIT_AFTER_CANCELLATION",
        True,
        (60, 64),
        (Step("SB06", "home", 0, OTHER_PENSION), Step("SB04", "away", 20)),
    ),
    Kind(
        "certified after cancellation and a new enrolment",
        "BENEFIT_AFTER_CANCELLATION",
        False,
        (60, 64),
        (Step("SB06", "home", 0, OTHER_PENSION), Step("SB01", "home", 10), Step("SB05", "away", 30)),
    ),
    Kind(
        "hardship recognised while holding a business loan",
        "HARDSHIP_WHILE_EMPLOYED",
        True,
        (30, 50),
        (Step("JY10", "home", 0, (("loan_term_months", "24"),)), Step("JY04", "away", 20)),
    ),
    Kind(
        "hardship recognised, then employed",
        "HARDSHIP_WHILE_EMPLOYED",
        False,
        (30, 50),
        (Step("JY04", "home", 0), Step("JY01", "away", 30)),
    ),
    Kind(
        "two card applications 10 days apart",
        "DUPLICATE_CARD_APPLICATION",
        True,
        (20, 60),
        (Step("SK01", "home", 0), Step("SK01", "home2", 10)),
    ),
    Kind(
        "two card applications 60 days apart",
        "DUPLICATE_CARD_APPLICATION",
        False,
        (20, 60),
        (Step("SK01", "home", 0), Step("SK01", "away", 60)),
    ),
)


@dataclass(frozen=True, slots=True)
class Situation:
    """One injected person: the kind, and the records they leave (as a mover's visits)."""

    kind: Kind
    mover: Mover


def _cells(step: Step, day: dt.date) -> tuple[tuple[str, str], ...]:
    """The step's cells, a date given as a day offset ("-5") made a date relative to the record's day."""
    return tuple(
        (name, (day + dt.timedelta(days=int(value))).isoformat() if name.endswith("_date") else value)
        for name, value in step.cells
    )


def city_situations(seed: int, as_of: dt.date, used_ids: set[str]) -> list[Situation]:
    """Every injected situation, drawn from the seed (street centres of the demo's two districts)."""
    rng = random.Random(f"{seed}:situations")
    streets = [s for s in divisions().sources() if s.level == "street"]
    home_points = [s for s in streets if s.code.startswith(HOME)]
    away_points = [s for s in streets if s.code.startswith(AWAY)]
    situations = []
    for kind in KINDS:
        for _ in range(PER_KIND):
            person = make_person(rng, HOME, *kind.ages, as_of, used_ids)
            home, home2 = rng.sample(home_points, 2)
            points = {"home": home, "home2": home2, "away": rng.choice(away_points)}
            start = as_of - dt.timedelta(days=rng.randint(85, 100))
            visits = tuple(
                Visit(
                    points[step.where].code,
                    step.item,
                    start + dt.timedelta(days=step.offset),
                    _cells(step, start + dt.timedelta(days=step.offset)),
                    injected=True,
                )
                for step in kind.steps
            )
            situations.append(Situation(kind, Mover(person, visits)))
    return situations


def write_ground_truth(out: Path, situations: list[Situation], codes: set[str]) -> None:
    """``crosschecks.csv``: rule, id_number, fires (yes/no), situation — for those inside the scale."""
    with (out / CROSSCHECKS).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rule", "id_number", "fires", "situation"])
        for situation in situations:
            if all(v.source_code in codes for v in situation.mover.visits):
                kind = situation.kind
                writer.writerow(
                    [kind.rule, situation.mover.person.id_number, "yes" if kind.fires else "no", kind.label]
                )


def read_ground_truth(out: Path) -> list[tuple[str, str, bool, str]]:
    """The rows of ``crosschecks.csv``: (rule, id_number, fires, situation)."""
    with (out / CROSSCHECKS).open(encoding="utf-8", newline="") as handle:
        return [(r["rule"], r["id_number"], r["fires"] == "yes", r["situation"]) for r in csv.DictReader(handle)]
