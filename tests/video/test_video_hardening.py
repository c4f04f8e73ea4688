"""Video hardening: truncated inputs, an existing output, the MKV frame rate (real files made with PyAV)."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from animegan.cli.main import app
from animegan.video import VideoOptions, VideoTruncatedError, stylize_video
from animegan.video.samples import moving_frames, read_frames

FRAMES = 60


def _faststart_mp4(path: Path, frames: int = FRAMES) -> Path:
    """An H.264 MP4 with its index (moov) at the front, so a cut-off copy still opens and declares 60 frames."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "crf": "20"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i, rgb in enumerate(moving_frames(64, 48, frames)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("clips")
    full = _faststart_mp4(folder / "full.mp4")
    data = full.read_bytes()
    cut = folder / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])  # a download that broke off
    with av.open(str(cut)) as c:
        assert c.streams.video[0].frames == FRAMES  # the cut file still declares every frame
    return full, cut


def _identity(frames: np.ndarray) -> np.ndarray:
    return frames


def test_truncated_video_is_refused_then_written_on_request(clips, tmp_path, caplog):
    _, cut = clips
    out = tmp_path / "out.mp4"
    with pytest.raises(VideoTruncatedError, match=rf"cut\.mp4: truncated video: only \d+ of the {FRAMES} frames"
                       ) as info:
        stylize_video(cut, out, _identity)
    decoded = info.value.decoded
    assert 0 < decoded < FRAMES - 5 and info.value.declared == FRAMES
    assert not out.exists()  # nothing half-written under the final name
    assert (tmp_path / "out.mp4.parts").is_dir()  # the stylized frames wait for --resume
    with caplog.at_level(logging.WARNING, logger="animegan"):
        result = stylize_video(cut, out, _identity, VideoOptions(resume=True, allow_truncated=True))
    assert result.truncated and result.frames == decoded and result.stylized == 0 and result.declared == FRAMES
    assert len(read_frames(out)) == decoded
    assert any("truncated" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_complete_video_is_not_flagged(clips, tmp_path):
    full, _ = clips
    result = stylize_video(full, tmp_path / "out.mp4", _identity)
    assert not result.truncated and result.frames == FRAMES == result.declared


def test_mkv_output_reports_the_input_frame_rate(clips, tmp_path):
    full, _ = clips
    out = tmp_path / "out.mkv"
    stylize_video(full, out, _identity)
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        assert stream.average_rate == 25 and stream.guessed_rate == 25
        assert sum(1 for _ in c.decode(stream)) == FRAMES


def _video(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["video", *args, "--precision", "fp32"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr


def test_cli_truncated_input_fails_unless_allowed(clips, tiny_weights, tmp_path):
    _, cut = clips
    out = tmp_path / "out.mp4"
    code, err = _video(str(cut), "-o", str(out), "--model", str(tiny_weights))
    assert code == 1 and err.count("error:") == 1 and "truncated video" in err and "--allow-truncated" in err
    assert "Traceback" not in err and not out.exists()
    code, err = _video(str(cut), "-o", str(out), "--model", str(tiny_weights), "--resume", "--allow-truncated")
    assert code == 0, err
    flat = " ".join(err.split())  # the log handler wraps long lines at the console's width
    assert "truncated video" in flat and "WARNING" in flat and out.exists()


def test_cli_skips_an_existing_output_unless_overwrite(clips, tiny_weights, tmp_path):
    full, _ = clips
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an earlier result")
    code, err = _video(str(full), "-o", str(out), "--model", str(tiny_weights))
    assert code == 0 and "skipped" in err and "--overwrite" in err
    assert out.read_bytes() == b"an earlier result"
    code, err = _video(str(full), "-o", str(out), "--model", str(tiny_weights), "--overwrite")
    assert code == 0, err
    assert len(read_frames(out)) == FRAMES
