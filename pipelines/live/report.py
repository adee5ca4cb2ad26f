"""What a live run reports: per processed frame (for tests and analysis) and for the whole run."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vsr.fs import write_json_atomic


@dataclass
class LiveReport:
    source: str
    source_kind: str
    backend: str
    batch: int
    source_size: list[int]
    output_size: list[int]
    model: str
    device: str
    precision: str
    stop_reason: str
    error: bool
    wall_s: float
    captured: int
    processed: int
    dropped: int  # dropped_behind + dropped_stale
    dropped_behind: int  # displaced in the slot while the model was busy
    dropped_stale: int  # older than --max-latency-ms when the model got to them
    unprocessed_at_stop: int  # captured, not processed at the stop: in the slot (at most the batch size) and, after
    # an error, the batches in flight
    captured_fps: float
    processed_fps: float
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    latency_ms_max: float | None
    inference_ms_p50: float | None  # the model's share of the latency
    max_latency_ms: float
    latency_within_bound: bool | None
    outputs: list[str]
    recorded_frames: int
    selection: dict | None = None


@dataclass
class ProcessedFrame:
    index: int  # capture index
    capture_s: float  # capture time since the first captured frame (= recording timestamp)
    latency_ms: float  # capture -> frame ready
    wait_ms: float  # capture -> the model took it (time spent in the slot)
    inference_ms: float  # the model, with the conversions to and from tensors


@dataclass
class LiveResult:
    report: LiveReport
    frames: list[ProcessedFrame]
    signum: int | None = None  # the signal that stopped the run (its outputs are finalised all the same)


def summary_lines(r: LiveReport) -> list[str]:
    lat = (f"latency p50 {r.latency_ms_p50:.0f} ms, p95 {r.latency_ms_p95:.0f} ms, max {r.latency_ms_max:.0f} ms"
           if r.latency_ms_p50 is not None else "no frame processed")
    lines = [
        f"{r.stop_reason}",
        f"captured {r.captured} ({r.captured_fps:.1f} fps), processed {r.processed} ({r.processed_fps:.1f} fps), "
        f"dropped {r.dropped}; {lat} in {r.wall_s:.1f} s",
    ]
    if r.latency_within_bound is False:
        lines.append(f"warning: latency p95 {r.latency_ms_p95:.0f} ms is over --max-latency-ms {r.max_latency_ms:g}")
    for path in r.outputs:
        lines.append(f"wrote {path} ({r.recorded_frames} frames)")
    return lines


def write_report(report: LiveReport, path: str) -> None:
    write_json_atomic(path, asdict(report))
