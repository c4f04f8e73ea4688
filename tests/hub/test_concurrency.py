"""Concurrent `models import` into one cache: no lost index entries, no orphans, one winner per name.

Real processes (forked, so each one skips the torch import), all released at once by a barrier,
each running the library import exactly as `animegan models import` does.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import torch

from animegan.errors import AnimeGANError
from animegan.hub import cache, zoo
from animegan.hub.loading import load_generator_file
from animegan.hub.weights import ModelInfo, save_weights
from animegan.nn import build_generator

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork start method")

N_PROCESSES = 20


@pytest.fixture
def tiny_file(tmp_path) -> Path:
    torch.manual_seed(0)
    model = build_generator("cartoongan", {"base_channels": 2, "n_res_blocks": 1})
    path = tmp_path / "tiny.safetensors"
    save_weights(path, model, ModelInfo(arch="cartoongan", config={"base_channels": 2, "n_res_blocks": 1}))
    return path


def _import_worker(barrier, results, path: str, name: str) -> None:
    try:
        barrier.wait(timeout=60)
        zoo.shipped_zoo().import_model(path, name)
        results.put((name, os.getpid(), "ok"))
    except AnimeGANError as exc:  # the expected refusal: reported to the parent, which asserts on it
        results.put((name, os.getpid(), f"{type(exc).__name__}: {exc}"))
    except Exception:  # noqa: BLE001 (anything else: its traceback, so the parent shows it)
        results.put((name, os.getpid(), traceback.format_exc()))


def _run_concurrently(path: Path, names: list[str]) -> list[tuple[str, int, str]]:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(names))
    results = ctx.Queue()
    procs = [ctx.Process(target=_import_worker, args=(barrier, results, str(path), n)) for n in names]
    for p in procs:
        p.start()
    out = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return out


def test_twenty_concurrent_imports_keep_every_entry_and_leave_no_orphans(tiny_file):
    names = [f"m{i:02d}" for i in range(N_PROCESSES)]
    results = _run_concurrently(tiny_file, names)
    assert sorted(r[2] for r in results) == ["ok"] * N_PROCESSES, results

    index = json.loads(cache.index_path().read_text())["models"]
    assert sorted(index) == names  # nothing lost
    files = {p.name for p in cache.models_dir().iterdir()}
    assert files == {f"{n}.safetensors" for n in names} | {"index.json", "index.lock"}  # no orphans, no temps
    for name in names:
        assert index[name]["file"] == f"{name}.safetensors"
        model, info = load_generator_file(zoo.resolve_model(name, download=False))
        assert info.arch == "cartoongan" and model.config.base_channels == 2


def test_concurrent_imports_under_one_name_have_exactly_one_winner(tiny_file):
    results = _run_concurrently(tiny_file, ["same"] * 8)
    outcomes = [r[2] for r in results]
    assert outcomes.count("ok") == 1, outcomes
    for failure in (o for o in outcomes if o != "ok"):
        assert failure == "ModelError: a model named 'same' is already imported; add --force to replace it"
    assert sorted(json.loads(cache.index_path().read_text())["models"]) == ["same"]
    assert {p.name for p in cache.models_dir().iterdir()} == {"same.safetensors", "index.json", "index.lock"}


def test_a_lock_held_by_a_killed_process_is_released(tiny_file, tmp_path):
    """A second import waits for nothing a killed one held: the kernel drops a dead process's lock."""
    home = Path(os.environ[cache.HOME_ENV])
    code = ("import os, sys\n"
            "from animegan.hub import cache\n"
            "with cache.index_lock():\n"
            "    print('locked', flush=True)\n"
            "    sys.stdin.read()\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              env={**os.environ, cache.HOME_ENV: str(home)}, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        holder.kill()  # kill -9 while holding the lock
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    zoo.shipped_zoo().import_model(tiny_file, "after_kill")
    assert "after_kill" in cache.read_index()
