"""Where each source's outbox is: the source registry, bound to the division tree.

Every source is a node of the division table (a street centre or a community/village
workstation). A YAML file maps districts to an endpoint — an SFTP server or a local
folder with a path template for each source's outbox, or a SQL database whose tables or
queries are the exports (``kind: database``, see ``DatabaseEndpoint``); sources may override
encoding, expected items and submission calendar. ``kind`` picks the endpoint's model
(``folder`` when absent); a key the kind does not know is an error that names it.

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
      "120116":
        kind: database
        url_env: TIERHUB_DB_BINHAI               # env var holding e.g. postgresql://…
        cursor: updated_at                       # only rows past the last value taken
        source_column: 经办机构代码                # each row's 12-digit source code
        items:
          JY02: unemployment_reg                 # a table…
          JY03: "SELECT * FROM employment_reg WHERE 登记日期 >= DATE '2026-01-01'"   # …or a query
    sources:
      "120101001001": {encoding: gbk, items: [JY02, SK01], calendar: weekly}
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from tierhub.errors import ConfigError
from tierhub.reference import divisions


class _EndpointBase(BaseModel):
    """What every endpoint kind has: a kind (the YAML key ``kind``) and a connection budget."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_connections: int = 4

    @property
    def label(self) -> str:
        """Where this endpoint is, for messages (never a secret)."""
        raise NotImplementedError

    @property
    def host_key(self) -> str:
        """What batches are grouped by: sources served by one host share batches."""
        return self.label

    def where(self, source_code: str) -> str:
        """Where this source's exports come from, for listings (never a secret)."""
        return self.label


class FileEndpoint(_EndpointBase):
    """An endpoint whose sources drop export files into an outbox folder (local or remote)."""

    root: str = "tierhub-data/drops"
    outbox: str = "{district6}/{source}"
    stable: Literal["settle", "done_marker"] = "settle"
    settle_seconds: float = 2.0
    max_file_bytes: int = 512 * 1024 * 1024

    @model_validator(mode="after")
    def _outbox_inside_root(self) -> FileEndpoint:
        # Formatted for a sample source: an unknown placeholder fails here, not in the middle of a
        # sync, and no source's outbox can leave the root ("/etc", "../..", "{source}/..").
        try:
            outbox = self.outbox_for("120101001000")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"outbox {self.outbox!r}: unknown placeholder {exc} (use {{source}}, {{district6}}, {{street9}})"
            ) from exc
        if outbox.startswith(("/", "\\")) or ".." in outbox.replace("\\", "/").split("/"):
            raise ValueError(f"outbox {self.outbox!r} must be a folder below root: no leading '/', no '..'")
        return self

    def outbox_for(self, source_code: str) -> str:
        """The source's outbox, relative to ``root``."""
        return self.outbox.format(source=source_code, district6=source_code[:6], street9=source_code[:9])

    def outbox_parts(self, source_code: str) -> list[str]:
        """The folders from ``root`` down to the source's outbox (relative: checked when loaded)."""
        return [p for p in self.outbox_for(source_code).split("/") if p not in ("", ".")]

    def where(self, source_code: str) -> str:
        """The source's outbox folder, for listings."""
        return f"{self.label}/{self.outbox_for(source_code)}"


class FolderEndpoint(FileEndpoint):
    """A local or mounted folder holding each source's outbox (``kind: folder``, the default)."""

    kind: Literal["folder"] = "folder"

    @property
    def label(self) -> str:
        """Where this endpoint is, for messages."""
        return f"folder {self.root}"

    @property
    def host_key(self) -> str:
        """Every folder is served by this machine."""
        return "folder"


