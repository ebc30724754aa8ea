"""The release artefacts: `python -m build` makes an sdist and a pure wheel
that pass `twine check --strict`, carry what they should (py.typed, the
LICENSE, the tests and examples in the sdist) and nothing they should not
(a venv, caches, compiled leftovers), install in a fresh venv and serve the
hello example there; one version number; a release workflow that says what
it runs.

The build runs from a copy of the git-tracked files as they are in the
working tree (what a developer's `python -m build` packs, less the files
git does not know), with a developer's clutter planted around them."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

import asyncweb
from tests.support import ROOT

# What a build leaves in a developer's tree, which no artefact may carry.
CLUTTER = (
    ".venv/lib/python3.11/site-packages/stray.py",
    ".pytest_cache/v/cache/lastfailed",
    ".mypy_cache/3.11/asyncweb/app.data.json",
    ".ruff_cache/content",
    ".hypothesis/examples/0a/1b",
    "src/asyncweb/__pycache__/app.cpython-311.pyc",
    "src/asyncweb/fastcgi/protocol.cpython-311-x86_64-linux-gnu.so",
    "tests/__pycache__/support.cpython-311.pyc",
    "build/lib/asyncweb/app.py",
    "dist/asyncweb-0.0.0-py3-none-any.whl",
    "benchmarks/results.json",
    "fuzz/crash-0123abcd",
)
# Path parts that mark clutter wherever they are.
CLUTTER_PARTS = {".venv", ".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"}
# The top-level entries an sdist carries: pyproject.toml's sdist include.
SDIST_TOP = {"src", "tests", "examples", "benchmarks", "fuzz", "docs", "mkdocs.yml", "README.md", "CHANGELOG.md"}
SDIST_TOP |= {"LICENSE"}
SDIST_TOP |= {"pyproject.toml", "PKG-INFO", ".gitignore"}  # the last two: hatchling's own
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


def source_version() -> str:
    """`__version__` as hatch reads it: the one place the version lives."""
    text = (ROOT / "src" / "asyncweb" / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    assert match, "no __version__ line in src/asyncweb/__init__.py"
    return match.group(1)


def clean_env() -> dict[str, str]:
    """The environment without whatever would let a child see this tree or
    this venv instead of what it installed."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_USER")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run(command: list[str], timeout: float, cwd: Path | None = None) -> str:
    """Run `command`, bounded in time; its output, or a failure showing it."""
    try:
        done = subprocess.run(
            command, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{command[:4]} took over {timeout} s:\n{exc.stdout!r}\n{exc.stderr!r}")
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def tracked_files() -> list[str]:
    """The files git tracks (added ones included), as they are in the tree."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the build copies the git-tracked files")
    done = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    if done.returncode:
        pytest.skip(f"not a git checkout ({done.stderr.strip()}): the build copies the git-tracked files")
    return [name for name in done.stdout.split("\0") if name and (ROOT / name).is_file()]


@dataclass
class Dist:
    tracked: list[str]
    sdist: Path
    wheel: Path
    work: Path


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """`python -m build` of a copy of the tree: the sdist, then the wheel
    built from it (so a file the sdist lacks fails the wheel's build)."""
    for module in ("build", "twine"):
        if find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e '.[test]')")
    work = tmp_path_factory.mktemp("packaging")
    tree, out = work / "tree", work / "dist"
    tracked = tracked_files()
    for name in tracked:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tree / name)
    for name in CLUTTER:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(b"clutter\n")
    # The isolated build fetches hatchling from the package index.
    run([sys.executable, "-m", "build", "--outdir", str(out), str(tree)], timeout=300)
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Dist(tracked, sdist, wheel, work)


def sdist_names(dist: Dist) -> list[PurePosixPath]:
    """The sdist's members below its `asyncweb-VERSION/` folder."""
    with tarfile.open(dist.sdist) as archive:
        members = [PurePosixPath(m.name) for m in archive.getmembers() if m.isfile()]
    top = f"asyncweb-{source_version()}"
    assert all(m.parts[0] == top for m in members), members[:5]
    return [PurePosixPath(*m.parts[1:]) for m in members]


def wheel_names(dist: Dist) -> list[str]:
    with zipfile.ZipFile(dist.wheel) as archive:
        return archive.namelist()


