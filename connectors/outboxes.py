"""Every source's outbox, whichever backend serves it, behind one small interface."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from connectors.config import Endpoint, SourcesConfig
from connectors.local import LocalOutbox
from connectors.records import FileRecord, Listing, Refusal
from connectors.sftp import SftpOutbox


class Outbox(Protocol):
    """What the pipeline needs of a backend."""

    endpoint: Endpoint

    def scan(self, source_code: str) -> tuple[list[Listing], list[Refusal], set[str]]: ...
    def restat(self, listing: Listing) -> Listing | None: ...
    def fetch(self, listing: Listing) -> FileRecord: ...
    def upload(self, local: Path, source_code: str, name: str | None = None) -> str: ...
    def close(self) -> None: ...


class Outboxes:
    """One outbox per configured endpoint, opened on first use and closed together."""

    def __init__(self, config: SourcesConfig, landing: Path) -> None:
        self.config = config
        self.landing = landing
        self._open: dict[Endpoint, Outbox] = {}

    @classmethod
    def folder(cls, root: Path) -> Outboxes:
        """Every source a folder under ``root`` (the embedded default)."""
        return cls(SourcesConfig(default=Endpoint(root=str(root))), root)

    def for_source(self, source_code: str) -> Outbox:
        """The outbox serving a source."""
        endpoint = self.config.endpoint_for(source_code)
        if endpoint not in self._open:
            if endpoint.kind == "sftp":
                self._open[endpoint] = SftpOutbox(endpoint, self.landing)
            else:
                self._open[endpoint] = LocalOutbox(endpoint)
        return self._open[endpoint]

    def close(self) -> None:
        """Close every connection opened."""
        for outbox in self._open.values():
            outbox.close()
        self._open.clear()
