"""``tierhub standards``: the unified standards — list the items, show one, write the staff handbook.

What ``show`` prints is the handbook's own view of an item (``reports.handbook.build_handbook``)
in its own words (``reports/templates/labels.yaml``): a terminal and a printed page agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table

from flows.cli.common import Json, Language, console, print_json

if TYPE_CHECKING:
    from reports.handbook import CodeTableView, ItemView

app = typer.Typer(help="The unified standards: the service items and the staff handbook (统一标准手册).")

AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="Show the versions in force on this date, YYYY-MM-DD (default today)."),
]
CatalogueFolder = Annotated[
    Path | None,
    typer.Option("--catalogue", help="Catalogue folder: item YAMLs and _rules.yaml (default: the shipped one)."),
]


def as_of_day(text: str | None) -> dt.date:
    """The --as-of date (default today)."""
    from flows.cli.common import parse_day

    return parse_day(text, "--as-of") or dt.date.today()


@app.command("handbook")
def standards_handbook(
    out: Annotated[
        Path | None,
        typer.Option(help="HTML file to write (default: handbook.html, or handbook.en.html for --lang en, here)."),
    ] = None,
    lang: Annotated[Language, typer.Option("--lang", help="zh for staff, en for engineers.")] = Language.zh,
    as_of: AsOf = None,
    pdf: Annotated[
        bool, typer.Option("--pdf", help="Also print it to a PDF beside the HTML (needs Chromium).")
    ] = False,
    catalogue_folder: CatalogueFolder = None,
) -> None:
    """Write the staff handbook: every item's documents, fields, time limit, steps and reasons, as printable HTML."""
    from reports.handbook import print_pdf, read_catalogue, render_handbook

    items, rules = read_catalogue(catalogue_folder)
    html = render_handbook(items, language=lang.value, as_of=as_of_day(as_of), rules=rules)
    target = out or Path("handbook.html" if lang is Language.zh else "handbook.en.html")
    if target.suffix.lower() == ".pdf":  # --out handbook.pdf: the HTML goes beside it
        target, pdf = target.with_suffix(".html"), True
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html, encoding="utf-8")
    console.print(f"Wrote the handbook ({len(items)} service items) to {target.resolve()}")
    if pdf:
        printed = print_pdf(target, target.with_suffix(".pdf"))
        console.print(f"Printed it to {printed.resolve()}")
    else:
        console.print(
            "To print it: open it in a browser, Ctrl+P, paper A4, background graphics on, headers and footers off; "
            "or rerun with --pdf (uses Chromium)."
        )


@app.command("list")
def standards_list(as_of: AsOf = None, catalogue_folder: CatalogueFolder = None, json: Json = False) -> None:
    """List the service items with their version in force, fields, documents and time limit."""
    from reports.handbook import labels, ordered_items, read_catalogue, time_limit_words, version_on

    items, _ = read_catalogue(catalogue_folder)
    day = as_of_day(as_of)
    words = labels("zh")
    rows: list[dict[str, Any]] = []
    for item in ordered_items(items):
        version, status = version_on(item, day)
        rows.append(
            {
                "code": item.code,
                "name_zh": item.name_zh,
                "name_en": item.name_en,
                "aliases": list(item.aliases),
                "category": item.category,
                "category_zh": str(words["categories"].get(item.category, item.category)),
                "owner_system": item.owner_system,
                "version": version.version,
                "effective_from": version.effective_from,
                "status": status,
                "fields": len(version.fields),
                "documents": len(version.documents),
                "time_limit_zh": time_limit_words(version.time_limit, "zh")[0],
                "time_limit_en": time_limit_words(version.time_limit, "en")[0],
            }
        )
    if json:
        print_json({"as_of": day, "items": rows})
        return
    table = Table(title=f"{len(items)} service items (服务事项), standards in force on {day}", box=box.SIMPLE_HEAD)
    # The code, the name and the limit stay whole on a narrow terminal; the other columns give way.
    table.add_column("code", min_width=4)
    table.add_column("事项 item", no_wrap=True, min_width=max(len(i.name_zh) * 2 for i in items.items.values()))
    for column in ("类别", "系统", "版本 version"):
        table.add_column(column)
    for column in ("字段", "要件"):
        table.add_column(column, justify="right")
    table.add_column("时限 limit")
    for row in rows:
        table.add_row(
            row["code"],
            row["name_zh"],
            row["category_zh"],
            row["owner_system"],
            f"{row['version']} {row['effective_from']}"
            + ("" if row["status"] == "in_force" else f" ({row['status']})"),
            str(row["fields"]),
            str(row["documents"]),
            row["time_limit_zh"],
        )
    console.print(table)