@pytest.mark.slow
def test_the_wheel_is_pure_typed_and_licensed(dist: Dist) -> None:
    version = source_version()
    assert dist.wheel.name == f"asyncweb-{version}-py3-none-any.whl"
    names = wheel_names(dist)
    info = f"asyncweb-{version}.dist-info"
    with zipfile.ZipFile(dist.wheel) as archive:
        wheel_file = archive.read(f"{info}/WHEEL").decode()
        metadata = archive.read(f"{info}/METADATA").decode()
    assert "Root-Is-Purelib: true" in wheel_file and "Tag: py3-none-any" in wheel_file, wheel_file
    assert "asyncweb/py.typed" in names
    assert f"{info}/licenses/LICENSE" in names
    # The stale extension planted in src/ stays out: a pure wheel has none.
    assert not [n for n in names if n.endswith((".so", ".pyd", ".pyc", ".c"))]
    assert not [n for n in names if CLUTTER_PARTS & set(PurePosixPath(n).parts)]
    # Every tracked module of the package is in it, and only the package.
    modules = {n.removeprefix("src/") for n in dist.tracked if n.startswith("src/asyncweb/")}
    assert modules <= set(names), sorted(modules - set(names))
    assert {n.split("/")[0] for n in names} == {"asyncweb", info}
    assert f"\nVersion: {version}\n" in metadata
    assert "\nLicense-Expression: MIT\n" in metadata
    assert "\nClassifier: Typing :: Typed\n" in metadata


@pytest.mark.slow
def test_the_sdist_carries_the_sources_tests_and_examples_only(dist: Dist) -> None:
    assert dist.sdist.name == f"asyncweb-{source_version()}.tar.gz"
    names = sdist_names(dist)
    packed = {str(n) for n in names}
    # Every tracked file under the included folders, and the top-level files.
    wanted = {n for n in dist.tracked if n.split("/")[0] in SDIST_TOP}
    assert wanted <= packed, sorted(wanted - packed)
    for needed in ("src/asyncweb/py.typed", "examples/hello.py", "tests/test_packaging.py", "LICENSE", "CHANGELOG.md"):
        assert needed in packed
    assert {n.parts[0] for n in names} <= SDIST_TOP, sorted({n.parts[0] for n in names} - SDIST_TOP)
    assert not [n for n in names if CLUTTER_PARTS & set(n.parts)]
    assert not [n for n in names if n.suffix in (".so", ".pyd", ".pyc")]
    for name in CLUTTER:
        assert name not in packed


@pytest.mark.slow
def test_twine_check_strict_passes(dist: Dist) -> None:
    out = run([sys.executable, "-m", "twine", "check", "--strict", str(dist.sdist), str(dist.wheel)], timeout=120)
    assert out.count("PASSED") == 2, out


@pytest.mark.slow
def test_the_wheel_installs_in_a_fresh_venv_and_serves_hello(dist: Dist) -> None:
    venv, app_dir, cwd = dist.work / "venv", dist.work / "app", dist.work / "elsewhere"
    app_dir.mkdir()
    cwd.mkdir()
    run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    python, command = venv / "bin" / "python", venv / "bin" / "asyncweb"
    # The dependencies come from the package index.
    run([str(python), "-m", "pip", "install", "-q", str(dist.wheel)], timeout=300, cwd=cwd)
    probe = (
        "import asyncweb, importlib.metadata, pathlib; "
        "print(asyncweb.__version__, importlib.metadata.version('asyncweb'), "
        "pathlib.Path(asyncweb.__file__).with_name('py.typed').is_file(), asyncweb.__file__)"
    )
    version, metadata_version, typed, where = run([str(python), "-c", probe], timeout=60, cwd=cwd).split()
    assert version == metadata_version == source_version()
    assert typed == "True"
    assert Path(where).is_relative_to(venv), where
    # The hello example as the sdist ships it, served in process by the
    # installed `asyncweb call`.
    with tarfile.open(dist.sdist) as archive:
        member = archive.extractfile(f"asyncweb-{source_version()}/examples/hello.py")
        assert member is not None
        (app_dir / "hello.py").write_bytes(member.read())
    out = run([str(command), "call", "--app-dir", str(app_dir), "hello:main", "/"], timeout=60, cwd=cwd)
    assert out.startswith("HTTP/1.1 200"), out
    assert out.rstrip().endswith("Hello, world!"), out


