"""Temp files of atomic writes: a writer killed with -9 leaves one; the next run sweeps it, a live one's stays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from animegan.errors import InputError
from animegan.io.atomic import atomic_path, check_writable_folder, is_temp_name, sweep_stale_temps

# a writer that holds its temp file open until killed: what kill -9 in mid-save leaves behind
_WRITER = """
import sys, time
from animegan.io.atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"half an image")
    print(tmp, flush=True)
    time.sleep(120)
"""


def _start_writer(target: Path) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()  # type: ignore[union-attr]
    assert line, "the writer did not start"
    return proc, Path(line)


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def test_next_run_sweeps_a_killed_writers_temp_but_not_a_live_ones(tmp_path: Path) -> None:
    killed, killed_tmp = _start_writer(tmp_path / "a.png")
    live, live_tmp = _start_writer(tmp_path / "b.png")
    try:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
        assert killed_tmp.exists() and is_temp_name(killed_tmp.name) and str(killed.pid) in killed_tmp.name
        time.sleep(0.05)  # the next run starts after the kill
        # the next run: a fresh process whose first atomic write in the folder sweeps it
        code = "import sys; from animegan.io.atomic import atomic_write_bytes; atomic_write_bytes(sys.argv[1], b'ok')"
        subprocess.run([sys.executable, "-c", code, str(tmp_path / "c.png")], check=True)
        assert not killed_tmp.exists()
        assert live_tmp.exists(), "a live writer's temp file was swept"
        assert (tmp_path / "c.png").read_bytes() == b"ok"
    finally:
        live.kill()
        live.wait()
    assert not (tmp_path / "a.png").exists() and not (tmp_path / "b.png").exists()


def test_sweep_takes_only_stale_temp_names(tmp_path: Path) -> None:
    old = time.time() - 10 * 86400  # long before this test process started
    dead = _dead_pid()
    stale = [tmp_path / f".photo.abcd1234.{dead}.part.png", tmp_path / ".00000500.x_y9z8w7.part.pt",
             tmp_path / f".clip.q1w2e3r4.{dead}.part.mp4"]
    kept = [tmp_path / ".hidden", tmp_path / "photo.part.png", tmp_path / f".photo.abcd1234.{os.getppid()}.part.png",
            tmp_path / "notes.txt"]
    for path in stale + kept:
        path.write_bytes(b"x")
        os.utime(path, (old, old))
    fresh = tmp_path / f".new.abcd1234.{dead}.part.png"  # modified after this process started
    fresh.write_bytes(b"x")
    removed = sweep_stale_temps(tmp_path)
    assert sorted(removed) == sorted(stale)
    assert all(p.exists() for p in [*kept, fresh])
    assert sweep_stale_temps(tmp_path / "missing") == []


def test_atomic_path_temp_names_carry_the_pid(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "out.png") as tmp:
        assert is_temp_name(tmp.name) and f".{os.getpid()}.part.png" in tmp.name
        tmp.write_bytes(b"png")
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_output_folder_checked_before_any_work(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    with pytest.raises(InputError, match="blocker is a file, not a folder"):
        check_writable_folder(blocker)
    with pytest.raises(InputError, match="-o x: .*sub cannot be created: .*blocker is a file"):
        check_writable_folder(blocker / "sub", label="-o x")
    check_writable_folder(tmp_path / "new" / "deep")
    assert not (tmp_path / "new").exists()  # checked, nothing created
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]
