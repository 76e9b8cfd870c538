"""Tests that need a system program skip with what to install, and CI refuses such skips."""

from __future__ import annotations

import pytest

from tests import system


@pytest.fixture
def missing(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(system.PROGRAMS, "no-such-sshd", ("/nonexistent/sbin/no-such-sshd", "openssh-server"))
    return "no-such-sshd"


def test_an_absent_program_skips_naming_the_package(missing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(system.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install openssh-server"):
        system.require_program(missing)


def test_ci_turns_the_skip_into_a_failure(missing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(system.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="may not be skipped"):
        system.require_program(missing)


def test_ci_sets_the_switch() -> None:
    from pathlib import Path

    run = (Path(__file__).parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    assert f"export {system.REQUIRE_ENV}=1" in run
