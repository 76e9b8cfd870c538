"""Read connections for the portal, the reports and analysts: never the loader's connection.

Every reader opens the warehouse through ``open_reader``, so how readers are kept from
being blocked by a running load is decided here, in one place (docs/decisions/0007).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from tierhub.errors import WarehouseError


def open_reader(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the last committed state of the warehouse at ``path``."""
    if not path.exists():
        raise WarehouseError(
            f"warehouse {path} does not exist", fix="run `tierhub sync` (or `tierhub demo`) to create it"
        )
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot open warehouse {path} for reading: {exc}") from exc
