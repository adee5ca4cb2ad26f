"""Writing reports: JSON written atomically, so a failed run never leaves half a file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from vsr.errors import VSRError


def write_json(path: str | Path, data: dict) -> None:
    path = Path(path)
    if not path.resolve().parent.is_dir():
        raise VSRError(f"cannot write {path}: folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.resolve().parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise VSRError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
