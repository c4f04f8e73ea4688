"""The discriminators by name, for the trainer: ``build_discriminator("patchgan" | "sam", config)``."""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from ..errors import ConfigError
from .patchgan import PatchGANConfig, PatchGANDiscriminator
from .sam_discriminator import SAMDiscriminator, SAMDiscriminatorConfig

#: name -> (class, config dataclass)
DISCRIMINATORS: dict[str, tuple[type[nn.Module], type]] = {
    "patchgan": (PatchGANDiscriminator, PatchGANConfig),
    "sam": (SAMDiscriminator, SAMDiscriminatorConfig),
}


def build_discriminator(name: str, config: dict[str, Any] | None = None) -> nn.Module:
    """A fresh discriminator; ``config`` holds fields of its config dataclass (unknown keys raise)."""
    if name not in DISCRIMINATORS:
        raise ConfigError(f"unknown discriminator {name!r} (known: {', '.join(sorted(DISCRIMINATORS))})")
    cls, cfg_cls = DISCRIMINATORS[name]
    config = dict(config or {})
    known = {f.name for f in dataclasses.fields(cfg_cls)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ConfigError(f"discriminator {name!r}: unknown config keys {unknown} (known: {sorted(known)})")
    try:
        return cls(cfg_cls(**config))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"discriminator {name!r}: {exc}") from None


__all__ = ["DISCRIMINATORS", "PatchGANConfig", "PatchGANDiscriminator", "SAMDiscriminator",
           "SAMDiscriminatorConfig", "build_discriminator"]
