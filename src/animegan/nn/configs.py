"""Building a network from a config dict (as saved in weights metadata or written in a TOML preset):
one check for generators and discriminators alike."""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from ..errors import AnimeGANError


def build_with_config(cls: type[nn.Module], cfg_cls: type, config: dict[str, Any] | None, what: str,
                      error: type[AnimeGANError]) -> nn.Module:
    """``cls(cfg_cls(**config))``; unknown keys, or a value the config refuses (wrong type, out of
    range), raise ``error`` naming ``what`` (e.g. "architecture 'cartoongan'") and the problem."""
    config = dict(config or {})
    known = {f.name for f in dataclasses.fields(cfg_cls)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise error(f"{what}: unknown config keys {unknown} (known: {sorted(known)})")
    try:
        return cls(cfg_cls(**config))
    except (ValueError, TypeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise error(f"{what}: invalid config {config} ({reason})") from None
