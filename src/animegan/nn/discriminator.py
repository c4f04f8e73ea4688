"""The discriminators by name, for the trainer: ``build_discriminator("patchgan" | "sam", config)``."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import ConfigError
from .configs import build_with_config
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
    return build_with_config(cls, cfg_cls, config, f"discriminator {name!r}", ConfigError)


__all__ = ["DISCRIMINATORS", "PatchGANConfig", "PatchGANDiscriminator", "SAMDiscriminator",
           "SAMDiscriminatorConfig", "build_discriminator"]
