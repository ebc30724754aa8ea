"""Size and count limits for request bodies, with safe defaults."""

from __future__ import annotations

from ._records import NamedTuple

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


class Limits(NamedTuple):
    """What a request may send before it is answered 413.

    None means no limit. Every default is finite except `max_file_size`,
    which the body limit already bounds: raise `max_body_size` (or set it to
    None) for uploads larger than 1 GiB. Immutable: `limits._replace(...)`
    gives a changed copy. (A NamedTuple, not a dataclass: dataclasses
    imports inspect, which every CGI request's start-up would pay for;
    benchmarks/cgi_startup.py measures it.)
    """

    max_body_size: int | None = GiB
    max_fields: int = 1000  # non-file fields (urlencoded pairs or parts)
    max_files: int = 100
    max_field_size: int = MiB  # one non-file value
    max_fields_total: int | None = 16 * MiB  # all non-file values together: they are held in memory
    max_file_size: int | None = None
    max_part_header_size: int = 8 * KiB  # one header line of a multipart part
    max_part_headers: int = 16  # header lines per part
    # Seconds to wait for the next piece of a body before answering 408, so
    # a client gone idle mid-upload cannot hold a task and a spool file
    # forever (servers such as uvicorn set no such timeout). The first wait
    # of a small declared body is not timed: it costs the hot path nothing.
    read_timeout: float | None = 60.0
