"""The file-system helpers every writer uses: atomic writes (temporary file beside the target, then rename) and
file checksums.

A crash or a signal while writing leaves at most a hidden `.NAME.*.part` file beside the target, never a partial
file under the target's name; the target appears only complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
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


def partial_path(path: Path) -> Path:
    """A new, unique hidden temporary file beside `path`, with the usual (umask) permissions."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
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


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | Path, data: Any, indent: int = 2) -> None:
    """JSON with a final newline, written atomically."""
    write_text_atomic(path, json.dumps(data, indent=indent) + "\n")
