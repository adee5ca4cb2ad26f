"""The file-system helpers every writer uses: atomic writes (temporary file beside the target, then rename) and
file checksums.

A crash or a signal while writing leaves at most a hidden `.NAME.PID-XXXX.part[.EXT]` file beside the target,
never a partial file under the target's name; the target appears only complete. A killed process (SIGKILL) cannot
remove its temporary files: the next write to the same target removes those whose process is gone
(`remove_stale_partials`), and a hard exit on a second signal removes this process's own (`PARTIAL_FILES`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vsr.errors import InputError

_BLOCK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks (bounded memory for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


class PartialFiles:
    """The temporary files this process is writing: a hard exit (a second Ctrl-C, see pipelines/common/shutdown.py)
    removes them even while a thread is still writing, since it skips every `finally`."""

    def __init__(self) -> None:
        self._paths: set[Path] = set()
        self._lock = threading.Lock()

    def add(self, path: Path) -> None:
        with self._lock:
            self._paths.add(path)

    def discard(self, path: Path) -> None:
        with self._lock:
            self._paths.discard(path)

    def remove_all(self) -> int:
        with self._lock:
            paths, self._paths = list(self._paths), set()
        for path in paths:
            with contextlib.suppress(OSError):
                path.unlink()
        return len(paths)


# Process-wide on purpose: the files are the process's, and the signal that removes them can come at any moment.
PARTIAL_FILES = PartialFiles()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_partials(path: Path) -> list[Path]:
    """Removes the temporary files beside `path` that a killed run of an earlier process left (their PID is in the
    name and no longer running); returns them. Files of a process still running are left alone."""
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)-[^.]+\.part(\.[^.]+)?$")
    removed: list[Path] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            match = pattern.match(entry.name)
            if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def partial_path(path: Path, extension: str = "") -> Path:
    """A new, unique hidden temporary file beside `path`, with the usual (umask) permissions, registered in
    `PARTIAL_FILES` (the caller renames or removes it, then calls `PARTIAL_FILES.discard`). `extension` ends the
    name (a muxer picks the container by it). Stale ones of killed runs for the same target are removed first."""
    remove_stale_partials(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=f".part{extension}", dir=path.parent)
    os.close(fd)
    PARTIAL_FILES.add(Path(tmp))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; outputs get the usual permissions
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside `path` to write to; renamed over `path` when the block ends without error,
    removed otherwise. OS errors become one-line errors naming the target."""
    path = Path(path)
    if not path.resolve().parent.is_dir():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")
    try:
        tmp = partial_path(path.resolve())
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
        PARTIAL_FILES.discard(tmp)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | Path, data: Any, indent: int = 2) -> None:
    """JSON with a final newline, written atomically."""
    write_text_atomic(path, json.dumps(data, indent=indent) + "\n")
