"""Video: decode, stylize frame by frame, encode, keep the sound, resume interrupted runs.

One module per job, lowest first: :mod:`.source` (decoding), :mod:`.temporal` (the flicker
filter), :mod:`.encoding` (encoder choice), :mod:`.segments` (segment writing and the resume
manifest), :mod:`.mux` (joining the segments, muxing the audio), :mod:`.options`
(:class:`VideoOptions`), :mod:`.pipeline` (the run). :mod:`.samples` makes synthetic clips for tests
and benchmarks. The public API::

    from animegan.video import VideoOptions, stylize_video
    stylize_video("clip.mp4", "clip_anime.mp4", options=VideoOptions(max_side=720, temporal=True))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..extras import lazy_attributes
from .options import VideoOptions
from .temporal import TemporalSettings

# the rest needs PyAV (the video extra): loaded on first use, so the options (the CLI's flags, the
# server's form) and the flicker filter import without it
_LAZY = {
    "FramesFn": "animegan.video.pipeline",
    "VideoCancelled": "animegan.video.pipeline",
    "VideoResult": "animegan.video.pipeline",
    "stylize_video": "animegan.video.pipeline",
    "VideoDecodeError": "animegan.video.source",
    "VideoTruncatedError": "animegan.video.source",
}

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import FramesFn, VideoCancelled, VideoResult, stylize_video
    from .source import VideoDecodeError, VideoTruncatedError


__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = ["FramesFn", "TemporalSettings", "VideoCancelled", "VideoDecodeError", "VideoOptions", "VideoResult",
           "VideoTruncatedError", "stylize_video"]
