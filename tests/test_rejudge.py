"""Re-judging: open quarantine rows that pass today's aliases and catalogue are loaded, with history."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from flows.pipeline import sync_sources
from tests.cases import BASE, SOURCE, TODAY, with_check
from tests.test_history import write_export
from tierhub.reference.local import NO_LOCAL_ALIASES, LocalAliases, use_local_aliases
from tierhub.scope import Scope
from tierhub.standards import CATALOGUE_DIR, catalogue
from warehouse.maintenance import check_connection
from warehouse.rejudge import rejudge
from warehouse.schema import open_warehouse

pytestmark = pytest.mark.slow  # each test syncs and re-judges a small warehouse (~10–25 s on the shared machine)

SPELLING = "合同到期走人"  # how one office writes 终止劳动合同 (local_unemployment_reason 2)
ALIAS = LocalAliases(codes=(("local_unemployment_reason", SPELLING, "2"),))


@pytest.fixture(autouse=True)
def no_local_aliases() -> Iterator[None]:
    use_local_aliases(NO_LOCAL_ALIASES)
    yield
    use_local_aliases(NO_LOCAL_ALIASES)


def person(n: int, **cells: str) -> dict[str, str | None]:
    """A valid JY02 row of person ``n`` (distinct name and ID), with ``cells`` changed."""
    names = ["王芳", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周丽"]
    row: dict[str, str | None] = {**BASE, "name": names[n], "id_number": with_check(f"1201011980010{n}001")}
    row["birth_date"] = f"1980-01-0{n}"
    row["sex"] = "男"
    row["unemployment_reason"] = "解除劳动合同"
    row.update(cells)
    return row


def bad_check_digit(n: int) -> str:
    good = with_check(f"1201011980010{n}001")
    return good[:-1] + ("0" if good[-1] != "0" else "1")


def open_count(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT count(*) FROM quarantine.open_rows").fetchall()[0][0])


def test_an_alias_loads_exactly_the_rows_it_fixes_and_a_rerun_is_a_no_op(tmp_path: Path) -> None:
    drops = tmp_path / "drops"
    outbox = drops / SOURCE[:6] / SOURCE
    rows = [
        person(1),
        person(2, unemployment_reason=SPELLING),  # fixed by the alias
        person(3, unemployment_reason=SPELLING),  # fixed by the alias
        person(4, unemployment_reason=SPELLING, id_number=bad_check_digit(4)),  # still wrong
        person(5, unemployment_reason="说不清"),  # another unknown spelling: still open
        person(1, unemployment_reason=SPELLING),  # a repeat of the first row (loaded): stays held
    ]
    write_export(outbox, f"失业登记_{SOURCE}_20261105.csv", rows)
    con = open_warehouse(tmp_path / "warehouse.duckdb")
    first = sync_sources(con, drops, [SOURCE], today=TODAY).load
    assert (first.rows_loaded, first.rows_quarantined) == (1, 5)

    dry = rejudge(con, Scope.city(), dry_run=True, today=TODAY, aliases=ALIAS)
    assert (dry.open_before, dry.loaded, dry.still_open, dry.load_id) == (5, 2, 3, None)
    assert open_count(con) == 5  # a dry run writes nothing
    assert con.execute("SELECT count(*) FROM ops.rejudges").fetchall() == [(0,)]

    done = rejudge(con, Scope("120101000000"), item="失业登记", today=TODAY, aliases=ALIAS)
    assert (done.open_before, done.loaded, done.still_open) == (5, 2, 3)
    assert done.open_before == done.loaded + done.still_open
    assert done.load_id is not None
    # Exactly the two rows the alias fixes, loaded through the normal commit: facts, cases, master.
    facts = con.execute(
        "SELECT name, unemployment_reason, row_number, load_id FROM core.unemployment_registration ORDER BY row_number"
    ).fetchall()
    assert facts == [
        ("刘洋", "1", 2, first.load_id),
        ("陈静", "2", 3, done.load_id),
        ("杨磊", "2", 4, done.load_id),
    ]
    cases = con.execute("SELECT row_number FROM core.cases WHERE load_id = ? ORDER BY 1", [done.load_id]).fetchall()
    assert cases == [(3,), (4,)]
    assert con.execute(
        "SELECT count(*) FROM core.persons WHERE name IN ('陈静', '杨磊') AND last_load = ?", [done.load_id]
    ).fetchall() == [(2,)]
    # History: the quarantine rows stay, superseded by themselves in the rejudge load.
    history = con.execute(
        "SELECT row_number, superseded_by_load, superseded_by_row, superseded_valid, rejudged "
        "FROM quarantine.rows ORDER BY row_number"
    ).fetchall()
    assert history == [
        (3, done.load_id, 3, True, True),
        (4, done.load_id, 4, True, True),
        (5, None, None, None, None),
        (6, None, None, None, None),
        (7, None, None, None, None),
    ]
    [logged] = con.execute(
        "SELECT scope, item_code, standards_hash, aliases_hash, aliases, open_before, rows_loaded, still_open "
        "FROM ops.rejudges"
    ).fetchall()
    assert logged == (
        "120101000000",
        "JY02",
        done.standards_hash,
        done.aliases_hash,
        f"code local_unemployment_reason {SPELLING} → 2",
        5,
        2,
        3,
    )
    # The file reconciles: its counts moved from quarantined to loaded, the warehouse check agrees.
    assert con.execute("SELECT rows_in, rows_loaded, rows_quarantined FROM ops.files").fetchall() == [(6, 3, 3)]
    assert check_connection(con).problems == []
    assert open_count(con) == 3

    again = rejudge(con, Scope.city(), today=TODAY, aliases=ALIAS)
    assert (again.open_before, again.loaded, again.still_open, again.load_id) == (3, 0, 3, None)
    assert con.execute("SELECT count(*) FROM ops.rejudges").fetchall() == [(1,)]
    assert con.execute("SELECT count(*) FROM core.unemployment_registration").fetchall() == [(3,)]


def test_a_catalogue_change_loads_the_rows_it_no_longer_refuses_with_their_warnings(tmp_path: Path) -> None:
    strict_dir = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR, strict_dir)
    path = strict_dir / "JY02_失业登记.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["versions"][0]["severity"] = {"DOC_MISSING": "error"}
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    strict = catalogue(strict_dir)

    drops = tmp_path / "drops"
    write_export(
        drops / SOURCE[:6] / SOURCE,
        f"失业登记_{SOURCE}_20261105.csv",
        [person(1), person(2, documents="身份证"), person(3, documents="离职证明")],
    )
    con = open_warehouse(tmp_path / "warehouse.duckdb")
    first = sync_sources(con, drops, [SOURCE], today=TODAY, standards=strict).load
    assert (first.rows_loaded, first.rows_quarantined) == (1, 2)
    assert rejudge(con, today=TODAY, standards=strict).loaded == 0  # same catalogue: nothing changes

    done = rejudge(con, today=TODAY)  # the shipped catalogue: DOC_MISSING warns
    assert (done.loaded, done.warned, done.still_open) == (2, 2, 0)
    warnings = con.execute("SELECT row_number, rule FROM core.warnings ORDER BY 1").fetchall()
    assert warnings == [(3, "DOC_MISSING"), (4, "DOC_MISSING")]
    assert con.execute("SELECT rows_loaded, rows_quarantined, rows_warned FROM ops.files").fetchall() == [(3, 0, 2)]
    assert check_connection(con).problems == []


def test_a_row_keeps_the_day_of_its_first_verdict(tmp_path: Path) -> None:
    """A registration dated after the day it was sent stays refused, however late it is re-judged."""
    drops = tmp_path / "drops"
    late = TODAY.replace(day=TODAY.day + 2).isoformat()
    write_export(
        drops / SOURCE[:6] / SOURCE,
        f"失业登记_{SOURCE}_20261105.csv",
        [person(1, registration_date=late, handled_at=late)],
    )
    con = open_warehouse(tmp_path / "warehouse.duckdb")
    assert sync_sources(con, drops, [SOURCE], today=TODAY).load.rows_quarantined == 1
    con.execute("UPDATE ops.loads SET started_at = ?", [f"{TODAY.isoformat()} 02:00:00+00"])
    assert rejudge(con).loaded == 0  # judged as of TODAY, the day the load started
    assert rejudge(con, today=TODAY.replace(day=TODAY.day + 3)).loaded == 1


def test_the_command_reads_the_local_aliases_and_reports_the_counts(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from flows.cli import app
    from reports.receipts import render_receipt

    home = tmp_path / "home"
    drops = tmp_path / "drops"
    write_export(
        drops / SOURCE[:6] / SOURCE,
        f"失业登记_{SOURCE}_20261105.csv",
        [person(1), person(2, unemployment_reason=SPELLING)],
    )
    con = open_warehouse(home / "warehouse.duckdb")
    sync_sources(con, drops, [SOURCE], today=TODAY)
    con.close()
    env = {"TIERHUB_HOME": str(home), "TIERHUB_ENCRYPT": "false"}
    runner = CliRunner()
    dry = runner.invoke(app, ["rejudge", "--in", "120101000000", "--dry-run", "--json"], env=env)
    assert dry.exit_code == 0, dry.output
    assert (json.loads(dry.output)["loaded"], json.loads(dry.output)["still_open"]) == (0, 1)

    (home / "aliases").mkdir()
    (home / "aliases" / "codes.yaml").write_text(
        f"local_unemployment_reason:\n  {SPELLING}: 终止劳动合同\n", encoding="utf-8"
    )
    done = runner.invoke(app, ["rejudge", "--item", "JY02", "--language", "en"], env=env)
    assert done.exit_code == 0, done.output
    assert "now loaded" in done.output and "readers now see snapshot generation" in done.output
    con = open_warehouse(home / "warehouse.duckdb")
    [(file_id,)] = con.execute("SELECT file_id FROM ops.files").fetchall()
    receipt = render_receipt(con, file_id, "en").body.decode("utf-8-sig")
    assert SPELLING not in receipt  # the row is no longer listed as refused
    assert open_count(con) == 0


def test_the_demo_onboards_its_new_dialect(tmp_path: Path) -> None:
    from flows.cli.rejudge import onboard_demo_dialect
    from tierhub.synth.onboarding import write_onboarding_export

    drops, home = tmp_path / "drops", tmp_path / "home"
    export = write_onboarding_export(drops, 7, TODAY)
    assert export.path.read_bytes().startswith(b"\xff\xfe")  # UTF-16LE with BOM
    assert write_onboarding_export(tmp_path / "again", 7, TODAY).path.read_bytes() == export.path.read_bytes()
    con = open_warehouse(home / "warehouse.duckdb")
    load = sync_sources(con, drops, [export.source_id], today=TODAY).load
    con.close()
    assert (load.rows_loaded, load.rows_quarantined) == (export.rows - len(export.held_rows), len(export.held_rows))
    facts = onboard_demo_dialect(home, home / "warehouse.duckdb", export)
    assert (facts["held"], facts["loaded"], facts["still_open"]) == (len(export.held_rows), len(export.held_rows), 0)
    assert "协商解除" in (home / "aliases" / "codes.yaml").read_text(encoding="utf-8")
    again = onboard_demo_dialect(home, home / "warehouse.duckdb", export)  # a rerun of the demo
    assert (again["held"], again["loaded"]) == (0, 0)
