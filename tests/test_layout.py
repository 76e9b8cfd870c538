"""The house keeps its shape: floors follow the data, a lower floor never imports a higher one.

base (tierhub) → connectors | quality → warehouse → reports | portal → flows. Prefect lives
in flows/ only. The test reads every import of every module (also those inside functions).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
FLOOR = {"tierhub": 0, "connectors": 1, "quality": 1, "warehouse": 2, "reports": 3, "portal": 3, "flows": 4}


def imports() -> dict[tuple[str, str], list[str]]:
    """(importing package, imported top-level name) → the modules that import it."""
    found: dict[tuple[str, str], list[str]] = {}
    for package in FLOOR:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top != package:
                        found.setdefault((package, top), []).append(str(path.relative_to(ROOT)))
    return found


def test_no_import_runs_up_a_floor() -> None:
    upward = {f"{a} -> {b}": modules for (a, b), modules in imports().items() if b in FLOOR and FLOOR[a] < FLOOR[b]}
    assert upward == {}


def test_packages_of_one_floor_do_not_import_each_other_both_ways() -> None:
    edges = {(a, b) for (a, b) in imports() if b in FLOOR}
    assert {(a, b) for (a, b) in edges if (b, a) in edges} == set()


def test_prefect_is_imported_only_by_the_flows() -> None:
    outside = {a: m for (a, b), m in imports().items() if b == "prefect" and a != "flows"}
    assert outside == {}


def test_every_package_is_on_a_floor() -> None:
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name not in ("tests", "bench")}
    assert packages == set(FLOOR)
