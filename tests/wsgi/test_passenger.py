"""examples/passenger_wsgi.py as a shared host runs it: the file alone in
an app root, imported from there by its name and served as WSGI, here by
gunicorn's sync workers in Passenger's place (`--chdir ROOT
passenger_wsgi:application`), and in process under wsgiref's validator."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest

from examples.passenger_wsgi import application
from tests.hosts.common import curl
from tests.support import ROOT
from tests.wsgi import servers

EXAMPLE = ROOT / "examples" / "passenger_wsgi.py"


def test_the_example_is_a_valid_wsgi_app() -> None:
    environ: dict[str, Any] = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/", "QUERY_STRING": "name=Ada"}
    environ["wsgi.input"] = io.BytesIO(b"")
    setup_testing_defaults(environ)
    seen: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen.append(status)
        return lambda data: None

    result = validator(application)(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]
    assert (seen, body) == (["200 OK"], b"Hello, Ada!\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not servers.has_module("gunicorn"):
        pytest.skip("gunicorn is not installed: pip install -e '.[test]'")
    app_root = tmp_path_factory.mktemp("passenger-app")
    shutil.copy(EXAMPLE, app_root / "passenger_wsgi.py")
    spec = ["--chdir", str(app_root), "passenger_wsgi:application"]
    with servers.gunicorn_process(spec[-1], app_root, "passenger", {}, workers=1, options=spec[:-1]) as (url, _, _):
        yield url


@pytest.mark.slow
def test_served_from_its_app_root(site: str, tmp_path: Path) -> None:
    assert curl(site + "/?name=Ada").body == b"Hello, Ada!\n"
    assert curl(site + "/", "-d", "name=Grace").body == b"Hello, Grace!\n"
    upload = tmp_path / "a.bin"
    upload.write_bytes(b"\0" * 3_000_000)
    assert curl(site + "/", "-F", f"file=@{upload}").body == b"got 'a.bin', 3000000 bytes\n"
