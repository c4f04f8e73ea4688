"""Start-up: a command imports its own module and what it uses, not every command's (benchmarks/bench_startup.py
measures the time; this checks what is imported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

# runs `animegan ARGS...` in a fresh interpreter, then prints the animegan modules it imported
_RUN = """
import json, sys
from animegan.cli.main import main
sys.argv = ["animegan", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules if m.startswith("animegan"))}))
"""

#: what `animegan stylize` (local, torch backend) never uses
_UNUSED = ("animegan.cli.train", "animegan.cli.data", "animegan.cli.distill", "animegan.cli.video",
           "animegan.cli.serve", "animegan.cli.deploy", "animegan.cli.eval", "animegan.cli.models",
           "animegan.training", "animegan.video", "animegan.server", "animegan.compress", "animegan.evaluation")


def _animegan(*args: str, cwd: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", _RUN, json.dumps(list(args))], capture_output=True, text=True,
                          cwd=cwd, timeout=300, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_stylize_imports_none_of_the_other_commands(tmp_path: Path, model_file: Path) -> None:
    Image.new("RGB", (48, 32), (120, 80, 40)).save(tmp_path / "one.jpg")
    run = _animegan("stylize", "one.jpg", "-o", "out/", "-m", str(model_file), cwd=tmp_path)
    assert run["code"] == 0 and [p.name for p in (tmp_path / "out").iterdir()] == ["one.jpg"]
    assert "animegan.cli.stylize" in run["modules"]
    unused = [m for m in run["modules"] if any(m == u or m.startswith(u + ".") for u in _UNUSED)]
    assert unused == []


def test_root_help_still_lists_every_command(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "animegan", "--help"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300, check=True, env={**os.environ, "COLUMNS": "200"})
    listed = {line.split()[1] for line in proc.stdout.splitlines() if line.startswith("│ ") and len(line.split()) > 2}
    for name in ("stylize", "models", "eval", "train", "data", "distill", "video", "serve", "export", "quantize",
                 "prune", "bench"):
        assert name in listed, proc.stdout
