"""People who are served at several service points: moves, commutes and a hukou elsewhere.

A real person registers unemployment at the street of their old address, then employment at
the new one; applies for the social security card at one centre and enrols in the resident
pension at a village workstation of their hukou. Without such people, "one login,
multi-point query" (一点登陆、多点查询) always shows one centre.

The share is set from the 2020 census (第七次全国人口普查公报 第七号): 116.94 million of
1,411.78 million people (8.3 %) lived away from their hukou *within the same city's districts*
(市辖区内人户分离); a further 375.82 million (26.6 %) were migrants between cities. A city-wide
view of one city sees the first group at two or more of its service points: each source
contributes ``MOVERS_PER_SOURCE`` movers, which puts about 8 % of the demo's people at 2–5
service points (tests/test_generator.py measures it).

The movers are drawn for the whole city from the seed alone, so a source's files stay the
same whichever scale includes it; at a smaller scale only the visits inside it are written.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass

from tierhub.reference import Division, divisions
from tierhub.synth.people import Person, make_person

MOVERS_PER_SOURCE = 3
# Where the next service point of a mover lies: the same street (another community), another
# street of the same district, another district.
NEXT_POINT = (("street", 0.4), ("district", 0.35), ("city", 0.25))
# Realistic sequences of items across service points (the first at the mover's first point).
SEQUENCES: tuple[tuple[str, ...], ...] = (
    ("JY02", "JY01"),  # unemployed at the old address, employed at the new
    ("JY02", "JY01", "SB08"),  # …then enrolled as a flexible worker
    ("SK01", "SB01"),  # card at one centre, resident pension at another
    ("SK01", "SB01", "YB01"),
    ("JY02", "SK01", "JY01", "YB01"),
    ("SB01", "SB03", "SK03", "YB01", "SB02"),
)
AGES = (25, 55)  # every item of the sequences serves this age


@dataclass(frozen=True, slots=True)
class Visit:
    """One record of a mover: the item, at which source, on which day.

    An injected visit (``tierhub.synth.situations``) lands in a file of exactly its item (one
    is added if the source does not report the item), is never given a defect, and has
    ``cells`` written over the drawn row.
    """

    source_code: str
    item_code: str
    day: dt.date
    cells: tuple[tuple[str, str], ...] = ()
    injected: bool = False


@dataclass(frozen=True, slots=True)
class Mover:
    """A person and the records they leave at several service points, in order."""

    person: Person
    visits: tuple[Visit, ...]


class _Points:
    """The sources of the city, indexed by street and district."""

    def __init__(self, sources: Sequence[Division]) -> None:
        self.all = list(sources)
        self.by_street: dict[str, list[Division]] = {}
        self.by_district: dict[str, list[Division]] = {}
        for source in sources:
            self.by_street.setdefault(source.code[:9], []).append(source)
            self.by_district.setdefault(source.code[:6], []).append(source)
        # The candidates of each kind, per point (the same lists, in the same order, made once).
        self._same_street: dict[str, list[Division]] = {}
        self._other_streets: dict[str, list[Division]] = {}

    def next(self, rng: random.Random, here: Division) -> Division:
        """Another source: in the same street, the same district, or elsewhere in the city."""
        kind = rng.choices([k for k, _ in NEXT_POINT], [w for _, w in NEXT_POINT])[0]
        if kind == "street":
            near = self._same_street.get(here.code)
            if near is None:
                near = [s for s in self.by_street[here.code[:9]] if s.code != here.code]
                self._same_street[here.code] = near
        elif kind == "district":
            near = self._other_streets.get(here.code[:9])
            if near is None:
                near = [s for s in self.by_district[here.code[:6]] if s.code[:9] != here.code[:9]]
                self._other_streets[here.code[:9]] = near
        else:
            near = []
            while not near:
                candidate = rng.choice(self.all)
                if candidate.code[:6] != here.code[:6]:
                    near = [candidate]
        return rng.choice(near) if near else self.next(rng, here)


def city_movers(seed: int, as_of: dt.date, used_ids: set[str]) -> list[Mover]:
    """Every mover of the city, drawn from the seed (one stream per first service point)."""
    sources = divisions().sources()
    points = _Points(sources)
    movers: list[Mover] = []
    for first in sources:
        rng = random.Random(f"{seed}:movers:{first.code}")
        for _ in range(MOVERS_PER_SOURCE):
            items = rng.choice(SEQUENCES)
            person = make_person(rng, first.code[:6], *AGES, as_of, used_ids)
            day = as_of - dt.timedelta(days=rng.randint(95, 115))
            visits: list[Visit] = []
            here = first
            for item in items:
                visits.append(Visit(here.code, item, min(day, as_of)))
                day += dt.timedelta(days=rng.randint(7, 25))
                here = points.next(rng, here)
            movers.append(Mover(person, tuple(visits)))
    return movers


def visits_by_source(movers: Sequence[Mover], codes: set[str]) -> dict[str, list[tuple[Person, Visit]]]:
    """The visits that fall on the sources ``codes``, by source, in the movers' order."""
    found: dict[str, list[tuple[Person, Visit]]] = {}
    for mover in movers:
        for visit in mover.visits:
            if visit.source_code in codes:
                found.setdefault(visit.source_code, []).append((mover.person, visit))
    return found
