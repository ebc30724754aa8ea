"""The request's URL as PEP 222's get_url/get_base_url see it.

ASGI servers disagree on whether `path` includes the mount point
(`root_path`): current uvicorn and Starlette's Mount put it in both, older
servers and some test transports do not. The app-relative path is `path`
minus `root_path` when `path` starts with it, else `path` as given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .types import Scope

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# A host name (labels of letters, digits, '-' and '_', one trailing dot
# allowed) or an [IPv6] literal, and an optional port. RFC 3986's reg-name
# would also let through sub-delims (`evil.com,.good.example`), which no
# DNS name holds and which `allowed_hosts` patterns must not match; a path,
# userinfo or whitespace is no host either, and is ignored.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST = (
    rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?"
)
# Compiled on first use: the largest pattern of the package, which a CGI
# process that builds no URL need not pay for.
_host_re: re.Pattern[str] | None = None
_PATH_SAFE = "/:@!$&'()*+,;=~"


def split_path(scope: Scope) -> tuple[str, str]:
    """(mount point, app-relative path) of an ASGI scope."""
    root: str = scope.get("root_path", "")
    path: str = scope.get("path", "")
    if root and (path == root or path.startswith(root + "/")):
        return root, path[len(root) :]
    return root, path


def valid_host(host: str) -> bool:
    global _host_re
    if _host_re is None:
        _host_re = re.compile(_HOST)
    return bool(_host_re.fullmatch(host))  # not match(): `$` also matches before a final newline


def _first(value: str | None) -> str:
    return value.split(",", 1)[0].strip() if value else ""


class URLParts:
    """Scheme, host and mount point of a request, with forwarded headers
    applied only when the proxy in front is trusted."""

    __slots__ = ("host", "requested_host", "root_path", "scheme")

    def __init__(self, scope: Scope, headers: Mapping[str, str], trust_proxy: bool) -> None:
        scheme: str = scope.get("scheme", "http")
        host = headers.get("host", "")
        root = split_path(scope)[0]
        if trust_proxy:
            proto = _first(headers.get("x-forwarded-proto")).lower()
            if proto in _DEFAULT_PORTS:
                scheme = proto
            forwarded_host = _first(headers.get("x-forwarded-host"))
            if forwarded_host:
                host = forwarded_host
            prefix = _first(headers.get("x-forwarded-prefix")).rstrip("/")
            if prefix.startswith("/"):
                root = prefix + root
        # What the client asked for, checked against `allowed_hosts`; URLs
        # fall back to the server's own name when it is no host.
        self.requested_host = host if valid_host(host) else ""
        self.scheme = scheme
        self.host = self.requested_host or self._server_host(scope, scheme)
        self.root_path = root

    @staticmethod
    def _server_host(scope: Scope, scheme: str) -> str:
        server = scope.get("server")
        if not server:
            return "localhost"
        name, port = server[0], server[1]
        if port is None or port == _DEFAULT_PORTS.get(scheme):
            return str(name)
        return f"{name}:{port}"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}"

    def url(self, path: str) -> str:
        """Absolute URL of a decoded path, which always starts with '/': a
        request target such as `@evil.com` (h11 passes it on as the path)
        must not turn the host into userinfo."""
        from urllib.parse import quote  # here: a CGI request that builds no URL is spared its import

        if not path.startswith("/"):
            path = "/" + path
        return self.origin + quote(path, safe=_PATH_SAFE)


def strip_port(host: str) -> str:
    """`host` without its `:port`; a bracketed IPv6 address keeps its colons."""
    return host if host.endswith("]") else host.rsplit(":", 1)[0]


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    """Whether `host` (a Host header's value, port and all) is one of
    `patterns`: a name (any case), `*.name` for any subdomain of `name`, or
    `*` for any host at all. An empty host (none given, or no host) is not."""
    if not host:
        return False
    name = strip_port(host).lower().removesuffix(".")
    for pattern in patterns:
        if pattern == "*" or name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


def chop(path: str, n: int) -> str:
    """`path` without its last `n` components."""
    if n <= 0:
        return path
    parts = path.split("/")
    return "/".join(parts[: max(1, len(parts) - n)])


def first_components(path: str, n: int) -> str:
    """The first `n` components of `path` (an absolute path or '')."""
    if n <= 0:
        return ""
    parts = path.split("/")
    return "/".join(parts[: n + 1])
