"""The `asyncweb` command: `asyncweb COMMAND ...`, or `python -m asyncweb`.

Each command lives in its own module and is imported only when it runs, so
a CGI request (a process per request) pays for nothing it does not use.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "serve": ("asyncweb.serve", "run an app under uvicorn"),
    "fastcgi": ("asyncweb.fastcgi.cli", "serve an app over FastCGI"),
    "cgi": ("asyncweb.cgi.host", "serve one CGI request"),
    "call": ("asyncweb.cgi.call", "call an app in process from the command line"),
}


def _usage() -> str:
    lines = ["usage: asyncweb COMMAND MODULE:APP [options]", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    entry = COMMANDS.get(args[0])
    if entry is None:
        print(f"asyncweb: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(entry[0])
    result: int = module.main(args[1:])
    return result


if __name__ == "__main__":
    sys.exit(main())
