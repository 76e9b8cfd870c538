"""Where each source's outbox is: the source registry, bound to the division tree.

Every source is a node of the division table (a street centre or a community/village
workstation). A YAML file maps districts to an endpoint — an SFTP server or a local
folder — with a path template for each source's outbox; sources may override encoding,
expected items and submission calendar.

Secrets are never in the file. An SFTP endpoint's private key comes from one of:

- ``key_env``: an environment variable holding the path of the private key file on the worker;
- ``key_block``: a Prefect Secret block (``prefect.blocks.system.Secret``) whose value is the
  private key's text itself (OpenSSH or PEM format, as in ``~/.ssh/id_ed25519``). The text is
  read from the Prefect API at connect time and parsed in memory — no worker needs a key file,
  and tierhub never writes the key to disk. Create it once with
  ``Secret(value=Path("id_ed25519").read_text()).save("sftp-key-heping")`` or in the UI.

A passphrase, if the key has one, likewise comes from ``passphrase_env`` (an environment
variable holding the passphrase) or ``passphrase_block`` (a Secret block holding it). Each
pair is either-or.

    default:                      # every district not listed below
      kind: folder
      root: tierhub-data/drops
    districts:
      "120101":
        kind: sftp
        host: sftp.hp.example
        port: 22
        user: tierhub
        key_env: TIERHUB_SFTP_KEY_HEPING       # env var holding the private key's path
        known_hosts: /etc/tierhub/known_hosts
        root: /srv/outbox
        outbox: "{source}/out"
      "120117":
        kind: sftp
        host: sftp.nh.example
        user: tierhub
        key_block: sftp-key-ninghe             # Prefect Secret block holding the key's text
        known_hosts: /etc/tierhub/known_hosts
        root: /srv/outbox
    sources:
      "120101001001": {encoding: gbk, items: [JY02, SK01], calendar: weekly}
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from tierhub.errors import ConfigError
from tierhub.reference import divisions


class Endpoint(BaseModel):
    """Where a district's sources drop their exports."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["folder", "sftp"] = "folder"
    root: str = "tierhub-data/drops"
    outbox: str = "{district6}/{source}"
    host: str | None = None
    port: int = 22
    user: str | None = None
    key_env: str | None = None
    key_block: str | None = None
    passphrase_env: str | None = None
    passphrase_block: str | None = None
    known_hosts: str | None = None
    max_connections: int = 4
    timeout_seconds: float = 30.0
    retries: int = 4
    # Read requests kept in flight per download, each as large as the server allows (≤ 256 KiB):
    # 8 × 255 KiB ≈ 2 MiB, paramiko's SSH window, so over a link with latency the window paces
    # the transfer and more requests add nothing. On loopback 4 was faster (0.90× vs 0.75×
    # OpenSSH, quiet machine) but would halve what such a link carries. The name is kept so
    # existing sources files still load.
    prefetch_requests: int = 8
    stable: Literal["settle", "done_marker"] = "settle"
    settle_seconds: float = 2.0
    max_file_bytes: int = 512 * 1024 * 1024

    def outbox_for(self, source_code: str) -> str:
        """The source's outbox, relative to ``root``."""
        return self.outbox.format(source=source_code, district6=source_code[:6], street9=source_code[:9])

    @property
    def label(self) -> str:
        """Where this endpoint is, for messages (never a secret)."""
        if self.kind == "sftp":
            return f"sftp://{self.user}@{self.host}:{self.port}{self.root}"
        return f"folder {self.root}"

    @model_validator(mode="after")
    def _one_source_per_secret(self) -> Endpoint:
        for env, block in (("key_env", "key_block"), ("passphrase_env", "passphrase_block")):
            if getattr(self, env) and getattr(self, block):
                raise ValueError(f"set {env} or {block}, not both")
        return self

    def private_key_path(self) -> Path:
        """The private key file named by the environment variable ``key_env``."""
        if not self.key_env or not os.environ.get(self.key_env):
            raise ConfigError(
                f"no private key for {self.label}",
                fix=f"set the environment variable {self.key_env or '(key_env in the sources file)'} "
                "to the path of the SSH private key, or name a Prefect Secret block in key_block",
            )
        return Path(os.environ[self.key_env])

    def private_key_text(self) -> str:
        """The private key's text from the Prefect Secret block ``key_block``."""
        if not self.key_block:
            raise ConfigError(f"{self.label} names no key_block", fix="set key_block or key_env in the sources file")
        return secret_from_block(self.key_block, f"private key of {self.label}")

    def passphrase(self) -> str | None:
        """The key's passphrase from ``passphrase_env`` or ``passphrase_block``, if any."""
        if self.passphrase_block:
            return secret_from_block(self.passphrase_block, f"key passphrase of {self.label}")
        return os.environ.get(self.passphrase_env) if self.passphrase_env else None


