"""What every command group shares: the consoles, option types, date parsing and JSON output."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console, ConsoleDimensions
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tierhub.errors import ConfigError

# A pipe or a file has no width: print every value whole instead of cutting it at 80 columns.
PIPE_WIDTH = 1_000


class _Console(Console):
    """A console for a terminal (its own width, or COLUMNS) or for a pipe (wide, so values are never cut).

    Decided at each print, not when the module is imported: the same process may print to a
    terminal, then into a pipe or a captured stream (a test runner, ``tierhub … | grep``).
    """

    def __init__(self, *, stderr: bool = False) -> None:
        super().__init__(stderr=stderr)
        self._width = None  # Console took COLUMNS as it was at import; read it at each print instead

    def _size(self) -> ConsoleDimensions:
        if self._width is None and "COLUMNS" not in os.environ and not self.file.isatty():
            return ConsoleDimensions(PIPE_WIDTH, Console.size.fget(self).height)  # type: ignore[attr-defined]
        return Console.size.fget(self)  # type: ignore[attr-defined,no-any-return]

    size = property(_size, Console.size.fset)  # type: ignore[attr-defined]


console: Console = _Console()
err_console: Console = _Console(stderr=True)


class Language(StrEnum):
    """Languages of what the commands write: zh for staff, en for engineers."""

    zh = "zh"
    en = "en"


# The keys of tierhub.synth.city.SCALES (tests/test_cli.py holds them equal), as choices --help shows.
ScaleName = Literal["demo", "district", "full"]


Scale = Annotated[
    ScaleName,
    typer.Option(help="How much of the city: demo (2 districts), district (滨海新区) or full (5,916 sources)."),
]
Seed = Annotated[int, typer.Option(help="Random seed: the same seed writes the same files.")]
Scope = Annotated[
    str | None, typer.Option("--in", help="Only sources inside this division (district, street or community code).")
]
WarehouseFile = Annotated[
    Path | None, typer.Option("--warehouse", help="DuckDB warehouse file (default: settings warehouse_path).")
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]


def progress_bars(on: Console | None = None) -> Progress:
    """Progress bars (shown on a terminal only; a pipe gets none)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=on or console,
    )


def parse_day(text: str | None, option: str) -> dt.date | None:
    """A YYYY-MM-DD option value as a date (None when not given)."""
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        raise ConfigError(f"{option} {text!r} is not a date", fix="write it as YYYY-MM-DD, e.g. 2026-11-23") from None


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Path | StrEnum):
        return str(value)
    return value


def print_json(value: Any) -> None:
    """Write a value as JSON to stdout (dataclasses, dates and paths included; Chinese kept as is)."""
    sys.stdout.write(json.dumps(_plain(value), ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()
