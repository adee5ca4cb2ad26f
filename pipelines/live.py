"""Live mode: capture -> latest-frame slot -> engine -> preview / recording / stream.

Threads: the capture stage reads the source on its own thread and never waits for anyone; the calling thread
runs the model and the sinks (OpenCV windows must live on the main thread on some platforms). When the model is
slower than the source, the slot keeps only the newest frame (the newest N with --batch N), so latency stays
about one frame interval plus one inference instead of growing without bound.
"""

from __future__ import annotations

import json
import queue
import signal
import sys
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from pipelines.live_config import LiveConfig
from vsr.engine.device import probe_frames
from vsr.engine.runner import Engine, EngineConfig
from vsr.errors import VSRError
from vsr.io.capture import CapturedFrame, CaptureSettings, CaptureStage, open_source
from vsr.io.colour import BT709, RANGE_LIMITED, SMPTE170M, ColourDescription, is_hd
from vsr.io.live_sinks import (
    PreviewWindow,
    TimedWriter,
    WriterSettings,
    check_recording_target,
    display_problem,
    is_stream_target,
)
from vsr.io.live_slot import LatestSlot

__all__ = ["LiveConfig", "LiveReport", "LiveResult", "ProcessedFrame", "run_live", "summary_lines", "write_report"]


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
    unprocessed_at_stop: int  # captured but still waiting when the run stopped (at most the batch size)
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


