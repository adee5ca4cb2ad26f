"""Settings of `vsr live` (kept apart from pipelines/live.py so the CLI can check them before importing torch)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LiveConfig:
    source: str = ""
    realtime: bool = False
    capture_size: str | None = None  # "WxH", requested from a camera
    capture_fps: float | None = None
    capture_format: str | None = None  # camera pixel format (v4l2 input_format), e.g. mjpeg
    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    audio: bool = True
    model: str = "auto"
    weights: str | None = None
    scale: int | None = None
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None  # CPU threads for the model; None: torch's default (one per core)
    target_fps: float | None = None  # None: the source's own rate (the model is chosen to keep up with it)
    candidates: list[str] = field(default_factory=list)  # empty: pipelines.live.select.default_candidates
    selection_seconds: float = 3.0  # each candidate's rehearsal (a model far too slow is given up sooner)
    # The rehearsal of each candidate runs at the source's rate times this: a margin for what it leaves out (the
    # capture, the display).
    selection_headroom: float = 1.1
    max_latency_ms: float = 1000.0
    batch: int = 1  # frames per model call; kept only if the predicted latency fits max_latency_ms
    display: bool = False
    side_by_side: bool = False
    preview_http: str | None = None  # HOST:PORT of the browser preview (loopback unless a host is named)
    outputs: list[str] = field(default_factory=list)  # recording files and stream URLs
    overwrite: bool = False
    codec: str = "libx264"
    preset: str = "veryfast"
    crf: int = 20
    duration_s: float | None = None
    report: str | None = None
    status_interval_s: float = 1.0
