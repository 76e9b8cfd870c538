"""SFTP outboxes (paramiko), done the way production needs it.

- Host keys are checked against the endpoint's known_hosts file; an unknown or changed
  key refuses the connection (``HostKeyRejected``), it is never added.
- Key authentication only; the key comes from a file named in the environment or from a
  Prefect Secret block (parsed in memory), never from the sources file.
- A small pool of connections per host, reused for the whole sync; timeouts and keepalive.
- Transient faults (network, server gone mid-transfer) are retried with exponential backoff
  on a fresh connection; refusals (host key, authentication) are not.
- Downloads go to a temporary file, are checked (byte count, the remote file unchanged
  since it was listed) and hashed, then renamed: a partial file never lands.
- Big files are read with a bounded pipeline of large read requests (the server's own limit
  from ``limits@openssh.com``, at most 256 KiB), in one thread (``read_pipelined``);
  AES-GCM is preferred over AES-CTR + HMAC. Figures in bench/RESULTS.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import socket
import stat
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from paramiko.sftp import CMD_DATA, CMD_EXTENDED, CMD_EXTENDED_REPLY, CMD_READ, CMD_STATUS, SFTP_EOF, int64

from connectors.config import SftpEndpoint
from connectors.records import FileRecord, Listing, Refusal, utc_seconds
from connectors.safety import MARKER_SUFFIX, refuse_name, refuse_size
from tierhub.errors import (
    AuthenticationRefused,
    ConfigError,
    HostKeyRejected,
    SourceUnreachable,
    TransferFailed,
)

if TYPE_CHECKING:
    from paramiko.transport import _SocketLike

# The read size every SFTP server must serve; used when a server does not state its limit.
SAFE_READ_BYTES = 32 * 1024
# The largest read request tierhub sends even if a server allows more (OpenSSH allows 255 KiB).
# Per-request Python work dominates in paramiko: 255 KiB requests moved a 200 MB pull from
# ~70 to ~200 MB/s on loopback (bench/RESULTS.md).
MAX_READ_BYTES = 256 * 1024
# Ciphers tried first: AES-GCM authenticates inside the cipher (no separate HMAC pass in
# Python), ~10-20 % faster here. Every other algorithm paramiko offers stays as a fallback.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
KEEPALIVE_SECONDS = 15
TRANSIENT = (OSError, EOFError, socket.timeout, paramiko.SSHException)
T = TypeVar("T")


class _UnknownHostKey(paramiko.SSHException):
    pass


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):
    """Refuse any host whose key is not in known_hosts (and say so precisely)."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise _UnknownHostKey(f"{hostname} offered a {key.get_name()} key {key.fingerprint} not in known_hosts")


def _transport(
    sock: _SocketLike,
    /,
    *,
    disabled_algorithms: Mapping[str, Iterable[str]] | None = None,
    gss_kex: bool = False,  # the stubs still name paramiko 4's GSS arguments; 5 passes none
    gss_deleg_creds: bool = False,
) -> paramiko.Transport:
    """A paramiko Transport that offers ``PREFERRED_CIPHERS`` first (for ``transport_factory``)."""
    transport = paramiko.Transport(sock, disabled_algorithms=disabled_algorithms)
    options = transport.get_security_options()
    preferred = [c for c in PREFERRED_CIPHERS if c in options.ciphers]
    options.ciphers = preferred + [c for c in options.ciphers if c not in preferred]
    return transport


