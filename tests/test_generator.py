"""The synthetic city: deterministic, realistic, and honest about its defects."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from pathlib import Path

from connectors.readers import detect_encoding
from quality.checkdigits import id_check_character
from tierhub.synth.city import FILES, GeneratedCity, generate_city, read_manifest
from tierhub.synth.defects import DEFECTS

NAME = re.compile(r"(失业登记|城乡居民养老保险参保登记|社会保障卡申领)_(\d{12})_(\d{8})\.(csv|xlsx)")


def digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    day = dt.date(2026, 11, 27)
    a = generate_city(tmp_path / "a", scale="demo", seed=3, as_of=day)
    b = generate_city(tmp_path / "b", scale="demo", seed=3, as_of=day)
    assert a.files > 500
    assert digest(a.root) == digest(b.root)


def test_file_names_and_sources(city: GeneratedCity) -> None:
    for path in city.drops.rglob("*.*"):
        match = NAME.fullmatch(path.name)
        assert match, path.name
        assert path.parent.name == match[2] and path.parent.parent.name == match[2][:6]


def test_every_defect_kind_is_injected(city: GeneratedCity) -> None:
    kinds = {d.kind for d in read_manifest(city.root)}
    assert kinds == {d.kind for d in DEFECTS}


def test_formats_and_encodings_are_mixed(city: GeneratedCity) -> None:
    with (city.root / FILES).open(encoding="utf-8") as handle:
        seen = {(r["format"], r["encoding"]) for r in csv.DictReader(handle)}
    assert seen == {("csv", "utf-8"), ("csv", "utf-8-sig"), ("csv", "gbk"), ("xlsx", "")}


def test_clean_ids_are_valid_and_include_former_counties(city: GeneratedCity) -> None:
    defective = {(d.file, d.row_number) for d in read_manifest(city.root)}
    ids: list[str] = []
    for path in city.drops.rglob("*.csv"):
        encoding = detect_encoding(path.read_bytes())
        with path.open(encoding=encoding, newline="") as handle:
            rows = list(csv.reader(handle))
        column = next(
            i
            for i, h in enumerate(rows[0])
            if h in ("公民身份号码", "身份证号", "身份证号码", "证件号码", "社会保障号码", "个人社保号")
        )
        relative = path.relative_to(city.drops).as_posix()
        ids += [r[column].upper() for n, r in enumerate(rows[1:], start=2) if (relative, n) not in defective]
    assert ids and all(i[17] == id_check_character(i[:17]) for i in ids)
    assert any(i.startswith("120221") for i in ids)  # former 宁河县 on older residents
