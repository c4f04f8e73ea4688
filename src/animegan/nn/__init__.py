"""Networks, one file each, and the table that rebuilds a generator from its saved config.

The table is explicit (no import-time scanning): adding a network means adding one line here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from ..errors import ModelError
from .animeganv2 import AnimeGANv2Config, AnimeGANv2Generator
from .configs import build_with_config

# arch name -> (module path, class name, config class name); imported lazily so one broken
# optional network never breaks the package import
GENERATORS: dict[str, tuple[str, str, str]] = {
    "animeganv2": ("animegan.nn.animeganv2", "AnimeGANv2Generator", "AnimeGANv2Config"),
    "animeganv2_slim": ("animegan.nn.animeganv2_slim", "AnimeGANv2SlimGenerator", "AnimeGANv2SlimConfig"),
    "resnet_sam": ("animegan.nn.resnet_sam", "ResNetSAMGenerator", "ResNetSAMConfig"),
    "cartoongan": ("animegan.nn.cartoongan", "CartoonGANGenerator", "CartoonGANConfig"),
}


def generator_classes(arch: str) -> tuple[type[nn.Module], type]:
    """The (generator class, config dataclass) for an architecture name."""
    import importlib

    if arch not in GENERATORS:
        raise ModelError(f"unknown architecture {arch!r} (known: {', '.join(sorted(GENERATORS))})")
    module_name, cls_name, cfg_name = GENERATORS[arch]
    module = importlib.import_module(module_name)
    return getattr(module, cls_name), getattr(module, cfg_name)


def build_generator(arch: str, config: dict[str, Any] | None = None) -> nn.Module:
    """A fresh generator of ``arch`` with ``config`` (a dict, as saved in weights metadata).

    A config the network refuses (unknown keys, a value of the wrong type or out of its range) is a
    :class:`ModelError` naming the architecture and the problem, never a bare ``ValueError``.
    """
    cls, cfg_cls = generator_classes(arch)
    return build_with_config(cls, cfg_cls, config, f"architecture {arch!r}", ModelError)


def generator_config(model: nn.Module) -> dict[str, Any]:
    """The JSON-able config of a generator built by :func:`build_generator`."""
    cfg = getattr(model, "config", None)
    return dataclasses.asdict(cfg) if cfg is not None and dataclasses.is_dataclass(cfg) else {}


__all__ = [
    "GENERATORS",
    "AnimeGANv2Config",
    "AnimeGANv2Generator",
    "build_generator",
    "generator_classes",
    "generator_config",
]
