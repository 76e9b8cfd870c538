"""Every source's outbox, whichever kind serves it, behind one small interface.

Kinds are plug-ins: ``register_kind("sftp", factory)`` maps an endpoint's ``kind`` to a
factory ``(endpoint, landing folder) → Source`` (as httpx takes transports). Folder, SFTP and
database sources register here; a new kind is one module in ``connectors/`` with its endpoint
model in ``connectors.config`` and one ``register_kind`` call.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from connectors.config import FolderEndpoint, SourcesConfig
from connectors.database import DatabaseSource
from connectors.exports import AnyEndpoint, Source
from connectors.files import FileSource, Outbox
from connectors.local import LocalOutbox
from connectors.sftp import SftpOutbox
from tierhub.errors import ConfigError

__all__ = ["Outbox", "Outboxes", "Source", "SourceFactory", "register_kind"]

SourceFactory = Callable[[Any, Path], Source]
_FACTORIES: dict[str, SourceFactory] = {}


def register_kind(kind: str, factory: SourceFactory) -> None:
    """Serve endpoints of ``kind`` with sources made by ``factory(endpoint, landing)``."""
    _FACTORIES[kind] = factory


register_kind("folder", lambda endpoint, landing: FileSource(LocalOutbox(endpoint)))
register_kind("sftp", lambda endpoint, landing: FileSource(SftpOutbox(endpoint, landing)))
register_kind("database", DatabaseSource)


class Outboxes:
    """One source per configured endpoint, opened on first use and closed together."""

    def __init__(self, config: SourcesConfig, landing: Path) -> None:
        self.config = config
        self.landing = landing
        self._open: dict[AnyEndpoint, Source] = {}

    @classmethod
    def folder(cls, root: Path) -> Outboxes:
        """Every source a folder under ``root`` (the embedded default)."""
        return cls(SourcesConfig(default=FolderEndpoint(root=str(root))), root)

    def for_source(self, source_code: str) -> Source:
        """The source kind serving a source code."""
        endpoint = self.config.endpoint_for(source_code)
        if endpoint not in self._open:
            factory = _FACTORIES.get(endpoint.kind)
            if factory is None:
                raise ConfigError(
                    f"no connector serves endpoints of kind {endpoint.kind!r}",
                    source_id=source_code,
                    fix=f"register one with connectors.outboxes.register_kind (known: {', '.join(_FACTORIES)})",
                )
            self._open[endpoint] = factory(endpoint, self.landing)
        return self._open[endpoint]

    def width(self) -> int:
        """Threads worth running against these endpoints: the largest connection pool."""
        return max(e.max_connections for e in self.config.endpoints())

    def only_folders(self) -> bool:
        """Every endpoint is a local folder (no network between tierhub and the files)."""
        return all(e.kind == "folder" for e in self.config.endpoints())

    def close(self) -> None:
        """Close every connection opened."""
        for source in self._open.values():
            source.close()
        self._open.clear()
