"""Writing a benchmark's recorded result: ``<stem>.json`` (the figures) and ``<stem>.md`` (the report)."""

from __future__ import annotations

import json
from pathlib import Path


def write_record(folder: Path, stem: str, record: dict, lines: list[str]) -> Path:
    """Write ``folder/<stem>.json`` and ``folder/<stem>.md``; returns the stem path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / stem
    path.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"recorded {path}.md and .json")
    return path
