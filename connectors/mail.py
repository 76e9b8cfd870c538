"""Sending mail: SMTP with STARTTLS, the password from the environment, retried with backoff.

Each district's recipients are data, in a YAML file the settings name
(``report_recipients_file``)::

    districts:
      "120101":
        to: [zhiliang@hp.example]
        cc: [ke@hp.example]
      "120117":
        to: [sjzx@nh.example]

The server's certificate is verified (against ``ca_file`` when given); a server that does
not offer STARTTLS is refused, so a password never crosses the wire in clear.
"""

from __future__ import annotations

import mimetypes
import os
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from tierhub.errors import ConfigError, TierhubError


class MailFailed(TierhubError):
    """A message could not be handed to the SMTP server."""


class Recipients(BaseModel):
    """Who receives one district's reports."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to: tuple[str, ...]
    cc: tuple[str, ...] = ()

    @property
    def everyone(self) -> list[str]:
        """Every address the message goes to."""
        return [*self.to, *self.cc]


def load_recipients(path: Path | None) -> dict[str, Recipients]:
    """District (6 digits) → recipients, from the recipients file (empty without one)."""
    if path is None:
        return {}
    if not path.exists():
        raise ConfigError(f"recipients file {path} does not exist", fix="create it or unset report_recipients_file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return {str(code)[:6]: Recipients.model_validate(body) for code, body in (data.get("districts") or {}).items()}
    except (yaml.YAMLError, ValidationError, AttributeError) as exc:
        raise ConfigError(f"invalid recipients file: {exc}", path=str(path)) from exc


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to send: the password is read from ``password_env`` at send time."""

    host: str
    port: int = 587
    user: str | None = None
    password_env: str = "TIERHUB_SMTP_PASSWORD"
    sender: str = "tierhub@localhost"
    ca_file: Path | None = None
    timeout: float = 30.0

    @property
    def label(self) -> str:
        """The server, for messages (never the password)."""
        return f"smtp://{self.user + '@' if self.user else ''}{self.host}:{self.port}"

    def password(self) -> str | None:
        """The password from the environment; None when the server needs no login."""
        if self.user is None:
            return None
        value = os.environ.get(self.password_env)
        if not value:
            raise ConfigError(
                f"no SMTP password for {self.label}",
                fix=f"set the environment variable {self.password_env} (smtp_password_env names it)",
            )
        return value


def build_message(
    *,
    sender: str,
    recipients: Recipients,
    subject: str,
    text: str,
    attachments: Sequence[Path] = (),
) -> EmailMessage:
    """A plain-text message with files attached (names may be Chinese: RFC 2231 encoded)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients.to)
    if recipients.cc:
        message["Cc"] = ", ".join(recipients.cc)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or None)
    message.set_content(text)
    for path in attachments:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        main, sub = kind.split("/", 1)
        message.add_attachment(path.read_bytes(), maintype=main, subtype=sub, filename=path.name)
    return message


def send_message(
    server: SmtpServer,
    message: EmailMessage,
    *,
    attempts: int = 4,
    backoff: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send ``message`` over STARTTLS, retrying refused connections and temporary failures.

    Returns the number of attempts used. A rejected login or a server without STARTTLS is
    not retried; neither is a recipient refused for good (5xx).
    """
    context = ssl.create_default_context(cafile=str(server.ca_file) if server.ca_file else None)
    password = server.password()
    for attempt in range(1, attempts + 1):
        try:
            with smtplib.SMTP(server.host, server.port, timeout=server.timeout) as smtp:
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise MailFailed(
                        f"{server.label} does not offer STARTTLS",
                        fix="enable STARTTLS on the server; tierhub never sends in clear",
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
                if server.user is not None and password is not None:
                    smtp.login(server.user, password)
                smtp.send_message(message)
            return attempt
        except smtplib.SMTPAuthenticationError as exc:
            raise MailFailed(
                f"{server.label} refused the login: {exc.smtp_code} {exc.smtp_error!r}",
                fix=f"check smtp_user and the password in {server.password_env}",
            ) from exc
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise MailFailed(f"{server.label} refused the addresses: {exc}", fix="check the recipients file") from exc
        except ssl.SSLError as exc:
            raise MailFailed(
                f"TLS with {server.label} failed: {exc}",
                fix="check the server certificate, or point smtp_ca_file at the CA that signed it",
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            if attempt == attempts:
                raise MailFailed(
                    f"sending to {server.label} failed after {attempt} attempts: {exc or type(exc).__name__}",
                    fix="check the server; the next run tries again",
                ) from exc
            sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