class StopFlag:
    """Ctrl-C / SIGTERM ask for a clean stop; a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._old: dict[int, object] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach only the main thread; an embedding caller stops us another way
        for sig, name in ((signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")):
            self._old[sig] = signal.signal(sig, lambda s, f, name=name: self._handle(name))

    def _handle(self, name: str) -> None:
        if self.reason is not None and name == "Ctrl-C":
            raise KeyboardInterrupt
        self.reason = f"stopped by {name}"

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


def _percentile(values, q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if len(values) else None


class LiveStats:
    """Counters behind both the status line and the report."""

    def __init__(self) -> None:
        # Compact arrays: a day at 30 fps is 2.6 M values, 21 MB each as doubles.
        self.latencies_ms = array("d")
        self.inference_ms = array("d")
        self.processed_times: deque[float] = deque(maxlen=4096)
        self.stale = 0

    def recent_latencies(self, since: float) -> list[float]:
        n = sum(1 for t in self.processed_times if t >= since)
        return list(self.latencies_ms[-n:]) if n else []


def _parse_size(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise VSRError(f"--capture-size {text!r}: expected WxH, e.g. 1280x720") from None
    return w, h


def _load_model(cfg: LiveConfig, width: int, height: int, log: Callable[[str], None]):
    from pipelines.live_select import DEFAULT_CANDIDATES, choose_model
    from vsr.models import resolve_model

    engine_cfg = EngineConfig(cfg.device, cfg.precision)
    explicit = cfg.weights is not None or cfg.model not in ("auto", None)
    if cfg.target_fps and not explicit:
        candidates = cfg.candidates or DEFAULT_CANDIDATES
        scale = cfg.scale or 4  # the shipped and official efficient models are x4
        loaded, engine, sel = choose_model(candidates, scale, cfg.target_fps, width, height, engine_cfg,
                                           cfg.selection_seconds, cfg.selection_headroom, cfg.max_latency_ms, log)
        log(sel.reason)
        return loaded, engine, asdict(sel)
    loaded = resolve_model(cfg.model, cfg.weights, cfg.scale)
    engine = Engine(loaded.module, loaded.scale, engine_cfg)
    selection = None
    if cfg.target_fps:
        from pipelines.live_select import measure_fps

        fps, _ = measure_fps(engine, width, height, cfg.selection_seconds, cfg.target_fps)
        verdict = "reaches" if fps >= cfg.target_fps else "does not reach"
        log(f"{loaded.name} (chosen with --model/--weights): {fps:.1f} fps at {width}x{height} {verdict} "
            f"--target-fps {cfg.target_fps:g}")
        selection = {"chosen": loaded.name, "fps": round(fps, 2), "target_fps": cfg.target_fps,
                     "reason": f"named explicitly; {verdict} the target"}
    else:
        engine(probe_frames(1, height, width))  # warm-up: the first call allocates, don't count it as latency
    return loaded, engine, selection


class _Sinks:
    """The outputs of one run, opened on the first processed frame and finalised in every case."""

    def __init__(self) -> None:
        self.writers: list[TimedWriter] = []
        self.window: PreviewWindow | None = None
        self.opened = False

    def open(self, cfg: LiveConfig, info, out_w: int, out_h: int, colour: ColourDescription, log) -> None:
        self.opened = True
        for target in cfg.outputs:
            ws = WriterSettings(cfg.codec, cfg.preset, cfg.crf, low_latency=is_stream_target(target))
            audio = info.audio_stream if cfg.audio else None
            self.writers.append(TimedWriter(target, out_w, out_h, info.fps, colour, audio, ws, log))
        if cfg.display:
            self.window = PreviewWindow(f"vsr live: {info.label}", cfg.side_by_side)

    def close(self, log) -> list[str]:
        """Finish every output; returns the paths/URLs written. A writer failing does not stop the others."""
        saved: list[str] = []
        if self.window is not None:
            self.window.close()
        for w in self.writers:
            try:
                if w.frames == 0:
                    w.abort()
                    log(f"note: no frame was processed, so nothing was written to {w.target}")
                    continue
                saved.append(w.close() or w.target)
            except Exception as exc:  # one output failing must not lose the others
                log(f"warning: could not finalise {w.target}: {exc}")
        return saved


@torch.inference_mode()
def _choose_batch(cfg: LiveConfig, engine: Engine, info, log: Callable[[str], None]) -> int:
    """Batch size 1 unless a larger batch still meets --max-latency-ms.

    With a batch of N the slot holds the newest N frames; when the model is behind, the oldest of them has
    waited about N frame intervals, then the whole batch's inference. That sum must fit the bound.
    """
    n = max(1, cfg.batch)
    if n == 1:
        return 1
    x = probe_frames(n, info.height, info.width)
    engine(x)  # warm-up at this shape
    t0 = time.perf_counter()
    engine(x)
    batch_ms = (time.perf_counter() - t0) * 1000.0
    interval_ms = 1000.0 / (info.fps or 30.0)
    predicted = batch_ms + n * interval_ms
    if predicted > cfg.max_latency_ms:
        log(f"batch {n} would make latency about {predicted:.0f} ms ({batch_ms:.0f} ms per batch + {n} frame "
            f"intervals), over --max-latency-ms {cfg.max_latency_ms:g}: using batch 1")
        return 1
    log(f"batch {n}: about {predicted:.0f} ms latency when behind, within --max-latency-ms {cfg.max_latency_ms:g}")
    return n


def run_live(cfg: LiveConfig, log: Callable[[str], None] | None = None, status_stream=None,
             keep_frames: bool = True) -> LiveResult:
    """Run until --duration, q, Ctrl-C, or the source ends; outputs are finalised in every case.

    `keep_frames` keeps a record per processed frame in the result (for tests and analysis); the CLI, which may
    run for days, keeps only the counters.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    status_stream = status_stream or sys.stderr
    if not cfg.source:
        raise VSRError("live: --source is required (webcam:N, /dev/videoN, a URL, lavfi:GRAPH or a file)")
    # Everything that can be refused is refused before the camera opens.
    if cfg.display and (problem := display_problem()):
        raise VSRError(problem)
    for target in cfg.outputs:
        check_recording_target(target, cfg.overwrite)
        if not is_stream_target(target) and Path(cfg.source).is_file() and \
                Path(target).resolve() == Path(cfg.source).resolve():
            raise VSRError(f"{target}: is the source; record to another file")
    if cfg.report and not Path(cfg.report).resolve().parent.is_dir():
        raise VSRError(f"--report {cfg.report}: folder {Path(cfg.report).parent} does not exist")
    if cfg.max_latency_ms <= 0:
        raise VSRError("--max-latency-ms must be positive")
    settings = CaptureSettings(cfg.source, cfg.realtime, _parse_size(cfg.capture_size), cfg.capture_fps,
                               cfg.open_timeout_s, cfg.read_timeout_s, cfg.audio, cfg.capture_format)

    source = open_source(settings)
    info = source.info
    threads_before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    sinks = _Sinks()
    capture: CaptureStage | None = None
    stop = StopFlag()
    saved: list[str] = []
    try:
        log(f"source: {info.label} ({info.backend}, {info.width}x{info.height}"
            f"{f' @ {info.fps:.3g} fps' if info.fps else ''}{', audio' if info.audio_stream else ''})")
        loaded, engine, selection = _load_model(cfg, info.width, info.height, log)
        out_w, out_h = info.width * loaded.scale, info.height * loaded.scale
        log(f"model: {loaded.describe()} on {engine.device} {engine.precision}; output {out_w}x{out_h}")

        batch = _choose_batch(cfg, engine, info, log)
        slot: LatestSlot[CapturedFrame] = LatestSlot(batch)
        audio_q: queue.Queue = queue.Queue()
        capture = CaptureStage(source, slot, audio_q if info.audio_stream is not None else None,
                               cfg.read_timeout_s)
        stop.install()
        capture.start()
        loop = _loop(cfg, capture, slot, audio_q, engine, sinks, info, (out_w, out_h), log, status_stream, stop,
                     keep_frames)
    finally:
        torch.set_num_threads(threads_before)
        stop.restore()
        # A capture thread stuck in a read (the read timeout bounds this) keeps the source; the process exit
        # releases it. Closing the demuxer under a running read would crash instead.
        if capture is None or capture.stop():
            source.close()
        saved = sinks.close(log)
    frames: list[ProcessedFrame] = loop["frames"]
    stats: LiveStats = loop["stats"]
    wall = loop["wall"]
    captured = capture.stats.captured
    processed = len(stats.latencies_ms)
    lat = stats.latencies_ms
    p95 = _percentile(lat, 95)
    report = LiveReport(
        source=cfg.source, source_kind=info.kind, backend=info.backend, batch=batch,
        source_size=[info.width, info.height],
        output_size=[out_w, out_h], model=loaded.name, device=str(engine.device), precision=engine.precision,
        stop_reason=loop["reason"], error=loop["error"], wall_s=round(wall, 3),
        captured=captured, processed=processed, dropped=slot.dropped + stats.stale,
        dropped_behind=slot.dropped, dropped_stale=stats.stale,
        unprocessed_at_stop=captured - processed - slot.dropped - stats.stale,
        captured_fps=round(captured / wall, 2) if wall > 0 else 0.0,
        processed_fps=round(processed / wall, 2) if wall > 0 else 0.0,
        latency_ms_p50=_percentile(lat, 50), latency_ms_p95=p95, latency_ms_max=_percentile(lat, 100),
        inference_ms_p50=_percentile(stats.inference_ms, 50),
        max_latency_ms=cfg.max_latency_ms, latency_within_bound=None if p95 is None else p95 <= cfg.max_latency_ms,
        outputs=saved, recorded_frames=max((w.frames for w in sinks.writers), default=0), selection=selection,
    )
    return LiveResult(report, frames)


