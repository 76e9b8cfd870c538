"""One typed settings object: environment → ``tierhub.toml`` → default.

Every key has a default and a help text. Secrets (SFTP keys, SMTP passwords, the
warehouse encryption key) are read from the environment only and never from a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tierhub.errors import ConfigError


class TierhubSettings(BaseSettings):
    """Settings of one tierhub installation."""

    model_config = SettingsConfigDict(
        env_prefix="TIERHUB_",
        toml_file="tierhub.toml",
        extra="ignore",
    )

    home: Path = Field(
        default=Path("tierhub-data"),
        description="Folder for the warehouse, drops and run artefacts (relative to the working directory).",
    )
    warehouse_path: Path | None = Field(
        default=None,
        description="DuckDB warehouse file; defaults to <home>/warehouse.duckdb.",
    )
    drops_root: Path | None = Field(
        default=None,
        description="Local folder holding the sources' export drops; defaults to <home>/drops.",
    )
    sources_file: Path | None = Field(
        default=None,
        description="YAML file mapping districts to SFTP servers or folders (see connectors/config.py); "
        "without it every source is a folder under drops_root.",
    )
    landing_path: Path | None = Field(
        default=None,
        description="Where files downloaded over SFTP land before they are read; defaults to <home>/landing.",
    )
    data_docs: bool = Field(
        default=True,
        description="Render Great Expectations Data Docs for every sync run into datadocs/<run>/ beside the warehouse.",
    )
    snapshot_keep: int = Field(
        default=24,
        ge=1,
        description="Read-only snapshots kept after each sync: the newest N (plus one a day, see snapshot_days).",
    )
    snapshot_days: int = Field(
        default=90,
        ge=0,
        description="Also keep the last snapshot of each of the last N days, for audits (as-of a sync date).",
    )
    encrypt: bool = Field(
        default=True,
        description="Encrypt the warehouse at rest (DuckDB AES-GCM); the key comes from the environment "
        "variable named by key_env. Off only for the demo and tests.",
    )
    key_env: str = Field(
        default="TIERHUB_WAREHOUSE_KEY",
        description="Name of the environment variable holding the warehouse encryption key (never in a file).",
    )
    batch_rows: int = Field(
        default=50_000,
        ge=1_000,
        description="Rows per Arrow record batch when reading a file (bounds memory).",
    )
    sources_per_batch: int = Field(
        default=2_000,
        ge=1,
        description="Sources per planned batch (one prepare and one commit task); districts served by the same "
        "host share batches. Each batch costs seconds of fixed work (every item judged and committed), so a "
        "city-wide sync wants few large batches; memory grows with the batch (decision 0014). Folder batches "
        "are then merged up to batch_bytes of new files.",
    )
    batch_bytes: int = Field(
        default=64 * 2**20,
        ge=0,
        description="Consecutive folder batches are merged, once their outboxes are listed, while their new files "
        "total at most this many bytes: a sync with little or nothing new runs as one batch (decision 0033). "
        "0 keeps the planned batches.",
    )

    # -- flows and schedules (docs/decisions/0011-flows.md) --
    task_runner: Literal["threads", "dask"] = Field(
        default="threads",
        description="Where the sync prepares batches (scan, read, judge): 'threads' in the flow's process, or "
        "'dask' on a Dask cluster (a LocalCluster, or dask_address); commits stay in the flow's process.",
    )
    read_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=0,
        description="Worker processes that read a batch's small export files ahead of staging (reading is Python "
        "that holds the GIL; decision 0034). Default: one per core. 0 reads every file in the sync's own process.",
    )
    prepare_threads: int = Field(
        default=1,
        ge=1,
        description="Batches prepared at once with the 'threads' runner, while the flow commits the previous one.",
    )
    duckdb_memory_limit: str | None = Field(
        default=None,
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB's memory limit for each database a process opens (the warehouse, a batch's scratch "
        "database, a portal reader's snapshot), e.g. '2GB'; beyond it DuckDB spills to disk where it can. Unset: "
        "DuckDB's default, 80 % of the machine's memory for each. The Arrow tables a batch holds are outside it, "
        "and indexes cannot spill: a 10 M-row backfill with '1GB' failed at its 7th commit (bench/RESULTS.md, "
        "city backfill).",
    )
    dask_address: str | None = Field(
        default=None,
        description="Scheduler of a running Dask cluster (tcp://host:8786) for task_runner 'dask'; "
        "none: start a LocalCluster of dask_workers processes.",
    )
    dask_workers: int = Field(default=2, ge=1, description="Worker processes of the LocalCluster for 'dask'.")
    sync_niceness: int = Field(
        default=10,
        ge=0,
        le=19,
        description="CPU priority (nice) the sync process lowers itself to before loading, so lookups by staff "
        "on the same host stay quick during a sync; 0 leaves it unchanged (tierhub/priority.py).",
    )
    source_status_days: int = Field(
        default=90,
        ge=1,
        description="Per-source status rows (ops.source_status) older than this are pruned by maintain-warehouse.",
    )
    backups_path: Path | None = Field(
        default=None,
        description="Folder maintain-warehouse backs the warehouse up into; defaults to backups/ beside the warehouse.",
    )

    reports_path: Path | None = Field(
        default=None,
        description="Folder the quality reports are written to (<district>/<period>/); defaults to <home>/reports.",
    )
    report_escalate_after: int = Field(
        default=2,
        ge=1,
        description="A failing row still open this many periods after it first failed is escalated to the "
        "district summary.",
    )
    report_deadline_working_days: int = Field(
        default=1,
        ge=0,
        description="Submissions for a period are due by the end of this many working days after it (Beijing time).",
    )
    report_street_items: list[str] = Field(
        default_factory=list,
        description="Items every street centre is expected to submit each period; "
        "empty: every catalogue item in force.",
    )
    report_community_items: list[str] = Field(
        default_factory=list,
        description="Items a community workstation is expected to submit each period unless the sources file "
        "names its own; empty: at least one export of any item.",
    )
    report_recipients_file: Path | None = Field(
        default=None,
        description="YAML file naming each district's report recipients (see connectors/mail.py).",
    )
    smtp_host: str | None = Field(default=None, description="SMTP server that sends the reports (STARTTLS).")
    smtp_port: int = Field(default=587, description="SMTP submission port.")
    smtp_user: str | None = Field(default=None, description="SMTP login; none: send without logging in.")
    smtp_password_env: str = Field(
        default="TIERHUB_SMTP_PASSWORD",
        description="Name of the environment variable holding the SMTP password (never the password itself).",
    )
    smtp_sender: str = Field(default="tierhub@localhost", description="The reports' From address.")
    smtp_ca_file: Path | None = Field(
        default=None,
        description="CA certificates to verify the SMTP server with; none: the system's.",
    )
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, description="SMTP connect and command timeout.")
    delivery_attempts: int = Field(
        default=4, ge=1, description="Attempts per report delivery (SFTP or e-mail) before it is logged as failed."
    )
    delivery_backoff_seconds: float = Field(
        default=5.0, ge=0, description="Wait before the second delivery attempt; doubled after each failure."
    )

    # -- the staff portal (docs/decisions/0010-portal.md) --
    portal_state_path: Path | None = Field(
        default=None,
        description="SQLite file of the portal's users, sessions, login attempts and audit log; "
        "defaults to <home>/portal.sqlite3 (never the warehouse).",
    )
    portal_host: str = Field(default="127.0.0.1", description="Address `tierhub serve` listens on.")
    portal_port: int = Field(default=8080, ge=1, le=65535, description="Port `tierhub serve` listens on.")
    portal_secure_cookies: bool = Field(
        default=False,
        description="Mark session cookies Secure (set when the portal is served over TLS, directly or by a proxy).",
    )
    portal_trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto headers are believed.",
    )
    portal_session_idle_minutes: int = Field(default=30, ge=1, description="A session ends after this idle time.")
    portal_session_max_hours: int = Field(default=10, ge=1, description="A session ends this long after login.")
    portal_max_failures: int = Field(
        default=5, ge=1, description="Failed logins of one account within the lockout window that lock it."
    )
    portal_lockout_minutes: int = Field(default=15, ge=1, description="Lockout window and duration, in minutes.")
    portal_ip_max_failures: int = Field(
        default=30, ge=1, description="Failed logins from one address within the lockout window that refuse it."
    )
    portal_sql_seconds: float = Field(default=10.0, gt=0, description="Time limit of one analyst SQL query.")
    portal_sql_rows: int = Field(default=1000, ge=1, description="Rows an analyst SQL query returns at most.")
    portal_sql_memory: str = Field(
        default="512MB",
        description="Memory of one analyst SQL query: DuckDB's limit, and the hard address-space cap of its process.",
    )
    portal_sql_result_bytes: int = Field(
        default=4_000_000, ge=1000, description="Bytes of result an analyst SQL query returns at most."
    )
    portal_sql_workers: int = Field(
        default=2, ge=1, description="Analyst SQL queries running at once (each in its own process); others wait."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then ``tierhub.toml``, then defaults."""
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    def warehouse_key(self) -> str | None:
        """The warehouse encryption key, or None when encryption is off; raises if it is on and unset."""
        if not self.encrypt:
            return None
        key = os.environ.get(self.key_env, "")
        if len(key) < 16:
            raise ConfigError(
                f"the warehouse is encrypted but {self.key_env} is {'too short' if key else 'not set'}",
                fix=f"export {self.key_env}=$(openssl rand -hex 32) and keep it in your secret store "
                "(the same key opens the warehouse and its snapshots); TIERHUB_ENCRYPT=false only for test data",
            )
        return key

    @property
    def warehouse_file(self) -> Path:
        """The DuckDB file the pipeline loads into."""
        return self.warehouse_path or self.home / "warehouse.duckdb"

    @property
    def landing_folder(self) -> Path:
        """Where SFTP downloads land."""
        return self.landing_path or self.home / "landing"

    @property
    def reports_folder(self) -> Path:
        """Where quality reports are written."""
        return self.reports_path or self.home / "reports"

    @property
    def portal_state_file(self) -> Path:
        """The portal's SQLite file."""
        return self.portal_state_path or self.home / "portal.sqlite3"

    @property
    def drops_folder(self) -> Path:
        """The local folder the folder connector reads."""
        return self.drops_root or self.home / "drops"
