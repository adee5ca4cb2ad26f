"""Percentiles of samples (latencies, per-call times), the same linear interpolation as numpy's default."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The `q` quantile (0..1) of a non-empty sequence."""
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def percentile_ms(values: Sequence[float], pct: float) -> float | None:
    """The `pct` percentile (0..100) rounded to 0.1, or None without samples: what reports show."""
    return round(percentile(values, pct / 100.0), 1) if len(values) else None
