"""HTTP errors a handler (or the library) raises to answer with a status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# The statuses answered most, and the gateways' own 500, phrased without
# importing http and its enum, which a CGI process would pay for
# (tests/test_errors.py holds them to http.HTTPStatus).
COMMON_PHRASES = {
    200: "OK",
    204: "No Content",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    400: "Bad Request",
    404: "Not Found",
    500: "Internal Server Error",
}


def reason_phrase(status: int) -> str:
    """RFC 9110's reason phrase for `status`, '' for one it names none for."""
    phrase = COMMON_PHRASES.get(status)
    if phrase is not None:
        return phrase
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class HTTPError(Exception):
    """Raise from a handler to answer `status` with a short text body.

    This is asyncweb's answer to PEP 222's "methods for specific classes of
    error": `raise HTTPError(404)` or `raise HTTPError(403, "members only")`.
    """

    def __init__(
        self,
        status: int,
        message: str = "",
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        if not 400 <= status <= 599:
            raise ValueError(f"HTTPError takes a 4xx or 5xx status, not {status}")
        self.status = status
        self.message = message or reason_phrase(status)
        self.headers = headers
        super().__init__(status, self.message)


class BadRequest(HTTPError):
    """400: the request is malformed."""

    def __init__(self, message: str = "") -> None:
        super().__init__(400, message)


class PayloadTooLarge(HTTPError):
    """413: a size or count limit was exceeded."""

    def __init__(self, message: str = "") -> None:
        super().__init__(413, message)


class ClientDisconnect(OSError):
    """The client went away: raised by reading a body it will not finish,
    and by a gateway's `send` once nobody listens (ASGI 2.4 asks for an
    OSError there)."""
