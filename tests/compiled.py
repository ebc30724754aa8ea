"""asyncweb as a release wheel ships it: the modules pyproject.toml lists
for mypyc, compiled. The tests and the FastCGI benchmark run the server
that way by putting `build()`'s folder first on PYTHONPATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import tomllib
import zipfile
from importlib.util import find_spec
from pathlib import Path

from tests.support import ROOT as ROOT  # re-exported: tests/test_compiled.py runs from it


def compiled_modules() -> list[str]:
    """The modules the build compiles, named as pyproject.toml lists them."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        paths = tomllib.load(f)["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["mypyc"]["include"]
    return [path.removeprefix("src/").removesuffix(".py").replace("/", ".") for path in paths]


class Unavailable(Exception):
    """The compiled build cannot be made here (the reason says why)."""


def build(dest: Path) -> Path:
    """Build the mypyc wheel and unpack it into `dest`, for PYTHONPATH.

    It builds from a copy of the sources: hatch-mypyc compiles in place, and
    an extension left in src/ would shadow the module beside it in the
    editable install."""
    if find_spec("hatch_mypyc") is None:
        raise Unavailable("hatch-mypyc is not installed (pip install -e '.[test]')")
    if not (shutil.which("cc") or shutil.which("gcc")):
        raise Unavailable("no C compiler")
    # A compiler is often there without the headers (Debian: python3-dev),
    # and the build would fail rather than be unavailable.
    header = Path(sysconfig.get_path("include"), "Python.h")
    if not header.exists():
        raise Unavailable(f"no {header} (Debian: python3-dev)")
    with tempfile.TemporaryDirectory() as work:
        source, wheels = Path(work, "source"), Path(work, "wheels")
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(ROOT / name, source)
        shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels)]
        env = {**os.environ, "HATCH_BUILD_HOOK_ENABLE_MYPYC": "1"}
        done = subprocess.run([*command, str(source)], env=env, capture_output=True, text=True, timeout=600)
        if done.returncode:
            raise RuntimeError(f"the mypyc build failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        (wheel,) = wheels.glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(dest)
    return dest


def loaded_files(site: Path) -> list[str]:
    """The files the compiled modules load from with `site` first on
    PYTHONPATH (each should be an extension in `site`)."""
    probe = "import importlib, sys; print(*(importlib.import_module(m).__file__ for m in sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(site)}
    command = [sys.executable, "-c", probe, *compiled_modules()]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=True).stdout.split()


def is_compiled(site: Path) -> bool:
    files = loaded_files(site)
    return bool(files) and all(f.startswith(str(site)) and f.endswith(".so") for f in files)