def private_key(endpoint: SftpEndpoint) -> paramiko.PKey:
    """The endpoint's private key, from the file ``key_env`` names or the Secret block ``key_block``.

    A block's key text is parsed in memory; it is never written to disk or shown in a message.
    """
    if not endpoint.key_block:
        return paramiko.PKey.from_path(endpoint.private_key_path(), endpoint.passphrase())
    text, passphrase = endpoint.private_key_text(), endpoint.passphrase()
    password = passphrase.encode() if passphrase else None
    try:
        # The same type dispatch as paramiko's PKey.from_path, on the text instead of a file.
        loaded: object
        if "BEGIN OPENSSH PRIVATE KEY" in text:
            loaded = serialization.load_ssh_private_key(text.encode(), password)
        else:
            loaded = serialization.load_pem_private_key(text.encode(), password)
        kind: type[paramiko.PKey]
        if isinstance(loaded, rsa.RSAPrivateKey):
            kind = paramiko.RSAKey
        elif isinstance(loaded, ed25519.Ed25519PrivateKey):
            kind = paramiko.Ed25519Key
        elif isinstance(loaded, ec.EllipticCurvePrivateKey):
            kind = paramiko.ECDSAKey
        else:
            raise ValueError(f"unsupported key type {type(loaded).__name__}")
        return kind.from_private_key(io.StringIO(text), passphrase)
    except (ValueError, TypeError, paramiko.SSHException) as exc:
        # Never show the text: the messages of cryptography and paramiko do not contain it.
        raise ConfigError(
            f"the Prefect Secret block {endpoint.key_block!r} for {endpoint.label} does not hold a usable "
            f"private key ({exc})",
            fix="save the whole private key file's text (OpenSSH or PEM) in the block; if the key has a "
            "passphrase, name it in passphrase_block or passphrase_env",
        ) from exc


def connect(endpoint: SftpEndpoint) -> paramiko.SFTPClient:
    """Open an SFTP session to an endpoint, verifying its host key against known_hosts."""
    if not endpoint.host or not endpoint.user:
        raise ConfigError(f"SFTP endpoint {endpoint.label} needs host and user")
    if not endpoint.known_hosts or not Path(endpoint.known_hosts).is_file():
        raise ConfigError(
            f"SFTP endpoint {endpoint.label} has no known_hosts file ({endpoint.known_hosts})",
            fix="set known_hosts to a file holding the server's host key (ssh-keyscan, checked out of band)",
        )
    key = private_key(endpoint)
    client = paramiko.SSHClient()
    client.load_host_keys(endpoint.known_hosts)
    client.set_missing_host_key_policy(_RefuseUnknown())
    try:
        client.connect(
            endpoint.host,
            endpoint.port,
            username=endpoint.user,
            pkey=key,
            timeout=endpoint.timeout_seconds,
            banner_timeout=endpoint.timeout_seconds,
            auth_timeout=endpoint.timeout_seconds,
            channel_timeout=endpoint.timeout_seconds,
            look_for_keys=False,
            allow_agent=False,
            transport_factory=_transport,
        )
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise HostKeyRejected(
            f"{endpoint.label}: the server's host key has CHANGED ({exc.key.get_name()} {exc.key.fingerprint}); "
            "connection refused",
            fix="verify the new key with the district's administrator, then update known_hosts",
        ) from exc
    except _UnknownHostKey as exc:
        client.close()
        raise HostKeyRejected(
            f"{endpoint.label}: unknown host key — {exc}; connection refused",
            fix="add the server's key to known_hosts after checking it with the district's administrator",
        ) from exc
    except paramiko.AuthenticationException as exc:
        client.close()
        raise AuthenticationRefused(
            f"{endpoint.label}: the server refused tierhub's key ({exc})",
            fix=f"install the public key for user {endpoint.user} on the server",
        ) from exc
    except TRANSIENT as exc:
        client.close()
        raise SourceUnreachable(f"{endpoint.label}: {exc or type(exc).__name__}", fix="retried with backoff") from exc
    transport = client.get_transport()
    assert transport is not None
    transport.set_keepalive(KEEPALIVE_SECONDS)
    # SFTP is request/response: without TCP_NODELAY, Nagle holds each small request back
    # until the previous segment is acknowledged (measured: close took ~4 ms per file).
    transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
    sftp = client.open_sftp()
    sftp.get_channel().settimeout(endpoint.timeout_seconds)  # type: ignore[union-attr]
    return sftp


def _close(sftp: paramiko.SFTPClient) -> None:
    with contextlib.suppress(Exception):
        transport = sftp.get_channel().get_transport()  # type: ignore[union-attr]
        sftp.close()
        transport.close()


