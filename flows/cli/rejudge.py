"""``tierhub rejudge``: re-check open quarantine rows against today's catalogue and aliases, load what passes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from flows.cli.common import Json, Language, Scope, WarehouseFile, console, print_json
from tierhub.settings import TierhubSettings

if TYPE_CHECKING:
    from tierhub.synth.onboarding import OnboardingExport

WORDS = {
    "zh": {
        "title": "重新校验 {scope}",
        "item": "事项",
        "open_before": "待处理行（校验前）",
        "loaded": "现已入库",
        "warned": "其中带提示",
        "still_open": "仍待处理",
        "total": "合计",
        "dry": "试运行：未写入任何数据。",
        "done": "已入库（批次 {load}），读取端已更新至第 {generation} 版快照。",
        "nothing": "没有可入库的行：仓库未改变。",
        "hashes": "标准目录 SHA-256 {standards}；本地别名 SHA-256 {aliases}",
    },
    "en": {
        "title": "Re-judging {scope}",
        "item": "item",
        "open_before": "open rows before",
        "loaded": "now loaded",
        "warned": "of which with warnings",
        "still_open": "still open",
        "total": "total",
        "dry": "Dry run: nothing was written.",
        "done": "Loaded (load {load}); readers now see snapshot generation {generation}.",
        "nothing": "No row passes now: the warehouse is unchanged.",
        "hashes": "catalogue SHA-256 {standards}; local aliases SHA-256 {aliases}",
    },
}


def rejudge(
    scope: Scope = None,
    item: Annotated[
        str | None, typer.Option("--item", help="Only this service item (code, Chinese name or alias).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Judge and count; write nothing.")] = False,
    warehouse: WarehouseFile = None,
    language: Annotated[Language, typer.Option(help="zh for staff, en for engineers.")] = Language.zh,
    as_json: Json = False,
) -> None:
    """Re-check open quarantine rows against today's catalogue and local aliases; load those that now pass.

    No street sends anything again: the rows are judged from the cells as received, loaded with
    history (each quarantine row superseded by its own load, the catalogue and alias hashes in
    ops.rejudges), and the counts reconcile (open before = loaded + still open).
    """
    from quality.aliases import load_local_aliases
    from tierhub.scope import Scope as Division
    from warehouse.publish import publish
    from warehouse.rejudge import rejudge as run_rejudge
    from warehouse.schema import open_warehouse

    settings = TierhubSettings()
    path = warehouse or settings.warehouse_file
    where = Division.city().narrow(scope)
    aliases = load_local_aliases(settings.home)
    con = open_warehouse(path)
    try:
        result = run_rejudge(con, where, item=item, dry_run=dry_run, aliases=aliases)
        generation = publish(con, path).generation if result.load_id else None
    finally:
        con.close()
    if as_json:
        print_json({"result": result, "loaded": result.loaded, "still_open": result.still_open})
        return
    words = WORDS[language.value]
    table = Table(title=words["title"].format(scope=f"{where} {where.division.name}"))
    for key in ("item", "open_before", "loaded", "warned", "still_open"):
        table.add_column(words[key], justify="left" if key == "item" else "right")
    for code, counts in result.items.items():
        table.add_row(code, *(f"{n:,}" for n in (counts.open_before, counts.loaded, counts.warned, counts.still_open)))
    table.add_row(
        words["total"],
        *(f"{n:,}" for n in (result.open_before, result.loaded, result.warned, result.still_open)),
    )
    console.print(table)
    console.print(words["hashes"].format(standards=result.standards_hash[:12], aliases=result.aliases_hash[:12]))
    if dry_run:
        console.print(words["dry"])
    elif result.load_id:
        console.print(words["done"].format(load=result.load_id, generation=generation))
    else:
        console.print(words["nothing"])


def onboard_demo_dialect(home: Path, warehouse: Path, export: OnboardingExport) -> dict[str, Any]:
    """The demo's onboarding of a new dialect: map the office's spelling locally, re-judge the rows it held.

    What a data engineer does after ``tierhub profile`` shows the unknown value: ``tierhub codes map``
    (``quality.aliases.add_code_alias``), then ``tierhub rejudge``.
    """
    from quality.aliases import CODES_FILE, add_code_alias, aliases_folder, load_local_aliases
    from tierhub.scope import Scope as Division
    from warehouse.publish import publish
    from warehouse.rejudge import rejudge as run_rejudge
    from warehouse.schema import open_warehouse

    add_code_alias(home, export.table, export.text, export.code)  # no change when it is there already
    aliases = load_local_aliases(home)
    relative = export.path.relative_to(export.path.parents[2]).as_posix()
    con = open_warehouse(warehouse)
    try:
        [(held,)] = con.execute(
            "SELECT count(*) FROM quarantine.open_rows q JOIN ops.files f USING (file_id) WHERE f.path = ?",
            [relative],
        ).fetchall()
        result = run_rejudge(con, Division(export.source_id), item=export.item_code, aliases=aliases)
        if result.load_id:
            publish(con, warehouse)
    finally:
        con.close()
    return {
        "file": relative,
        "dialect": export.dialect,
        "encoding": export.encoding,
        "held": int(held),
        "alias": f"{export.table}: {export.text} → {export.code}",
        "alias_file": str(aliases_folder(home) / CODES_FILE),
        "loaded": result.loaded,
        "still_open": result.still_open,
    }


def print_onboarding(facts: dict[str, Any]) -> None:
    """The demo's account of the dialect it onboarded."""
    console.print(
        f"\n[bold]Onboarding a new dialect[/bold] (issue #14): {facts['file']} — Excel “Unicode 文本” "
        f"({facts['encoding']}, tab-separated) under a 数据透视 title band.\n"
        f"  The sync held {facts['held']} of its rows: the unemployment reason is written in a spelling no code "
        f"table knows (CODE_UNKNOWN).\n"
        f"  Mapped {facts['alias']} in {facts['alias_file']} (what `tierhub codes map` does), then "
        f"`tierhub rejudge` loaded {facts['loaded']} rows — nothing sent again ({facts['still_open']} other rows of "
        "the street's 失业登记 stay held for their own defects).",
        highlight=False,
        soft_wrap=True,
    )
