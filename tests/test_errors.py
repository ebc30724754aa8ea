"""Reason phrases: RFC 9110's, the common ones without importing http."""

from __future__ import annotations

import subprocess
import sys
from http import HTTPStatus

from asyncweb.cgi.head import render_head
from asyncweb.errors import COMMON_PHRASES, reason_phrase


def test_the_common_phrases_are_the_standard_ones() -> None:
    assert {status: HTTPStatus(status).phrase for status in COMMON_PHRASES} == COMMON_PHRASES


def test_every_other_status_is_phrased_as_http_phrases_it() -> None:
    assert reason_phrase(418) == "I'm a Teapot" and reason_phrase(503) == "Service Unavailable"
    assert reason_phrase(599) == ""
    assert render_head(599, []) == b"Status: 599 Unknown\r\n\r\n"
    assert render_head(201, []) == b"Status: 201 Created\r\n\r\n"


def test_a_cgi_hello_imports_no_http_module() -> None:
    """A CGI process pays for every import: http (and its enum of statuses)
    is left out unless an uncommon status is answered."""
    script = (
        "import sys, asyncweb, asyncweb.cgi.host\n"
        "from asyncweb.cgi.head import render_head\n"
        "render_head(200, []); render_head(500, [])\n"
        "print('http' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"
