"""A real OpenSSH sshd on loopback for SFTP tests: temporary host and user keys, internal-sftp."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from connectors.config import SftpEndpoint
from tests.system import find_program

SSHD = find_program("sshd") or "/usr/sbin/sshd"
CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {home}/host_ed25519
PidFile {home}/sshd.pid
AuthorizedKeysFile {home}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers {user}
UsePAM no
StrictModes no
MaxStartups 100:30:200
MaxSessions 50
Subsystem sftp internal-sftp
LogLevel ERROR
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (sshd forks one per session), deepest first."""
    found: list[int] = []
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for child in map(int, children):
        found += [*descendants(child), child]
    return found


def keygen(path: Path, kind: str = "ed25519", passphrase: str = "", *extra: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", passphrase, *extra, "-f", str(path)], check=True)


class Sshd:
    """One sshd process; ``root`` is the served folder, ``endpoint()`` a matching Endpoint."""

    def __init__(self, home: Path, user: str = "root") -> None:
        self.home = home
        self.user = user
        self.port = free_port()
        self.root = home / "srv"
        self.root.mkdir(parents=True, exist_ok=True)
        keygen(home / "host_ed25519")
        keygen(home / "client_ed25519")
        (home / "authorized_keys").write_text((home / "client_ed25519.pub").read_text())
        (home / "sshd_config").write_text(CONFIG.format(port=self.port, home=home, user=user))
        host_key = (home / "host_ed25519.pub").read_text().split()
        (home / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_key[0]} {host_key[1]}\n")
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation directory
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start sshd and wait until it accepts connections."""
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.home / "sshd_config")])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start")

    def stop(self) -> None:
        """Kill sshd and every session it serves (a server gone mid-transfer)."""
        if self.process is not None:
            for pid in [*descendants(self.process.pid), self.process.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait()
            self.process = None

    def endpoint(self, key_env: str | None = "TIERHUB_TEST_SFTP_KEY", **overrides: object) -> SftpEndpoint:
        """An SFTP endpoint for this server (the key path goes into ``key_env``; None for ``key_block``)."""
        values: dict[str, object] = {
            "kind": "sftp",
            "host": "127.0.0.1",
            "port": self.port,
            "user": self.user,
            "key_env": key_env,
            "known_hosts": str(self.home / "known_hosts"),
            "root": str(self.root),
            "timeout_seconds": 5,
            "settle_seconds": 0,
        }
        values.update(overrides)
        return SftpEndpoint.model_validate(values)

    def authorize(self, public_key: Path) -> None:
        """Accept one more client key (sshd reads authorized_keys at each login)."""
        with (self.home / "authorized_keys").open("a") as handle:
            handle.write(public_key.read_text())

    @property
    def client_key(self) -> Path:
        """The private key the server accepts."""
        return self.home / "client_ed25519"
