"""Wrong settings fail at once, with one line naming the file, the line and the fix.

A typo in the sources file, an unknown item or division code on the command line, a missing
warehouse key: none of them is transient, so none may be ignored, retried or left to run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.config import load_sources
from tierhub.errors import ConfigError

SOURCES = """\
default:
  kind: folder
  root: /srv/drops
{districts}:
  "120101":
    kind: sftp
    {host}: sftp.hp.example
    user: tierhub
    key_env: TIERHUB_SFTP_KEY
    known_hosts: /etc/tierhub/known_hosts
    root: /srv/outbox
sources:
  "120101001001": {{{encoding}: gbk}}
"""


def write(tmp_path: Path, districts: str = "districts", host: str = "host", encoding: str = "encoding") -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES.format(districts=districts, host=host, encoding=encoding), encoding="utf-8")
    return path


def test_the_sample_sources_file_loads(tmp_path: Path) -> None:
    config = load_sources(write(tmp_path))
    assert config.endpoint_for("120101001001").kind == "sftp"


def test_misspelt_districts_key_names_file_line_and_district(tmp_path: Path) -> None:
    path = write(tmp_path, districts="distrcts")
    with pytest.raises(ConfigError) as caught:
        load_sources(path)
    message = str(caught.value)
    assert f"{path}:4" in message and "'distrcts'" in message and "120101" in message
    assert "did you mean 'districts'" in message


def test_misspelt_endpoint_key_names_its_line_and_district(tmp_path: Path) -> None:
    path = write(tmp_path, host="hots")
    with pytest.raises(ConfigError) as caught:
        load_sources(path)
    message = str(caught.value)
    assert f"{path}:7" in message and "districts.120101.hots (line 7)" in message


def test_misspelt_source_override_names_its_line_and_source(tmp_path: Path) -> None:
    path = write(tmp_path, encoding="encodng")
    with pytest.raises(ConfigError) as caught:
        load_sources(path)
    assert f"{path}:13" in str(caught.value) and "sources.120101001001.encodng" in str(caught.value)


def test_unknown_district_code_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace('"120101"', '"120199"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources.yaml:5: district 120199 \(line 5\) is not a Tianjin district"):
        load_sources(path)


def test_broken_yaml_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("default:\n  kind: folder\n  root: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources.yaml:\d+: not valid YAML"):
        load_sources(path)
