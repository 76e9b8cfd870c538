"""One error hierarchy for tierhub; every error carries where it happened.

Library code raises these; the CLI (and later the portal and the reports) turns them
into user messages in one place.
"""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` safe for one log or summary line: control characters (a newline in a file name) escaped.

    Chinese and other printable characters stay as they are; ``\n``, ``\x1b`` (terminal
    escapes), ``\u202e`` (right-to-left override) and the like are written as their escapes.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


class TierhubError(Exception):
    """Base of every tierhub error.

    The message names the source, file, row and field when they are known, then what
    was expected, what was found and how to fix it.
    """

    def __init__(
        self,
        problem: str,
        *,
        source_id: str | None = None,
        path: str | None = None,
        row: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.source_id = source_id
        self.path = path
        self.row = row
        self.field = field
        self.fix = fix
        super().__init__(self._render())

    def _render(self) -> str:
        where = [
            part
            for part in (
                f"source {self.source_id}" if self.source_id else None,
                f"file {printable(self.path)}" if self.path else None,
                f"row {self.row}" if self.row is not None else None,
                f"field {self.field}" if self.field else None,
            )
            if part
        ]
        text = f"{', '.join(where)}: {self.problem}" if where else self.problem
        return f"{text} — {self.fix}" if self.fix else text


class ConfigError(TierhubError):
    """A setting or a configuration file is missing or invalid."""


class ReferenceDataError(TierhubError):
    """A shipped reference table (divisions, code tables, field dictionary) is broken."""


class StandardNotFound(TierhubError):
    """No service-item standard matches a name, code or business date."""


class CatalogueError(TierhubError):
    """A standards catalogue file is malformed."""


class UnsupportedFile(TierhubError):
    """A file's name or extension does not say which source and item it belongs to."""


class UnreadableFile(TierhubError):
    """A file cannot be decoded or parsed (encoding, corrupt workbook, empty file)."""


class HeaderMismatch(TierhubError):
    """No header row with known columns was found in a file."""


class DuplicateHeaders(HeaderMismatch):
    """Two columns of a file's header row name one field: which holds the value is a guess, so the file is refused."""

    def __init__(self, problem: str, *, duplicates: dict[str, list[str]], **where: str | None) -> None:
        self.duplicates = duplicates  # field → the header texts (with their column) naming it
        super().__init__(problem, **where)  # type: ignore[arg-type]


class WarehouseError(TierhubError):
    """The warehouse could not commit a load."""


class SourceUnreachable(TierhubError):
    """A source's endpoint did not answer (network, timeout, server gone)."""


class HostKeyRejected(TierhubError):
    """An SFTP server's host key is unknown or has changed: the connection is refused."""


class AuthenticationRefused(TierhubError):
    """An SFTP server refused tierhub's key."""


class TransferFailed(TierhubError):
    """A download or upload did not complete intact."""


class ScopeError(TierhubError):
    """A request reaches outside the caller's part of the division tree, or needs a narrower scope."""


class CaseTransitionRefused(TierhubError):
    """A 协查 case cannot move to the status asked for (wrong status, no reason, outside the user's scope)."""
