"""Cookies: the request's Cookie header read (`parse`, lenient) and
Set-Cookie lines written (`set_cookie`, strict)."""

from .parse import parse_cookies
from .set_cookie import format_set_cookie

__all__ = ["format_set_cookie", "parse_cookies"]
