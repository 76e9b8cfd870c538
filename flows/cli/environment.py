"""Where an embedded Prefect run keeps its state, decided before Prefect is imported.

Prefect reads its settings once, when it is first imported. Without a Prefect API to talk to,
``tierhub sync`` starts Prefect's temporary local API, whose database and logs would otherwise
land in the user's global ``~/.prefect``; they belong to the tierhub installation instead:
``<TIERHUB_HOME>/prefect``. A configured API (``PREFECT_API_URL`` in the environment, the
active Prefect profile, or ``prefect.toml``) or a ``PREFECT_HOME`` the user set is left alone.
"""

from __future__ import annotations

import tomllib
from collections.abc import MutableMapping
from pathlib import Path

# Prefect's temporary local API must not try to phone home from a closed network;
# it needs ~17 s to start here, and on a busy 2-core machine 20 s is too tight.
EMBEDDED_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def _toml(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


def prefect_api_configured(environ: MutableMapping[str, str], cwd: Path | None = None) -> bool:
    """Whether Prefect would talk to a server: an API URL in the environment, the active profile or prefect.toml."""
    if environ.get("PREFECT_API_URL"):
        return True
    prefect_home = Path(environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    profiles = _toml(Path(environ.get("PREFECT_PROFILES_PATH") or prefect_home / "profiles.toml").expanduser())
    active = environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    table = profiles.get("profiles")
    profile = table.get(str(active)) if isinstance(table, dict) else None
    if isinstance(profile, dict) and profile.get("PREFECT_API_URL"):
        return True
    api = _toml((cwd or Path.cwd()) / "prefect.toml").get("api")
    return isinstance(api, dict) and bool(api.get("url"))


def use_tierhub_prefect_home(environ: MutableMapping[str, str], tierhub_home: Path) -> Path | None:
    """Point ``PREFECT_HOME`` at ``<tierhub_home>/prefect`` for embedded runs; the folder set, or None if left alone.

    Call it before Prefect is imported (Prefect reads its settings on import).
    """
    for name, value in EMBEDDED_DEFAULTS.items():
        environ.setdefault(name, value)
    if environ.get("PREFECT_HOME") or prefect_api_configured(environ):
        return None
    folder = (tierhub_home / "prefect").resolve()
    environ["PREFECT_HOME"] = str(folder)
    if tierhub_home.is_dir():  # an installation: have it ready (`tierhub --help` in any folder creates nothing)
        ensure_prefect_home(environ)
    return folder


def ensure_prefect_home(environ: MutableMapping[str, str]) -> None:
    """Create the ``PREFECT_HOME`` folder if it is set: Prefect's temporary local API does not create it."""
    if home := environ.get("PREFECT_HOME"):
        Path(home).expanduser().mkdir(parents=True, exist_ok=True)
