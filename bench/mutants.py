"""A small AST mutation tester: mutate one module, run a bounded test selection, list survivors.

mutmut 3 is the usual tool; this layout (seven top-level packages, a session-wide conftest that
imports the pipeline, 2 shared cores) made its whole-suite stats pass too slow for the time
this pass had (docs/decisions/0018-mutation-testing.md). Each mutant is one AST edit, written
into a private copy of the checkout; the selected tests run there with ``-x`` and a timeout.

    uv run python bench/mutants.py portal/masking.py tests/test_masking.py --workers 2

``--in-process`` runs every mutant's tests in this one process (pytest.main after dropping the
project's modules from ``sys.modules``): on a shared machine a fresh interpreter per mutant
spent more time importing than testing. ``--only 75-126,3`` takes numbers and ranges;
``--list`` prints the mutants without running any.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tierhub", "connectors", "quality", "warehouse", "reports", "portal", "flows", "tests")
COPIED = ("tierhub", "connectors", "quality", "warehouse", "reports", "portal", "flows", "tests", "pyproject.toml")
SWAP_COMPARE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
SWAP_BINOP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult,
    ast.Mod: ast.Mult,
}


@dataclass
class Mutant:
    number: int
    line: int
    what: str
    source: str


def _docstrings(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _in_fstring(tree: ast.AST) -> set[int]:
    return {id(c) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for c in ast.walk(node)}


def _edits(node: ast.AST, skip: set[int], function_args: dict[int, str]) -> Iterator[tuple[str, ast.AST]]:
    """(description, replacement node) for every mutation of ``node``."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in SWAP_COMPARE:
                new = copy.deepcopy(node)
                new.ops[i] = SWAP_COMPARE[type(op)]()
                yield f"{type(op).__name__} -> {type(new.ops[i]).__name__}", new
    elif isinstance(node, ast.BoolOp):
        new = copy.deepcopy(node)
        new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield f"{type(node.op).__name__} -> {type(new.op).__name__}", new
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "drop not", copy.deepcopy(node.operand)
    elif isinstance(node, ast.BinOp) and type(node.op) in SWAP_BINOP:
        new = copy.deepcopy(node)
        new.op = SWAP_BINOP[type(node.op)]()
        yield f"{type(node.op).__name__} -> {type(new.op).__name__}", new
    elif isinstance(node, ast.Constant) and id(node) not in skip:
        if isinstance(node.value, bool):
            yield f"{node.value} -> {not node.value}", ast.Constant(not node.value)
        elif isinstance(node.value, int):
            yield f"{node.value} -> {node.value + 1}", ast.Constant(node.value + 1)
        elif isinstance(node.value, str) and node.value:
            yield f"{node.value[:20]!r} -> 'XX…XX'", ast.Constant(f"XX{node.value}XX")
    elif isinstance(node, ast.Return) and node.value is not None:
        arg = function_args.get(id(node))
        if arg and not (isinstance(node.value, ast.Name) and node.value.id == arg):
            yield f"return {arg} (its input)", ast.Return(ast.Name(arg, ast.Load()))
        if not (isinstance(node.value, ast.Constant) and node.value.value is None):
            yield "return None", ast.Return(ast.Constant(None))