class _Wire(Protocol):
    """The paramiko ``SFTPClient`` internals the pipelined reader drives.

    paramiko's own ``SFTPFile`` reads through these; they are not in its public API, so the
    SFTP tests (real sshd) are what guards them across paramiko upgrades.
    """

    def _async_request(self, fileobj: object, t: int, *args: object) -> int: ...
    def _read_response(self, waitfor: int | None = None) -> tuple[int | None, paramiko.Message | None]: ...
    def _request(self, t: int, *args: object) -> tuple[int, paramiko.Message]: ...


class _Replies:
    """Responses to pipelined reads, by request number (paramiko calls ``_async_response``)."""

    def __init__(self) -> None:
        self.by_number: dict[int, tuple[int, paramiko.Message]] = {}

    def _async_response(self, t: int, msg: paramiko.Message, num: int) -> None:
        self.by_number[num] = (t, msg)


def server_read_limit(sftp: paramiko.SFTPClient) -> int:
    """The largest read the server serves (``limits@openssh.com``), capped at ``MAX_READ_BYTES``.

    A server that does not implement the extension gets ``SAFE_READ_BYTES``.
    """
    try:
        kind, msg = cast(_Wire, sftp)._request(CMD_EXTENDED, "limits@openssh.com")
    except OSError:  # SSH_FX_OP_UNSUPPORTED
        return SAFE_READ_BYTES
    if kind != CMD_EXTENDED_REPLY:
        return SAFE_READ_BYTES
    _max_packet, max_read = msg.get_int64(), msg.get_int64()
    return min(max_read, MAX_READ_BYTES) if max_read >= SAFE_READ_BYTES else SAFE_READ_BYTES


def read_pipelined(
    sftp: paramiko.SFTPClient, handle: bytes, size: int, *, request_bytes: int, in_flight: int
) -> Iterator[bytes]:
    """The first ``size`` bytes of an open remote file, in order, with reads kept in flight.

    At most ``in_flight`` read requests of ``request_bytes`` are outstanding, so memory stays
    bounded, and everything runs in the caller's thread (paramiko's ``prefetch`` adds a thread
    that polls every 10 ms and splits reads into 32 KiB). A short read asks for the rest before
    anything else is yielded; the end of the file (it shrank) ends the iteration early.
    """
    wire = cast(_Wire, sftp)
    replies = _Replies()
    waiting: deque[tuple[int, int, int]] = deque()  # (request number, offset, length) in file order
    asked = 0
    while True:
        while asked < size and len(waiting) < in_flight:
            length = min(request_bytes, size - asked)
            waiting.append((wire._async_request(replies, CMD_READ, handle, int64(asked), length), asked, length))
            asked += length
        if not waiting:
            return
        number, offset, length = waiting.popleft()
        while number not in replies.by_number:
            wire._read_response()
        kind, msg = replies.by_number.pop(number)
        if kind == CMD_STATUS:
            code, text = msg.get_int(), msg.get_text()
            if code == SFTP_EOF:
                return
            raise OSError(f"read of {length:,} bytes at offset {offset:,} failed: {text} (SFTP status {code})")
        if kind != CMD_DATA:
            raise paramiko.SSHException(f"unexpected SFTP reply type {kind} to a read")
        data = msg.get_binary()
        if not data:
            return
        if len(data) < length:
            rest = (offset + len(data), length - len(data))
            waiting.appendleft((wire._async_request(replies, CMD_READ, handle, int64(rest[0]), rest[1]), *rest))
        yield data


