"""PEP 222's own spellings, as plain aliases of the PEP 8 names.

They are defined here and nowhere else, so that code written against the
PEP's interface (`request.getField("name")`, `response.setCookie(...)`)
runs unchanged.
"""

from __future__ import annotations

from .request import Request
from .response import Response

REQUEST_ALIASES = {
    "getHeader": "get_header",
    "getCookie": "get_cookie",
    "getField": "get_field",
    "getURL": "get_url",
    "getBaseURL": "get_base_url",
    "getBrowser": "get_browser",
    "isSecure": "is_secure",
}
RESPONSE_ALIASES = {
    "setStatus": "set_status",
    "setHeader": "set_header",
    "setBody": "set_body",
    "setCookie": "set_cookie",
    "expireCookie": "expire_cookie",
}


def _alias(cls: type, names: dict[str, str]) -> None:
    for pep_name, name in names.items():
        setattr(cls, pep_name, getattr(cls, name))


_alias(Request, REQUEST_ALIASES)
_alias(Response, RESPONSE_ALIASES)
