"""Which service items each source of the synthetic city reports, how much, and for whom.

Social insurance and social security card windows carry far more traffic than the
others (the domain brief), so items come in three tiers:

- **heavy** — the busiest insurance and card items: nearly every street sends them and
  some community workstations do too;
- **medium** — the other frequent insurance items and the main employment ones: each
  street sends a few of them, rarely a community;
- **light** — the remaining employment items, the rarer insurance items and labour
  relations: each street sends a few, in small files.

A street draws a fixed number of medium and light items, so every item of the
catalogue shows up somewhere even at the demo scale. The numbers keep the demo near
13k rows in ~750 files and the full city near 175k rows (docs/decisions/0003, 0008).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tierhub.reference import Division


@dataclass(frozen=True, slots=True)
class ItemTraffic:
    """How busy an item is and how old the people it serves are."""

    tier: str  # heavy | medium | light
    ages: tuple[int, int]  # youngest and oldest person in a record


MIX: dict[str, ItemTraffic] = {
    # social insurance (人社 / 税务) and medical insurance (医保)
    "SB01": ItemTraffic("heavy", (17, 64)),
    "SB03": ItemTraffic("heavy", (17, 64)),
    "SB05": ItemTraffic("heavy", (60, 95)),
    "YB01": ItemTraffic("heavy", (1, 90)),
    "SB02": ItemTraffic("medium", (17, 85)),
    "SB04": ItemTraffic("medium", (60, 66)),
    "SB08": ItemTraffic("medium", (18, 59)),
    "SB09": ItemTraffic("medium", (18, 65)),
    "SB10": ItemTraffic("medium", (20, 59)),
    "YB02": ItemTraffic("medium", (1, 90)),
    "SB06": ItemTraffic("light", (60, 99)),
    "SB07": ItemTraffic("light", (20, 70)),
    "SB11": ItemTraffic("light", (60, 90)),
    "SB12": ItemTraffic("light", (25, 65)),  # one row per enterprise; the age is its contact's
    # social security card
    "SK01": ItemTraffic("heavy", (3, 88)),
    "SK03": ItemTraffic("heavy", (10, 88)),
    "SK04": ItemTraffic("heavy", (3, 88)),
    "SK02": ItemTraffic("medium", (10, 88)),
    "SK05": ItemTraffic("medium", (16, 88)),
    # employment and the base registers
    "JY01": ItemTraffic("medium", (16, 59)),
    "JY02": ItemTraffic("medium", (17, 59)),
    "JC01": ItemTraffic("medium", (16, 75)),
    "JC02": ItemTraffic("medium", (55, 95)),
    "JY03": ItemTraffic("light", (16, 59)),
    "JY04": ItemTraffic("light", (30, 59)),
    "JY05": ItemTraffic("light", (25, 59)),
    "JY06": ItemTraffic("light", (16, 59)),
    "JY07": ItemTraffic("light", (16, 59)),
    "JY08": ItemTraffic("light", (35, 59)),
    "JY09": ItemTraffic("light", (40, 59)),
    "JY10": ItemTraffic("light", (20, 55)),
    # labour relations
    "LD01": ItemTraffic("light", (18, 59)),
    "LD02": ItemTraffic("light", (18, 59)),
}
TIERS = ("heavy", "medium", "light")
STREET_HEAVY_SHARE = 0.85  # chance a street sends a heavy item in a period
STREET_PICKS = {"medium": 4, "light": 4}  # how many medium and light items a street sends
COMMUNITY_SHARE = {"heavy": 0.13, "medium": 0.01, "light": 0.0}
ROWS = {
    ("street", "heavy"): (6, 22),
    ("street", "medium"): (4, 16),
    ("street", "light"): (3, 10),
    ("community", "heavy"): (4, 44),
    ("community", "medium"): (4, 44),
}


def items_of(tier: str) -> list[str]:
    """The item codes of one tier, in code order."""
    return sorted(code for code, traffic in MIX.items() if traffic.tier == tier)


def files_for(rng: random.Random, source: Division) -> list[tuple[str, int]]:
    """The items a source reports in one period, with the row count of each file."""
    level = "street" if source.level == "street" else "community"
    chosen: list[str] = []
    for tier in TIERS:
        codes = items_of(tier)
        if level == "street" and tier in STREET_PICKS:
            picked = set(rng.sample(codes, STREET_PICKS[tier]))
            chosen += [c for c in codes if c in picked]
        else:
            share = STREET_HEAVY_SHARE if level == "street" else COMMUNITY_SHARE[tier]
            chosen += [c for c in codes if rng.random() < share]
    return [(code, rng.randint(*ROWS[level, MIX[code].tier])) for code in chosen]


def expected_rows(code: str) -> float:
    """Rows of an item per street plus per 20 communities (a typical street's area), on average."""
    tier = MIX[code].tier
    low, high = ROWS["street", tier]
    street_share = STREET_PICKS[tier] / len(items_of(tier)) if tier in STREET_PICKS else STREET_HEAVY_SHARE
    rows = street_share * (low + high) / 2
    if COMMUNITY_SHARE[tier]:
        c_low, c_high = ROWS["community", tier]
        rows += 20 * COMMUNITY_SHARE[tier] * (c_low + c_high) / 2
    return rows
