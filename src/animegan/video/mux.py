"""Joining the segments into the output and muxing the input's audio.

The join copies the segments' packets (no re-encode) into the output container, re-timed to the
manifest, and interleaves the input's audio tracks by time: packets copied when the container takes
the codec (a trial mux says so), otherwise transcoded (AAC, or Opus in WebM); GIF drops audio.
"""

from __future__ import annotations

import heapq
import io
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

from ..extras import require
from .segments import PartsFolder
from .source import VideoSource

av = require("av", extra="video", feature="video conversion")

_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def join_segments(parts: PartsFolder, segments: list[dict], target: Path, source: VideoSource,
                  start: float | None, end: float | None) -> str:
    """Stream-copy the segments into ``target`` and add the audio; returns how the audio was handled."""
    out = av.open(str(target), "w")
    notes = []
    with out:
        with av.open(str(parts.segment_path(0).with_name(segments[0]["file"]))) as first:
            template = first.streams.video[0]
            video = out.add_stream_from_template(template)
        video.time_base = source.time_base
        # the segments' codec header carries the encoder's time base as its frame rate (12800 for a
        # 1/12800 mp4 time base): give the muxer the input's rate (mkv writes it as the frame duration)
        video.codec_context.framerate = source.fps
        if source.rotation_matrix:
            video.set_display_matrix(source.rotation_matrix)
        if source.rotate_tag:
            video.metadata["rotate"] = source.rotate_tag
        for key, value in source.metadata.items():
            out.metadata[key] = value
        feeds = [_video_packets(parts, segments, video, source)]
        audio_in = av.open(str(source.path)) if source.audio else None
        try:
            for track in source.audio:
                feed, note = _audio_feed(out, audio_in, track, start, end)
                if feed is not None:
                    feeds.append(feed)
                notes.append(note)
            for _, _, packet in heapq.merge(*feeds, key=lambda item: (item[0], item[1])):
                out.mux(packet)
        finally:
            if audio_in is not None:
                audio_in.close()
    return "; ".join(notes) if notes else "no audio"


def _video_packets(parts: PartsFolder, segments: list[dict], stream: av.VideoStream, source: VideoSource,
                   ) -> Iterator[tuple[float, int, av.Packet]]:
    """Packets of every segment in order, re-timed to the manifest (muxers may shift timestamps)."""
    last_dts = None
    for seg in segments:
        with av.open(str(parts.path / seg["file"])) as container:
            src = container.streams.video[0]
            packets = [p for p in container.demux(src) if p.size]
            if not packets:
                continue
            tb = src.time_base
            shift = round(seg["first_pts"] * source.time_base / tb) - min(p.pts for p in packets)
            # the demuxer leaves the dts of the first reordered packets unset: fill them backwards
            known = next((i for i, p in enumerate(packets) if p.dts is not None), len(packets))
            anchor = packets[known].dts if known < len(packets) else packets[0].pts
            for i in range(known):
                packets[i].dts = anchor - (known - i) * (packets[i].duration or 1)
            for packet in packets:
                packet.pts += shift
                packet.dts += shift
                if last_dts is not None and packet.dts <= last_dts:
                    packet.dts = last_dts + 1  # keep dts strictly increasing across joins
                last_dts = packet.dts
                packet.stream = stream
                yield float(packet.dts * tb), 0, packet


def _audio_feed(out: av.container.OutputContainer, inp: av.container.InputContainer, track, start, end):
    """A (time, order, packet) feed for one audio track, and a note on what is done with it."""
    src = inp.streams[track.index]
    fmt = out.format.name
    if fmt == "gif":
        return None, f"audio #{track.index} ({track.codec}) dropped: GIF has no audio"
    if _can_copy(fmt, inp.name, src):
        stream = out.add_stream_from_template(src)
        return _copied_audio(inp, src, stream, start, end), f"audio {track.codec} copied"
    target = "libopus" if fmt == "webm" else "aac"
    rate = src.codec_context.sample_rate or 48000
    if target == "libopus":
        rate = 48000
    stream = out.add_stream(target, rate=rate)
    channels = src.codec_context.channels or 2
    stream.layout = _LAYOUTS[min(channels, 8) if target == "aac" else min(channels, 2)]
    return _transcoded_audio(inp, src, stream, start, end), f"audio {track.codec} transcoded to {stream.name}"


def _can_copy(fmt: str, path: str, src: av.audio.stream.AudioStream) -> bool:
    """Whether ``fmt`` takes ``src``'s packets as they are: a trial mux into memory.

    ``supported_codecs`` is not enough: mp4 lists PCM yet fails when the file is finished.
    """
    if fmt == "webm" and src.codec_context.name not in ("opus", "vorbis"):
        return False
    try:
        with av.open(path) as probe_in, av.open(io.BytesIO(), "w", format=fmt) as trial:
            stream = trial.add_stream_from_template(probe_in.streams[src.index])
            for packet in probe_in.demux(probe_in.streams[src.index]):
                if packet.size and packet.dts is not None:
                    packet.stream = stream
                    trial.mux(packet)
                    break
        return True
    except (ValueError, av.error.FFmpegError):
        return False


def _copied_audio(inp, src, stream, start, end) -> Iterator[tuple[float, int, av.Packet]]:
    tb = src.time_base
    shift = round(start / tb) if start else 0
    for packet in inp.demux(src):
        if packet.pts is None or packet.size == 0:
            continue
        t = float(packet.pts * tb)
        if start and t < start:
            continue
        if end is not None and t >= end:
            break
        packet.pts -= shift
        packet.dts = (packet.dts if packet.dts is not None else packet.pts + shift) - shift
        packet.stream = stream
        yield float(packet.dts * tb), 1, packet


def _transcoded_audio(inp, src, stream, start, end) -> Iterator[tuple[float, int, av.Packet]]:
    rate = stream.codec_context.sample_rate
    resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=stream.layout.name, rate=rate)

    def timed(packets: list[av.Packet]) -> Iterator[tuple[float, int, av.Packet]]:
        for packet in packets:
            if packet.time_base is None:
                packet.time_base = Fraction(1, rate)  # audio encoders count in samples
            yield float(packet.dts * packet.time_base), 1, packet

    written = 0

    def encode(chunks: list[av.AudioFrame] | None) -> Iterator[tuple[float, int, av.Packet]]:
        nonlocal written
        for chunk in chunks or []:
            chunk.pts, chunk.time_base = written, Fraction(1, rate)  # output audio starts at zero
            written += chunk.samples
            yield from timed(stream.encode(chunk))

    for frame in inp.decode(src):
        if frame.time is not None:
            if start and frame.time < start:
                continue
            if end is not None and frame.time >= end:
                break
        yield from encode(resampler.resample(frame))
    yield from encode(resampler.resample(None))
    yield from timed(stream.encode(None))