class SftpEndpoint(FileEndpoint):
    """An SFTP server holding each source's outbox (``kind: sftp``)."""

    kind: Literal["sftp"] = "sftp"
    host: str | None = None
    port: int = 22
    user: str | None = None
    key_env: str | None = None
    key_block: str | None = None
    passphrase_env: str | None = None
    passphrase_block: str | None = None
    known_hosts: str | None = None
    timeout_seconds: float = 30.0
    retries: int = 4
    # Read requests kept in flight per download, each as large as the server allows (≤ 256 KiB):
    # 8 × 255 KiB ≈ 2 MiB, paramiko's SSH window, so over a link with latency the window paces
    # the transfer and more requests add nothing. On loopback 4 was faster (0.90× vs 0.75×
    # OpenSSH, quiet machine) but would halve what such a link carries. The name is kept so
    # existing sources files still load.
    prefetch_requests: int = 8

    @property
    def label(self) -> str:
        """Where this endpoint is, for messages (never a secret)."""
        return f"sftp://{self.user}@{self.host}:{self.port}{self.root}"

    @property
    def host_key(self) -> str:
        """The server's address."""
        return f"{self.host}:{self.port}"

    @model_validator(mode="after")
    def _one_source_per_secret(self) -> SftpEndpoint:
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


class DatabaseItem(BaseModel):
    """One item read from a database: a table or a query, and its cursor column if not the endpoint's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str | None = None
    query: str | None = None
    cursor: str | None = None

    @model_validator(mode="after")
    def _table_or_query(self) -> DatabaseItem:
        if (self.table is None) == (self.query is None):
            raise ValueError("name either table or query for a database item")
        return self


class DatabaseEndpoint(_EndpointBase):
    """A SQL database (SQLite file or PostgreSQL) whose tables or queries are a district's exports.

    ``url_env`` names the environment variable holding the connection URL
    (``sqlite:///srv/jy.db``, ``postgresql://user:password@host:5432/db``); the URL (and its
    password) is never in the sources file. ``items`` maps an item (code or Chinese name) to a
    table name or a query in DuckDB's SQL over the database's tables (``SELECT … FROM
    unemployment_reg``), or to ``{table|query, cursor}``. ``cursor`` is a column that only grows
    (an increasing id, or ``updated_at`` set by the database on each change): each sync takes
    the rows past the last value it committed. ``source_column`` holds the 12-digit code of the
    street or community each row belongs to; without it, each query must filter by ``{source}``.
    """

    kind: Literal["database"] = "database"
    url_env: str
    items: dict[str, str | DatabaseItem]
    cursor: str | None = None
    source_column: str | None = None
    max_connections: int = 1

    @property
    def label(self) -> str:
        """The database by the variable naming it (never the URL: it may hold a password)."""
        return f"database ${self.url_env}"

    def where(self, source_code: str) -> str:
        """The database and the items it serves."""
        return f"{self.label} ({', '.join(self.items)})"

    def item(self, name: str) -> DatabaseItem:
        """An item's table or query and its cursor column."""
        spec = self.items[name]
        if isinstance(spec, str):
            words = spec.split()
            spec = DatabaseItem(query=spec) if len(words) > 1 else DatabaseItem(table=spec)
        return spec if spec.cursor else spec.model_copy(update={"cursor": self.cursor})

    @model_validator(mode="after")
    def _cursor_and_source_known(self) -> DatabaseEndpoint:
        for name in self.items:
            spec = self.item(name)
            if not spec.cursor:
                raise ValueError(f"item {name}: name a cursor column (cursor: updated_at) for the endpoint or the item")
            if not self.source_column and "{source}" not in (spec.query or ""):
                raise ValueError(
                    f"item {name}: set source_column (the column holding each row's 12-digit source code) "
                    "or filter the query by {source}"
                )
        return self

    def __hash__(self) -> int:
        # ``items`` is a dict: hash the endpoint by its content, as the other (flat) kinds are.
        return hash(self.model_dump_json())


# One endpoint per district; the YAML key ``kind`` picks the model (``folder`` when absent). A new
# kind is a model here plus a connector module that registers its outbox (connectors/outboxes.py).
Endpoint = Annotated[FolderEndpoint | SftpEndpoint | DatabaseEndpoint, Field(discriminator="kind")]
ENDPOINT_KINDS: dict[str, type[FolderEndpoint | SftpEndpoint | DatabaseEndpoint]] = {
    "folder": FolderEndpoint,
    "sftp": SftpEndpoint,
    "database": DatabaseEndpoint,
}
_endpoint_adapter: TypeAdapter[FolderEndpoint | SftpEndpoint | DatabaseEndpoint] = TypeAdapter(Endpoint)


