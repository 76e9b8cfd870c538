"""A wild-dialect city (``--dialects wild``) scored row by row against its ground truth.

Every data row of every generated file must end loaded (with or without warnings) or
quarantined exactly as ``manifest.csv`` and ``onboarding.csv`` say, and none may be lost; the
rows held for a spelling no table knows load once the spelling is mapped and re-judged.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from flows.pipeline import sync_sources
from tierhub.reference import divisions
from tierhub.reference.local import NO_LOCAL_ALIASES, LocalAliases, use_local_aliases
from tierhub.standards import rule_severity
from tierhub.synth import city as synth_city
from tierhub.synth.city import FILES, generate_city, read_manifest
from tierhub.synth.wild import DIALECTS, DIALECTS_FILE, ONBOARDING_SPELLINGS, full_width, read_onboarding
from warehouse.maintenance import check_connection
from warehouse.rejudge import rejudge
from warehouse.schema import open_warehouse

pytestmark = pytest.mark.slow  # generates and syncs ~60 sources (~30 s on the shared machine)

AS_OF = dt.date(2026, 11, 27)
STREETS = ("120101001", "120101002", "120117100")  # two streets of 和平区, one town of 宁河区


@pytest.fixture(scope="module")
def wild_city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("wild")
    chosen = [s for s in divisions().sources() if s.code.startswith(STREETS)]
    original = synth_city.select_sources
    synth_city.select_sources = lambda scale: chosen  # a small city: these sources only
    try:
        generate_city(out, scale="demo", seed=11, as_of=AS_OF, dialects="wild")
    finally:
        synth_city.select_sources = original
    return out, [s.code for s in chosen]


Verdicts = dict[tuple[str, int], set[str]]  # (file, row) → rules


def row_verdicts(con: duckdb.DuckDBPyConnection) -> tuple[Verdicts, Verdicts]:
    held = {
        (str(p), int(n)): set(rules)
        for p, n, rules in con.execute(
            "SELECT f.path, q.row_number, list_transform(q.reasons, lambda r: r.rule) "
            "FROM quarantine.open_rows q JOIN ops.files f USING (file_id)"
        ).fetchall()
    }
    warned = {
        (str(p), int(n)): set(rules)
        for p, n, rules in con.execute(
            "SELECT f.path, w.row_number, list(w.rule) FROM core.warnings w "
            "JOIN ops.files f USING (file_id) GROUP BY ALL"
        ).fetchall()
    }
    return held, warned


def test_every_row_of_a_wild_city_ends_as_its_ground_truth_says(
    wild_city: tuple[Path, list[str]], tmp_path: Path
) -> None:
    out, codes = wild_city
    with (out / FILES).open(encoding="utf-8") as handle:
        expected_rows = {r["file"]: int(r["rows"]) for r in csv.DictReader(handle)}
    with (out / DIALECTS_FILE).open(encoding="utf-8") as handle:
        dialects = {r["file"]: r["dialect"] for r in csv.DictReader(handle)}
    assert set(Counter(dialects.values())) == {d.name for d in DIALECTS}  # every dialect is written
    manifest = read_manifest(out)
    onboarding = read_onboarding(out)
    assert len(onboarding) >= 1 and len(manifest) >= 20

    use_local_aliases(NO_LOCAL_ALIASES)
    con = open_warehouse(tmp_path / "warehouse.duckdb")
    sync_sources(con, out / "drops", codes, today=AS_OF, sleep=lambda _: None)

    # Nothing lost: every file read whole, every row loaded or held.
    registry = {
        str(p): (status, rows_in, loaded, held)
        for p, status, rows_in, loaded, held in con.execute(
            "SELECT path, status, rows_in, rows_loaded, rows_quarantined FROM ops.files"
        ).fetchall()
    }
    assert {p: r[0] for p, r in registry.items()} == dict.fromkeys(expected_rows, "loaded")
    assert {p: r[1] for p, r in registry.items()} == expected_rows
    assert check_connection(con).problems == []

    held, warned = row_verdicts(con)
    errors = {(d.file, d.row_number): d.rule for d in manifest if rule_severity(d.rule) == "error"}
    warnings = {(d.file, d.row_number): d.rule for d in manifest if rule_severity(d.rule) == "warning"}
    waiting = {(f, n): (field, text) for f, n, field, _, text, _ in onboarding}
    # Each defect is caught by its rule; a warning's row loads and carries it.
    assert [k for k, rule in errors.items() if rule not in held.get(k, set())] == []
    assert [k for k, rule in warnings.items() if k in held or rule not in warned.get(k, set())] == []
    # A spelling no table knows holds its row as CODE_UNKNOWN, and nothing else is held.
    assert [k for k in waiting if held.get(k) != {"CODE_UNKNOWN"}] == []
    assert sorted(k for k in held if k not in errors and k not in waiting) == []
    # No clean row carries a warning.
    assert [k for k in warned if k not in warnings] == []

    # The data engineer maps the spellings; re-judging loads exactly the rows they held.
    aliases = LocalAliases(codes=tuple(sorted(ONBOARDING_SPELLINGS)))
    try:
        done = rejudge(con, today=AS_OF, aliases=aliases)
    finally:
        use_local_aliases(NO_LOCAL_ALIASES)
    assert done.loaded == len(waiting)
    assert done.still_open == len(errors)
    held_after, _ = row_verdicts(con)
    assert set(held_after) == set(errors)
    assert check_connection(con).problems == []


def test_full_width_folds_back() -> None:
    import unicodedata

    assert full_width("022-2345转123") == "０２２-２３４５转１２３"
    assert unicodedata.normalize("NFKC", full_width("11010519491231002X")) == "11010519491231002X"
    assert codecs.BOM_UTF16_LE  # the Unicode-text dialect starts with this BOM
