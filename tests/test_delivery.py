"""Delivery against real peers: receipts into outboxes, reports over OpenSSH sftp and aiosmtpd SMTP.

The SMTP server requires STARTTLS (a CA and server certificate made for the test) and a
login; the test reads the message and its workbook back.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import email
import email.policy
import io
import ipaddress
import shutil
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from connectors.config import FolderEndpoint, SourcesConfig
from connectors.mail import Recipients, SmtpServer
from connectors.outboxes import Outboxes
from flows.pipeline import sync_sources
from reports.delivery import deliver_email, deliver_sftp
from reports.receipts import send_receipts
from reports.run import WrittenReport, write_report
from tests.cases import BASE, SOURCE, TODAY
from tests.sshd import Sshd, free_port
from tests.test_history import write_export
from tests.test_marts import OTHER, WEEK_C, correction_history
from tierhub.reference import field_dictionary
from warehouse.marts import Expectations
from warehouse.queries import CITY
from warehouse.schema import open_warehouse

DISTRICT = SOURCE[:6] + "000000"
USER, PASSWORD = "tierhub", "s3cret-for-tests"


# ---------------------------------------------------------------- receipts


@pytest.fixture
def received(tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """A warehouse that took one export with a refused row and one unreadable file."""
    drops = tmp_path / "drops"
    outbox = drops / SOURCE[:6] / SOURCE
    write_export(outbox, f"失业登记_{SOURCE}_20261105.csv", [{**BASE, "mobile_phone": "1381234567"}, OTHER])
    (outbox / f"失业登记_{SOURCE}_20261106.csv").write_bytes(b"\x00\x01 not a table\n")
    con = open_warehouse(tmp_path / "warehouse.duckdb")
    sync_sources(con, drops, [SOURCE], today=TODAY, sleep=lambda _: None)
    return con, drops


def read_receipt(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("utf-8")
    assert text.startswith("\ufeff")  # Excel opens it as UTF-8
    return list(csv.reader(io.StringIO(text[1:])))


def test_every_file_gets_one_receipt_the_scanner_ignores(
    received: tuple[duckdb.DuckDBPyConnection, Path], tmp_path: Path
) -> None:
    con, drops = received
    run = send_receipts(con, Outboxes.folder(drops), CITY, tmp_path / "work")
    assert run.failed == [] and len(run.written) == 2
    files = {
        str(p): (str(h), int(n), int(q), str(s))
        for p, h, n, q, s in con.execute(
            "SELECT path, sha256, rows_in, rows_quarantined, status FROM ops.files"
        ).fetchall()
    }
    good = f"{SOURCE[:6]}/{SOURCE}/失业登记_{SOURCE}_20261105.csv"
    sha = files[good][0]
    receipt = drops / SOURCE[:6] / SOURCE / "receipts" / f"回执_失业登记_{SOURCE}_20261105.csv_{sha[:8]}.csv"
    rows = read_receipt(receipt)
    blank = rows.index([])
    fields = {r[0]: r[1] for r in rows[1:blank]}
    assert rows[0] == ["数据接收回执"]
    assert fields["文件名"] == f"失业登记_{SOURCE}_20261105.csv" and fields["SHA-256"] == sha
    assert (fields["收到行数"], fields["入库行数"], fields["退回（隔离）行数"]) == ("2", "1", "1")
    assert fields["处理结果"] == "已接收" and fields["执行标准版本"].startswith("JY02 ")
    assert fields["其中带提示入库行数"] == "0"
    assert rows[blank + 1] == ["行号", "数据项", "填报值", "问题", "修改方法"]
    assert rows[blank + 2][:3] == ["2", field_dictionary()["mobile_phone"].zh_header, "1381234567"]
    assert "1381234567" in rows[blank + 2][3] and rows[blank + 2][4]
    rejected = next(p for p in (receipt.parent).iterdir() if "20261106" in p.name)
    rejected_fields = dict((r[0], r[1]) for r in read_receipt(rejected)[1:12] if len(r) > 1)
    assert rejected_fields["处理结果"] == "整个文件未能读取，已拒收"

    # A file never gets two receipts, and the next sync neither loads nor refuses the receipts.
    assert send_receipts(con, Outboxes.folder(drops), CITY, tmp_path / "work").written == []
    again = sync_sources(con, drops, [SOURCE], today=TODAY, sleep=lambda _: None)
    assert (again.load.files, again.refusals) == (0, [])
    assert con.execute("SELECT count(*) FROM ops.receipts").fetchall() == [(2,)]


def sftp_outboxes(server: Sshd, tmp_path: Path, **overrides: object) -> Outboxes:
    """Outboxes whose district 120101 is the test's sshd."""
    config = SourcesConfig(
        default=FolderEndpoint(root=str(tmp_path / "unused")), districts={SOURCE[:6]: server.endpoint(**overrides)}
    )
    return Outboxes(config, tmp_path / "landing")


