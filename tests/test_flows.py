"""The Prefect flows: same warehouse as the plain functions, failures isolated, schedules declared."""

from __future__ import annotations

import ast
import datetime as dt
import importlib
import shutil
import time
from pathlib import Path

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from flows.pipeline import Selection, sync_sources
from tests.sshd import Sshd
from tierhub.calendar import is_working_day
from tierhub.reference import divisions
from tierhub.synth.city import GeneratedCity
from warehouse.schema import open_warehouse
from warehouse.source_status import FileSeen, source_states

pytestmark = pytest.mark.slow  # every test runs Prefect (one temporary API for the session)

ROOT = Path(__file__).parents[1]
HEPING, NINGHE = "120101", "120117"
# 和平区 and 宁河区 synced 150 sources a batch: (label, district, sources) of each batch's parts
SPAN = f"{HEPING}~{NINGHE}-1of3"
BATCHES_OF_150 = [
    (SPAN, HEPING, 70),
    (SPAN, NINGHE, 66),
    (f"{NINGHE}-宁河区-2of3", NINGHE, 136),
    (f"{NINGHE}-宁河区-3of3", NINGHE, 137),
]


def counts(path: Path, district: str) -> tuple[int, ...]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute(
            "SELECT count(*), sum(rows_in), sum(rows_loaded), sum(rows_quarantined) FROM ops.files "
            "WHERE starts_with(source_id, ?)",
            [district],
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    return tuple(int(x) for x in row)


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def streets(district: str) -> list[str]:
    return [d.code for d in divisions().at_level("street") if d.code.startswith(district)]


def copy_sources(city: GeneratedCity, codes: list[str], drops: Path) -> None:
    for code in codes:
        shutil.copytree(city.drops / code[:6] / code, drops / code[:6] / code)


def read_artifact(key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        [artifact, *_] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC, limit=1
        )
    return str(artifact.data)


@pytest.mark.usefixtures("prefect_harness")
def test_sync_flow_matches_the_plain_pipeline(
    city: GeneratedCity, synced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.sync import progress_listener, sync_flow

    monkeypatch.setenv("TIERHUB_BATCH_BYTES", "0")  # the planned batches, not merged (decision 0033)
    warehouse = tmp_path / "flow.duckdb"
    events: list[tuple[str, object]] = []
    with progress_listener(lambda event, value: events.append((event, value))):
        summary = sync_flow(
            drops_root=str(city.drops), warehouse=str(warehouse), districts=[HEPING, NINGHE], sources_per_batch=150
        )
    # 70 + 339 sources on one host (folders): three even batches, the first spanning both districts;
    # the summary has one part per district of each batch
    assert [(b.label, b.district_code[:6], b.sources) for b in summary.batches] == BATCHES_OF_150
    assert summary.batches[0].load_id == summary.batches[1].load_id  # one batch, one load
    # a long batch is never silent: each stage reports progress before the batch's summaries arrive
    first = [v for e, v in events if e == "stage" and v[0] == SPAN]  # type: ignore[index]
    assert list(dict.fromkeys(stage for _, stage, _, _ in first)) == ["fetch", "read", "judge", "commit"]
    assert len(first) > 20  # read every 50 files, judge every item
    fetched = [(done, total) for _, stage, done, total in first if stage == "fetch"]
    assert fetched[0] == (0, fetched[0][1]) and fetched[-1][0] >= 50  # fetching moves too, every 50 files
    assert events.index(("stage", first[-1])) < events.index(("batch", summary.batches[0]))
    for district in (HEPING, NINGHE):
        parts = [b for b in summary.batches if b.district_code.startswith(district)]
        files, rows_in, loaded, quarantined = counts(warehouse, district)
        assert (files, rows_in, loaded, quarantined) == counts(synced, district)
        assert sum(b.files for b in parts) == files and sum(b.rows_in for b in parts) == rows_in
        assert sum(b.rows_loaded for b in parts) == loaded and sum(b.rows_quarantined for b in parts) == quarantined
        # per-source status in the warehouse: one row per source, and the parts' states add up to it
        [(rows, ok)] = query(
            warehouse,
            "SELECT count(*), count(*) FILTER (state = 'ok') FROM ops.source_latest "
            f"WHERE starts_with(source_id, '{district}')",
        )
        assert rows == sum(b.sources for b in parts) == sum(sum(b.states.values()) for b in parts)
        assert ok == sum(b.states["ok"] for b in parts) > 0
    markdown = read_artifact("sync-summary")
    assert "| 和平区 120101 | 70 |" in markdown and "| 宁河区 120117 | 339 |" in markdown
    assert "rows quarantined" in markdown


@pytest.mark.usefixtures("prefect_harness")
def test_sync_flow_merges_small_folder_batches_into_one_task(city: GeneratedCity, synced: Path, tmp_path: Path) -> None:
    from flows.sync import sync_flow

    warehouse = tmp_path / "merged.duckdb"
    summary = sync_flow(
        drops_root=str(city.drops), warehouse=str(warehouse), districts=[HEPING, NINGHE], sources_per_batch=150
    )
    # Three planned batches, ~5 MB of new files (under TIERHUB_BATCH_BYTES): one prepare task, one
    # commit, whose state carries the outboxes' listings to the task (decision 0033).
    assert {b.label for b in summary.batches} == {f"{HEPING}~{NINGHE}-1of1"}
    for district in (HEPING, NINGHE):
        assert counts(warehouse, district) == counts(synced, district)


def test_batches_span_districts_of_one_host_only() -> None:
    from flows.sync import plan_batches

    def host(district: str) -> str:  # 和平区 on its own SFTP server; the others in folders
        return "sftp.heping:22" if district.startswith(HEPING) else "folder"

    plans = plan_batches(None, 2_000, hosts=host)
    assert [p.host for p in plans] == ["sftp.heping:22", "folder", "folder", "folder"]
    sizes = [len(p.source_codes) for p in plans]
    assert sizes[0] == 70 and sum(sizes[1:]) == 5_916 - 70 and max(sizes[1:]) - min(sizes[1:]) <= 1  # even chunks
    assert sorted(c for p in plans for c in p.source_codes) == sorted(s.code for s in divisions().sources())
    assert plans[0].label == f"{HEPING}-和平区-1of1" and plans[0].districts == {HEPING + "000000": 70}
    assert sum(len(p.districts) for p in plans[1:]) > 3  # folder batches hold several districts each
    streets_only = plan_batches([HEPING, NINGHE], 2_000, levels=["street"])
    assert [p.label for p in streets_only] == [f"{HEPING}~{NINGHE}-1of1"]
    assert all(divisions().get(c).level == "street" for c in streets_only[0].source_codes)


@pytest.mark.usefixtures("prefect_harness")
def test_a_refused_host_key_and_a_broken_file_never_fail_the_others(
    city: GeneratedCity, sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.sync import sync_flow

    drops = tmp_path / "drops"
    good = streets(NINGHE)
    copy_sources(city, good, drops)
    broken = drops / NINGHE / good[0] / f"失业登记_{good[0]}_20261101.csv"
    broken.write_bytes(bytes(range(256)) * 4)
    old = time.time() - 600
    import os

    os.utime(broken, (old, old))
    (tmp_path / "empty_known_hosts").write_text("")
    sources = tmp_path / "sources.yaml"
    sftp = sshd.endpoint(known_hosts=str(tmp_path / "empty_known_hosts"), retries=0).model_dump(exclude_none=True)
    sources.write_text(yaml.safe_dump({"default": {"kind": "folder"}, "districts": {HEPING: sftp}}), encoding="utf-8")
    monkeypatch.setenv("TIERHUB_SOURCES_FILE", str(sources))
    monkeypatch.setenv("TIERHUB_DROPS_ROOT", str(drops))
    monkeypatch.setenv("TIERHUB_LANDING_PATH", str(tmp_path / "landing"))
    warehouse = tmp_path / "w.duckdb"

    summary = sync_flow(warehouse=str(warehouse), districts=[HEPING, NINGHE], levels=["street"], data_docs=False)

    refused = {s for s, e in summary.batches[0].errors if "host key" in e}
    assert refused == set(streets(HEPING))  # every street of 和平区: unknown host key
    assert summary.state_total("failed") == len(streets(HEPING)) + 1  # + the broken file's street
    assert summary.total("rows_loaded") > 0
    states = dict(query(warehouse, "SELECT source_id, state FROM ops.source_latest"))  # type: ignore[arg-type]
    assert {states[c] for c in streets(HEPING)} == {"failed"} and states[good[0]] == "failed"
    assert {states[c] for c in good[1:]} == {"ok"}
    [(loaded_sources,)] = query(warehouse, "SELECT count(DISTINCT source_id) FROM ops.files WHERE status = 'loaded'")
    assert loaded_sources == len(good)
    [(error,)] = query(warehouse, f"SELECT error FROM ops.source_latest WHERE source_id = '{good[0]}'")
    assert "binary" in str(error)
    markdown = read_artifact("sync-summary")
    assert "unknown host key" in markdown and f"| 宁河区 {NINGHE} | {len(good)} | {len(good) - 1} | 1 |" in markdown


@pytest.mark.usefixtures("prefect_harness")
def test_a_dry_run_reports_what_would_load_and_commits_nothing(city: GeneratedCity, tmp_path: Path) -> None:
    from flows.sync import sync_flow

    warehouse = tmp_path / "w.duckdb"
    summary = sync_flow(
        drops_root=str(city.drops), warehouse=str(warehouse), districts=[HEPING], levels=["street"], dry_run=True
    )
    assert summary.dry_run and summary.total("files") > 0 and summary.total("rows_loaded") > 0
    assert summary.snapshot is None and summary.data_docs is None
    assert query(warehouse, "SELECT (SELECT count(*) FROM ops.files), (SELECT count(*) FROM ops.loads)") == [(0, 0)]
    # A calendar warning (a year without holiday data) may stand above it, depending on the date.
    assert "**Dry run: nothing was committed.**" in read_artifact("sync-summary")


def test_items_and_since_select_the_files_a_sync_takes(city: GeneratedCity, tmp_path: Path) -> None:
    codes = streets(HEPING)
    con = open_warehouse(tmp_path / "w.duckdb")
    later = sync_sources(con, city.drops, codes, selection=Selection(since=dt.datetime.now(dt.UTC) + dt.timedelta(1)))
    assert later.load.files == 0 and later.unselected_files > 0
    only = sync_sources(con, city.drops, codes, selection=Selection(items=frozenset({"JY02"})))
    assert only.load.files > 0 and {e.item_code for e in only.entries} == {"JY02"}
    rest = sync_sources(con, city.drops, codes)
    assert rest.load.files == later.unselected_files - only.load.files
    assert rest.unchanged_files == only.load.files  # the JY02 files were taken once
    con.close()


@pytest.mark.usefixtures("prefect_harness")
def test_scheduled_street_sync_honours_the_chinese_calendar(tmp_path: Path) -> None:
    from flows.sync import sync_flow

    holiday, adjusted_saturday = dt.date(2026, 10, 1), dt.date(2026, 10, 10)  # 国庆节; 调休上班
    assert not is_working_day(holiday) and adjusted_saturday.weekday() == 5 and is_working_day(adjusted_saturday)
    (tmp_path / "drops").mkdir()
    common = {"drops_root": str(tmp_path / "drops"), "districts": [HEPING], "levels": ["street"]}
    off = sync_flow(warehouse=str(tmp_path / "off.duckdb"), working_days_only=True, today=holiday, **common)
    assert off.batches == [] and off.skipped and "not a working day" in off.skipped
    assert not (tmp_path / "off.duckdb").exists()
    on = sync_flow(warehouse=str(tmp_path / "on.duckdb"), working_days_only=True, today=adjusted_saturday, **common)
    assert on.skipped is None and on.state_total("silent") == len(streets(HEPING))


def test_source_states_failed_silent_late_ok() -> None:
    now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    day = dt.timedelta(days=1)
    states = source_states(
        ["a", "b", "c", "d", "e"],
        files=[FileSeen("a", now - day, new=True, rows_loaded=3), FileSeen("b", now - day, new=True, rejected=True)],
        refused=[],
        waiting=["a"],
        unreachable=[("c", "connection refused")],
        last_file_at={"d": now - 9 * day, "e": now - 9 * day},
        calendars={"e": "monthly"},
        now=now,
    )
    got = {s.source_id: s.state for s in states}
    assert got == {"a": "ok", "b": "failed", "c": "failed", "d": "late", "e": "ok"}
    assert states[0].files_waiting == 1 and states[0].rows_loaded == 3 and states[2].error == "connection refused"
    fresh = source_states(
        ["f"], files=[], refused=[], waiting=[], unreachable=[], last_file_at={}, calendars={}, now=now
    )
    assert fresh[0].state == "silent"


@pytest.mark.usefixtures("prefect_harness")
def test_validate_and_load_takes_a_handed_over_folder(city: GeneratedCity, tmp_path: Path) -> None:
    from flows.validate import validate_and_load

    folder = tmp_path / "usb"
    codes = streets(NINGHE)[:2]
    copy_sources(city, codes, folder)
    warehouse = tmp_path / "w.duckdb"
    first = validate_and_load(folder=str(folder), warehouse=str(warehouse), data_docs=False)
    assert first.total("sources") == 2 and first.total("files") > 0 and first.state_total("ok") == 2
    assert query(warehouse, "SELECT DISTINCT source_id FROM ops.files ORDER BY 1") == [(c,) for c in codes]
    again = validate_and_load(folder=str(folder), warehouse=str(warehouse), data_docs=False)
    assert again.total("files") == 0 and again.total("skipped_files") == first.total("files")


@pytest.mark.usefixtures("prefect_harness")
def test_maintain_warehouse_checks_backs_up_compacts_and_publishes(synced: Path, tmp_path: Path) -> None:
    from flows.maintain import maintain_warehouse

    warehouse = tmp_path / "w.duckdb"
    shutil.copyfile(synced, warehouse)
    dry = maintain_warehouse(warehouse=str(warehouse), dry_run=True)
    assert dry.tables and dry.backup is None and not (tmp_path / "backups").exists()
    done = maintain_warehouse(warehouse=str(warehouse))
    assert done.backup and Path(done.backup).parent == tmp_path / "backups" and Path(done.backup).exists()
    assert done.snapshot and (tmp_path / "snapshots" / "current.duckdb").resolve() == Path(done.snapshot).resolve()
    assert done.tables == dry.tables and done.bytes_after > 0


@pytest.mark.usefixtures("prefect_harness")
def test_cli_sync_shows_progress_per_district_and_a_summary(city: GeneratedCity, tmp_path: Path) -> None:
    from flows.cli import app

    result = CliRunner().invoke(
        app,
        [
            *("sync", "--drops", str(city.drops), "--warehouse", str(tmp_path / "w.duckdb")),
            *("--district", HEPING, "--district", NINGHE, "--level", "street", "--dry-run"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "和平区" in result.output and "宁河区" in result.output and "Dry run" in result.output
    assert "This run by district" in result.output and "nothing committed" in result.output


def flow_functions() -> dict[str, str]:
    """entrypoint → flow name, for every @flow defined in flows/*.py."""
    found = {}
    for module in sorted((ROOT / "flows").glob("*.py")):
        for node in ast.parse(module.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef):
                for decorator in node.decorator_list:
                    if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", "") == "flow":
                        found[f"flows/{module.name}:{node.name}"] = node.name
    return found


def deployments() -> dict[str, dict[str, object]]:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    return {d["name"]: d for d in config["deployments"]}


def test_every_flow_has_a_deployment_whose_entrypoint_imports() -> None:
    declared = {str(d["entrypoint"]) for d in deployments().values()}
    assert set(flow_functions()) <= declared
    for entrypoint in declared:
        module_path, name = entrypoint.split(":")
        module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
        assert hasattr(getattr(module, name), "fn"), entrypoint


def test_schedules_match_the_bureaus_week() -> None:
    d = deployments()

    def schedule(name: str) -> dict[str, object]:
        [only] = d[name]["schedules"]  # type: ignore[misc]
        assert only["timezone"] == "Asia/Shanghai" and d[name]["work_pool"]["name"] == "tierhub-process"  # type: ignore[index]
        return only  # type: ignore[no-any-return]

    assert schedule("sync-streets")["cron"] == "0 8-18 * * *"  # every day; the flow skips days off
    assert d["sync-streets"]["parameters"] == {"levels": ["street"], "working_days_only": True}
    assert schedule("sync-villages")["cron"] == "0 1 * * *"
    assert d["sync-villages"]["parameters"] == {"levels": ["community"]}
    assert schedule("send-quality-reports")["cron"] == "0 7 * * 1"
    assert schedule("maintain-warehouse")["cron"] == "0 22 * * 0"