def parse_endpoint(values: dict[str, Any]) -> FolderEndpoint | SftpEndpoint | DatabaseEndpoint:
    """An endpoint from its YAML mapping; without ``kind`` it is a folder."""
    return _endpoint_adapter.validate_python({"kind": "folder", **values})


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

    default: Endpoint = FolderEndpoint()
    districts: dict[str, Endpoint] = {}
    sources: dict[str, SourceOverride] = {}

    def endpoint_for(self, source_code: str) -> FolderEndpoint | SftpEndpoint | DatabaseEndpoint:
        """The endpoint a source's district uses."""
        return self.districts.get(source_code[:6], self.default)

    def endpoints(self) -> list[FolderEndpoint | SftpEndpoint | DatabaseEndpoint]:
        """Every configured endpoint, the default first."""
        return [self.default, *self.districts.values()]

    def override_for(self, source_code: str) -> SourceOverride:
        """The source's own settings (empty if none)."""
        return self.sources.get(source_code, SourceOverride())


def _fields_of(kind: object) -> set[str] | None:
    """The keys an endpoint kind declares (None for an unknown kind: validation names it)."""
    model = ENDPOINT_KINDS.get(str(kind))
    return set(model.model_fields) if model else None


def _default_body(default: dict[str, Any]) -> dict[str, Any]:
    """The default endpoint's own keys.

    A default may carry keys of another kind for the districts that inherit it (an SFTP
    ``known_hosts`` under a folder default, as the one flat model allowed): those are left to
    the districts; a key no kind knows is still an error.
    """
    own = _fields_of(default.get("kind", "folder"))
    if own is None:
        return default
    known = set().union(*(set(m.model_fields) for m in ENDPOINT_KINDS.values()))
    return {k: v for k, v in default.items() if k in own or k not in known}


def _merge(default: dict[str, Any], district: dict[str, Any]) -> dict[str, Any]:
    """A district's endpoint: its own keys over the default's keys that its kind declares."""
    kind = district.get("kind", default.get("kind", "folder"))
    fields = _fields_of(kind)
    inherited = {k: v for k, v in default.items() if fields is None or k in fields}
    return {**inherited, **district, "kind": kind}


class _Marked(dict[Any, Any]):
    """A YAML mapping that remembers the line of each of its keys (1-based)."""

    lines: dict[str, int]


class _MarkedLoader(yaml.SafeLoader):
    """A safe YAML loader whose mappings are ``_Marked``: errors can name the line of a key."""


def _marked_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Iterator[_Marked]:
    data = _Marked()
    data.lines = {}
    yield data
    data.update(loader.construct_mapping(node))
    data.lines = {str(key.value): key.start_mark.line + 1 for key, _ in node.value}


_MarkedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _marked_mapping)


def _line(mapping: object, key: str) -> int | None:
    """The line of ``key`` in a mapping read by ``_MarkedLoader`` (None if unknown)."""
    return mapping.lines.get(key) if isinstance(mapping, _Marked) else None


def _at(path: Path, line: int | None) -> str:
    return f"{path}:{line}" if line else str(path)


TOP_LEVEL_KEYS = ("default", "districts", "sources")


def _refuse_unknown_keys(data: dict[str, Any], path: Path) -> None:
    """A top-level key other than default/districts/sources (``distrcts:``) is an error naming its line."""
    for key, body in data.items():
        if str(key) in TOP_LEVEL_KEYS:
            continue
        near = difflib.get_close_matches(str(key), TOP_LEVEL_KEYS, n=1)
        held = ", ".join(str(k) for k in body) if isinstance(body, dict) else None
        raise ConfigError(
            f"unknown key {key!r} at line {_line(data, str(key))}"
            + (f" (holding districts/sources {held})" if held else "")
            + ": tierhub would ignore everything under it",
            path=_at(path, _line(data, str(key))),
            fix=(f"did you mean {near[0]!r}? " if near else "") + f"the top-level keys are {', '.join(TOP_LEVEL_KEYS)}",
        )