def test_receipts_reach_an_sftp_outbox(
    received: tuple[duckdb.DuckDBPyConnection, Path], sshd: Sshd, tmp_path: Path
) -> None:
    con, _ = received
    run = send_receipts(con, sftp_outboxes(sshd, tmp_path), SOURCE, tmp_path / "work")
    assert len(run.written) == 2
    landed = sorted(p.name for p in (sshd.root / SOURCE[:6] / SOURCE / "receipts").iterdir())
    assert len(landed) == 2 and all(name.startswith("回执_") for name in landed)  # no temporary names left


# ---------------------------------------------------------------- reports over SFTP


@pytest.fixture
def written(tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, WrittenReport]:
    """和平区's report for week C of the correction history (one row fixed)."""
    con = correction_history(tmp_path / "history")
    report = write_report(con, SOURCE[:6], WEEK_C, tmp_path / "reports", expectations=Expectations(("JY02",)))
    return con, report


def deliveries(con: duckdb.DuckDBPyConnection, channel: str) -> list[tuple[Any, ...]]:
    return con.execute(
        "SELECT status, attempts, forced, sent_at IS NOT NULL FROM ops.deliveries WHERE channel = ? "
        "ORDER BY delivery_id",
        [channel],
    ).fetchall()


def test_report_lands_in_the_district_outbox_once(
    written: tuple[duckdb.DuckDBPyConnection, WrittenReport], sshd: Sshd, tmp_path: Path
) -> None:
    con, report = written
    boxes = sftp_outboxes(sshd, tmp_path)
    first = deliver_sftp(con, boxes, DISTRICT, WEEK_C, report.files)
    assert (first.status, first.attempts) == ("sent", 1)
    folder = sshd.root / SOURCE[:6] / DISTRICT / "reports"
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in report.files)
    assert (folder / report.xlsx.name).read_bytes() == report.xlsx.read_bytes()
    assert deliver_sftp(con, boxes, DISTRICT, WEEK_C, report.files).status == "skipped"
    assert deliver_sftp(con, boxes, DISTRICT, WEEK_C, report.files, force=True).status == "sent"
    assert deliveries(con, "sftp") == [("sent", 1, False, True), ("sent", 1, True, True)]


def test_report_upload_is_retried_when_the_server_refuses(
    written: tuple[duckdb.DuckDBPyConnection, WrittenReport], sshd: Sshd, tmp_path: Path
) -> None:
    con, report = written
    sshd.stop()
    waits: list[float] = []

    def wait(seconds: float) -> None:  # the server comes back during the first backoff
        waits.append(seconds)
        sshd.start()

    boxes = sftp_outboxes(sshd, tmp_path, retries=0)
    result = deliver_sftp(con, boxes, DISTRICT, WEEK_C, report.files, attempts=3, backoff=0.5, sleep=wait)
    assert (result.status, result.attempts, waits) == ("sent", 2, [0.5])
    assert deliveries(con, "sftp") == [("sent", 2, False, True)]


# ---------------------------------------------------------------- reports by e-mail


def certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tierhub test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


class Inbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert session.authenticated and isinstance(envelope.content, bytes)
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself


