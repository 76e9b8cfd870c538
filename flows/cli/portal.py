"""``tierhub serve`` and ``tierhub users``: the staff portal and its accounts."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from flows.cli.common import console, err_console
from portal.masking import Role
from tierhub.errors import ConfigError
from tierhub.settings import TierhubSettings

if TYPE_CHECKING:
    from portal.state import PortalState

app = typer.Typer(help="Portal accounts: add, disable, reset, list (admins run these on the server).")


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: settings portal_host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: settings portal_port).")] = None,
    warehouse: Annotated[
        Path | None, typer.Option(help="Warehouse whose published snapshot the portal reads (default: settings).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (state is shared through SQLite).")] = 1,
) -> None:
    """Start the staff portal (一点登陆、多点查询): person search, dashboards, analyst SQL, audit."""
    import uvicorn

    settings = TierhubSettings()
    if warehouse is not None:
        settings = settings.model_copy(update={"warehouse_path": warehouse})
        os.environ["TIERHUB_WAREHOUSE_PATH"] = str(warehouse.resolve())  # for worker processes
    if not settings.portal_state_file.exists() or not _portal_state(settings).users():
        err_console.print("[yellow]no portal accounts yet[/yellow]: add one with `tierhub users add NAME --role admin`")
    if settings.warehouse_file.exists():
        from warehouse.readers import open_reader

        open_reader(settings.warehouse_file).close()  # a wrong key or setting stops here, not as empty pages
    else:
        err_console.print(
            f"[yellow]no warehouse at {settings.warehouse_file} yet[/yellow]: pages show no data until a sync runs"
        )
    listen_host, listen_port = host or settings.portal_host, port or settings.portal_port
    console.print(f"Portal on http://{listen_host}:{listen_port}/ reading {settings.warehouse_file}")
    if workers > 1:
        uvicorn.run(
            "portal.app:from_environment",
            factory=True,
            host=listen_host,
            port=listen_port,
            workers=workers,
            proxy_headers=False,
        )
    else:
        from portal.app import create_app, warm_up

        portal_app = create_app(settings)
        warm_up(portal_app)
        uvicorn.run(portal_app, host=listen_host, port=listen_port, proxy_headers=False)


def _portal_state(settings: TierhubSettings) -> PortalState:
    from portal.state import PortalState

    return PortalState(settings.portal_state_file)


def _read_password(prompt: str) -> str:
    if sys.stdin.isatty():
        first = typer.prompt(prompt, hide_input=True)
        if typer.prompt("Again", hide_input=True) != first:
            raise ConfigError("the two passwords differ", fix="type the same password twice")
        return str(first)
    return sys.stdin.readline().rstrip("\n")


@app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name (letters, digits, _ . @ -).")],
    role: Annotated[Role, typer.Option(help="What the account does; community staff and analysts see masked IDs.")],
    division: Annotated[
        str, typer.Option(help="12-digit division code the account is bound to (its scope); default the city.")
    ] = "120000000000",
    display_name: Annotated[str | None, typer.Option(help="Name shown in the portal.")] = None,
) -> None:
    """Add a portal account; the password is read from the terminal (or one line of stdin)."""
    from portal.auth import USERNAME, check_binding, hash_password

    if not USERNAME.fullmatch(username):
        raise ConfigError(f"user name {username!r} is not allowed", fix="use 2–64 letters, digits, _ . @ -")
    check_binding(role, division)
    state = _portal_state(TierhubSettings())
    if state.user(username) is not None:
        raise ConfigError(f"user {username} exists", fix="choose another name, or `tierhub users reset`")
    state.add_user(
        username, display_name or username, role.value, division, hash_password(_read_password("Password"), username)
    )
    console.print(f"Added {username} ({role.value} at {division}).")


@app.command("disable")
def users_disable(
    username: Annotated[str, typer.Argument(help="Login name.")],
    enable: Annotated[bool, typer.Option("--enable", help="Enable the account again instead.")] = False,
) -> None:
    """Disable an account (its sessions end at once), or enable it again."""
    state = _portal_state(TierhubSettings())
    if state.user(username) is None:
        raise ConfigError(f"no user {username}", fix="see `tierhub users list`")
    state.set_disabled(username, not enable)
    console.print(f"{'Enabled' if enable else 'Disabled'} {username}.")


@app.command("reset")
def users_reset(username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Give an account a new temporary password (printed once; changed at next login) and lift its lockout."""
    from portal.auth import hash_password, new_password

    state = _portal_state(TierhubSettings())
    if state.user(username) is None:
        raise ConfigError(f"no user {username}", fix="see `tierhub users list`")
    password = new_password()
    state.set_password(username, hash_password(password), must_change=True)
    console.print(f"Temporary password for {username}: {password}", highlight=False)


@app.command("list")
def users_list() -> None:
    """List the portal accounts with role, scope and state."""
    state = _portal_state(TierhubSettings())
    table = Table(title="Portal accounts")
    for column in ("user", "name", "role", "division", "state", "created"):
        table.add_column(column)
    for user in state.users():
        table.add_row(
            user.username,
            user.display_name,
            user.role,
            user.division_code,
            "disabled" if user.disabled else ("must change password" if user.must_change_password else "active"),
            user.created_at[:10],
        )
    console.print(table)
