"""Fuzzing the readers: random bytes, truncated samples and mutated workbooks refuse their file only.

Every input goes through ``read_guarded`` — what a sync uses to open a file — and is read to
its last batch. Each must end in rows or in a ``TierhubError`` subclass whose message names
the file and says why; never another exception, and never longer than a bound per file.
The generator is seeded: a failure names the input number that reproduces it.
"""

from __future__ import annotations

import io
import random
import time
import zipfile
from pathlib import Path

import pytest

from connectors.files import read_guarded
from tierhub.errors import TierhubError

SAMPLES = Path(__file__).parent.parent / "samples"
SECONDS_PER_FILE = 5.0


def _mutate_zip(rng: random.Random, data: bytes) -> bytes:
    """A workbook whose members are flipped, cut or dropped, re-zipped so the container stays valid."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            member = bytearray(source.read(info))
            if member and rng.random() < 0.5:
                for _ in range(rng.randint(1, 8)):
                    member[rng.randrange(len(member))] = rng.randrange(256)
            if rng.random() < 0.2:
                member = member[: rng.randrange(len(member) + 1)]
            if rng.random() < 0.05:
                continue
            target.writestr(info.filename, bytes(member))
    return out.getvalue()


def fuzz_input(rng: random.Random, samples: list[Path]) -> tuple[str, bytes]:
    """One input: (extension, bytes) — random, truncated, bit-flipped, or a mutated zip."""
    sample = rng.choice(samples)
    data = sample.read_bytes()
    kind = rng.randrange(5)
    if kind == 0:
        return rng.choice([".csv", ".xlsx", ".xls"]), rng.randbytes(rng.randrange(4096))
    if kind == 1:
        return sample.suffix, data[: rng.randrange(len(data) + 1)]
    if kind == 2 and sample.suffix == ".xlsx":
        return sample.suffix, _mutate_zip(rng, data)
    if kind == 3 and sample.suffix == ".xlsx":  # the zip container itself damaged
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        return sample.suffix, bytes(flipped)
    mutated = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        if mutated:
            at = rng.randrange(len(mutated))
            mutated[at : at + 1] = rng.choice([b"", b'"', b",", b"\n", b"\r", b"\x00", bytes([rng.randrange(256)])])
    return sample.suffix, bytes(mutated)


def fuzz_readers(tmp_path: Path, count: int, seed: int) -> dict[str, int]:
    """Read ``count`` fuzzed inputs; the count of each outcome (rows, or the error's class)."""
    samples = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".csv", ".xlsx"))
    rng = random.Random(seed)
    outcomes: dict[str, int] = {}
    for number in range(count):
        suffix, data = fuzz_input(rng, samples)
        path = tmp_path / f"失业登记_120101001000_20261127_{number % 20}{suffix}"
        path.write_bytes(data)
        started = time.monotonic()
        try:
            read = read_guarded(path, path.name, "120101001000", 100, None)
            for _ in read.batches:
                pass
            outcome = "rows"
        except TierhubError as exc:
            assert path.name in str(exc) and exc.problem, f"input {number} (seed {seed}): {exc}"
            outcome = type(exc).__name__
        except Exception as exc:  # pragma: no cover - what this test exists to catch
            (tmp_path / f"failing-{number}{suffix}").write_bytes(data)
            raise AssertionError(f"input {number} (seed {seed}) raised {type(exc).__name__}: {exc}") from exc
        seconds = time.monotonic() - started
        assert seconds < SECONDS_PER_FILE, f"input {number} (seed {seed}) took {seconds:.1f} s"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def test_fuzzed_inputs_each_refuse_only_their_file(tmp_path: Path) -> None:
    outcomes = fuzz_readers(tmp_path, 500, seed=16)
    assert sum(outcomes.values()) == 500
    assert outcomes.get("UnreadableFile", 0) > 100  # the fuzzer reaches the error paths


@pytest.mark.slow
def test_5000_fuzzed_inputs_each_refuse_only_their_file(tmp_path: Path) -> None:
    outcomes = fuzz_readers(tmp_path, 5_000, seed=2027)
    assert sum(outcomes.values()) == 5_000
    assert outcomes.get("rows", 0) > 0 and outcomes.get("HeaderMismatch", 0) > 0