def _output_colour(info) -> ColourDescription:
    """Keep the source's colour description (tagged explicitly); a source without one gets the size's default."""
    if info.colour is not None:
        return info.colour
    return ColourDescription(BT709 if is_hd(info.width, info.height) else SMPTE170M, 2, 2, RANGE_LIMITED)


@torch.inference_mode()  # no autograd bookkeeping for anything in here
def _loop(cfg, capture, slot, audio_q, engine, sinks: _Sinks, info, out_size, log, status_stream, stop,
          keep_frames: bool) -> dict:
    stats = LiveStats()
    frames: list[ProcessedFrame] = []
    t_start = time.monotonic()
    deadline = t_start + cfg.duration_s if cfg.duration_s else None
    next_status = t_start + cfg.status_interval_s
    tty = hasattr(status_stream, "isatty") and status_stream.isatty()
    reason, error = "", False
    resized_note = False
    try:
        while True:
            now = time.monotonic()
            if stop.reason:
                reason = stop.reason
                break
            if deadline is not None and now >= deadline:
                reason = f"duration {cfg.duration_s:g} s reached"
                break
            if now >= next_status:
                _status(stats, capture, slot, now, cfg, status_stream, tty)
                next_status = now + cfg.status_interval_s
            wait = 0.1 if deadline is None else max(0.0, min(0.1, deadline - now))
            waiting = slot.get_all(timeout=wait)
            if not waiting and sinks.window is not None and not sinks.window.poll():
                reason = "quit from the preview window"
                break
            if not waiting:
                if slot.closed:
                    if capture.error:
                        reason, error = capture.error, True
                    else:
                        reason = capture.end_reason or "source ended"
                    break
                continue
            taken = time.monotonic()
            batch: list[tuple[CapturedFrame, np.ndarray, float]] = []
            for frame in waiting:
                age_ms = (taken - frame.capture_t) * 1000.0
                if age_ms > cfg.max_latency_ms:
                    stats.stale += 1  # already too old to be worth showing: wait for a fresher one
                    continue
                rgb = frame.rgb
                if rgb.shape[:2] != (info.height, info.width):
                    # Streams may change resolution mid-way; outputs are fixed-size, so keep to the first size.
                    if not resized_note:
                        log(f"note: the source changed size to {rgb.shape[1]}x{rgb.shape[0]}; resizing to "
                            f"{info.width}x{info.height}")
                        resized_note = True
                    rgb = cv2.resize(rgb, (info.width, info.height), interpolation=cv2.INTER_AREA)
                batch.append((frame, rgb, age_ms))
            if not batch:
                continue
            outs = engine(np.stack([rgb for _, rgb, _ in batch]))  # uint8 frames in and out
            ready = time.monotonic()
            inference_ms = (ready - taken) * 1000.0
            if not sinks.opened:
                # Opened on the first frame: the colour description is known once a frame was decoded.
                sinks.open(cfg, info, *out_size, _output_colour(info), log)
                for w in sinks.writers:
                    w.set_audio_origin(capture.stats.first_pts_s)
            _drain_audio(audio_q, sinks.writers)
            quit_asked = False
            for (frame, rgb, age_ms), out in zip(batch, outs, strict=True):
                latency_ms = (ready - frame.capture_t) * 1000.0
                stats.latencies_ms.append(latency_ms)
                stats.inference_ms.append(inference_ms)
                stats.processed_times.append(ready)
                t_rec = frame.capture_t - capture.stats.start_t
                if keep_frames:
                    frames.append(ProcessedFrame(frame.index, round(t_rec, 6), round(latency_ms, 2),
                                                 round(age_ms, 2), round(inference_ms, 2)))
                for w in sinks.writers:
                    w.write(out, t_rec)
                if sinks.window is not None and not quit_asked:
                    text = _status_text(stats, capture, slot, time.monotonic(), cfg)
                    quit_asked = not sinks.window.show(out, rgb, text)
            if quit_asked:
                reason = "quit from the preview window"
                break
    finally:
        if tty:
            print(file=status_stream)
    if sinks.opened:
        _drain_audio(audio_q, sinks.writers)
    wall = time.monotonic() - t_start
    return {"frames": frames, "stats": stats, "reason": reason, "error": error, "wall": wall}


