"""animegan: photos and videos to anime-style art with AnimeGANv2-family GANs.

The public façade. Create a model or Stylizer once and reuse it in loops::

    from animegan import Stylizer
    stylizer = Stylizer("hayao")
    for path in photos:
        stylizer.stylize_file(path, out_dir / path.name)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .extras import lazy_attributes

__version__ = "0.1.0"

# lazy attributes: `import animegan` stays cheap and never fails because an optional part broke
_LAZY = {
    "load_model": "animegan.inference.stylizer",
    "Stylizer": "animegan.inference.stylizer",
    "stylize_image": "animegan.inference.stylizer",
    "StylizeOptions": "animegan.inference.options",
    "list_models": "animegan.hub.zoo",
    "stylize_video": "animegan.video",
    "VideoOptions": "animegan.video",
}

if TYPE_CHECKING:  # pragma: no cover
    from .hub.zoo import list_models
    from .inference.options import StylizeOptions
    from .inference.stylizer import Stylizer, load_model, stylize_image
    from .video import VideoOptions, stylize_video


__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "StylizeOptions",
    "Stylizer",
    "VideoOptions",
    "__version__",
    "list_models",
    "load_model",
    "stylize_image",
    "stylize_video",
]
