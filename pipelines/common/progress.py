"""The one progress-bar setup: tqdm on stderr, sized to the terminal, off when not wanted."""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(total: int | None, desc: str, *, enabled: bool, unit: str = "frame", initial: int = 0,
                 smoothing: float = 0.1, mininterval: float = 0.1) -> tqdm:
    return tqdm(total=total, initial=initial, unit=unit, desc=desc, disable=not enabled, file=sys.stderr,
                dynamic_ncols=True, smoothing=smoothing, mininterval=mininterval)
