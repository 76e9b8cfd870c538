"""``tierhub crosscheck``: run the cross-programme rules, list the 协查 cases, answer a regional check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flows.cli.common import Json, Language, Scope, WarehouseFile, console, print_json
from tierhub.settings import TierhubSettings

app = typer.Typer(
    help="Cross-programme checks (跨项目协查): run the rules over everyone, list cases, check one person.",
    invoke_without_command=True,
)


@app.callback()
def crosscheck(
    ctx: typer.Context,
    scope: Scope = None,
    warehouse: WarehouseFile = None,
    language: Annotated[Language, typer.Option(help="zh for staff, en for engineers.")] = Language.zh,
    as_json: Json = False,
) -> None:
    """Run every cross-programme rule over everyone, then list the open cases inside --in (default: the city)."""
    if ctx.invoked_subcommand is not None:
        return
    from tierhub.scope import Scope as Division
    from warehouse.crosscases import cases_in_scope
    from warehouse.crosscheck import run_crosschecks
    from warehouse.schema import open_warehouse

    path = warehouse or TierhubSettings().warehouse_file
    where = Division.city().narrow(scope)
    con = open_warehouse(path)
    try:
        run = run_crosschecks(con, actor="cli")
        cases = cases_in_scope(con, where, statuses=("open", "confirmed"), with_fields=False)
    finally:
        con.close()
    if as_json:
        print_json({"run": run, "cases": cases})
        return
    console.print(f"Rules hit {sum(run.hits.values())} pairs; {run.opened} new cases, {run.resolved} cleared.")
    table = Table(title=f"协查 cases in {where} {where.division.name}")
    for column in ("case", "rule", "status", "routed to", "message"):
        table.add_column(column)
    for case in cases:
        title = case.title_zh if language == Language.zh else case.title_en
        table.add_row(case.case_id, title, case.status, case.act_division, case.message(language.value))
    console.print(table)


@app.command("person")
def person(
    id_number: Annotated[str, typer.Argument(help="The ID number (公民身份号码) to check.")],
    asked_by: Annotated[str, typer.Option("--by", help="The asking division (its own records are not consulted).")],
    warehouse: WarehouseFile = None,
    out: Annotated[Path | None, typer.Option(help="Write the receipt (CSV) here as well.")] = None,
) -> None:
    """Answer a regional check (区域协查) for one person and print the 协查回执 with its SHA-256."""
    from warehouse.readers import open_reader
    from warehouse.regional import regional_check

    path = warehouse or TierhubSettings().warehouse_file
    con = open_reader(path)
    try:
        receipt = regional_check(con, id_number, asked_by)
    finally:
        con.close()
    console.print(receipt.csv_text, highlight=False, markup=False)
    console.print(f"SHA-256: {receipt.sha256}")
    if out is not None:
        out.write_text(receipt.csv_text, encoding="utf-8-sig")
        console.print(f"Written to {out}")
