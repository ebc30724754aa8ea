"""Fuzz CGI meta-variables to an ASGI scope (cgi/variables.py:
scope_from_environ) and back (environ_from_scope).

Payload: an environment as /proc/<pid>/environ holds one: NAME=VALUE
entries, each ended by a NUL (an entry without `=` is skipped, a repeated
name keeps its last value), the bytes taken as latin-1 text, as a CGI host
(host.environ_from_os) and FastCGI params give them. Flags: none.

Invariants: scope_from_environ raises nothing (its docstring documents no
error, and the CGI host, unlike FastCGI's make_scope, catches none); the
scope is well typed (str path, root_path and method; bytes raw_path and
query_string; lower-case bytes header pairs; client and server None or
(str, int)) and holds no lone surrogate; the same environment through the
FastCGI codec's params (pack_pairs, unpack_request_params, which picks the
headers out as it parses) gives the same scope; environ_from_scope takes
the scope and gives str values.

    python -m fuzz.cgi_variables -max_total_time=300 /tmp/seeds/cgi_variables
"""

from __future__ import annotations

from fuzz.common import Finding, check_text, fuzz, instrumented, parse_input

with instrumented(__name__ == "__main__"):
    from asyncweb.cgi.variables import environ_from_scope, scope_from_environ
    from asyncweb.fastcgi.protocol import pack_pairs, unpack_request_params

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def environ_of(payload: bytes) -> dict[str, str]:
    environ = {}
    for entry in payload.split(b"\0"):
        name, eq, value = entry.partition(b"=")
        if eq and name:
            environ[name.decode("latin-1")] = value.decode("latin-1")
    return environ


def check_scope(scope: dict[str, Any]) -> None:
    problems = []
    for key in ("path", "root_path", "method", "http_version", "scheme"):
        if not isinstance(scope.get(key), str):
            problems.append(key)
    for key in ("raw_path", "query_string"):
        if not isinstance(scope.get(key), bytes):
            problems.append(key)
    headers = scope.get("headers")
    if not isinstance(headers, list) or not all(
        isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(part, bytes) for part in pair) for pair in headers
    ):
        problems.append("headers")
    elif any(name != name.lower() or not name for name, _ in headers):
        problems.append("header names")
    for key in ("client", "server"):
        address = scope.get(key)
        if address is not None and not (
            isinstance(address, tuple) and isinstance(address[0], str) and isinstance(address[1], int)
        ):
            problems.append(key)
    if problems:
        shown = {key: scope.get(key) for key in scope if key != "extensions"}
        raise Finding(f"scope has a bad {', '.join(problems)}: {shown!r:.600}")
    check_text({key: value for key, value in scope.items() if key != "extensions"}, "scope")


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    environ = environ_of(parse_input(data).payload)
    scope = dict(scope_from_environ(environ))
    check_scope(scope)

    block = pack_pairs([(name.encode("latin-1"), value.encode("latin-1")) for name, value in environ.items()])
    params, headers = unpack_request_params(block)
    if params != environ:
        raise Finding(f"the FastCGI params are not the environment: {params!r:.300} and {environ!r:.300}")
    via_fastcgi = dict(scope_from_environ(params, headers))
    if via_fastcgi != scope:
        raise Finding(f"the scope through FastCGI params differs: {via_fastcgi!r:.600} and {scope!r:.600}")

    env = environ_from_scope(scope)
    check_text(env, "environ_from_scope")
    if not all(isinstance(value, str) for value in env.values()):
        raise Finding(f"environ_from_scope gave a value that is not str: {env!r:.600}")


def main() -> None:
    fuzz(TestOneInput, __file__)


if __name__ == "__main__":
    main()
