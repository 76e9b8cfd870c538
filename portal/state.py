"""Portal state in its own SQLite file: users, sessions, login attempts, person handles, audit.

Never in the warehouse: the sync is the warehouse's only writer and readers open it
read-only (docs/decisions/0010-portal.md). SQLite in WAL mode lets several portal worker
processes share the file; every call opens a short-lived connection, so nothing is shared
between threads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    division_code TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    password_changed_at TEXT NOT NULL
);
-- Only a hash of the session token is stored: a copy of this file opens no session.
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT,                       -- NULL: an anonymous session (the login form's CSRF token)
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    client_ip TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (username);
CREATE TABLE IF NOT EXISTS login_attempts (
    at TEXT NOT NULL,
    username TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    ok INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_by_user ON login_attempts (username, at);
CREATE INDEX IF NOT EXISTS attempts_by_ip ON login_attempts (client_ip, at);
-- Opaque handles for person links, so search results never put an ID number in a URL.
CREATE TABLE IF NOT EXISTS person_handles (
    handle TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    id_number TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS handles_by_session ON person_handles (token_hash);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    username TEXT NOT NULL,
    role TEXT NOT NULL,
    scope TEXT NOT NULL,
    action TEXT NOT NULL,                -- person.view, person.search, sql.run, dashboard.export, login.ok, …
    target TEXT NOT NULL,                -- the ID number or name looked up, the SQL, the node exported
    results INTEGER,
    client_ip TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at);
CREATE INDEX IF NOT EXISTS audit_by_target ON audit (target);
"""


# Anonymous (login-form) sessions one client address may hold at once.
ANONYMOUS_PER_ADDRESS = 20


def now() -> dt.datetime:
    """The current UTC time (one place, so tests can reason about windows)."""
    return dt.datetime.now(dt.UTC)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


def token_hash(token: str) -> str:
    """What the sessions table stores for a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class User:
    """A portal account, bound to one division node."""

    username: str
    display_name: str
    role: str
    division_code: str
    password_hash: str
    must_change_password: bool
    disabled: bool
    created_at: str


@dataclass(frozen=True, slots=True)
class Session:
    """A live session: anonymous (login form) when ``username`` is None."""

    token_hash: str
    username: str | None
    csrf_token: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    client_ip: str


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the audit log."""

    id: int
    at: str
    username: str
    role: str
    scope: str
    action: str
    target: str
    results: int | None
    client_ip: str
    detail: str | None


def _user(row: tuple[object, ...]) -> User:
    return User(
        username=str(row[0]),
        display_name=str(row[1]),
        role=str(row[2]),
        division_code=str(row[3]),
        password_hash=str(row[4]),
        must_change_password=bool(row[5]),
        disabled=bool(row[6]),
        created_at=str(row[7]),
    )