def _drain_audio(audio_q: queue.Queue, writers: list[TimedWriter]) -> None:
    while True:
        try:
            item = audio_q.get_nowait()
        except queue.Empty:
            return
        for w in writers:
            w.write_audio(item)


def _status_text(stats: LiveStats, capture: CaptureStage, slot, now: float, cfg: LiveConfig) -> str:
    window = 1.0
    cap_fps = capture.captured_since(now - window) / window
    proc_fps = sum(1 for t in stats.processed_times if t >= now - window) / window
    recent = stats.recent_latencies(now - 2.0) or list(stats.latencies_ms[-30:])
    p50, p95 = _percentile(recent, 50), _percentile(recent, 95)
    lat = f"latency p50 {p50:.0f} ms p95 {p95:.0f} ms" if p50 is not None else "latency -"
    over = " (over --max-latency-ms)" if p95 is not None and p95 > cfg.max_latency_ms else ""
    return (f"captured {cap_fps:4.1f} fps | processed {proc_fps:4.1f} fps | dropped {slot.dropped + stats.stale} | "
            f"{lat}{over}")


def _status(stats, capture, slot, now, cfg, stream, tty: bool) -> None:
    if stream is None:
        return
    text = _status_text(stats, capture, slot, now, cfg)
    if tty:
        print(f"\r\x1b[K{text}", end="", file=stream, flush=True)
    else:
        print(text, file=stream, flush=True)


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
    Path(path).write_text(json.dumps(asdict(report), indent=2) + "\n")
