"""Named secrets of the sources file, read from Prefect Secret blocks (the only secret store the flows know)."""

from __future__ import annotations

from tierhub.errors import ConfigError


def prefect_secret(name: str, purpose: str) -> str:
    """The text value of the Prefect Secret block ``name`` (read from the Prefect API)."""
    from prefect.blocks.system import Secret  # Prefect is slow to import; only SFTP with blocks needs it

    try:
        block = Secret.load(name)
    except ValueError as exc:  # Prefect: "Unable to find block document named …"
        raise ConfigError(
            f"{purpose}: no Prefect Secret block named {name!r}",
            fix=f"create it (Secret(value=<key text>).save({name!r}) or in the Prefect UI) on the "
            "Prefect API this worker uses, or correct the name in the sources file",
        ) from exc
    if not isinstance(block, Secret):  # a coroutine: Prefect dispatches to aload inside async code
        block.close()
        raise ConfigError(
            f"{purpose}: Secret block {name!r} was asked for from async code",
            fix="open SFTP connections from synchronous flows and tasks",
        )
    value = block.value.get_secret_value()
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{purpose}: the Prefect Secret block {name!r} does not hold text",
            fix="save the value as a plain string (the whole key file's text)",
        )
    return value
