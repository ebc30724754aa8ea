"""Find an ASGI application from a `MODULE:APP` string, as servers' command
lines name it."""

from __future__ import annotations

import importlib
import sys

from .types import ASGIApp

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any


class AppImportError(Exception):
    """The `MODULE:APP` string names nothing usable; the message says why."""


def import_app(spec: str, app_dir: str | None = None) -> ASGIApp:
    """Import `package.module:attribute.path`. `app_dir`, if given, is put
    first on sys.path so the module can sit in the current directory."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise AppImportError(f"expected MODULE:APP, got {spec!r}")
    if app_dir is not None and app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only a missing MODULE is our error: a missing import inside it is
        # the app's, and its traceback matters.
        missing = exc.name or ""
        if missing != module_name and not module_name.startswith(missing + "."):
            raise
        raise AppImportError(f"no module named {module_name!r}") from exc
    app: object = module
    for name in attribute.split("."):
        try:
            app = getattr(app, name)
        except AttributeError:
            raise AppImportError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if not callable(app):
        raise AppImportError(f"{spec!r} is not callable")
    return app  # callable() narrows it to a callable of any signature


def app_arguments(prog: str, description: str, **options: Any) -> argparse.ArgumentParser:
    """The parser of an `asyncweb` command, with the arguments every command
    takes: MODULE:APP and --app-dir."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=description, **options)
    parser.add_argument("app", metavar="MODULE:APP", help="the ASGI application, e.g. mysite:app")
    parser.add_argument("--app-dir", default=".", metavar="DIR", help="put first on sys.path (default: .)")
    return parser


def load_app(command: str, args: argparse.Namespace) -> ASGIApp | None:
    """`import_app` of the parsed app arguments: None, after saying why on stderr."""
    try:
        return import_app(args.app, args.app_dir)
    except AppImportError as exc:
        print(f"asyncweb {command}: {exc}", file=sys.stderr)
        return None
