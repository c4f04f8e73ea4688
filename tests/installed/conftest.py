"""The installed-package tier: animegan as a user gets it from a wheel, outside the checkout.

One wheel is built from the working tree per test session and installed into two fresh virtual
environments that live outside the checkout:

- ``base``: ``pip install torch==2.13.0 <wheel>`` (no extras), as a plain ``pip install animegan``;
- ``all``: the wheel over the development venv's already-installed dependencies (a ``.pth`` file
  names its site-packages, so torch and every extra are shared instead of reinstalled; the wheel
  itself is installed with ``--ignore-installed --no-deps`` so the checkout's editable install is
  neither seen nor touched).

Every command runs from an empty temporary folder (no ``../shared`` beside it, no ``src/`` to fall
back on), with a fresh ``ANIMEGAN_HOME``, at default settings: no ``--precision``/``--device``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass
class Env:
    """One installed environment and a scratch folder to run its commands in."""

    root: Path
    workdir: Path
    home: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["ANIMEGAN_HOME"] = str(self.home)
        env["COLUMNS"] = "100"
        return env

    def run(self, *args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """``animegan ARGS`` as installed, in the scratch folder."""
        return subprocess.run([str(self.bin / "animegan"), *args], cwd=cwd or self.workdir, env=self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False)

    def python(self, code: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin / "python"), "-c", code], cwd=self.workdir, env=self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # built from a clean copy: no build/ or *.egg-info left by an editable install or another build
    src = out / "src-copy"
    shutil.copytree(REPO, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", "runs",
        "demo-output"))
    # no build isolation: the dev venv's setuptools builds it, no index needed
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
          str(src)], cwd=out)
    wheels = sorted(out.glob("animegan-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _scratch(factory: pytest.TempPathFactory, name: str, root: Path) -> Env:
    work = factory.mktemp(f"{name}-work")
    assert not (work.parent / "shared").exists() and not (work / "src").exists()
    return Env(root=root, workdir=work, home=factory.mktemp(f"{name}-home"))


@pytest.fixture(scope="session")
def base_env(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Env:
    """``pip install torch==2.13.0 animegan.whl`` in a fresh venv: the base install, no extras."""
    root = tmp_path_factory.mktemp("venv-base") / "venv"
    _run([sys.executable, "-m", "venv", str(root)])
    _run([str(root / "bin" / "python"), "-m", "pip", "install", "-q", "torch==2.13.0", str(wheel)])
    return _scratch(tmp_path_factory, "base", root)


@pytest.fixture(scope="session")
def all_env(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Env:
    """The wheel with every extra: dependencies shared from the dev venv through a .pth file."""
    root = tmp_path_factory.mktemp("venv-all") / "venv"
    _run([sys.executable, "-m", "venv", str(root)])
    py = root / "bin" / "python"
    site = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    (Path(site) / "_animegan_shared_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", str(wheel)])
    env = _scratch(tmp_path_factory, "all", root)
    where = env.python("import animegan; print(animegan.__file__)")
    assert where.returncode == 0 and where.stdout.strip().startswith(str(root)), where.stdout + where.stderr
    return env


def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()
