"""One typed settings object: environment → ``tierhub.toml`` → default.

Every key has a default and a help text. Secrets (SFTP keys, SMTP passwords, the
warehouse encryption key) are read from the environment only and never from a file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


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
    batch_rows: int = Field(
        default=50_000,
        ge=1_000,
        description="Rows per Arrow record batch when reading a file (bounds memory).",
    )
    sources_per_batch: int = Field(
        default=400,
        ge=1,
        description="Sources handled by one Prefect task; one task per source is too fine for 5,916 sources.",
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

    @property
    def warehouse_file(self) -> Path:
        """The DuckDB file the pipeline loads into."""
        return self.warehouse_path or self.home / "warehouse.duckdb"

    @property
    def landing_folder(self) -> Path:
        """Where SFTP downloads land."""
        return self.landing_path or self.home / "landing"

    @property
    def drops_folder(self) -> Path:
        """The local folder the folder connector reads."""
        return self.drops_root or self.home / "drops"
