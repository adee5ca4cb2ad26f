"""Writing reports: JSON written atomically, so a failed run never leaves half a file."""

from __future__ import annotations

from pathlib import Path

from vsr.fs import write_json_atomic


def write_json(path: str | Path, data: dict) -> None:
    """`data` as indented JSON with a final newline, written atomically (vsr/fs.py)."""
    write_json_atomic(path, data, indent=2)