SecretReader = Callable[[str, str], str]
_secret_reader: SecretReader | None = None


def use_secret_reader(reader: SecretReader | None) -> None:
    """Set how named secrets (``key_block``, ``passphrase_block``) are read: ``reader(name, purpose)``.

    Connectors know no secret store; the flows register Prefect's Secret blocks
    (``flows.secrets``), a test or another orchestrator may register its own.
    """
    global _secret_reader
    _secret_reader = reader


def secret_from_block(name: str, purpose: str) -> str:
    """The text of the named secret, read through the registered secret reader."""
    if _secret_reader is None:
        raise ConfigError(
            f"{purpose}: the sources file names the secret {name!r}, but no secret store is set up",
            fix="run through tierhub's flows or CLI (they read Prefect Secret blocks), or use key_env instead",
        )
    return _secret_reader(name, purpose)


class SourceOverride(BaseModel):
    """Per-source settings that differ from its district's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    encoding: str | None = None
    items: tuple[str, ...] | None = None
    calendar: Literal["daily", "weekly", "monthly"] | None = None


class SourcesConfig(BaseModel):
    """Endpoints per district and overrides per source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Endpoint = Endpoint()
    districts: dict[str, Endpoint] = {}
    sources: dict[str, SourceOverride] = {}

    def endpoint_for(self, source_code: str) -> Endpoint:
        """The endpoint a source's district uses."""
        return self.districts.get(source_code[:6], self.default)

    def override_for(self, source_code: str) -> SourceOverride:
        """The source's own settings (empty if none)."""
        return self.sources.get(source_code, SourceOverride())


def _merge(default: dict[str, Any], district: dict[str, Any]) -> dict[str, Any]:
    return {**default, **district}


def load_sources(path: Path | None, *, default_root: Path | None = None) -> SourcesConfig:
    """Read the sources file; without one, every district is a folder under ``default_root``."""
    if path is None or not path.exists():
        if path is not None:
            raise ConfigError(f"sources file {path} does not exist", fix="create it or unset TIERHUB_SOURCES_FILE")
        return SourcesConfig(default=Endpoint(root=str(default_root or "tierhub-data/drops")))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        default = dict(data.get("default") or {})
        if default_root is not None:
            default.setdefault("root", str(default_root))
        districts = {
            str(code)[:6]: Endpoint.model_validate(_merge(default, dict(body or {})))
            for code, body in (data.get("districts") or {}).items()
        }
        config = SourcesConfig(
            default=Endpoint.model_validate(default),
            districts=districts,
            sources={str(k): SourceOverride.model_validate(v or {}) for k, v in (data.get("sources") or {}).items()},
        )
    except (yaml.YAMLError, ValidationError, TypeError, AttributeError) as exc:
        raise ConfigError(f"invalid sources file: {exc}", path=str(path)) from exc
    tree = divisions()
    for code in config.districts:
        if code + "000000" not in tree.by_code:
            raise ConfigError(f"{code} is not a Tianjin district code", path=str(path), fix="use e.g. 120101")
    for code in config.sources:
        if code not in tree.by_code or tree.by_code[code].level not in ("street", "community"):
            raise ConfigError(f"{code} is not a street or community code", path=str(path))
    return config