def _endpoint_at(
    where: str, values: dict[str, Any], path: Path, *bodies: object
) -> FolderEndpoint | SftpEndpoint | DatabaseEndpoint:
    """Parse one endpoint; an error names the section, the key and its line (``districts.120101.hots``).

    ``bodies``: the YAML mappings the values came from, own section first (for line numbers).
    """
    try:
        return parse_endpoint(values)
    except ValidationError as exc:
        problems = []
        first_line: int | None = None
        for error in exc.errors():
            # The first location step is the kind's tag (``sftp``); the rest is the key.
            key = ".".join(str(part) for part in (where, *error["loc"][1:]))
            name = str(error["loc"][1]) if len(error["loc"]) > 1 else ""
            line = next((found for body in bodies if (found := _line(body, name))), None)
            line = line or next((found for body in bodies[:1] if (found := _line(body, "kind"))), None)
            first_line = first_line or line
            problems.append(f"{key}: {error['msg']}" + (f" (line {line})" if line else ""))
        raise ConfigError(
            "invalid sources file: " + "; ".join(problems),
            path=_at(path, first_line),
            fix="check the key's spelling and that it belongs to the endpoint's kind (folder, sftp, database)",
        ) from exc


def _override_at(code: object, values: object, path: Path, section: object) -> SourceOverride:
    """One source's overrides; an error names the source and the line of the bad key."""
    try:
        return SourceOverride.model_validate(values or {})
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        line = _line(values, name) or _line(section, str(code))
        raise ConfigError(
            f"sources.{code}.{name} (line {line}): {error['msg']}",
            path=_at(path, line),
            fix=f"a source may set {', '.join(SourceOverride.model_fields)}",
        ) from exc


def load_sources(path: Path | None, *, default_root: Path | None = None) -> SourcesConfig:
    """Read the sources file; without one, every district is a folder under ``default_root``."""
    if path is None or not path.exists():
        if path is not None:
            raise ConfigError(f"sources file {path} does not exist", fix="create it or unset TIERHUB_SOURCES_FILE")
        return SourcesConfig(default=FolderEndpoint(root=str(default_root or "tierhub-data/drops")))
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_MarkedLoader) or {}
        if not isinstance(data, dict):
            raise ConfigError("the sources file is not a mapping of default/districts/sources", path=str(path))
        _refuse_unknown_keys(data, path)
        raw_default = data.get("default") or {}
        default = {"kind": "folder", **dict(raw_default)}
        if default_root is not None and "root" in (_fields_of(default["kind"]) or ()):
            default.setdefault("root", str(default_root))
        raw_districts = data.get("districts") or {}
        districts = {
            str(code)[:6]: _endpoint_at(
                f"districts.{code}", _merge(default, dict(body or {})), path, body, raw_default, raw_districts
            )
            for code, body in raw_districts.items()
        }
        config = SourcesConfig(
            default=_endpoint_at("default", _default_body(default), path, raw_default, data),
            districts=districts,
            sources={
                str(k): _override_at(k, v, path, data.get("sources")) for k, v in (data.get("sources") or {}).items()
            },
        )
    except ValidationError as exc:
        raise ConfigError(f"invalid sources file: {exc}", path=str(path)) from exc
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(f"not valid YAML: {exc.problem}", path=_at(path, line), fix="fix the YAML syntax") from exc
    except (yaml.YAMLError, TypeError, AttributeError) as exc:
        raise ConfigError(f"invalid sources file: {exc}", path=str(path)) from exc
    tree = divisions()
    raw_districts = data.get("districts") or {}
    for key in raw_districts:
        code = str(key)[:6]
        if code + "000000" not in tree.by_code:
            line = _line(raw_districts, str(key))
            raise ConfigError(
                f"district {key} (line {line}) is not a Tianjin district code",
                path=_at(path, line),
                fix="use a 6-digit district code, e.g. 120101 (和平区); `tierhub sources list` shows them",
            )
    raw_sources = data.get("sources") or {}
    for code in config.sources:
        if code not in tree.by_code or tree.by_code[code].level not in ("street", "community"):
            line = _line(raw_sources, code)
            raise ConfigError(
                f"source {code} (line {line}) is not a street or community code",
                path=_at(path, line),
                fix="use a 12-digit street or community code from the division table",
            )
    return config
