"""SFTP outboxes against a real OpenSSH sshd: verification, refusal, resilience, incrementality."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import zipfile
from pathlib import Path

import duckdb
import pytest

from connectors.config import SourcesConfig, load_sources
from connectors.outboxes import Outboxes
from connectors.safety import refuse_name
from connectors.sftp import MAX_READ_BYTES, SAFE_READ_BYTES, SftpOutbox, connect, read_pipelined, server_read_limit
from flows.pipeline import sync_sources
from tests.sshd import Sshd, keygen
from tierhub.errors import AuthenticationRefused, ConfigError, HostKeyRejected
from tierhub.synth.city import GeneratedCity
from warehouse.schema import open_warehouse

pytestmark = pytest.mark.slow  # starts a real OpenSSH sshd per test

SOURCE = "120101001000"
CSV = f"失业登记_{SOURCE}_20261101.csv"


def outbox(server: Sshd, source: str = SOURCE) -> Path:
    folder = server.root / source[:6] / source
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def copy_exports(city: GeneratedCity, server: Sshd, source: str = SOURCE) -> list[Path]:
    target = outbox(server, source)
    copied = []
    for path in sorted((city.drops / source[:6] / source).iterdir()):
        (target / path.name).write_bytes(path.read_bytes())
        old = time.time() - 600  # written ten minutes ago: settled
        os.utime(target / path.name, (old, old))
        copied.append(target / path.name)
    return copied


def boxes_for(server: Sshd, landing: Path, **overrides: object) -> Outboxes:
    endpoint = server.endpoint(**overrides)
    return Outboxes(SourcesConfig(default=endpoint, districts={SOURCE[:6]: endpoint}), landing)


def facts(con: duckdb.DuckDBPyConnection) -> int:
    [(n,)] = con.execute(
        "SELECT (SELECT count(*) FROM core.unemployment_registration) + (SELECT count(*) FROM "
        "core.resident_pension_enrolment) + (SELECT count(*) FROM core.ss_card_application)"
    ).fetchall()
    return int(n)


def test_sync_over_sftp_then_nothing_on_the_second_run(city: GeneratedCity, sshd: Sshd, tmp_path: Path) -> None:
    copied = copy_exports(city, sshd)
    con = open_warehouse(tmp_path / "w.duckdb")
    boxes = boxes_for(sshd, tmp_path / "landing")
    first = sync_sources(con, boxes, [SOURCE])
    assert first.load.files == len(copied) and first.load.rows_in > 0 and not first.unreachable
    landed = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "landing").rglob("*.*")}
    assert landed == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in copied}
    second = sync_sources(con, boxes, [SOURCE])
    assert (second.load.files, second.load.rows_in, second.unchanged_files) == (0, 0, len(copied))
    # Changed in place: a new version. Deleted remotely: the warehouse keeps its data.
    rows_before = facts(con)
    changed = copied[0]
    changed.write_bytes(changed.read_bytes() + (b"\r\n" if changed.suffix == ".csv" else b""))
    os.utime(changed, (time.time() - 300, time.time() - 300))
    for path in copied[1:]:
        path.unlink()
    third = sync_sources(con, boxes, [SOURCE])
    assert third.load.files == (1 if changed.suffix == ".csv" else 0)
    assert facts(con) >= rows_before
    boxes.close()


def test_unknown_and_changed_host_keys_are_refused(sshd: Sshd, tmp_path: Path) -> None:
    (tmp_path / "empty_known_hosts").write_text("")
    with pytest.raises(HostKeyRejected, match="unknown host key"):
        SftpOutbox(sshd.endpoint(known_hosts=str(tmp_path / "empty_known_hosts")), tmp_path).scan(SOURCE)
    keygen(tmp_path / "impostor")
    kind, key = (tmp_path / "impostor.pub").read_text().split()[:2]
    (tmp_path / "changed").write_text(f"[127.0.0.1]:{sshd.port} {kind} {key}\n")
    with pytest.raises(HostKeyRejected, match="CHANGED"):
        SftpOutbox(sshd.endpoint(known_hosts=str(tmp_path / "changed")), tmp_path).scan(SOURCE)


def test_refused_authentication(sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keygen(tmp_path / "stranger")
    monkeypatch.setenv("TIERHUB_TEST_SFTP_KEY", str(tmp_path / "stranger"))
    with pytest.raises(AuthenticationRefused, match="refused tierhub's key"):
        SftpOutbox(sshd.endpoint(), tmp_path).scan(SOURCE)


def test_an_unreachable_source_does_not_stop_the_others(city: GeneratedCity, sshd: Sshd, tmp_path: Path) -> None:
    copy_exports(city, sshd)
    (tmp_path / "empty").write_text("")
    other = "120117001000"
    bad = sshd.endpoint(known_hosts=str(tmp_path / "empty"), retries=0)
    config = SourcesConfig(default=sshd.endpoint(), districts={SOURCE[:6]: sshd.endpoint(), other[:6]: bad})
    con = open_warehouse(tmp_path / "w.duckdb")
    outcome = sync_sources(con, Outboxes(config, tmp_path / "landing"), [SOURCE, other])
    assert outcome.load.files > 0
    [(source, error)] = outcome.unreachable
    assert source == other and "unknown host key" in error


def test_server_killed_mid_transfer_then_back_lands_the_file_once(sshd: Sshd, tmp_path: Path) -> None:
    big = outbox(sshd) / f"失业登记_{SOURCE}_20261102.csv"
    big.write_bytes(os.urandom(64 * 1024 * 1024))
    old = time.time() - 600
    os.utime(big, (old, old))
    box = SftpOutbox(sshd.endpoint(prefetch_requests=4), tmp_path / "landing", backoff=0.5)
    [listing], _, _ = box.scan(SOURCE)
    box.close()
    restarted: list[threading.Thread] = []

    def kill_once_mid_transfer(_: object, received: int) -> None:
        if not restarted and received >= 8 * 1024 * 1024:
            sshd.stop()  # the server dies with 56 MB still to come
            restarted.append(threading.Thread(target=lambda: (time.sleep(1.0), sshd.start())))
            restarted[0].start()

    box = SftpOutbox(
        sshd.endpoint(prefetch_requests=4), tmp_path / "landing", backoff=0.5, on_progress=kill_once_mid_transfer
    )
    record = box.fetch(listing)
    restarted[0].join()
    box.close()
    assert record.sha256 == hashlib.sha256(big.read_bytes()).hexdigest()
    assert [p.name for p in (tmp_path / "landing").rglob("*") if p.is_file()] == [big.name]
    assert box.connections_opened >= 2  # the first connection died with the server


def test_refusals_are_reported_with_reasons(sshd: Sshd, tmp_path: Path) -> None:
    folder = outbox(sshd)
    with (folder / f"失业登记_{SOURCE}_20261103.csv").open("wb") as handle:
        handle.truncate(1024**3)  # a sparse 1 GB file
    os.symlink("loop.csv", folder / "loop.csv")
    os.symlink("/etc/passwd", folder / f"失业登记_{SOURCE}_20261104.csv")
    (folder / "notes.docx").write_bytes(b"x")
    listings, refusals, _ = SftpOutbox(sshd.endpoint(), tmp_path).scan(SOURCE)
    assert listings == []
    reasons = {r.path.rsplit("/", 1)[1]: r.reason for r in refusals}
    assert "over the" in reasons[f"失业登记_{SOURCE}_20261103.csv"]
    assert "symbolic link" in reasons["loop.csv"]
    assert "symbolic link" in reasons[f"失业登记_{SOURCE}_20261104.csv"]
    assert "not an export format" in reasons["notes.docx"]


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/etc/passwd", "..", "a\\..\\b.csv", "x\x00.csv", ".hidden.csv", "evil\n.csv"]
)
def test_unsafe_remote_names_are_refused(name: str) -> None:
    assert refuse_name(name) is not None


def test_bad_files_are_rejected_with_their_error_and_load_nothing(sshd: Sshd, tmp_path: Path) -> None:
    folder = outbox(sshd)
    bomb = folder / f"失业登记_{SOURCE}_20261105.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (64 * 1024 * 1024))
    (folder / f"失业登记_{SOURCE}_20261106.xlsx").write_bytes(b"PK\x03\x04" + os.urandom(2000))  # truncated
    (folder / f"失业登记_{SOURCE}_20261107.csv").write_bytes(b"")
    (folder / f"失业登记_{SOURCE}_20261108.csv").write_bytes(os.urandom(4096) + b"\0")
    (folder / f"失业登记_{SOURCE}_20261109.csv").write_text("甲,乙\n1,2\n", encoding="utf-8")
    (folder / f"失业登记_{SOURCE}_20261110.csv").write_bytes("姓名,身份证号\n张三,1\n".encode("gbk"))
    old = time.time() - 600
    for path in folder.iterdir():
        os.utime(path, (old, old))
    endpoint = sshd.endpoint()
    config = SourcesConfig(
        default=endpoint,
        districts={SOURCE[:6]: endpoint},
        sources={SOURCE: {"encoding": "utf-8"}},  # declared wrongly for the GBK file
    )
    con = open_warehouse(tmp_path / "w.duckdb")
    outcome = sync_sources(con, Outboxes(config, tmp_path / "landing"), [SOURCE])
    errors = {e.path.rsplit("_", 1)[1]: e.error or "" for e in outcome.entries}
    assert all(e.status == "rejected" for e in outcome.entries) and len(errors) == 6
    assert "zip bomb" in errors["20261105.xlsx"]
    assert "not a readable Excel workbook" in errors["20261106.xlsx"]
    assert "empty" in errors["20261107.csv"]
    assert "binary" in errors["20261108.csv"]
    assert "no header row" in errors["20261109.csv"]
    assert "cannot decode as utf-8" in errors["20261110.csv"]
    assert all(SOURCE in e and "失业登记" in e for e in errors.values())
    assert facts(con) == 0
    [(quarantined,)] = con.execute("SELECT count(*) FROM quarantine.rows").fetchall()
    assert quarantined == 0


def test_files_being_written_wait_for_the_next_sync(city: GeneratedCity, sshd: Sshd, tmp_path: Path) -> None:
    [first, *_] = copy_exports(city, sshd)
    os.utime(first, None)  # just written
    con = open_warehouse(tmp_path / "w.duckdb")
    # The test's sleep does not wait, so a long settle window costs nothing — and keeps the file
    # "recently modified" however slowly a loaded machine gets from here to the listing.
    boxes = boxes_for(sshd, tmp_path / "landing", settle_seconds=60)

    def writer_still_appending(_: float) -> None:
        with first.open("ab") as handle:
            handle.write(b"\r\n")

    outcome = sync_sources(con, boxes, [SOURCE], sleep=writer_still_appending)
    assert [w.name for w in outcome.waiting] == [first.name]
    assert first.name not in {Path(e.path).name for e in outcome.entries}
    later = sync_sources(con, boxes, [SOURCE], sleep=lambda _: None)
    assert [Path(e.path).name for e in later.entries] == [first.name]


def test_done_marker_mode(city: GeneratedCity, sshd: Sshd, tmp_path: Path) -> None:
    copied = copy_exports(city, sshd)
    (copied[0].parent / (copied[0].name + ".done")).write_text("")
    con = open_warehouse(tmp_path / "w.duckdb")
    outcome = sync_sources(con, boxes_for(sshd, tmp_path / "landing", stable="done_marker"), [SOURCE])
    assert [Path(e.path).name for e in outcome.entries] == [copied[0].name]
    assert len(outcome.waiting) == len(copied) - 1


def test_upload_is_atomic_and_lands_in_the_outbox(sshd: Sshd, tmp_path: Path) -> None:
    receipt = tmp_path / "回执_120101001000_20261127.csv"
    receipt.write_text("文件,状态\nx.csv,已接收\n", encoding="utf-8")
    box = SftpOutbox(sshd.endpoint(), tmp_path)
    path = box.upload(receipt, "120101001001")
    box.close()
    served = sshd.root / path
    assert served.read_bytes() == receipt.read_bytes()
    assert [p.name for p in served.parent.iterdir()] == [receipt.name]


def test_pipelined_reads_follow_short_reads_and_stop_at_the_end(sshd: Sshd) -> None:
    content = os.urandom(3 * 1024 * 1024 + 12_345)
    (sshd.root / "big.csv").write_bytes(content)
    sftp = connect(sshd.endpoint())
    try:
        limit = server_read_limit(sftp)  # OpenSSH ≥ 8.6 states 255 KiB in limits@openssh.com
        assert SAFE_READ_BYTES < limit <= MAX_READ_BYTES
        with sftp.open(str(sshd.root / "big.csv"), "rb") as remote:
            handle = remote.handle
            # 1 MiB requests: the server answers each with 255 KiB, the rest is asked for again.
            chunks = list(read_pipelined(sftp, handle, len(content), request_bytes=1024 * 1024, in_flight=3))
            assert b"".join(chunks) == content and max(map(len, chunks)) <= limit
            # The file is shorter than asked (it shrank after listing): the bytes there, then stop.
            shorter = list(read_pipelined(sftp, handle, len(content) + 10**6, request_bytes=limit, in_flight=8))
            assert b"".join(shorter) == content
        assert sftp.stat(str(sshd.root / "big.csv")).st_size == len(content)  # the session is still usable
    finally:
        sftp.close()


def test_big_file_lands_verified_with_large_requests(sshd: Sshd, tmp_path: Path) -> None:
    content = os.urandom(20 * 1024 * 1024 + 1)
    path = outbox(sshd) / f"失业登记_{SOURCE}_20261111.csv"
    path.write_bytes(content)
    os.utime(path, (time.time() - 600, time.time() - 600))
    box = SftpOutbox(sshd.endpoint(), tmp_path / "landing")
    [listing], _, _ = box.scan(SOURCE)
    record = box.fetch(listing)
    box.close()
    assert record.sha256 == hashlib.sha256(content).hexdigest() and record.local_path.read_bytes() == content


@pytest.mark.parametrize(
    ("kind", "passphrase", "extra"),
    [("ed25519", "", ()), ("ecdsa", "口令 2026", ()), ("rsa", "pass-phrase", ("-b", "2048", "-m", "PEM"))],
    ids=["ed25519-openssh", "ecdsa-openssh-passphrase", "rsa-pem-passphrase"],
)
def test_key_from_a_prefect_secret_block(
    prefect_harness: None,
    sshd: Sshd,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    passphrase: str,
    extra: tuple[str, ...],
) -> None:
    from prefect.blocks.system import Secret

    keygen(tmp_path / "block_key", kind, passphrase, *extra)
    sshd.authorize(tmp_path / "block_key.pub")
    key_text = (tmp_path / "block_key").read_text()
    block = f"sftp-key-{kind}"
    Secret(value=key_text).save(block, overwrite=True)
    overrides: dict[str, object] = {"key_block": block}
    if passphrase:
        Secret(value=passphrase).save(f"{block}-passphrase", overwrite=True)
        overrides["passphrase_block"] = f"{block}-passphrase"
    # No key file anywhere the endpoint could find: the env var is gone and the file deleted.
    monkeypatch.delenv("TIERHUB_TEST_SFTP_KEY")
    (tmp_path / "block_key").unlink()
    (outbox(sshd) / CSV).write_text("姓名,身份证号\n张三,1\n", encoding="utf-8")
    os.utime(outbox(sshd) / CSV, (time.time() - 600, time.time() - 600))
    box = SftpOutbox(sshd.endpoint(key_env=None, **overrides), tmp_path / "landing")
    [listing], _, _ = box.scan(SOURCE)
    record = box.fetch(listing)
    box.close()
    assert record.local_path.read_bytes() == (outbox(sshd) / CSV).read_bytes()
    # The key was used from memory: no file under the test's folder holds its text.
    secret_part = "".join(key_text.splitlines()[1:-1])[-80:-40]  # the private half (the public is in clear)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and secret_part in p.read_text("latin-1")]


def test_a_missing_secret_block_names_endpoint_and_block(prefect_harness: None, sshd: Sshd, tmp_path: Path) -> None:
    box = SftpOutbox(sshd.endpoint(key_env=None, key_block="sftp-key-nowhere"), tmp_path)
    with pytest.raises(ConfigError) as caught:
        box.scan(SOURCE)
    message = str(caught.value)
    assert "'sftp-key-nowhere'" in message and f"sftp://root@127.0.0.1:{sshd.port}" in message
    assert "no Prefect Secret block" in message


def test_a_secret_block_without_a_key_is_refused_without_showing_it(
    prefect_harness: None, sshd: Sshd, tmp_path: Path
) -> None:
    from prefect.blocks.system import Secret

    Secret(value="not-a-key-but-secret-all-the-same").save("sftp-key-garbled", overwrite=True)
    with pytest.raises(ConfigError, match="does not hold a usable private key") as caught:
        SftpOutbox(sshd.endpoint(key_env=None, key_block="sftp-key-garbled"), tmp_path).scan(SOURCE)
    assert "secret-all-the-same" not in str(caught.value)


def test_key_env_and_key_block_are_either_or(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        'districts:\n  "120101": {kind: sftp, host: h, user: u, key_env: K, key_block: b, known_hosts: k}\n'
    )
    with pytest.raises(ConfigError, match="set key_env or key_block, not both"):
        load_sources(sources)
