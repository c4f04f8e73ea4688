"""Stylize photo collections on a Ray cluster (``pip install "animegan[ray]"``).

Two entry points:

- :func:`stylize_files`: a list of ``(input, output)`` paths in, one :class:`ItemResult` per pair
  out. It is what ``animegan stylize ... --ray`` runs.
- :class:`StylizeWorker`: the per-actor callable itself, for a user's own Ray Data pipeline::

      ds = ray.data.from_items([{"input": "a.jpg", "output": "out/a.jpg"}])
      ds = ds.map_batches(StylizeWorker, fn_constructor_kwargs={"model": "hayao"},
                          compute=ray.data.ActorPoolStrategy(size=2), num_cpus=1)

Ray is imported only when a run starts; without it the error is one line naming the extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..extras import lazy_attributes

_LAZY = {
    "StylizeWorker": "animegan.distributed.worker",
    "ItemResult": "animegan.distributed.worker",
    "DistributedError": "animegan.distributed.worker",
    "stylize_files": "animegan.distributed.runner",
    "connect": "animegan.distributed.runner",
    "VideoChunkWorker": "animegan.distributed.video",
    "stylize_video_on_ray": "animegan.distributed.video",
}

if TYPE_CHECKING:  # pragma: no cover
    from .runner import connect, stylize_files
    from .video import VideoChunkWorker, stylize_video_on_ray
    from .worker import DistributedError, ItemResult, StylizeWorker

__all__ = ["DistributedError", "ItemResult", "StylizeWorker", "VideoChunkWorker", "connect", "stylize_files",
           "stylize_video_on_ray"]
__getattr__ = lazy_attributes(__name__, _LAZY)
