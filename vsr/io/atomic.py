"""Atomic video outputs: the muxer writes a hidden temporary file beside the output, renamed over it when complete.

The same rule and the same temporary files as `vsr.fs.atomic_path` (a target appears only complete; a failure or
a signal leaves no file under its name; a killed run's leftovers are removed by the next write to the same
target; OS errors become one-line errors naming the target), with a temporary name that ends in the output's
extension, `.NAME.PID-XXXX.part.EXT`, because the muxer picks the container by the extension. Used by the file
pipeline's outputs, segment files and live recordings.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from vsr.errors import InputError
from vsr.fs import PARTIAL_FILES, partial_path


class AtomicOutput:
    """A temporary file beside `out` (same extension, so the muxer picks the format); `commit` renames it over
    `out`, `discard` removes it. As a context manager: committed when the block ends without error, else
    discarded."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        try:
            self.temp = partial_path(self.out.absolute(), extension=self.out.suffix)
        except OSError as exc:
            raise InputError(f"cannot write {self.out}: {exc.strerror or exc}") from None

    def commit(self) -> None:
        try:
            os.replace(self.temp, self.out)
        except OSError as exc:
            self.discard()
            raise InputError(f"cannot write {self.out}: {exc.strerror or exc}") from None
        PARTIAL_FILES.discard(self.temp)

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.temp.unlink()
        PARTIAL_FILES.discard(self.temp)

    def __enter__(self) -> Path:
        return self.temp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()
