"""Deployment-local aliases in force in this process (decision 0022).

A data engineer onboarding a new export dialect adds header texts and code spellings under
``<home>/aliases/`` (``headers.yaml``, ``codes.yaml``; read and checked by
``quality.aliases.load_local_aliases``). The shipped reference data never changes: these are
layered on top of it by ``header_index()`` and ``code_tables()``, for whatever value was last
passed to :func:`use_local_aliases` (a sync sets it at the start of every batch, so an edit is
in force on the next run).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class LocalAliases:
    """The local aliases of one deployment, as immutable (hashable) tuples."""

    headers: tuple[tuple[str, str], ...] = ()  # (header text, canonical field)
    codes: tuple[tuple[str, str, str], ...] = ()  # (code table, text, code)
    origin: str = field(default="", compare=False)  # the folder they were read from, for messages

    def __bool__(self) -> bool:
        return bool(self.headers or self.codes)


NO_LOCAL_ALIASES = LocalAliases()
_active: list[LocalAliases] = [NO_LOCAL_ALIASES]


def use_local_aliases(aliases: LocalAliases) -> None:
    """Put ``aliases`` in force for every later header and code lookup of this process."""
    _active[0] = aliases


def active_local_aliases() -> LocalAliases:
    """The local aliases in force (none unless :func:`use_local_aliases` was called)."""
    return _active[0]
