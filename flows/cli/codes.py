"""``tierhub codes`` and ``tierhub headers``: onboard a dialect's code spellings and header texts.

The aliases go to the deployment's ``<home>/aliases/`` (never the repository) and are read by
every later sync; rows already quarantined are re-checked by ``tierhub rejudge``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from flows.cli.common import Json, Scope, WarehouseFile, console, print_json
from tierhub.settings import TierhubSettings

T = TypeVar("T")

app = typer.Typer(help="Code values no table accepts, and deployment-local code aliases (代码别名).")
headers_app = typer.Typer(help="Header texts no field matches, and deployment-local header aliases (表头别名).")

NEXT_STEP = "in force from the next sync; `tierhub rejudge` re-checks rows already quarantined"


def _home() -> Path:
    return TierhubSettings().home


def _count_in_snapshot(warehouse: Path | None, scope: str | None, query: Callable[[Any, str], T]) -> T:
    """``query(con, scope)`` on the published snapshot (never blocks a sync), local aliases in force."""
    from quality.aliases import apply_local_aliases
    from warehouse.queries import CITY
    from warehouse.readers import open_reader

    settings = TierhubSettings()
    apply_local_aliases(settings.home)
    con = open_reader(warehouse or settings.warehouse_file)
    try:
        return query(con, scope or CITY)
    finally:
        con.close()


def _open_unknown(warehouse: Path | None, scope: str | None) -> list:  # type: ignore[type-arg]
    from quality.aliases import unknown_codes
    from warehouse.queries import open_unknown_codes

    return unknown_codes(_count_in_snapshot(warehouse, scope, open_unknown_codes))


@app.command("unknown")
def codes_unknown(scope: Scope = None, warehouse: WarehouseFile = None, json: Json = False) -> None:
    """List code values of the open quarantine no code table accepts, with counts and suggested codes."""
    unknown = _open_unknown(warehouse, scope)
    if json:
        print_json({"unknown": unknown})
        return
    table = Table(title=f"{len(unknown)} unknown code values in open quarantine (未知代码值)")
    for column in ("code table", "字段 field", "值 value", "行 rows", "事项 items", "建议 suggested codes"):
        table.add_column(column, overflow="fold")
    for u in unknown:
        hints = ", ".join(f"{s.code} {s.name} ({s.score:.2f})" for s in u.suggestions) or "-"
        table.add_row(u.table, u.field, escape(u.text), f"{u.rows:,}", ", ".join(u.items), escape(hints))
    console.print(table)
    if unknown:
        console.print(
            "map one: tierhub codes map TABLE TEXT CODE · all suggestions, for review: "
            "tierhub codes map --accept-suggestions",
            highlight=False,
        )


@app.command("map")
def codes_map(
    table: Annotated[
        str | None, typer.Argument(help="Code table (e.g. local_unemployment_reason) or its field.")
    ] = None,
    text: Annotated[str | None, typer.Argument(help="The value as exports write it.")] = None,
    code: Annotated[str | None, typer.Argument(help="The code it means (or the code's official name).")] = None,
    accept_suggestions: Annotated[
        bool,
        typer.Option(
            "--accept-suggestions",
            help="Write every unknown value of the open quarantine with its best suggestion to a file to review "
            "(<home>/aliases/codes.proposed.yaml); apply it with `tierhub codes apply`.",
        ),
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Where --accept-suggestions writes its file.")] = None,
    scope: Scope = None,
    warehouse: WarehouseFile = None,
) -> None:
    """Add TEXT → CODE to TABLE's local aliases; refused if TEXT already means another code."""
    from quality.aliases import add_code_alias, write_code_proposals

    if accept_suggestions:
        if table or text or code:
            raise typer.BadParameter("--accept-suggestions takes no TABLE TEXT CODE")
        path, proposed, without = write_code_proposals(_home(), _open_unknown(warehouse, scope), out)
        console.print(
            f"wrote {path}: {proposed} proposed aliases, {without} values without a suggestion (commented out). "
            f"Review it, then: tierhub codes apply {path}",
            highlight=False,
        )
        return
    if not (table and text and code):
        raise typer.BadParameter("give TABLE TEXT CODE, or --accept-suggestions")
    added = add_code_alias(_home(), table, text, code)
    if added.new:
        console.print(f"added {escape(added.text)} → {added.target} to {added.path}; {NEXT_STEP}", highlight=False)
    else:
        console.print(f"{escape(added.text)} already means {added.target}: nothing to add", highlight=False)


@app.command("apply")
def codes_apply(
    path: Annotated[Path, typer.Argument(help="A reviewed proposals file (from --accept-suggestions).")],
) -> None:
    """Add every entry of a reviewed proposals file to the local code aliases (all or none)."""
    from quality.aliases import apply_code_proposals

    added = apply_code_proposals(_home(), path)
    new = sum(a.new for a in added)
    console.print(f"applied {new} new aliases ({len(added) - new} already known); {NEXT_STEP}", highlight=False)


@headers_app.command("unknown")
def headers_unknown(scope: Scope = None, warehouse: WarehouseFile = None, json: Json = False) -> None:
    """List header texts of registered files that named no field, with suggested fields."""
    from quality.aliases import still_unknown_header, suggest_fields
    from warehouse.queries import unknown_header_counts

    counts = _count_in_snapshot(warehouse, scope, unknown_header_counts)
    rows = [(c.header, c.files, suggest_fields(c.header)) for c in counts if still_unknown_header(c.header)]
    if json:
        print_json({"unknown": [{"header": h, "files": n, "suggestions": dict(s)} for h, n, s in rows]})
        return
    table = Table(title=f"{len(rows)} header texts that named no field (未识别表头)")
    for column in ("表头 header", "文件 files", "建议 suggested fields"):
        table.add_column(column, overflow="fold")
    for header, files, suggestions in rows:
        hints = ", ".join(f"{f} ({s:.2f})" for f, s in suggestions) or "-"
        table.add_row(escape(header), str(files), escape(hints))
    console.print(table)


@headers_app.command("map")
def headers_map(
    header: Annotated[str, typer.Argument(help="The header text as exports write it.")],
    field: Annotated[str, typer.Argument(help="The canonical field it names (a field of field_dictionary.csv).")],
) -> None:
    """Add HEADER → FIELD to the local header aliases; refused if HEADER already names another field."""
    from quality.aliases import add_header_alias

    added = add_header_alias(_home(), header, field)
    if added.new:
        console.print(f"added {escape(added.text)} → {added.target} to {added.path}; {NEXT_STEP}", highlight=False)
    else:
        console.print(f"{escape(added.text)} already names {added.target}: nothing to add", highlight=False)