def test_one_version_number() -> None:
    with open(ROOT / "pyproject.toml", "rb") as f:
        pyproject = tomllib.load(f)
    project = pyproject["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert pyproject["tool"]["hatch"]["version"]["path"] == "src/asyncweb/__init__.py"
    assert asyncweb.__version__ == source_version()
    # The installed metadata: an editable install keeps the version it was
    # installed with, so after a version change this asks for a reinstall.
    assert importlib.metadata.version("asyncweb") == asyncweb.__version__, (
        "the installed metadata is stale: pip install -e '.[test]'"
    )
    # The version has a section in the changelog, or is a development one.
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert ".dev" in asyncweb.__version__ or f"## {asyncweb.__version__} " in changelog
    assert "## Unreleased" in changelog or f"## {asyncweb.__version__} " in changelog


def test_the_classifiers_agree_with_the_metadata() -> None:
    with open(ROOT / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    classifiers: list[str] = project["classifiers"]
    # PEP 639: a license expression and License :: classifiers exclude each other.
    assert project["license"] == "MIT"
    assert not [c for c in classifiers if c.startswith("License ::")]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    versions = sorted(
        int(c.rsplit(".", 1)[1]) for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    assert project["requires-python"] == f">=3.{versions[0]}"
    assert versions == list(range(versions[0], versions[0] + len(versions)))


def load_workflow() -> dict[Any, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed: the release workflow is not parsed")
    workflow: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return workflow


def test_the_release_workflow_builds_tests_and_publishes_on_tags() -> None:
    workflow = load_workflow()
    # YAML 1.1 reads the key `on` as True.
    triggers = workflow["on"] if "on" in workflow else workflow[True]
    assert triggers["push"]["tags"] == ["v*"]
    jobs = workflow["jobs"]
    assert set(jobs) == {"dist", "wheels", "publish"}
    dist_steps = " ".join(str(step.get("run", "")) for step in jobs["dist"]["steps"])
    assert "python -m build" in dist_steps and "twine check --strict" in dist_steps
    wheels = jobs["wheels"]
    assert {"ubuntu-latest", "ubuntu-24.04-arm", "windows-latest"} <= set(wheels["strategy"]["matrix"]["os"])
    assert any(os_name.startswith("macos") for os_name in wheels["strategy"]["matrix"]["os"])
    (cibw,) = [step for step in wheels["steps"] if str(step.get("uses", "")).startswith("pypa/cibuildwheel@")]
    env = cibw["env"]
    assert env["CIBW_ENVIRONMENT"] == "HATCH_BUILD_HOOK_ENABLE_MYPYC=1"
    assert env["CIBW_BUILD"].split() == ["cp311-*", "cp312-*", "cp313-*"]
    publish = jobs["publish"]
    assert set(publish["needs"]) == {"dist", "wheels"}
    assert "refs/tags/v" in publish["if"]
    assert publish["permissions"] == {"id-token": "write"}
    assert [step["uses"] for step in publish["steps"]][-1] == "pypa/gh-action-pypi-publish@release/v1"


def pytest_part(command: str) -> list[str]:
    """The pytest run of a cibuildwheel test command, its {project} this tree."""
    (pytest_run,) = [part for part in command.split("&&") if "-m pytest" in part]
    return shlex.split(pytest_run.replace("{project}", str(ROOT)))


@pytest.mark.slow
def test_the_wheels_test_commands_name_the_compiled_tests_and_collect(tmp_path: Path) -> None:
    from tests.test_compiled import COMPILED_TESTS

    (cibw,) = [s for s in load_workflow()["jobs"]["wheels"]["steps"] if "cibuildwheel" in str(s.get("uses"))]
    for key in ("CIBW_TEST_COMMAND", "CIBW_TEST_COMMAND_WINDOWS"):
        args = pytest_part(cibw["env"][key])
        paths = [arg for arg in args if arg.startswith(str(ROOT))]
        assert paths and all(Path(p).exists() for p in paths), paths
        if key == "CIBW_TEST_COMMAND":
            # The same tests as the compiled-build test runs here.
            assert [str(Path(p).relative_to(ROOT)) for p in paths] == list(COMPILED_TESTS)
        # Collected from another folder, as cibuildwheel runs them.
        assert args[:3] == ["python", "-m", "pytest"]
        # (pytest exits 5 when it collects nothing, and run() fails on that.)
        out = run([sys.executable, *args[1:], "--collect-only"], timeout=120, cwd=tmp_path)
        assert re.search(r"\d+(/\d+)? tests collected", out), out[-2000:]
