"""Video conversion: frames, timing, audio, rotation, GIF, frame folders, resume, errors."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from fractions import Fraction

import av
import numpy as np
import pytest

from animegan.errors import InputError, ParamError
from animegan.video import VideoDecodeError, VideoOptions, stylize_video
from animegan.video.samples import read_audio, read_frames, write_clip


def posterize(frames: np.ndarray) -> np.ndarray:
    """A cheap, deterministic stand-in style: 4 levels per channel, colours swapped."""
    return ((frames // 64) * 85).astype(np.uint8)[..., ::-1].copy()


def video_info(path):
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = list(c.decode(v))
        return {"frames": len(frames), "pts": [f.pts for f in frames], "tb": v.time_base,
                "rate": v.average_rate, "duration": float(v.duration * v.time_base) if v.duration else None,
                "size": (frames[0].width, frames[0].height), "rotation": frames[0].rotation,
                "sar": v.sample_aspect_ratio or v.codec_context.sample_aspect_ratio,
                "streams": [(s.type, s.codec_context.name) for s in c.streams]}


@pytest.fixture(scope="module")
def aac_clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clips") / "tone.mp4", width=320, height=240, fps=25, seconds=3)


def test_mp4_with_aac_keeps_frame_count_duration_and_exact_audio(aac_clip, tmp_path):
    out = tmp_path / "out.mp4"
    result = stylize_video(aac_clip, out, posterize, VideoOptions(batch_size=4, segment_frames=30))
    src, dst = video_info(aac_clip), video_info(out)
    assert dst["frames"] == src["frames"] == 75 == result.frames
    assert dst["size"] == (320, 240)
    assert abs(dst["duration"] - src["duration"]) <= 1 / 25
    assert dst["rate"] == 25
    assert result.audio == "audio aac copied"
    assert np.array_equal(read_audio(out), read_audio(aac_clip))  # packets copied: identical samples
    # the pixels are the stand-in style of the input, up to the codec's loss
    expected = posterize(read_frames(aac_clip)[40:41])[0].astype(int)
    assert np.abs(read_frames(out)[40].astype(int) - expected).mean() < 12
    assert not (tmp_path / "out.mp4.parts").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]  # no temporary files left


def test_mkv_with_opus_audio_is_copied(tmp_path):
    clip = write_clip(tmp_path / "in.mkv", width=160, height=120, seconds=1, audio="libopus")
    out = tmp_path / "out.mkv"
    result = stylize_video(clip, out, posterize)
    assert result.audio == "audio opus copied"
    assert video_info(out)["frames"] == 25
    assert ("audio", "opus") in video_info(out)["streams"]
    assert np.array_equal(read_audio(out), read_audio(clip))


def test_clip_without_audio_gives_video_only(tmp_path):
    clip = write_clip(tmp_path / "silent.mp4", width=160, height=120, seconds=1, audio=None)
    out = tmp_path / "out.mp4"
    result = stylize_video(clip, out, posterize)
    assert result.audio == "no audio"
    assert video_info(out)["streams"] == [("video", "h264")]
    assert video_info(out)["frames"] == 25


def test_audio_the_container_cannot_take_is_transcoded(tmp_path, caplog):
    clip = write_clip(tmp_path / "pcm.mkv", width=96, height=64, seconds=1, audio="pcm_s16le", subtitle=True)
    with caplog.at_level(logging.INFO, logger="animegan"):
        result = stylize_video(clip, tmp_path / "out.mp4", posterize)
    assert result.audio == "audio pcm_s16le transcoded to aac"
    assert "subtitle stream #2 (srt) dropped" in caplog.text
    info = video_info(tmp_path / "out.mp4")
    assert info["streams"] == [("video", "h264"), ("audio", "aac")]
    audio = read_audio(tmp_path / "out.mp4")
    assert audio.shape[0] == 2 and abs(audio.shape[1] - 44100) < 3000  # one second, AAC priming aside
    assert 0.15 < float(np.abs(audio[0, 5000:40000]).mean()) < 0.25  # the 0.3-amplitude tone survives


def test_rotation_and_pixel_aspect_are_kept(tmp_path):
    clip = write_clip(tmp_path / "rot.mp4", width=96, height=64, seconds=0.4, rotation=90,
                      sample_aspect_ratio=Fraction(4, 3))
    out = tmp_path / "out.mp4"
    stylize_video(clip, out, posterize)
    src, dst = video_info(clip), video_info(out)
    assert src["rotation"] == 90 and dst["rotation"] == 90
    assert dst["sar"] == Fraction(4, 3)
    assert dst["size"] == (96, 64)  # stored orientation untouched, players rotate on display


def test_max_side_start_and_end_trim_video_and_audio(aac_clip, tmp_path):
    out = tmp_path / "trim.mp4"
    result = stylize_video(aac_clip, out, posterize, VideoOptions(max_side=101, start=0.5, end=2.0))
    info = video_info(out)
    assert info["size"] == (100, 76)  # 101×75.75 → 101×76, width made even for yuv420p
    assert info["frames"] == result.frames == 37  # frames at 0.52 s … 1.96 s
    audio_seconds = read_audio(out).shape[1] / 44100
    assert abs(audio_seconds - 1.5) < 0.05


def test_gif_round_trip_keeps_frames_timing_and_colours(tmp_path):
    clip = write_clip(tmp_path / "in.gif", width=96, height=64, fps=10, seconds=1.2, codec="gif", audio=None)
    out = tmp_path / "out.gif"
    result = stylize_video(clip, out, posterize)
    src, dst = video_info(clip), video_info(out)
    assert dst["frames"] == src["frames"] == 12 == result.frames
    assert dst["pts"] == src["pts"]  # GIF delays (1/100 s) kept
    expected = posterize(read_frames(clip)).astype(int)
    assert np.abs(read_frames(out).astype(int) - expected).mean() < 3  # posterized colours fit a palette
    # and a GIF converts to mp4 as well
    stylize_video(clip, tmp_path / "gif.mp4", posterize)
    assert video_info(tmp_path / "gif.mp4")["frames"] == 12


def test_folder_of_frames_becomes_a_video_at_the_given_fps(tmp_path):
    from PIL import Image

    folder = tmp_path / "render"
    folder.mkdir()
    for i in (1, 2, 10, 3):  # natural order: 1, 2, 3, 10
        Image.fromarray(np.full((48, 64, 3), i * 20, np.uint8)).save(folder / f"frame{i}.png")
    (folder / "notes.txt").write_text("not a frame")
    out = tmp_path / "render.mp4"
    stylize_video(folder, out, lambda f: f, VideoOptions(fps=12))
    info = video_info(out)
    assert info["frames"] == 4 and info["rate"] == 12
    levels = read_frames(out).reshape(4, -1).mean(axis=1)
    assert np.allclose(levels, [20, 40, 60, 200], atol=3)


class Interrupt(Exception):
    pass


def test_resume_after_interruption_redoes_only_unfinished_segments(aac_clip, tmp_path):
    out = tmp_path / "out.mp4"
    smoothed = VideoOptions(max_side=96, segment_frames=20, batch_size=5, temporal=True, temporal_strength=0.5,
                            crf=0)

    def stop_after_45(done, total):
        if done >= 45:
            raise Interrupt

    with pytest.raises(Interrupt):
        stylize_video(aac_clip, out, posterize, smoothed, progress=stop_after_45)
    assert not out.exists()
    manifest = json.loads((tmp_path / "out.mp4.parts" / "manifest.json").read_text())
    finished = sum(seg["frames"] for seg in manifest["segments"])
    assert finished in (20, 40)  # whole segments only; the encoder may lag the model by a batch

    result = stylize_video(aac_clip, out, posterize, replace(smoothed, resume=True))
    assert result.frames == 75 and result.stylized == 75 - finished
    reference = tmp_path / "ref.mp4"
    stylize_video(aac_clip, reference, posterize, smoothed)
    assert video_info(out)["pts"] == video_info(reference)["pts"]
    # lossless x264 (crf 0): any difference would come from the resume, e.g. a restarted flicker filter
    assert np.array_equal(read_frames(out), read_frames(reference))
    assert np.array_equal(read_audio(out), read_audio(aac_clip))


def test_resume_with_other_settings_starts_over(aac_clip, tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(Interrupt):
        stylize_video(aac_clip, out, posterize, VideoOptions(max_side=64, segment_frames=10),
                      progress=lambda d, t: (_ for _ in ()).throw(Interrupt) if d >= 30 else None)
    result = stylize_video(aac_clip, out, posterize, VideoOptions(max_side=80, segment_frames=10, resume=True))
    assert result.stylized == 75 and video_info(out)["size"] == (80, 60)


def test_real_stylizer_with_a_tiny_random_generator(tmp_path):
    import torch

    from animegan.inference.stylizer import Stylizer
    from animegan.nn import AnimeGANv2Generator

    torch.manual_seed(0)
    stylizer = Stylizer(AnimeGANv2Generator(), device="cpu", precision="fp32")
    clip = write_clip(tmp_path / "in.mp4", width=64, height=48, seconds=0.4)
    result = stylize_video(clip, tmp_path / "out.mp4", stylizer, VideoOptions(batch_size=4))
    frames = read_frames(tmp_path / "out.mp4")
    direct = stylizer.stylize_frames(read_frames(clip))
    assert frames.shape == (10, 48, 64, 3) and result.frames == 10
    assert np.abs(frames.astype(int) - direct.astype(int)).mean() < 4  # same as the Stylizer, codec aside


@pytest.mark.parametrize("content, message", [(b"this is not a video", "not a readable video"),
                                               (b"", "not a readable video")])
def test_not_a_video_is_one_clear_error(tmp_path, content, message):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(VideoDecodeError, match=message) as info:
        stylize_video(bad, tmp_path / "out.mp4", posterize)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out.mp4").exists()


def test_missing_input_and_bad_options_are_input_errors(aac_clip, tmp_path):
    with pytest.raises(InputError, match="no such file"):
        stylize_video(tmp_path / "nope.mp4", tmp_path / "out.mp4", posterize)
    with pytest.raises(ParamError, match="^codec nope: no such video encoder") as info:
        stylize_video(aac_clip, tmp_path / "out.mp4", posterize, VideoOptions(codec="nope"))
    assert info.value.as_flag().startswith("--codec nope: no such video encoder")
    with pytest.raises(InputError, match="webm container does not take libx264"):
        stylize_video(aac_clip, tmp_path / "out.webm", posterize, VideoOptions(codec="h264"))
    with pytest.raises(InputError, match="unknown video container .xyz"):
        stylize_video(aac_clip, tmp_path / "out.xyz", posterize)
    with pytest.raises(ParamError, match=r"^end 1: must be later than the start \(2 s\)"):
        stylize_video(aac_clip, tmp_path / "out.mp4", posterize, VideoOptions(start=2, end=1))
    with pytest.raises(InputError, match="expected the same shape"):
        stylize_video(aac_clip, tmp_path / "out.mp4", lambda f: f[:, ::2], VideoOptions(max_side=64))
