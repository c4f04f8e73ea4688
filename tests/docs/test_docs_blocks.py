"""Docs as tests: every shell and Python block in README.md and docs/*.md runs, as written.

Each fenced block (```sh, ```bash, ```shell, ```python) is one test. A block runs in a scratch copy
of a checkout's surroundings (``.venv`` linked, ``../shared`` beside it where this machine has one,
and the small inputs the docs name: ``photo.jpg``, ``holiday/``, ``clip.mp4``, …), with the dev
venv's ``animegan`` and ``python`` first on PATH. A shell block runs under ``bash -e -o pipefail``:
every line must succeed.

HTML comments just above a block adjust how it runs, so the doc shows what a user types:

``<!-- docs-test: skip REASON -->``
    not run (too long for a test, or needs the network); the reason is reported as the skip reason.
``<!-- docs-test: replace "OLD" "NEW" WHY -->``
    run with OLD replaced by NEW (small inputs for long runs: ``--steps 4638`` → ``--steps 2``).
``<!-- docs-test: background "COMMAND PREFIX" URL -->``
    the line starting with COMMAND PREFIX is a server: it runs in the background, the rest of the
    block runs once URL answers, and the server is stopped at the end.
``<!-- docs-test: in-repo -->``
    run from the checkout root (``make demo``).
``<!-- docs-test: timeout SECONDS -->``
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.docs

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LANGS = {"sh": "sh", "bash": "sh", "shell": "sh", "console": "sh", "python": "python", "py": "python"}
FENCE = re.compile(r"^```(\w*)\s*$")
DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(\w[\w-]*)\s*(.*?)\s*-->")


@dataclass
class Block:
    path: Path
    line: int
    lang: str
    code: str
    skip: str | None = None
    replacements: list[tuple[str, str]] = field(default_factory=list)
    background: tuple[str, str] | None = None
    in_repo: bool = False
    timeout: float = 300.0

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    def script(self) -> str:
        code = self.code
        for old, new in self.replacements:
            assert old in code, f"{self.id}: replace target {old!r} is not in the block"
            code = code.replace(old, new)
        return code


def parse_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    pending: list[tuple[str, str]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        for name, arg in DIRECTIVE.findall(line):
            pending.append((name, arg))
        fence = FENCE.match(line)
        if fence:
            lang = fence.group(1).lower()
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            if lang in LANGS:
                block = Block(path, i + 1, LANGS[lang], "\n".join(lines[i + 1:j]) + "\n")
                for name, arg in pending:
                    _apply(block, name, arg)
                blocks.append(block)
            pending = []
            i = j + 1
            continue
        if line.strip() and not DIRECTIVE.search(line):
            pending = [] if not line.lstrip().startswith("<!--") else pending
        i += 1
    return blocks


def _apply(block: Block, name: str, arg: str) -> None:
    if name == "skip":
        block.skip = arg or "marked skip"
    elif name == "replace":  # "OLD" "NEW" and, optionally, why
        old, new = shlex.split(arg)[:2]
        block.replacements.append((old, new))
    elif name == "background":
        prefix, url = shlex.split(arg)[:2]
        block.background = (prefix, url)
    elif name == "in-repo":
        block.in_repo = True
    elif name == "timeout":
        block.timeout = float(arg)
    else:
        raise ValueError(f"{block.path}:{block.line}: unknown docs-test directive {name!r}")


ALL_BLOCKS = [b for doc in DOCS for b in parse_blocks(doc)]


def _photo(src: str, dst: Path, side: int) -> None:
    img = Image.open(REPO / "src" / "animegan" / "samples" / src).convert("RGB")
    img = img.resize((side, round(side * img.height / img.width)), Image.Resampling.LANCZOS)
    dst.parent.mkdir(parents=True, exist_ok=True)
    img.save(dst)


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small inputs the docs' commands name, made once."""
    root = tmp_path_factory.mktemp("docs-inputs")
    _photo("chelsea.jpg", root / "photo.jpg", 256)
    _photo("coffee.jpg", root / "in.jpg", 192)
    _photo("rocket.jpg", root / "big.jpg", 2600)
    _photo("astronaut.jpg", root / "portrait.jpg", 256)
    _photo("coffee.jpg", root / "holiday" / "cafe.jpg", 160)
    _photo("rocket.jpg", root / "holiday" / "day2" / "launch.jpg", 160)
    _photo("chelsea.jpg", root / "more" / "cat.png", 128)
    for name in ("astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg"):  # training data: photos/, anime/
        _photo(name, root / "photos" / name, 96)
    from PIL import ImageDraw

    for i in range(4):  # flat-shaded, outlined "anime" frames
        img = Image.new("RGB", (96, 96), (200 - 30 * i, 120 + 20 * i, 90 + 40 * i))
        ImageDraw.Draw(img).ellipse((10 + 5 * i, 10, 70, 80), fill=(250, 220, 180), outline=(20, 20, 20), width=3)
        (root / "anime").mkdir(exist_ok=True)
        img.save(root / "anime" / f"frame{i}.png")
    from animegan.video.samples import write_clip

    write_clip(root / "clip.mp4", width=96, height=64, seconds=1.0, audio="aac")
    shutil.copyfile(REPO / "src" / "animegan" / "weights" / "shinkai.safetensors", root / "my-style.safetensors")
    return root


