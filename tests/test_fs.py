"""vsr.fs: atomic writes leave nothing under the target's name on failure, and a killed run's temporary files are
removed by the next write to the same target (only those whose process is gone)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vsr.errors import InputError
from vsr.fs import PARTIAL_FILES, atomic_path, partial_path, remove_stale_partials, write_json_atomic
from vsr.io import AtomicOutput


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_a_failed_write_leaves_neither_target_nor_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        assert tmp.name.startswith(f".r.json.{os.getpid()}-") and tmp in PARTIAL_FILES._paths
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == [] and tmp not in PARTIAL_FILES._paths
    write_json_atomic(target, {"a": 1})
    assert target.read_text() == '{\n  "a": 1\n}\n' and [p.name for p in tmp_path.iterdir()] == ["r.json"]
    with pytest.raises(InputError, match="cannot write .*: folder .* does not exist"):
        write_json_atomic(tmp_path / "no" / "r.json", {})


def test_stale_temporary_files_of_dead_processes_are_removed_by_the_next_write(tmp_path: Path) -> None:
    dead = dead_pid()
    stale = [tmp_path / f".o.mp4.{dead}-abc123.part.mp4", tmp_path / f".r.json.{dead}-x_y.part"]
    alive = tmp_path / f".o.mp4.{os.getppid()}-keep.part.mp4"  # the parent is running: its file stays
    other = tmp_path / ".other.mp4.1-abc.part.mp4"
    for p in [*stale, alive, other]:
        p.write_bytes(b"x")
    with AtomicOutput(tmp_path / "o.mp4") as temp:
        temp.write_bytes(b"video")
    write_json_atomic(tmp_path / "r.json", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, other.name, "o.mp4", "r.json"])
    assert remove_stale_partials(tmp_path / "o.mp4") == []


def test_a_hard_exit_removes_the_temporary_files_being_written(tmp_path: Path) -> None:
    first, second = partial_path(tmp_path / "a.mp4", ".mp4"), partial_path(tmp_path / "b.json")
    assert first.exists() and second.exists()
    assert PARTIAL_FILES.remove_all() >= 2
    assert list(tmp_path.iterdir()) == []
