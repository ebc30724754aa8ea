"""What a Request needs to know of its App's options."""

from __future__ import annotations

from dataclasses import dataclass, field

from .limits import Limits, MiB
from .uploads import TargetFunction


@dataclass(frozen=True, slots=True)
class Config:
    strict_parsing: bool = False
    trust_proxy: bool = False
    limits: Limits = field(default_factory=Limits)
    parse_forms: bool = True
    upload_dir: str | None = None
    spool_size: int = MiB
    upload_target: TargetFunction | None = None


DEFAULT_CONFIG = Config()