def _workdir(tmp_path: Path, inputs: Path) -> Path:
    """A scratch folder laid out like a checkout: inputs, ``.venv``, ``scripts``; ``../shared`` beside it."""
    work = tmp_path / "work"
    shutil.copytree(inputs, work)
    for name in (".venv", "scripts", "src"):
        if (REPO / name).exists():
            (work / name).symlink_to(REPO / name)
    (work / "benchmarks").mkdir()
    (work / "benchmarks" / "models").symlink_to(REPO / "benchmarks" / "models")
    (work / "benchmarks" / "results").mkdir()
    shared = REPO.parent / "shared"
    if shared.is_dir():
        (tmp_path / "shared").symlink_to(shared)
    return work


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    env["PATH"] = f"{REPO / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["ANIMEGAN_HOME"] = str(home)
    env["COLUMNS"] = "100"
    return env


def _shell(block: Block) -> str:
    code = block.script()
    lines = ["set -eo pipefail",
             ("__wait_for() { for _ in $(seq 1 900); do curl -fsS -o /dev/null \"$1\" && return 0; sleep 0.2; "
              "done; echo \"docs-test: $1 never answered\" >&2; return 1; }"),
             # errexit holds inside the trap too: every step guarded, so the block's own status stands
             "trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT"]
    placed = False
    for line in _join_continuations(code):
        if block.background and line.lstrip().startswith(block.background[0]):
            # exec: the job's PID is the server itself, so the EXIT trap stops it (not just a subshell);
            # on its own lines, so a trailing comment stays a comment
            lines.append(f"{{\nexec {line}\n}} &")
            lines.append(f"__wait_for {shlex.quote(block.background[1])}")
            placed = True
        else:
            lines.append(line)
    if block.background:
        assert placed, f"{block.id}: no line starts with {block.background[0]!r}"
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _port_lock(block: Block) -> Iterator[None]:
    """Blocks that start a server on a documented port take turns (pytest-xdist runs two at once)."""
    if block.background is None:
        yield
        return
    port = urllib.parse.urlsplit(block.background[1]).port or 80
    with open(Path(tempfile.gettempdir()) / f"animegan-docs-test-port-{port}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _join_continuations(code: str) -> list[str]:
    out: list[str] = []
    buf = ""
    for line in code.splitlines():
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        out.append(buf + line)
        buf = ""
    if buf:
        out.append(buf)
    return out


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[b.id for b in ALL_BLOCKS])
def test_doc_block_runs_as_written(block: Block, inputs: Path, tmp_path: Path, ray_turn):
    if block.skip:
        pytest.skip(f"{block.id}: {block.skip}")
    work = REPO if block.in_repo else _workdir(tmp_path, inputs)
    env = _env(tmp_path / "home")
    if block.lang == "python":
        cmd = [str(REPO / ".venv" / "bin" / "python"), "-c", block.script()]
    else:
        cmd = ["bash", "-c", _shell(block)]
    # a documented Ray run waits for the tests' Ray cluster to be gone (one Ray at a time on this machine)
    with _port_lock(block), (ray_turn() if "--ray" in block.code else contextlib.nullcontext()):
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=block.timeout,
                              check=False)
    assert proc.returncode == 0, (f"{block.id} failed (exit {proc.returncode}):\n--- block\n{block.script()}"
                                  f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}")
    assert "Traceback" not in proc.stderr, f"{block.id}: a traceback:\n{proc.stderr[-3000:]}"


def test_every_block_is_run_or_skipped_for_a_reason():
    """The extraction itself: blocks are found, and every skip gives its reason."""
    assert len(ALL_BLOCKS) >= 8, [b.id for b in ALL_BLOCKS]
    for block in ALL_BLOCKS:
        if block.skip is not None:
            assert len(block.skip) > 10, f"{block.id}: a skip needs a reason"


if __name__ == "__main__":  # list what would run
    for b in ALL_BLOCKS:
        print(b.id, b.lang, "SKIP " + b.skip if b.skip else "run", b.replacements or "", file=sys.stdout)
