"""What a Request needs to know of its App's options."""

from __future__ import annotations

from dataclasses import dataclass, field

from .limits import Limits


@dataclass(frozen=True, slots=True)
class Config:
    strict_parsing: bool = False
    trust_proxy: bool = False
    limits: Limits = field(default_factory=Limits)


DEFAULT_CONFIG = Config()
