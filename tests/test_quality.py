"""The code checks CI holds the project to: ruff, mypy --strict, and no
function nested deeper than five levels."""

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT

CHECKED = ("src", "tests", "examples", "benchmarks", "fuzz")


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff() -> None:
    if shutil.which("ruff") is None and not (ROOT / ".venv/bin/ruff").exists():
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    result = run(sys.executable, "-m", "ruff", "check", *CHECKED)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    # The library and everything that uses it: the tests, the benchmarks and
    # the examples (pyproject.toml's [tool.mypy] names the module bases).
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")
    result = run(sys.executable, "-m", "mypy", "--strict", *CHECKED)
    assert result.returncode == 0, result.stdout + result.stderr


# Statements that open a block; an `elif` continues its `if` at the same depth.
_BLOCKS = (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try, ast.Match)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
MAX_DEPTH = 5


def nesting(node: ast.AST, depth: int = 0, in_function: bool = False) -> Iterator[tuple[int, int]]:
    """(depth, line) of every statement inside a function, the function
    itself counting as the first level."""
    for field, value in ast.iter_fields(node):
        children = value if isinstance(value, list) else [value]
        for child in children:
            if not isinstance(child, ast.AST):
                continue
            is_elif = isinstance(node, ast.If) and field == "orelse" and children == [child]
            opens = isinstance(child, _FUNCTIONS) or (in_function and isinstance(child, _BLOCKS) and not is_elif)
            level = depth + 1 if opens else depth
            if in_function or opens:
                yield level, getattr(child, "lineno", 0)
            yield from nesting(child, level, in_function or isinstance(child, _FUNCTIONS))


def test_nesting_depth_counts_blocks_not_elifs() -> None:
    deep = "def f(x):\n for a in x:\n  if a:\n   with a:\n    while a:\n     pass\n"
    flat = "def f(x):\n if x == 1:\n  pass\n elif x == 2:\n  pass\n elif x == 3:\n  pass\n"
    assert max(depth for depth, _ in nesting(ast.parse(deep))) == 5
    assert max(depth for depth, _ in nesting(ast.parse(flat))) == 2


def test_no_function_nests_deeper_than_five_levels() -> None:
    too_deep = [
        f"{path.relative_to(ROOT)}:{line} ({depth} levels)"
        for path in sorted((ROOT / "src").rglob("*.py"))
        for depth, line in nesting(ast.parse(path.read_text()))
        if depth > MAX_DEPTH
    ]
    assert not too_deep, too_deep


def imports_of(path: Path, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules of `known` that a module imports, type-only imports included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = module.split(".") if is_package else module.split(".")[:-1]
            if node.level:
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found |= {name for name in [target] + [f"{target}.{a.name}" for a in node.names] if name in known}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
    return found - {module}


def test_no_import_cycle_type_only_imports_included() -> None:
    files = {}
    for path in (ROOT / "src").rglob("*.py"):
        parts = list(path.relative_to(ROOT / "src").with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        files[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    graph = {name: imports_of(path, name, is_package, set(files)) for name, (path, is_package) in files.items()}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            for name in graph[todo.pop()]:
                if name == goal:
                    return True
                if name not in seen:
                    seen.add(name)
                    todo.append(name)
        return False

    cycles = sorted(name for name in graph if reaches(name, name))
    assert not cycles, cycles
    assert graph["asyncweb.fastcgi.connection"] and graph["asyncweb.request"]  # the walk sees imports at all