@app.command("show")
def standards_show(
    item: Annotated[str, typer.Argument(help="Item code (JY02), Chinese name (失业登记) or alias.")],
    lang: Annotated[Language, typer.Option("--lang", help="zh for staff, en for engineers.")] = Language.zh,
    as_of: AsOf = None,
    catalogue_folder: CatalogueFolder = None,
) -> None:
    """Show one service item's standard: version, documents, fields, code tables, checks, time limit, steps."""
    from reports.handbook import build_handbook, read_catalogue
    from tierhub.standards import Catalogue

    items, rules = read_catalogue(catalogue_folder)
    one = Catalogue([items.find(item)])  # StandardNotFound names the codes to choose from
    handbook = build_handbook(one, language=lang.value, as_of=as_of_day(as_of), rules=rules)
    view = handbook.items[0]
    print_item(view, handbook.labels, handbook.language)
    # Short code tables are printed in their field's row; the long ones after the item, as in the appendix.
    referenced = {f.appendix[0] for f in view.fields if f.appendix}
    for table in handbook.tables:
        if table.anchor in referenced:
            print_code_table(table, handbook.labels, handbook.language)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def print_item(item: ItemView, t: Mapping[str, Any], language: str) -> None:
    """One item as the handbook prints it, as terminal tables."""
    sep, colon = str(t["list_sep"]), str(t["colon"])
    heading = f"[bold]{item.code} {item.name}[/bold]" + (f"  {item.other_name}" if item.other_name else "")
    console.print(heading, highlight=False)
    meta = Table.grid(padding=(0, 2))
    meta.add_column(style="bold", no_wrap=True)
    meta.add_column(overflow="fold")
    if item.aliases:
        meta.add_row(t["aliases"], sep.join(item.aliases))
    meta.add_row(t["category"], item.category)
    meta.add_row(t["owner"], item.owner)
    meta.add_row(t["version"], f"{item.version_text}\n{item.business_date}")
    if item.other_versions:
        meta.add_row(t["other_versions"], str(t["check_sep"]).join(item.other_versions))
    limit = item.time_limit
    if item.time_limit_detail:
        detail = str(t["check_sep"]).join(item.time_limit_detail)
        limit += f"（{detail}）" if language == "zh" else f" ({detail})"
    meta.add_row(t["time_limit"], limit)
    if item.date_order:
        meta.add_row(t["date_order"], str(t["check_sep"]).join(item.date_order))
    console.print(meta, highlight=False)

    if item.documents:
        docs = _table(t["documents"], "#", t["document_name"], t["document_aliases"], t["document_required"])
        for n, doc in enumerate(item.documents, 1):
            name = doc.name + (f" ({doc.code})" if language == "en" else "")
            docs.add_row(str(n), name, sep.join(doc.aliases), t["required_yes"] if doc.required else t["required_no"])
        console.print(docs, highlight=False)
    else:
        console.print(f"\n[bold]{t['documents']}[/bold]{colon}{t['documents_none']}", highlight=False)

    fields = _table(
        t["fields"], "#", t["field_label"], t["field_required"], t["field_type"], t["field_values"], t["field_checks"]
    )
    for n, f in enumerate(item.fields, 1):
        label = f.label + (f" {f.secondary}" if f.secondary else "")
        if f.headers:
            label += f"\n{t['field_headers']}{colon}{sep.join(f.headers)}"
        values = list(f.values)
        if f.codes:
            values.append(sep.join(f"{code} {name}" for code, name in f.codes))
        if f.appendix:
            values.append(f.appendix[1])
        if f.pattern:
            values.append(f"{t['pattern']}{colon}{f.pattern}")
        fields.add_row(
            str(n),
            label,
            t["required_field"] if f.required else t["optional_field"],
            f.type,
            "\n".join(values),
            str(t["check_sep"]).join(f.checks),
        )
    console.print(fields, highlight=False)

    if item.steps:
        steps = _table(t["steps"], t["step_no"], t["step_tier"], t["step_text"])
        for n, (_, tier, text) in enumerate(item.steps, 1):
            steps.add_row(str(n), tier, text)
        console.print(steps, highlight=False)
    else:
        console.print(f"\n[bold]{t['steps']}[/bold]{colon}{t['steps_none']}", highlight=False)

    reasons = _table(t["reasons"], "#", t["reason"], t["reason_fields"], t["reason_fix"])
    for n, r in enumerate(item.reasons, 1):
        title = r.title + (f" ({r.code})" if language == "en" else "")
        reasons.add_row(str(n), title, sep.join(r.fields), r.fix)
    console.print(reasons, highlight=False)


def print_code_table(table: CodeTableView, t: Mapping[str, Any], language: str) -> None:
    """A code table the item's fields refer to (the handbook's appendix)."""
    heading = f"{t['appendix']}{'' if language == 'zh' else ' '}{table.letter} {table.title}"
    codes = _table(heading, t["code"], t["name"], t["also_accepted"])
    for code, name, others in table.rows:
        codes.add_row(code, name, others)
    console.print(codes, highlight=False)
