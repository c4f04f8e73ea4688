"""animegan: photos and videos to anime-style art with AnimeGANv2-family GANs.

The public façade. Create a model or Stylizer once and reuse it in loops::

    from animegan import Stylizer
    stylizer = Stylizer("hayao")
    for path in photos:
        stylizer.stylize_file(path, out_dir / path.name)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# lazy attributes: `import animegan` stays cheap and never fails because an optional part broke
_LAZY = {
    "load_model": "animegan.inference.stylizer",
    "Stylizer": "animegan.inference.stylizer",
    "stylize_image": "animegan.inference.stylizer",
    "StylizeOptions": "animegan.inference.options",
    "list_models": "animegan.hub.zoo",
    "stylize_video": "animegan.video.pipeline",
}

if TYPE_CHECKING:  # pragma: no cover
    from .hub.zoo import list_models
    from .inference.options import StylizeOptions
    from .inference.stylizer import Stylizer, load_model, stylize_image
    from .video.pipeline import stylize_video


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'animegan' has no attribute {name!r}")


__all__ = [
    "StylizeOptions",
    "Stylizer",
    "__version__",
    "list_models",
    "load_model",
    "stylize_image",
    "stylize_video",
]
