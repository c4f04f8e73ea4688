"""The package layout is the architecture (docs/DESIGN.md): import-linter's contracts in pyproject.toml
(layers, no cycles inside a package, torch-only networks) hold for the code as it is."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None, "import-linter is missing: it is in the dev extra, which make test installs"
    result = subprocess.run([exe, "--no-cache"], check=False, cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "BROKEN" not in report and report.count(" KEPT") >= 3, report
