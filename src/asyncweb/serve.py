"""`asyncweb serve MODULE:APP`: run an app under uvicorn with the usual options."""

from __future__ import annotations

import argparse

from ._importer import app_arguments

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def parser() -> argparse.ArgumentParser:
    p = app_arguments("asyncweb serve", "Run an ASGI application under uvicorn.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port to bind (default: %(default)s)")
    p.add_argument("--reload", action="store_true", help="restart when the code changes (development)")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="worker processes (default: 1)")
    p.add_argument("--root-path", default="", metavar="PATH", help="the app's mount point behind a proxy")
    p.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    p.add_argument(
        "--proxy-headers",
        action=argparse.BooleanOptionalAction,
        # Off, unlike uvicorn's own default: an App ignores X-Forwarded-*
        # unless its trust_proxy says otherwise, and uvicorn would apply
        # them from 127.0.0.1 before the App sees the scope.
        default=False,
        help="let uvicorn apply X-Forwarded-Proto/For from --forwarded-allow-ips (default: off)",
    )
    p.add_argument(
        "--forwarded-allow-ips",
        default=None,
        metavar="IPS",
        help="comma-separated proxy addresses to trust, '*' for all (default: 127.0.0.1)",
    )
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    import uvicorn  # here: `asyncweb --help` and argument errors should not pay for it

    # The app goes to uvicorn by name: --reload and --workers import it in
    # their own processes.
    uvicorn.run(
        args.app,
        host=args.host,
        port=args.port,
        reload=args.reload,
        workers=args.workers,
        root_path=args.root_path,
        log_level=args.log_level,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        app_dir=args.app_dir,
    )
    return 0
