"""The counters behind both the live status line and the report."""

from __future__ import annotations

from array import array
from collections import deque
from typing import TextIO

from pipelines.common.stats import percentile_ms
from vsr.io.live.slot import LatestSlot
from vsr.io.live.stage import CaptureStage


class LiveStats:
    """Per processed frame: latency and inference time (compact arrays: a day at 30 fps is 2.6 M values, 21 MB
    each as doubles), the recent processing times, and the frames dropped as stale."""

    def __init__(self) -> None:
        self.latencies_ms = array("d")
        self.inference_ms = array("d")
        self.processed_times: deque[float] = deque(maxlen=4096)
        self.stale = 0

    def add(self, latency_ms: float, inference_ms: float, ready: float) -> None:
        self.latencies_ms.append(latency_ms)
        self.inference_ms.append(inference_ms)
        self.processed_times.append(ready)

    def recent_latencies(self, since: float) -> list[float]:
        n = sum(1 for t in self.processed_times if t >= since)
        return list(self.latencies_ms[-n:]) if n else []


def status_text(stats: LiveStats, capture: CaptureStage, slot: LatestSlot, now: float, max_latency_ms: float) -> str:
    window = 1.0
    cap_fps = capture.captured_since(now - window) / window
    proc_fps = sum(1 for t in stats.processed_times if t >= now - window) / window
    recent = stats.recent_latencies(now - 2.0) or list(stats.latencies_ms[-30:])
    p50, p95 = percentile_ms(recent, 50), percentile_ms(recent, 95)
    lat = f"latency p50 {p50:.0f} ms p95 {p95:.0f} ms" if p50 is not None else "latency -"
    over = " (over --max-latency-ms)" if p95 is not None and p95 > max_latency_ms else ""
    return (f"captured {cap_fps:4.1f} fps | processed {proc_fps:4.1f} fps | dropped {slot.dropped + stats.stale} | "
            f"{lat}{over}")


def print_status(text: str, stream: TextIO | None, tty: bool) -> None:
    if stream is None:
        return
    if tty:
        print(f"\r\x1b[K{text}", end="", file=stream, flush=True)
    else:
        print(text, file=stream, flush=True)