def mutants(path: Path) -> list[Mutant]:
    """Every single-edit mutant of the module at ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree) | _in_fstring(tree)
    function_args: dict[int, str] = {}
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef) and fn.args.args:
            first = fn.args.args[0].arg
            if first not in ("self", "cls"):
                for ret in ast.walk(fn):
                    if isinstance(ret, ast.Return):
                        function_args.setdefault(id(ret), first)
    found: list[Mutant] = []
    targets = [n for n in ast.walk(tree) if not isinstance(n, ast.expr_context)]
    for index, target in enumerate(targets):
        for what, replacement in _edits(target, skip, function_args):
            mutated = copy.deepcopy(tree)
            victim = [n for n in ast.walk(mutated) if not isinstance(n, ast.expr_context)][index]
            _replace(mutated, victim, replacement)
            found.append(Mutant(len(found), getattr(target, "lineno", 0), what, ast.unparse(mutated)))
    return found


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, name, new)
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        value[i] = new
                        return


def make_copy() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="tierhub-mutants-"))
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, folder / name)
    return folder


def run_tests(folder: Path, tests: list[str], timeout: float) -> str:
    # One process per mutant run (no pytest-xdist workers): mutants are the parallel unit here.
    command = [sys.executable, "-m", "pytest", *tests, "-x", "-q", "-p", "no:cacheprovider", "-n", "0"]
    command += ["-m", "not slow", *EXTRA]
    try:
        done = subprocess.run(command, cwd=folder, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "killed (timeout)"
    return "survived" if done.returncode == 0 else "killed"


def run_in_process(folder: Path, tests: list[str], timeout: float) -> str:
    """Like ``run_tests``, in this process: the project's modules are imported afresh from ``folder``."""
    import pytest

    for name in list(sys.modules):
        if name.split(".")[0] in (*PACKAGES, "conftest"):
            del sys.modules[name]
    if sys.path[0] != str(folder):
        sys.path.insert(0, str(folder))
    here = Path.cwd()
    os.chdir(folder)
    try:
        limit = ["-o", f"timeout={timeout:.0f}"]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = pytest.main(
                [*tests, "-x", "-q", "-p", "no:cacheprovider", "-n", "0", "-m", "not slow", *limit, *EXTRA]
            )
    finally:
        os.chdir(here)
    return "survived" if code == 0 else "killed"


EXTRA: list[str] = []  # pytest options from the command line (--noconftest)


def parse_numbers(text: str) -> set[int]:
    """``"3,75-78"`` → {3, 75, 76, 77, 78}."""
    wanted: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        wanted.update(range(int(first), int(last or first) + 1))
    return wanted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module")
    parser.add_argument("tests", nargs="+")
    parser.add_argument("--workers", type=int, default=1, help="parallel copies (1 on a shared machine)")
    parser.add_argument("--in-process", action="store_true", help="one interpreter for every mutant (one worker)")
    parser.add_argument("--noconftest", action="store_true", help="skip conftest.py (the session city, Prefect)")
    parser.add_argument("--skip-baseline", action="store_true", help="the selection is known to pass unmutated")
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--only", help="mutant numbers and ranges, e.g. 3,75-126 (the survivors or the rest of a pass)")
    args = parser.parse_args()
    module = Path(args.module)
    found = mutants(ROOT / module)
    if args.only:
        wanted = parse_numbers(args.only)
        found = [m for m in found if m.number in wanted]
    if args.list:
        for m in found:
            print(f"{m.number:4d} line {m.line:4d} {m.what}")
        return
    if args.noconftest:
        EXTRA.append("--noconftest")
    runner = run_in_process if args.in_process else run_tests
    workers = 1 if args.in_process else args.workers
    copies = [make_copy() for _ in range(workers)]
    baseline = "survived" if args.skip_baseline else runner(copies[0], args.tests, args.timeout * 3)
    if baseline != "survived":
        sys.exit(f"the selected tests fail without any mutant: {baseline}")
    free = list(copies)
    started = time.monotonic()

    def run(mutant: Mutant) -> tuple[Mutant, str]:
        folder = free.pop()
        try:
            (folder / module).write_text(mutant.source, encoding="utf-8")
            result = runner(folder, args.tests, args.timeout)
            print(f"{mutant.number:4d} line {mutant.line:4d} {mutant.what}: {result}", file=sys.stderr, flush=True)
            return mutant, result
        finally:
            (folder / module).write_text((ROOT / module).read_text(encoding="utf-8"), encoding="utf-8")
            free.append(folder)

    if args.in_process:
        results = [run(m) for m in found]
    else:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(run, found))
    for folder in copies:
        shutil.rmtree(folder)
    survivors = [(m, r) for m, r in results if r == "survived"]
    report = {
        "module": str(module),
        "tests": args.tests,
        "mutants": len(results),
        "killed": len(results) - len(survivors),
        "seconds": round(time.monotonic() - started),
        "survivors": [{"number": m.number, "line": m.line, "mutation": m.what} for m, _ in survivors],
        "killed_numbers": [m.number for m, r in results if r != "survived"],
    }
    text = json.dumps(report, ensure_ascii=False, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
