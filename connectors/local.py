"""Local-folder sources: a shared drive or USB import holding each source's outbox.

Default layout: ``<root>/<6-digit district code>/<12-digit source code>/<export files>``.
"""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

from connectors.config import FolderEndpoint
from connectors.records import FileRecord, Listing, Refusal, sha256_file, utc_seconds
from connectors.safety import MARKER_SUFFIX, refuse_name, refuse_size
from tierhub.errors import SourceUnreachable, UnreadableFile


class LocalOutbox:
    """The outboxes of one folder endpoint."""

    def __init__(self, endpoint: FolderEndpoint, root: Path | None = None) -> None:
        self.endpoint = endpoint
        self.root = root or Path(endpoint.root)

    def outbox(self, source_code: str) -> Path:
        """The folder a source drops its exports into."""
        return self.root / self.endpoint.outbox_for(source_code)

    def _listing(self, source_code: str, relative: str, st: os.stat_result) -> Listing:
        return Listing(source_code, relative, st.st_size, utc_seconds(st.st_mtime))

    def _checked_outbox(self, source_code: str) -> tuple[str, str]:
        """The source's outbox folder and its path below the root, refused if the root is missing
        or a folder on the way is a link.

        A symbolic link below the root (an outbox pointing at ``/etc``) would make tierhub hash
        and read whatever it points to: it is refused, not followed. A missing outbox is fine
        here (a source that never sent anything); ``probe`` insists on it. Plain strings and
        ``os`` calls: this runs once per source on every sync (pathlib cost ~0.3 s per city).
        """
        root = os.fspath(self.root)
        if not os.path.isdir(root):
            raise SourceUnreachable(
                f"the drops root {self.root} does not exist or is not a folder",
                source_id=source_code,
                fix="mount the shared drive or fix the endpoint's root in the sources file (TIERHUB_DROPS_ROOT)",
            )
        folder, relative = root, ""
        for part in self.endpoint.outbox_parts(source_code):
            folder = os.path.join(folder, part)
            relative = f"{relative}/{part}" if relative else part
            if os.path.islink(folder):
                raise SourceUnreachable(
                    f"outbox folder {folder} is a symbolic link to {os.path.realpath(folder)}: refused, not followed",
                    source_id=source_code,
                    path=relative,
                    fix="replace the link with a real folder under the drops root",
                )
        return folder, relative

    def probe(self, source_code: str) -> str:
        """Where the source's outbox is; raises ``SourceUnreachable`` if it is missing or refused."""
        folder, _ = self._checked_outbox(source_code)
        if not os.path.isdir(folder):
            raise SourceUnreachable(
                f"outbox {folder} does not exist",
                source_id=source_code,
                fix="create the folder (the source drops its exports there) or fix the endpoint's outbox template",
            )
        return folder

    def scan(self, source_code: str) -> tuple[list[Listing], list[Refusal], set[str]]:
        """Files of a source's outbox: acceptable ones, refused ones, and ``.done`` markers.

        One ``scandir`` and one ``lstat`` per entry (``DirEntry.stat(follow_symlinks=False)``
        is cached from the listing where the system gives it).
        """
        folder, relative = self._checked_outbox(source_code)
        listings: list[Listing] = []
        refusals: list[Refusal] = []
        markers: set[str] = set()
        try:
            with os.scandir(folder) as found:
                entries = sorted(found, key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return listings, refusals, markers
        for entry in entries:
            name = entry.name
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                continue
            if name.endswith(MARKER_SUFFIX):
                markers.add(name.removesuffix(MARKER_SUFFIX))
                continue
            path = f"{relative}/{name}" if relative else name
            if stat.S_ISLNK(st.st_mode):
                refusals.append(
                    Refusal(source_code, path, 0, f"{name!r} is a symbolic link; only regular files are taken")
                )
                continue
            reason = refuse_name(name) or refuse_size(st.st_size, self.endpoint.max_file_bytes)
            if reason or not stat.S_ISREG(st.st_mode):
                refusals.append(Refusal(source_code, path, st.st_size, reason or "not a regular file"))
                continue
            listings.append(self._listing(source_code, path, st))
        return listings, refusals, markers

    def restat(self, listing: Listing) -> Listing | None:
        """The file as it is now (None if it has gone)."""
        try:
            return self._listing(listing.source_id, listing.path, (self.root / listing.path).stat())
        except FileNotFoundError:
            return None

    def fetch(self, listing: Listing) -> FileRecord:
        """Hash the file in place; it must still be the file that was listed."""
        path = self.root / listing.path
        digest = sha256_file(path)
        now = self.restat(listing)
        if now != listing:
            raise UnreadableFile(
                "the file changed while it was read",
                source_id=listing.source_id,
                path=listing.path,
                fix="it is taken on the next sync, once the source has finished writing it",
            )
        return FileRecord(listing.source_id, listing.path, listing.size, listing.modified_at, digest, path)

    def upload(self, local: Path, source_code: str, name: str | None = None) -> str:
        """Put a file into a source's outbox atomically (temp name, then rename)."""
        folder = self.outbox(source_code)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / (name or local.name)
        temp = folder / f".{final.name}.part-{uuid.uuid4().hex}"
        temp.write_bytes(local.read_bytes())
        os.replace(temp, final)
        return final.relative_to(self.root).as_posix()

    def close(self) -> None:
        """Nothing to release for a folder."""
