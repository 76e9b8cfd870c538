"""Open a warehouse file, encrypted at rest unless the settings say otherwise.

ID numbers, phones and bank accounts sit in the warehouse, so outside the demo the file is
encrypted with DuckDB's database encryption (AES-GCM through the httpfs extension's OpenSSL,
shipped as the ``duckdb-extension-httpfs`` wheel so no download is needed). The key comes
from the environment variable the settings name (``TIERHUB_WAREHOUSE_KEY`` by default),
never from a file in the repository. An encrypted file is attached as ``wh`` and made the
default catalogue, so every query reads the same with or without encryption.

Analysts open a snapshot with the key too, in the duckdb CLI:
``ATTACH 'snapshots/current.duckdb' AS wh (ENCRYPTION_KEY '…', READ_ONLY); USE wh;``
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb

from tierhub.errors import WarehouseError
from tierhub.settings import TierhubSettings

CATALOG = "wh"


class _FromSettings:
    """Marker: take the key from the settings (environment / tierhub.toml)."""


FROM_SETTINGS = _FromSettings()
Key = str | None | _FromSettings


@cache
def httpfs_extension() -> str:
    import duckdb_extension_httpfs  # type: ignore[import-untyped]

    folder = Path(duckdb_extension_httpfs.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    found = sorted(folder.glob("httpfs.duckdb_extension"))
    if not found:
        raise WarehouseError(
            f"the httpfs extension for DuckDB {duckdb.__version__} is not installed",
            fix="install the duckdb-extension-httpfs version equal to duckdb's (uv sync)",
        )
    return str(found[0])


def resolve_key(key: Key) -> str | None:
    """The encryption key to use: an explicit one, none, or the one the settings name."""
    if isinstance(key, _FromSettings):
        return TierhubSettings().warehouse_key()
    return key


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duckdb_config() -> dict[str, str | bool | int | float | list[str]]:
    """Settings for every DuckDB database tierhub opens: the memory limit, when one is set."""
    limit = TierhubSettings().duckdb_memory_limit
    return {"memory_limit": limit} if limit else {}


def connect(path: Path, *, key: Key = FROM_SETTINGS, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection whose default catalogue is the warehouse at ``path`` (encrypted if a key is given)."""
    secret = resolve_key(key)
    if secret is None:
        return duckdb.connect(str(path), read_only=read_only, config=duckdb_config())
    con = duckdb.connect(config=duckdb_config())
    try:
        con.execute(f"LOAD {_literal(httpfs_extension())}")
        options = f"ENCRYPTION_KEY {_literal(secret)}" + (", READ_ONLY" if read_only else "")
        con.execute(f"ATTACH {_literal(str(path))} AS {CATALOG} ({options})")
        con.execute(f"USE {CATALOG}")
    except duckdb.Error as exc:
        con.close()
        if isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower():
            raise
        raise WarehouseError(
            f"cannot open encrypted warehouse {path}: {exc}",
            fix="check TIERHUB_WAREHOUSE_KEY is the key the warehouse was created with "
            "(a warehouse created without encryption needs TIERHUB_ENCRYPT=false)",
        ) from exc
    return con
