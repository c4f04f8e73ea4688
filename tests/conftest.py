from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, read in place (never copied into the repo)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present on this machine")
    return SHARED_DATA


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    """A seeded 4-channel CartoonGAN in our weights format: fast CLI and video runs."""
    from animegan.hub.weights import ModelInfo, save_weights
    from animegan.nn import build_generator

    torch.manual_seed(0)
    config = {"base_channels": 4, "n_res_blocks": 1}
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_weights(path, build_generator("cartoongan", config), ModelInfo(arch="cartoongan", config=config))
    return path


@pytest.fixture(scope="session")
def command_params():
    """``command_params("stylize")``: the named ``animegan`` command's click parameters by name (their
    defaults and help as a user sees them in ``--help``)."""
    import typer

    from animegan.cli.main import app

    def params(name: str) -> dict:
        command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
        return {p.name: p for p in command.params}

    return params


@pytest.fixture(scope="session")
def ray_turn():
    """A context manager that waits its turn for Ray on this machine: two Ray clusters started at once
    by the two pytest-xdist workers (the tests' cluster and a documented `--ray local` run) fight over
    the same loopback address and ports, so they take turns under one file lock."""
    import contextlib
    import fcntl
    import tempfile

    @contextlib.contextmanager
    def turn():
        with open(Path(tempfile.gettempdir()) / "animegan-tests-ray.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    return turn


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own model cache so nothing leaks between tests or into ~/.cache."""
    monkeypatch.setenv("ANIMEGAN_HOME", str(tmp_path_factory.mktemp("animegan-home")))


# ---- the tiers that meet the product as users do: counted at the end of every run --------------------

_TIERS = {"installed": "installed-package checks", "docs": "docs-as-tests checks"}
_TIER_COUNTS: dict[str, dict[str, int]] = {tier: {} for tier in _TIERS}


def pytest_runtest_logreport(report):
    parts = Path(report.nodeid.split("::")[0]).parts  # "tests/installed/test_x.py::test_y" (xdist too)
    tier = next((t for t in _TIERS if parts[:2] == ("tests", t)), None)
    if tier is None:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        counts = _TIER_COUNTS[tier]
        counts[report.outcome] = counts.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter):
    lines = []
    for tier, label in _TIERS.items():
        counts = _TIER_COUNTS[tier]
        text = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "none ran"
        lines.append(f"{label}: {text}")
    terminalreporter.write_sep("-", "tiers that run what users run")
    for line in lines:
        terminalreporter.write_line(line)