class MailServer:
    """A real SMTP server on loopback: STARTTLS and a login required."""

    def __init__(self, folder: Path, port: int) -> None:
        self.ca, cert, key = certificates(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.inbox = Inbox()
        self.port = port
        self.controller = Controller(
            self.inbox,
            hostname="127.0.0.1",
            port=port,
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            authenticator=authenticate,
            loop=asyncio.new_event_loop(),
        )
        self.running = False

    def start(self) -> None:
        self.controller.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.controller.stop()
            self.running = False

    def client(self) -> SmtpServer:
        return SmtpServer(
            host="127.0.0.1", port=self.port, user=USER, sender="tierhub@hrss.example", ca_file=self.ca, timeout=10
        )


@pytest.fixture
def mail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    monkeypatch.setenv("TIERHUB_SMTP_PASSWORD", PASSWORD)
    folder = tmp_path / "smtp"
    folder.mkdir()
    server = MailServer(folder, free_port())
    yield server
    server.stop()


RECIPIENTS = Recipients(to=("zhiliang@hp.example",), cc=("ke@hp.example",))


def test_report_is_mailed_over_starttls_once(
    written: tuple[duckdb.DuckDBPyConnection, WrittenReport], mail: MailServer
) -> None:
    con, report = written
    mail.start()
    sent = deliver_email(con, mail.client(), RECIPIENTS, report.report, report.files)
    assert (sent.status, sent.attempts, sent.error) == ("sent", 1, None)
    [(sender, rcpt, raw)] = mail.inbox.messages
    assert sender == "tierhub@hrss.example" and rcpt == ["zhiliang@hp.example", "ke@hp.example"]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == f"【数据质量】和平区 {WEEK_C.label} 报送数据质量报告"
    body = message.get_body(("plain",))
    assert body is not None and "本期已改正 1 行" in body.get_content()
    attachments = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    assert set(attachments) == {report.xlsx.name, report.html.name}
    book = openpyxl.load_workbook(io.BytesIO(attachments[report.xlsx.name]))
    assert book.sheetnames[0] == "汇总"
    street = book["劝业场街道"]
    assert (street.cell(2, 1).value, street.cell(2, 8).value) == ("已改正", "138123")

    # Not twice for the same period, unless forced.
    assert deliver_email(con, mail.client(), RECIPIENTS, report.report, report.files).status == "skipped"
    assert len(mail.inbox.messages) == 1
    assert deliver_email(con, mail.client(), RECIPIENTS, report.report, report.files, force=True).status == "sent"
    assert len(mail.inbox.messages) == 2
    assert deliveries(con, "email") == [("sent", 1, False, True), ("sent", 1, True, True)]


def test_mail_is_retried_when_the_connection_is_refused(
    written: tuple[duckdb.DuckDBPyConnection, WrittenReport], mail: MailServer
) -> None:
    con, report = written
    waits: list[float] = []

    def wait(seconds: float) -> None:  # nothing listens at first; the server starts during the backoff
        waits.append(seconds)
        if not mail.running:
            mail.start()

    sent = deliver_email(con, mail.client(), RECIPIENTS, report.report, report.files, backoff=0.25, sleep=wait)
    assert (sent.status, sent.attempts, waits) == ("sent", 2, [0.25])
    assert len(mail.inbox.messages) == 1


def test_a_failed_delivery_is_logged_and_tried_again(
    written: tuple[duckdb.DuckDBPyConnection, WrittenReport], mail: MailServer
) -> None:
    con, report = written
    client = mail.client()
    failed = deliver_email(con, client, RECIPIENTS, report.report, report.files, attempts=2, sleep=lambda _: None)
    assert failed.status == "failed" and "after 2 attempts" in (failed.error or "")
    mail.start()
    assert deliver_email(con, mail.client(), RECIPIENTS, report.report, report.files).status == "sent"
    assert [row[0] for row in deliveries(con, "email")] == ["failed", "sent"]


def test_a_wrong_password_is_not_retried(
    written: tuple[duckdb.DuckDBPyConnection, WrittenReport], mail: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    con, report = written
    mail.start()
    monkeypatch.setenv("TIERHUB_SMTP_PASSWORD", "wrong")
    waits: list[float] = []
    failed = deliver_email(con, mail.client(), RECIPIENTS, report.report, report.files, sleep=waits.append)
    assert failed.status == "failed" and "refused the login" in (failed.error or "") and waits == []
    assert mail.inbox.messages == []


# ---------------------------------------------------------------- the flow


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_flow_writes_and_delivers_each_district(
    written: tuple[duckdb.DuckDBPyConnection, WrittenReport], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.reports import send_quality_reports

    con, _ = written
    warehouse = tmp_path / "flow.duckdb"
    con.close()
    shutil.copy(tmp_path / "history" / "warehouse.duckdb", warehouse)
    monkeypatch.setenv("TIERHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TIERHUB_DROPS_ROOT", str(tmp_path / "outboxes"))
    monkeypatch.setenv("TIERHUB_REPORT_STREET_ITEMS", '["JY02"]')
    kwargs: dict[str, Any] = {"districts": ["120101"], "start": WEEK_C.start, "end": WEEK_C.end}
    outcomes = send_quality_reports(warehouse=str(warehouse), out_dir=str(tmp_path / "out"), **kwargs)
    assert [(o.district_code, o.period, o.deliveries) for o in outcomes] == [
        (DISTRICT, WEEK_C.label, [("sftp", "sent", 1, None)])  # no SMTP configured: the outbox only
    ]
    assert (tmp_path / "outboxes" / SOURCE[:6] / DISTRICT / "reports" / Path(outcomes[0].xlsx).name).exists()
    again = send_quality_reports(warehouse=str(warehouse), out_dir=str(tmp_path / "out"), **kwargs)
    assert again[0].deliveries == [("sftp", "skipped", 0, None)]
