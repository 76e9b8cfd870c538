"""``tierhub profile``: how tierhub would read a folder of exports, without loading anything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from flows.cli.common import Json, console, print_json
from tierhub.errors import ConfigError, printable
from tierhub.settings import TierhubSettings

SHOWN_UNKNOWN = 8  # unknown values shown per field in the table (--json has all)


def profile(
    path: Annotated[str, typer.Argument(help="A folder or file of exports, or a configured 12-digit source code.")],
    item: Annotated[
        str | None, typer.Option(help="The service item (code, name or alias) when file names do not say it.")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="Read text files in this encoding instead of detecting it.")
    ] = None,
    json: Json = False,
) -> None:
    """Profile exports without loading: encoding, delimiter, header row, columns mapped and not,
    required columns missing, unknown code values with suggested codes (数据源画像)."""
    from quality.aliases import apply_local_aliases
    from quality.profile import FolderProfile, profile_folder, profile_source

    settings = TierhubSettings()
    apply_local_aliases(settings.home)
    target = Path(path)
    result: FolderProfile
    if target.exists():
        result = profile_folder(target, item=item, encoding=encoding)
    elif path.isdigit() and len(path) == 12:
        from connectors.config import load_sources
        from connectors.outboxes import Outboxes

        config = load_sources(settings.sources_file, default_root=settings.drops_folder)
        boxes = Outboxes(config, settings.landing_folder)
        try:
            result = profile_source(boxes, path, item=item, encoding=encoding)
        finally:
            boxes.close()
    else:
        raise ConfigError(
            f"{path!r} is neither a file or folder nor a 12-digit source code",
            fix="give a folder of exports (e.g. tierhub-demo/drops/120101) or a source code (120101001001)",
        )
    if json:
        print_json(
            {"root": result.root, "seconds": round(result.seconds, 3), "files": [f.as_json() for f in result.files]}
        )
        return
    show_profile(result)


def show_profile(result: Any) -> None:
    """One table for the files, then one block per file with what needs an engineer's attention."""
    table = Table(title=f"{len(result.files)} files in {escape(result.root)} ({result.seconds:.1f} s)")
    for column in (
        "文件 file",
        "事项 item",
        "编码 encoding",
        "分隔 delimiter",
        "表头行 header",
        "行 rows",
        "状况 status",
    ):
        table.add_column(column, overflow="fold")
    for f in result.files:
        problems = len(f.unmapped) + len(f.duplicates) + len(f.missing_required) + len(f.unknown_codes)
        status = (
            f"[red]{escape(printable(f.error))}[/red]"
            if f.error
            else ("[green]ok[/green]" if not problems else f"[yellow]{problems} to review[/yellow]")
        )
        table.add_row(
            escape(Path(f.path).name),
            f.item or "?",
            f.encoding or (f"xlsx {escape(f.sheet)}" if f.sheet else "-"),
            f.delimiter or "-",
            str(f.header_row or "-"),
            f"{f.rows:,}",
            status,
        )
    console.print(table)
    for f in result.files:
        if f.error and f.header_row is None:
            continue
        console.print(f"\n[bold]{escape(Path(f.path).name)}[/bold]", highlight=False)
        mapped = "  ".join(f"{escape(h)}→{field}" for h, field in f.mapped)
        console.print(f"  mapped 已识别列: {mapped or '-'}", highlight=False)
        if f.unmapped:
            console.print(f"  [yellow]not mapped 未识别列[/yellow]: {escape('、'.join(f.unmapped))}", highlight=False)
        for field, headers in f.duplicates.items():
            console.print(
                f"  [red]two columns name {field} 多列对应同一字段[/red]: {escape('、'.join(headers))}"
                " — neither is taken",
                highlight=False,
            )
        if f.missing_required:
            held = f" (identity, file held whole: {', '.join(f.missing_identity)})" if f.missing_identity else ""
            console.print(
                f"  [yellow]required columns missing 缺少必填列[/yellow]: {', '.join(f.missing_required)}{held}",
                highlight=False,
            )
        for unknown in f.unknown_codes:
            console.print(
                f"  [yellow]unknown codes 未知代码[/yellow] {unknown.field} ({unknown.code_table}), "
                f"{unknown.rows} cells:",
                highlight=False,
            )
            for value in unknown.values[:SHOWN_UNKNOWN]:
                hints = ", ".join(f"{s.code} {s.name} ({s.score:.2f})" for s in value.suggestions) or "no suggestion"
                console.print(f"    {escape(value.text)} ×{value.count} → {escape(hints)}", highlight=False)
            if len(unknown.values) > SHOWN_UNKNOWN:
                console.print(f"    … {len(unknown.values) - SHOWN_UNKNOWN} more (--json lists all)", highlight=False)