class SftpOutbox:
    """The outboxes of one SFTP endpoint, with a bounded pool of reused connections."""

    def __init__(
        self,
        endpoint: SftpEndpoint,
        landing: Path,
        *,
        sleep: Callable[[float], None] = time.sleep,
        backoff: float = 1.0,
        on_progress: Callable[[Listing, int], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.on_progress = on_progress  # (listing, bytes received so far), after each chunk
        self.landing = landing
        self.sleep = sleep
        self.backoff = backoff
        self._idle: queue.LifoQueue[paramiko.SFTPClient] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(endpoint.max_connections)
        self._read_limits: weakref.WeakKeyDictionary[paramiko.SFTPClient, int] = weakref.WeakKeyDictionary()
        self.connections_opened = 0

    @contextlib.contextmanager
    def client(self) -> Iterator[paramiko.SFTPClient]:
        """A connection from the pool (opened if none is idle); dropped if it failed."""
        with self._slots:
            try:
                sftp = self._idle.get_nowait()
            except queue.Empty:
                sftp = connect(self.endpoint)
                self.connections_opened += 1
            try:
                yield sftp
            except BaseException:
                _close(sftp)
                raise
            self._idle.put(sftp)

    def _retrying(self, what: str, source_id: str, path: str | None, action: Callable[[paramiko.SFTPClient], T]) -> T:
        """Run ``action`` on a pooled connection, retrying transient faults with backoff."""
        for attempt in range(self.endpoint.retries + 1):
            try:
                with self.client() as sftp:
                    return action(sftp)
            except (HostKeyRejected, AuthenticationRefused, ConfigError):
                raise
            except (SourceUnreachable, *TRANSIENT) as exc:
                if attempt == self.endpoint.retries:
                    raise SourceUnreachable(
                        f"{what} failed after {attempt + 1} attempts: {exc or type(exc).__name__}",
                        source_id=source_id,
                        path=path,
                        fix="check the server; the next sync tries again",
                    ) from exc
                self.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def remote_outbox(self, source_code: str) -> str:
        """The source's outbox on the server."""
        return str(PurePosixPath(self.endpoint.root) / self.endpoint.outbox_for(source_code))

    def _relative(self, remote: str) -> str:
        return str(PurePosixPath(remote).relative_to(self.endpoint.root))

    def scan(self, source_code: str) -> tuple[list[Listing], list[Refusal], set[str]]:
        """Files of a source's outbox: acceptable ones, refused ones, and ``.done`` markers."""
        folder = self.remote_outbox(source_code)

        def listdir(sftp: paramiko.SFTPClient) -> list[paramiko.SFTPAttributes]:
            try:
                self._refuse_link(sftp, source_code, folder)
                return sftp.listdir_attr(folder)
            except FileNotFoundError:
                return []

        listings: list[Listing] = []
        refusals: list[Refusal] = []
        markers: set[str] = set()
        for attr in sorted(self._retrying("listing", source_code, folder, listdir), key=lambda a: a.filename):
            name, mode, size = attr.filename, attr.st_mode or 0, attr.st_size or 0
            if stat.S_ISDIR(mode):
                continue
            if name.endswith(MARKER_SUFFIX) and not refuse_name(name.removesuffix(MARKER_SUFFIX)):
                markers.add(name.removesuffix(MARKER_SUFFIX))
                continue
            relative = f"{self.endpoint.outbox_for(source_code)}/{name}"
            if stat.S_ISLNK(mode):
                link = f"{name!r} is a symbolic link; only regular files are taken"
                refusals.append(Refusal(source_code, relative, 0, link))
                continue
            reason = refuse_name(name) or refuse_size(size, self.endpoint.max_file_bytes)
            if reason or not stat.S_ISREG(mode):
                refusals.append(Refusal(source_code, relative, size, reason or "not a regular file"))
                continue
            listings.append(Listing(source_code, relative, size, utc_seconds(attr.st_mtime or 0)))
        return listings, refusals, markers

    def _refuse_link(self, sftp: paramiko.SFTPClient, source_code: str, folder: str) -> None:
        """Refuse an outbox that is a symbolic link on the server (raises FileNotFoundError if missing)."""
        if stat.S_ISLNK(sftp.lstat(folder).st_mode or 0):
            raise SourceUnreachable(
                f"outbox {folder} on {self.endpoint.host} is a symbolic link: refused, not followed",
                source_id=source_code,
                path=folder,
                fix="replace the link with a real folder under the endpoint's root",
            )

    def probe(self, source_code: str) -> str:
        """Where the source's outbox is; raises ``SourceUnreachable`` if it is missing, a link or the server is down."""
        folder = self.remote_outbox(source_code)

        def look(sftp: paramiko.SFTPClient) -> None:
            try:
                self._refuse_link(sftp, source_code, folder)
            except FileNotFoundError:
                raise SourceUnreachable(
                    f"outbox {folder} does not exist on {self.endpoint.host}",
                    source_id=source_code,
                    fix="create it on the server or fix the endpoint's root/outbox in the sources file",
                ) from None

        self._retrying("checking the outbox", source_code, folder, look)
        return f"sftp://{self.endpoint.host}{folder}"

    def restat(self, listing: Listing) -> Listing | None:
        """The file as it is now on the server (None if it has gone)."""
        remote = f"{self.endpoint.root.rstrip('/')}/{listing.path}"

        def lstat(sftp: paramiko.SFTPClient) -> Listing | None:
            try:
                attr = sftp.lstat(remote)
            except FileNotFoundError:
                return None
            return Listing(listing.source_id, listing.path, attr.st_size or 0, utc_seconds(attr.st_mtime or 0))

        return self._retrying("stat", listing.source_id, listing.path, lstat)

    def fetch(self, listing: Listing) -> FileRecord:
        """Download a listed file into the landing folder, verified, then renamed into place."""
        remote = f"{self.endpoint.root.rstrip('/')}/{listing.path}"
        final = self.landing / listing.path
        final.parent.mkdir(parents=True, exist_ok=True)

        def download(sftp: paramiko.SFTPClient) -> str:
            temp = final.parent / f".{final.name}.part-{uuid.uuid4().hex}"
            digest = hashlib.sha256()
            received = 0
            try:
                with sftp.open(remote, "rb") as source, temp.open("wb") as target:
                    request_bytes = SAFE_READ_BYTES
                    if listing.size > SAFE_READ_BYTES:
                        if sftp not in self._read_limits:  # asked once per connection
                            self._read_limits[sftp] = server_read_limit(sftp)
                        request_bytes = self._read_limits[sftp]
                    # Read exactly the listed size: asking past the end costs an EOF round trip
                    # per file; growth is caught by the stat below.
                    for chunk in read_pipelined(
                        sftp,
                        cast(bytes, source.handle),  # the server's opaque handle (stubs: SFTPHandle)
                        listing.size,
                        request_bytes=request_bytes,
                        in_flight=self.endpoint.prefetch_requests,
                    ):
                        digest.update(chunk)
                        target.write(chunk)
                        received += len(chunk)
                        if self.on_progress is not None:
                            self.on_progress(listing, received)
                after = sftp.stat(remote)
                if (
                    received != listing.size
                    or after.st_size != listing.size
                    or int(after.st_mtime or 0) != int(listing.modified_at.timestamp())
                ):
                    raise TransferFailed(
                        f"received {received:,} of {listing.size:,} bytes, or the file changed during transfer",
                        source_id=listing.source_id,
                        path=listing.path,
                        fix="it is taken on the next sync, once the source has finished writing it",
                    )
                os.replace(temp, final)
            finally:
                temp.unlink(missing_ok=True)
            return digest.hexdigest()

        sha = self._retrying("download", listing.source_id, listing.path, download)
        return FileRecord(listing.source_id, listing.path, listing.size, listing.modified_at, sha, final)

    def upload(self, local: Path, source_code: str, name: str | None = None) -> str:
        """Put a file into a source's outbox atomically: a temporary name, then rename."""
        folder = self.remote_outbox(source_code)
        final = f"{folder}/{name or local.name}"

        def put(sftp: paramiko.SFTPClient) -> str:
            _makedirs(sftp, folder)
            temp = f"{folder}/.{name or local.name}.part-{uuid.uuid4().hex}"
            try:
                attrs = sftp.put(str(local), temp, confirm=True)
                if attrs.st_size != local.stat().st_size:
                    raise TransferFailed(f"uploaded {attrs.st_size} of {local.stat().st_size} bytes", path=final)
                sftp.posix_rename(temp, final)
            except BaseException:
                with contextlib.suppress(OSError):
                    sftp.remove(temp)
                raise
            return self._relative(final)

        return self._retrying("upload", source_code, final, put)

    def close(self) -> None:
        """Close every pooled connection."""
        while True:
            try:
                _close(self._idle.get_nowait())
            except queue.Empty:
                return


def _makedirs(sftp: paramiko.SFTPClient, folder: str) -> None:
    parts = PurePosixPath(folder).parts
    for i in range(2, len(parts) + 1):
        path = str(PurePosixPath(*parts[:i]))
        try:
            sftp.stat(path)
        except FileNotFoundError:
            sftp.mkdir(path)
