"""Percentiles of samples (latencies, per-call times): numpy's default linear interpolation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percentile(values: Sequence[float], q: float) -> float:
    """The `q` quantile (0..1) of a non-empty sequence.

    The samples are copied into one float64 array first (a C-level copy of an `array('d')`, which another thread
    may be appending to), then partitioned: a live run of days (millions of latencies) costs milliseconds, where
    sorting Python floats took a second with the GIL held.
    """
    return float(np.percentile(np.array(values, dtype=np.float64), q * 100.0))


def percentile_ms(values: Sequence[float], pct: float) -> float | None:
    """The `pct` percentile (0..100) rounded to 0.1, or None without samples: what reports show."""
    return round(percentile(values, pct / 100.0), 1) if len(values) else None
