"""The ``tierhub`` command line: a thin layer over the library and the flows.

One module per command group: ``sync`` (generate, sync, demo), ``sources``, ``standards``,
``profile``, ``codes`` (codes, headers), ``reports`` (report, receipts), ``warehouse``, ``rejudge``,
``crosscheck``, ``portal`` (serve, users). Errors from the library are turned into one-line messages here, in
:func:`main`, and only here.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer
from rich.markup import escape

from flows.cli import codes, crosscheck, portal, profile, rejudge, reports, sources, standards, sync, warehouse
from flows.cli.common import err_console
from flows.cli.environment import EMBEDDED_DEFAULTS, use_tierhub_prefect_home
from flows.cli.server import OWN_SERVER
from tierhub.errors import TierhubError, printable

for _name, _value in EMBEDDED_DEFAULTS.items():  # also for `app` run in-process (tests, CliRunner)
    os.environ.setdefault(_name, _value)

app = typer.Typer(
    name="tierhub",
    help="tierhub: sync street and village exports into one checked DuckDB warehouse.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def tierhub_version() -> str:
    """The installed distribution's version (the package's own when run from a bare checkout)."""
    try:
        return version("tierhub")
    except PackageNotFoundError:
        from tierhub import __version__

        return __version__


def _show_version(value: bool) -> None:
    if value:
        print(f"tierhub {tierhub_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """tierhub: sync street and village exports into one checked DuckDB warehouse."""


# In the order `tierhub --help` lists them.
app.command()(sync.generate)
app.command()(sync.sync)
app.command()(sync.demo)
app.add_typer(sources.app, name="sources")
app.add_typer(standards.app, name="standards")
app.command()(profile.profile)
app.add_typer(codes.app, name="codes")
app.add_typer(codes.headers_app, name="headers")
app.command()(reports.report)
app.command()(reports.receipts)
app.add_typer(warehouse.app, name="warehouse")
app.command()(rejudge.rejudge)
app.add_typer(crosscheck.app, name="crosscheck")
app.add_typer(portal.app, name="users")
app.command()(portal.serve)


def main() -> None:
    """Entry point: keep embedded Prefect state under the tierhub home, run the app, turn errors into one line."""
    try:
        from tierhub.settings import TierhubSettings

        use_tierhub_prefect_home(os.environ, TierhubSettings().home)
        OWN_SERVER["enabled"] = True  # a sync's temporary Prefect API dies with this process
        app()
    except TierhubError as exc:
        err_console.print(f"[red]error:[/red] {escape(printable(str(exc)))}", soft_wrap=True, highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:  # before a sync's own handler is in place: nothing was started
        err_console.print("interrupted (已中断) — nothing was changed", highlight=False)
        sys.exit(130)
