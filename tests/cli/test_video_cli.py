"""`animegan video` as a user runs it: a real process, real files, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from animegan.cli.video import default_output, parse_time
from animegan.errors import InputError
from animegan.video.samples import read_audio, read_frames, write_clip


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="2", COLUMNS="120")
    return subprocess.run([sys.executable, "-m", "animegan", *args], check=False, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_video_command_converts_with_sound_and_reports(tmp_path, tiny_weights):
    clip = write_clip(tmp_path / "clip.mp4", width=96, height=64, seconds=1)
    result = run_cli("video", str(clip), "-o", str(tmp_path / "out.mkv"), "--model", str(tiny_weights),
                     "--device", "cpu", "--precision", "fp32", "--temporal", "--start", "0:00.2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "frames/s" in result.stderr and "wrote" in result.stderr
    frames = read_frames(tmp_path / "out.mkv")
    assert frames.shape == (20, 64, 96, 3)  # 1 s at 25 fps from 0.2 s on
    assert abs(read_audio(tmp_path / "out.mkv").shape[1] / 44100 - 0.8) < 0.05
    assert result.stdout == ""  # diagnostics on stderr only


def test_video_command_bad_input_is_one_line_and_nonzero(tmp_path, tiny_weights):
    (tmp_path / "notes.mp4").write_text("not a video at all")
    for target, message in [("notes.mp4", "not a readable video"), ("missing.mp4", "no such file")]:
        result = run_cli("video", target, "--model", str(tiny_weights), "--device", "cpu", cwd=tmp_path)
        assert result.returncode != 0
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0] and target in lines[0], result.stderr
        assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mp4"]  # nothing written


def test_time_parsing_and_default_names(tmp_path):
    assert parse_time("12.5", "--start") == 12.5
    assert parse_time("1:02", "--start") == 62
    assert parse_time("01:00:02.5", "--end") == 3602.5
    with pytest.raises(InputError, match="--end soon"):
        parse_time("soon", "--end")
    assert default_output(Path("a/clip.mov")) == Path("a/clip_anime.mov")
    assert default_output(Path("a/clip.avi")) == Path("a/clip_anime.mp4")
    assert default_output(Path("a/loop.gif")) == Path("a/loop_anime.gif")
    np.testing.assert_equal(parse_time(None, "--start"), None)
