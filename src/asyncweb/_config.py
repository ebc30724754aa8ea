"""What a Request needs to know of its App's options, and their checks shared by the App and parse_request."""

from __future__ import annotations

from ._records import NamedTuple
from .limits import Limits, MiB

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .forms.uploads import TargetFunction


class Config(NamedTuple):
    strict_parsing: bool = False
    trust_proxy: bool = False
    limits: Limits = Limits()
    parse_forms: bool = True
    upload_dir: str | None = None
    spool_size: int = MiB
    upload_target: TargetFunction | None = None
    allowed_hosts: tuple[str, ...] | None = None
    # cgi.FieldStorage's keep_blank_values=0: fields without a value
    # (`?a`, `a=`) left out of `query` and `fields` (`parse_request`).
    keep_blank_values: bool = True
    # A hashlib name: each upload's digest, computed as its bytes arrive.
    upload_digest: str | None = None


DEFAULT_CONFIG = Config()


def digest_name(name: str | None) -> str | None:
    """`upload_digest` checked now, not on the first upload: a hashlib name."""
    if name is not None:
        import hashlib  # here: most apps take no digest, and a CGI process pays for each import

        hashlib.new(name)  # ValueError: unknown
    return name
