"""The documentation site and every code block of it and of the README, run.

- `mkdocs build --strict` (mkdocs-material, mkdocstrings reading src/):
  a broken link or anchor, a page left out of the nav, or a docstring
  griffe cannot read fails it. Skipped when mkdocs is not installed.
- Every ```python block of docs/ (except docs/migrating-from-cgi.md, which
  tests/test_migration.py runs with markers of its own) and of README.md
  runs. The HTML comment on the line before a block says how:
  - none: a whole program, written to a file and run with runpy in a
    fresh namespace (`__name__` is not "__main__", so an
    `if __name__ == "__main__": asyncweb.run(...)` tail does not serve),
    in an empty working directory; it must not raise. Then an ASGI app it
    defines as `main`, `app` or `application` (an `App`, or an object
    with an async `__call__`, such as a Starlette app) gets a GET / through
    asyncweb.testing.client and must answer below 500; a WSGIGateway gets
    the same GET as WSGI, under wsgiref's validator;
  - `<!-- get: PATH -->`: the same, with a GET of PATH answered 200;
  - `<!-- fragment -->`: compiled only (it names modules that do not
    exist, such as `mysite`);
  - `<!-- file: PATH -->`: the file at PATH, verbatim, then run as above;
  - `<!-- pytest -->`: a test module, run by pytest in a subprocess in an
    empty folder (anyio's plugin only, no conftest), which must pass.
- A ```console block marked `<!-- console -->` is a terminal session of
  `asyncweb call` commands: each `$` line runs, and its output must be the
  lines under it.
- ```sh and other blocks are not run; every block names its language, so
  no Python block goes untested by missing its tag. The README keeps the
  set-up commands CI and users rely on, and links to every page.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import io
import os
import re
import runpy
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import anyio
import pytest

import asyncweb
from asyncweb.testing import client
from tests.support import ROOT

DOCS = ROOT / "docs"
README = ROOT / "README.md"
MIGRATION = DOCS / "migrating-from-cgi.md"  # tests/test_migration.py runs its blocks
PAGES = sorted(DOCS.rglob("*.md"))
RUN_HERE = [path for path in PAGES if path != MIGRATION] + [README]
APP_NAMES = ("main", "app", "application")
MARKERS = re.compile(r"(|fragment|pytest|console|get: /\S*|file: [\w/.-]+)")
SET_UP = (
    "python3 -m venv .venv && .venv/bin/pip install -q -e . && "
    ".venv/bin/uvicorn examples.hello:main --host 127.0.0.1 --port 8000",
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest",
)


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the block's first line of code
    language: str
    marker: str
    source: str

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks_of(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, each with the marker comment
    on the line right before its fence (or '')."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    blocks: list[Block] = []
    marker = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if match := re.fullmatch(r"<!-- (.+?) -->\n", line):
            marker = match.group(1)
        elif line.startswith("```"):
            end = index + 1
            while not lines[end].startswith("```"):
                end += 1
            source = "".join(lines[index + 1 : end])
            blocks.append(Block(path, index + 2, line[3:].strip(), marker, source))
            marker = ""
            index = end
        elif line.strip():
            marker = ""  # a marker is the line right before its block
        index += 1
    return blocks


ALL_BLOCKS = [block for path in RUN_HERE for block in blocks_of(path)]
PYTHON = [block for block in ALL_BLOCKS if block.language == "python"]
CONSOLE = [block for block in ALL_BLOCKS if block.marker == "console"]


def block_id(block: Block) -> str:
    return f"{block.name}-{block.marker.replace(' ', '').replace('/', '-') or 'program'}"


# -- the site -------------------------------------------------------------------------
def test_mkdocs_builds_strict(tmp_path: Path) -> None:
    if not (ROOT / "mkdocs.yml").exists():
        pytest.skip("no mkdocs.yml in this tree (a source release carries none)")
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        if importlib.util.find_spec(module.split(".")[0]) is None or importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: pip install -e '.[test]' installs mkdocs-material, mkdocstrings")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    argv = [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml")]
    done = subprocess.run(
        [*argv, "--site-dir", str(tmp_path / "site")], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "WARNING" not in output, output
    assert (tmp_path / "site" / "reference" / "index.html").exists()
    reference = (tmp_path / "site" / "reference" / "index.html").read_text(encoding="utf-8")
    for name in ("App", "Request", "Response", "UploadFile", "Limits", "WSGIGateway", "parse_request", "run_server"):
        assert f'id="asyncweb.{name}"' in reference or f'id="asyncweb.fastcgi.{name}"' in reference, name


def test_the_nav_lists_every_page() -> None:
    if not (ROOT / "mkdocs.yml").exists():
        pytest.skip("no mkdocs.yml in this tree (a source release carries none)")
    yaml: Any = pytest.importorskip("yaml")  # pyyaml: in the test extra, and mkdocs needs it
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def pages(entries: list[Any]) -> list[str]:
        found: list[str] = []
        for entry in entries:
            for value in entry.values() if isinstance(entry, dict) else [entry]:
                found += pages(value) if isinstance(value, list) else [value]
        return found

    listed = pages(config["nav"])
    assert sorted(listed) == sorted(str(path.relative_to(DOCS)) for path in PAGES)
    assert len(listed) == len(set(listed))


def test_every_block_names_its_language() -> None:
    unnamed = [block.name for path in [*PAGES, README] for block in blocks_of(path) if not block.language]
    assert not unnamed, f"fences without a language (a ```python block is run, a bare one is not): {unnamed}"
    unknown = [(block.name, block.marker) for block in ALL_BLOCKS if not MARKERS.fullmatch(block.marker)]
    assert not unknown, unknown


# -- Python blocks --------------------------------------------------------------------
def is_asgi_app(value: object) -> bool:
    if isinstance(value, asyncweb.App):
        return True
    # Starlette and other frameworks: an instance whose class has an async __call__.
    return not inspect.isroutine(value) and inspect.iscoroutinefunction(type(value).__call__)


async def get(app: Any, path: str) -> int:
    async with client(app) as http:
        reply = await http.get(path)
    return reply.status_code


def wsgi_get(app: Any, path: str) -> int:
    path, _, query = path.partition("?")
    environ: dict[str, Any] = {"SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query}
    environ["wsgi.input"] = io.BytesIO(b"")
    setup_testing_defaults(environ)
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    result = validator(app)(environ, start_response)
    try:
        b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]
    return int(statuses[0].split()[0])


@pytest.mark.parametrize("block", PYTHON, ids=block_id)
def test_python_block(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compile(block.source, block.name, "exec")  # a syntax error fails every kind
    marker = block.marker
    if marker == "fragment":
        return
    if marker.startswith("file: "):
        assert block.source == (ROOT / marker.removeprefix("file: ")).read_text(encoding="utf-8")
    if marker == "pytest":
        (tmp_path / "test_block.py").write_text(block.source, encoding="utf-8")
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_block.py"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert " passed" in done.stdout and "skipped" not in done.stdout, done.stdout
        return
    script = tmp_path / "block.py"
    script.write_text(block.source, encoding="utf-8")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    namespace = runpy.run_path(str(script), run_name="__docs__")
    path, expected = (marker.removeprefix("get: "), 200) if marker.startswith("get: ") else ("/", None)
    served = 0
    for name in APP_NAMES:
        value = namespace.get(name)
        if isinstance(value, asyncweb.WSGIGateway):
            status = wsgi_get(value, path)
        elif is_asgi_app(value):
            status = anyio.run(get, value, path)
        else:
            continue
        served += 1
        if expected is None:
            assert status < 500, f"{name}: GET {path} answered {status}"
        else:
            assert status == expected, f"{name}: GET {path} answered {status}"
    if marker.startswith("get: "):
        assert served, "a `get:` block defines no app named " + " or ".join(APP_NAMES)


# -- terminal sessions ----------------------------------------------------------------
@pytest.mark.parametrize("block", CONSOLE, ids=block_id)
def test_console_block(block: Block) -> None:
    commands: list[tuple[str, list[str]]] = []
    for line in block.source.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        else:
            assert commands, f"{block.name}: output before any command"
            commands[-1][1].append(line)
    assert commands
    for command, expected in commands:
        argv = shlex.split(command)
        assert argv[:2] == ["asyncweb", "call"], f"only `asyncweb call` sessions are run: {command}"
        done = subprocess.run(
            [sys.executable, "-m", "asyncweb", *argv[1:]], capture_output=True, text=True, timeout=60, cwd=ROOT
        )
        assert done.stdout.rstrip("\n").splitlines() == expected, done.stdout + done.stderr


# -- the README -----------------------------------------------------------------------
def test_readme_keeps_the_set_up_commands() -> None:
    shell = [block.source.strip() for block in blocks_of(README) if block.language == "sh"]
    for command in SET_UP:
        assert command in shell, command
    with contextlib.suppress(FileNotFoundError):
        assert SET_UP[1] in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_links_to_every_page() -> None:
    text = README.read_text(encoding="utf-8")
    links = set(re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text))
    local = {link for link in links if not re.match(r"[a-z]+:", link)}
    missing = [link for link in sorted(local) if not (ROOT / link).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"
    unlinked = [str(path.relative_to(ROOT)) for path in PAGES if str(path.relative_to(ROOT)) not in local]
    assert not unlinked, f"README links to no {unlinked}"
    assert ".venv/bin/mkdocs serve" in text