class PortalState:
    """The portal's SQLite file and every read and write of it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode = WAL")
            con.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One connection per thread, kept open: closing the last connection of a WAL database
        # checkpoints and fsyncs it (~10 ms a call here), and requests come from a thread pool.
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            con.execute("PRAGMA busy_timeout = 10000")
            con.execute("PRAGMA synchronous = NORMAL")
            self._local.con = con
        yield con

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    # -- meta ----------------------------------------------------------------------------------

    def secret(self, key: str) -> bytes:
        """A random per-installation secret, made on first use (e.g. the analysts' person key)."""
        with self._connect() as con:
            con.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", [key, secrets.token_hex(32)])
            [(value,)] = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
        return bytes.fromhex(value)

    # -- users ---------------------------------------------------------------------------------

    def add_user(self, username: str, display_name: str, role: str, division_code: str, password_hash: str) -> None:
        """Create an account (raises sqlite3.IntegrityError if the name is taken)."""
        stamp = _iso(now())
        with self._connect() as con:
            con.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?)",
                [username, display_name, role, division_code, password_hash, stamp, stamp],
            )

    def user(self, username: str) -> User | None:
        """The account with this name."""
        with self._connect() as con:
            row = con.execute(
                "SELECT username, display_name, role, division_code, password_hash, must_change_password, disabled, "
                "created_at FROM users WHERE username = ?",
                [username],
            ).fetchone()
        return None if row is None else _user(row)

    def users(self) -> list[User]:
        """Every account, by name."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT username, display_name, role, division_code, password_hash, must_change_password, disabled, "
                "created_at FROM users ORDER BY username"
            ).fetchall()
        return [_user(r) for r in rows]

    def set_password(self, username: str, password_hash: str, *, must_change: bool) -> None:
        """Replace a password; every session of the account ends and its lockout is lifted."""
        with self._connect() as con:
            con.execute(
                "UPDATE users SET password_hash = ?, must_change_password = ?, password_changed_at = ? "
                "WHERE username = ?",
                [password_hash, int(must_change), _iso(now()), username],
            )
            con.execute("DELETE FROM sessions WHERE username = ?", [username])
            con.execute("DELETE FROM login_attempts WHERE username = ? AND ok = 0", [username])

    def set_disabled(self, username: str, disabled: bool) -> None:
        """Disable (or enable) an account; disabling ends its sessions."""
        with self._connect() as con:
            con.execute("UPDATE users SET disabled = ? WHERE username = ?", [int(disabled), username])
            if disabled:
                con.execute("DELETE FROM sessions WHERE username = ?", [username])

    def set_binding(self, username: str, role: str, division_code: str) -> None:
        """Change an account's role and scope; its sessions end (what it may see has changed)."""
        with self._connect() as con:
            con.execute(
                "UPDATE users SET role = ?, division_code = ? WHERE username = ?", [role, division_code, username]
            )
            con.execute("DELETE FROM sessions WHERE username = ?", [username])

    # -- sessions ------------------------------------------------------------------------------

    def create_session(
        self, username: str | None, client_ip: str, *, anonymous_idle: dt.timedelta = dt.timedelta(minutes=30)
    ) -> tuple[str, Session]:
        """A new session with a fresh random token (returned once) and CSRF token.

        Anonymous sessions (the login form's) are bounded: those idle longer than
        ``anonymous_idle`` are dropped, and one address keeps at most ``ANONYMOUS_PER_ADDRESS``
        (its oldest go), so cookie-less traffic cannot grow the table without end.
        """
        token = secrets.token_urlsafe(32)
        stamp = now()
        session = Session(token_hash(token), username, secrets.token_urlsafe(32), stamp, stamp, client_ip)
        with self._connect() as con:
            if username is None:
                con.execute(
                    "DELETE FROM sessions WHERE username IS NULL AND (last_seen_at < ? OR token_hash IN ("
                    "SELECT token_hash FROM sessions WHERE username IS NULL AND client_ip = ? "
                    "ORDER BY created_at DESC LIMIT -1 OFFSET ?))",
                    [_iso(stamp - anonymous_idle), client_ip, ANONYMOUS_PER_ADDRESS - 1],
                )
            con.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
                [session.token_hash, username, session.csrf_token, _iso(stamp), _iso(stamp), client_ip],
            )
        return token, session

    def session(self, token: str) -> Session | None:
        """The session a cookie's token names, if it exists."""
        with self._connect() as con:
            row = con.execute(
                "SELECT token_hash, username, csrf_token, created_at, last_seen_at, client_ip FROM sessions "
                "WHERE token_hash = ?",
                [token_hash(token)],
            ).fetchone()
        if row is None:
            return None
        return Session(
            row[0], row[1], row[2], dt.datetime.fromisoformat(row[3]), dt.datetime.fromisoformat(row[4]), row[5]
        )

    def touch_session(self, session: Session) -> None:
        """Record activity (idle timeout counts from here)."""
        with self._connect() as con:
            con.execute("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?", [_iso(now()), session.token_hash])

    def end_session(self, hashed: str) -> None:
        """Delete a session and its person handles."""
        with self._connect() as con:
            con.execute("DELETE FROM sessions WHERE token_hash = ?", [hashed])
            con.execute("DELETE FROM person_handles WHERE token_hash = ?", [hashed])

    def purge_sessions(self, idle_before: dt.datetime, created_before: dt.datetime) -> None:
        """Drop sessions idle or alive too long, and their handles."""
        with self._connect() as con:
            con.execute(
                "DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?",
                [_iso(idle_before), _iso(created_before)],
            )
            con.execute("DELETE FROM person_handles WHERE token_hash NOT IN (SELECT token_hash FROM sessions)")

    # -- login attempts ------------------------------------------------------------------------

    def record_attempt(self, username: str, client_ip: str, ok: bool) -> None:
        """Log one login attempt; a success clears the account's failures."""
        with self._connect() as con:
            con.execute("INSERT INTO login_attempts VALUES (?, ?, ?, ?)", [_iso(now()), username, client_ip, int(ok)])
            if ok:
                con.execute("DELETE FROM login_attempts WHERE username = ? AND ok = 0", [username])

    def failures(
        self, *, username: str | None = None, client_ip: str | None = None, since: dt.datetime
    ) -> tuple[int, dt.datetime | None]:
        """Failed attempts for an account or an address since ``since``, and the latest one."""
        column, value = ("username", username) if username is not None else ("client_ip", client_ip)
        with self._connect() as con:
            count, last = con.execute(
                f"SELECT count(*), max(at) FROM login_attempts WHERE {column} = ? AND ok = 0 AND at >= ?",
                [value, _iso(since)],
            ).fetchone()
        return int(count), dt.datetime.fromisoformat(last) if last else None

    # -- person handles ------------------------------------------------------------------------

    def person_handle(self, session: Session, id_number: str) -> str:
        """An opaque, session-bound handle for a person link."""
        with self._connect() as con:
            row = con.execute(
                "SELECT handle FROM person_handles WHERE token_hash = ? AND id_number = ?",
                [session.token_hash, id_number],
            ).fetchone()
            if row:
                return str(row[0])
            handle = secrets.token_urlsafe(12)
            con.execute(
                "INSERT INTO person_handles VALUES (?, ?, ?, ?)", [handle, session.token_hash, id_number, _iso(now())]
            )
        return handle

    def resolve_handle(self, session: Session, handle: str) -> str | None:
        """The ID number behind a handle made for this session (None for any other session)."""
        with self._connect() as con:
            row = con.execute(
                "SELECT id_number FROM person_handles WHERE handle = ? AND token_hash = ?", [handle, session.token_hash]
            ).fetchone()
        return None if row is None else str(row[0])

    # -- audit ---------------------------------------------------------------------------------

    def audit(
        self,
        *,
        username: str,
        role: str,
        scope: str,
        action: str,
        target: str,
        client_ip: str,
        results: int | None = None,
        detail: str | None = None,
    ) -> None:
        """Append one audit row (who, when, what, whom, from where)."""
        with self._connect() as con:
            con.execute(
                "INSERT INTO audit (at, username, role, scope, action, target, results, client_ip, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_iso(now()), username, role, scope, action, target, results, client_ip, detail],
            )

    def audit_entries(
        self,
        *,
        username: str | None = None,
        action: str | None = None,
        target: str | None = None,
        limit: int = 200,
        before_id: int | None = None,
    ) -> list[AuditEntry]:
        """Audit rows, newest first, filtered by user, action prefix or target (all bound parameters)."""
        clauses, params = ["1 = 1"], []
        if username:
            clauses.append("username = ?")
            params.append(username)
        if action:
            clauses.append("action LIKE ? || '%'")
            params.append(action)
        if target:
            clauses.append("target = ?")
            params.append(target)
        if before_id is not None:
            clauses.append("id < ?")
            params.append(str(before_id))
        with self._connect() as con:
            rows = con.execute(
                "SELECT id, at, username, role, scope, action, target, results, client_ip, detail FROM audit "
                f"WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT ?",
                [*params, limit],
            ).fetchall()
        return [AuditEntry(*r) for r in rows]
