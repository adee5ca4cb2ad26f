"""Live mode: capture -> latest-frame slot -> engine -> preview / recording / stream, as a session object.

Threads: the capture stage reads the source on its own thread and never waits for anyone; the calling thread
hands frames to the engine and its results to the outputs (OpenCV windows must live on the main thread on some
platforms). The engine keeps up to one batch per CPU worker (on CUDA, its pipeline depth) in flight, so on a
2-core CPU two frames are upscaled side by side: twice the frame rate of one at a time, at the latency of one
inference on one core. When the model is slower than the source, the slot keeps only the newest frame (the newest
N with --batch N), so latency stays about one frame interval plus one inference instead of growing without bound.

`LiveSession.open()` checks everything and starts the capture, `step()` processes what the slot holds (False once
the run should end), `close()` stops the capture and finalises the outputs in every case, `result()` reports;
`with session:` opens and closes it, `run()` does all of it.
"""

from __future__ import annotations

import queue
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np
import torch

from pipelines.common.parsing import parse_size
from pipelines.common.stats import percentile_ms
from pipelines.common.stop import StopFlag
from pipelines.live.config import LiveConfig
from pipelines.live.model import choose_batch, load_live_model
from pipelines.live.outputs import LiveOutputs, output_colour
from pipelines.live.rehearsal import fit_output
from pipelines.live.report import LiveReport, LiveResult, ProcessedFrame
from pipelines.live.stats import LiveStats, print_status, status_text
from vsr.errors import ConfigError, InputError
from vsr.io.live.capture import CapturedFrame, CaptureSettings, PeekedSource, open_source
from vsr.io.live.preview import display_problem
from vsr.io.live.sinks import check_recording_target, is_stream_target
from vsr.io.live.slot import LatestSlot
from vsr.io.live.stage import CaptureStage
from vsr.io.live.web_preview import parse_address


def check_live(cfg: LiveConfig) -> CaptureSettings:
    """Everything that can be refused, refused before the camera opens."""
    if not cfg.source:
        raise InputError("live: {source} is required (webcam:N, /dev/videoN, a URL, lavfi:GRAPH or a file)")
    if cfg.display and (problem := display_problem()):
        raise ConfigError(problem)
    for target in cfg.outputs:
        check_recording_target(target, cfg.overwrite)
        if not is_stream_target(target) and Path(cfg.source).is_file() and \
                Path(target).resolve() == Path(cfg.source).resolve():
            raise InputError(f"{target}: is the source; record to another file")
    if cfg.preview_http is not None:
        parse_address(cfg.preview_http)
    if cfg.report and not Path(cfg.report).resolve().parent.is_dir():
        raise InputError(f"folder {Path(cfg.report).parent} does not exist", setting="report", value=cfg.report)
    if cfg.max_latency_ms <= 0:
        raise ConfigError("{max_latency_ms} must be positive")
    size = parse_size(cfg.capture_size, "capture_size", "1280x720") if cfg.capture_size else None
    return CaptureSettings(cfg.source, cfg.realtime, size, cfg.capture_fps, cfg.open_timeout_s, cfg.read_timeout_s,
                           cfg.audio, cfg.capture_format)


@dataclass
class InFlight:
    """A batch handed to the engine: its frames (capture record, model input, age when taken) and when."""

    frames: list[tuple[CapturedFrame, np.ndarray, float]]
    submitted: float


class LiveSession:
    """One live run: `open()`, `step()` until it returns False, `close()`, then `result()`; or `with session:`
    around the steps, or `run()` for all of it. `log` receives the messages, `status_stream` (None: none) the
    status line each `status_interval_s`; `keep_frames` keeps a `ProcessedFrame` per frame in the result;
    `on_frame(output, source)` sees each processed frame (RGB uint8 arrays, on the thread calling `step`)."""

    def __init__(self, cfg: LiveConfig, log: Callable[[str], None], status_stream: TextIO | None,
                 keep_frames: bool, on_frame: Callable[[np.ndarray, np.ndarray], None] | None = None) -> None:
        self.cfg, self.log, self.status_stream, self.keep_frames = cfg, log, status_stream, keep_frames
        self.on_frame = on_frame
        self.tty = hasattr(status_stream, "isatty") and status_stream.isatty()
        self.outputs = LiveOutputs()
        self.stats = LiveStats()
        self.frames: list[ProcessedFrame] = []
        self.stop = StopFlag()
        self.source = self.capture = self.engine = None
        self.in_flight: deque[InFlight] = deque()  # at most the engine's workers (CUDA: its depth) batches
        self.reason, self.error, self.saved = "", False, []
        self._threads_before = torch.get_num_threads()
        self.t_start = time.monotonic()
        self._resized_note = False

    def open(self) -> None:
        cfg, log = self.cfg, self.log
        settings = check_live(cfg)
        self.outputs.bind_web(cfg, cfg.source, self.figures)
        self.source = PeekedSource(open_source(settings))
        info = self.info = self.source.info
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        log(f"source: {info.label} ({info.backend}, {info.width}x{info.height}"
            f"{f' @ {info.fps:.3g} fps' if info.fps else ''}{', audio' if info.audio_stream else ''})")
        sample = self.source.first_frame()  # the model candidates are measured on the source's own picture
        self.loaded, self.engine, self.selection = load_live_model(cfg, info.width, info.height, info.fps, sample,
                                                                   log, output_colour(info))
        # a model of half the scale (`NAME+bicubic`, chosen where none of the full scale holds the rate) has its
        # output resized to the size asked for
        resize = (self.selection or {}).get("resize", 1)
        self.model_name = self.loaded.name + ("+bicubic" if resize > 1 else "")
        self.out_size = (info.width * self.loaded.scale * resize, info.height * self.loaded.scale * resize)
        log(f"model: {self.loaded.describe()} on {self.engine.device} {self.engine.precision}; "
            f"output {self.out_size[0]}x{self.out_size[1]}")
        self.batch = choose_batch(cfg, self.engine, info.width, info.height, info.fps, log)
        self.slot: LatestSlot[CapturedFrame] = LatestSlot(self.batch)
        self.audio_q: queue.Queue = queue.Queue()
        self.capture = CaptureStage(self.source, self.slot, self.audio_q if info.audio_stream is not None else None,
                                    cfg.read_timeout_s)
        self.stop.install()
        self.capture.start()
        self.outputs.serve_web(log)
        self.t_start = time.monotonic()
        self.deadline = self.t_start + cfg.duration_s if cfg.duration_s else None
        self.next_status = self.t_start + cfg.status_interval_s

    def _stop_reason(self, now: float) -> str | None:
        if self.stop.reason:
            return self.stop.reason
        if self.deadline is not None and now >= self.deadline:
            return f"duration {self.cfg.duration_s:g} s reached"
        return None

    @torch.inference_mode()  # no autograd bookkeeping for anything in here
    def step(self) -> bool:
        """Hands finished frames to the outputs and new frames to the engine, waiting at most about 0.1 s; False
        when the run ends (`reason` says why)."""
        now = time.monotonic()
        if (reason := self._stop_reason(now)) is not None:
            return self._end(reason)
        if now >= self.next_status:
            print_status(self._status(now), self.status_stream, self.tty)
            self.next_status = now + self.cfg.status_interval_s
        while self.engine.oldest_ready:
            if not self._emit():
                return self._end("quit from the preview window")
        if not self.engine.can_submit:  # every worker busy: the oldest frame is what comes next
            return self._emit() or self._end("quit from the preview window")
        # With frames in flight, look back at the engine soon; otherwise wait for the source.
        wait = 0.01 if self.in_flight else 0.1
        if self.deadline is not None:
            wait = max(0.0, min(wait, self.deadline - now))
        waiting = self.slot.get_all(timeout=wait)
        if waiting:
            taken = time.monotonic()
            if batch := self._fresh(waiting, taken):
                self.engine.submit(np.stack([rgb for _, rgb, _ in batch]))  # uint8 frames in and out
                self.in_flight.append(InFlight(batch, taken))
            return True
        if self.in_flight or not self.slot.closed:
            if not self.in_flight and self.outputs.window is not None and not self.outputs.window.poll():
                return self._end("quit from the preview window")
            return True
        if self.capture.error:
            self.error = True
            return self._end(self.capture.error)
        return self._end(self.capture.end_reason or "source ended")

    def _end(self, reason: str) -> bool:
        """Ends the run: the frames still in the engine are finished and written (they were taken in time)."""
        self.reason = reason
        while self.in_flight:
            self._emit(show=False)
        return False

    def _status(self, now: float) -> str:
        counters = status_text(self.stats, self.capture, self.slot, now, self.cfg.max_latency_ms)
        return f"{self.model_name} {self.engine.precision} | {counters}"

    def _fresh(self, waiting: list[CapturedFrame], taken: float) -> list[tuple[CapturedFrame, np.ndarray, float]]:
        """The frames still young enough to be worth showing, at the first frame's size."""
        info, batch = self.info, []
        for frame in waiting:
            age_ms = (taken - frame.capture_t) * 1000.0
            if age_ms > self.cfg.max_latency_ms:
                self.stats.stale += 1  # already too old to be worth showing: wait for a fresher one
                continue
            rgb = frame.rgb
            if rgb.shape[:2] != (info.height, info.width):
                # Streams may change resolution mid-way; outputs are fixed-size, so keep to the first size.
                if not self._resized_note:
                    self.log(f"note: the source changed size to {rgb.shape[1]}x{rgb.shape[0]}; resizing to "
                             f"{info.width}x{info.height}")
                    self._resized_note = True
                rgb = cv2.resize(rgb, (info.width, info.height), interpolation=cv2.INTER_AREA)
            batch.append((frame, rgb, age_ms))
        return batch

    def _emit(self, show: bool = True) -> bool:
        """The oldest batch in flight, from the engine to every output; False when the preview asked to quit."""
        done = self.in_flight.popleft()
        outs = self.engine.collect()
        ready = time.monotonic()
        inference_ms = (ready - done.submitted) * 1000.0
        if not self.outputs.opened:
            # Opened on the first frame: the colour description is known once a frame was decoded.
            self.outputs.open(self.cfg, self.info, *self.out_size, output_colour(self.info), self.log)
            for w in self.outputs.writers:
                w.set_audio_origin(self.capture.stats.first_pts_s)
        self.outputs.drain_audio(self.audio_q)
        quit_asked = False
        for (frame, rgb, age_ms), out in zip(done.frames, outs, strict=True):
            out = fit_output(out, self.out_size)
            latency_ms = (ready - frame.capture_t) * 1000.0
            self.stats.add(latency_ms, inference_ms, ready)
            t_rec = frame.capture_t - self.capture.stats.start_t
            if self.keep_frames:
                self.frames.append(ProcessedFrame(frame.index, round(t_rec, 6), round(latency_ms, 2),
                                                  round(age_ms, 2), round(inference_ms, 2)))
            for w in self.outputs.writers:
                w.write(out, t_rec)
            self.outputs.publish(out, rgb)
            if self.on_frame is not None:
                self.on_frame(out, rgb)
            if show and self.outputs.window is not None and not quit_asked:
                quit_asked = not self.outputs.window.show(out, rgb, self._status(time.monotonic()))
        return not quit_asked

    def close(self) -> None:
        """Stops the capture and finalises every output, whatever state `open` or `step` left."""
        if self.tty and self.capture is not None:
            print(file=self.status_stream)
        if self.outputs.opened:
            self.outputs.drain_audio(self.audio_q)
        self.wall = time.monotonic() - self.t_start if self.capture is not None else 0.0
        self.in_flight.clear()  # an error left them: not written, counted as unprocessed
        if self.engine is not None:
            self.engine.close()  # joins its worker threads (after the batch each is running)
        torch.set_num_threads(self._threads_before)
        # A capture thread stuck in a read (the read timeout bounds this) keeps the source; the process exit
        # releases it. Closing the demuxer under a running read would crash instead.
        if self.source is not None and (self.capture is None or self.capture.stop()):
            self.source.close()
        self.saved = self.outputs.close(self.log)
        self.stop.finish()  # the recording is complete: a signal from here on does not discard it
        self.stop.restore()

    def result(self) -> LiveResult:
        return LiveResult(self._report(), self.frames, self.stop.signum)

    def __enter__(self) -> LiveSession:
        """`open()`; when that fails, `close()` before the error goes on."""
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self) -> LiveResult:
        """Open, step until the run ends, close (in every case); the result."""
        with self:
            while self.step():
                pass
        return self.result()

    def figures(self) -> dict:
        """The report's counters so far (for the browser preview's /stats.json; any thread, once serving)."""
        return asdict(self._report(time.monotonic() - self.t_start))

    def _report(self, wall: float | None = None) -> LiveReport:
        info, stats, slot = self.info, self.stats, self.slot
        wall = self.wall if wall is None else wall
        captured, processed, lat = self.capture.stats.captured, len(stats.latencies_ms), stats.latencies_ms
        p95 = percentile_ms(lat, 95)
        return LiveReport(
            source=self.cfg.source, source_kind=info.kind, backend=info.backend, batch=self.batch,
            source_size=[info.width, info.height], output_size=list(self.out_size), model=self.model_name,
            device=str(self.engine.device), precision=self.engine.precision, stop_reason=self.reason,
            error=self.error, wall_s=round(wall, 3), captured=captured, processed=processed,
            dropped=slot.dropped + stats.stale, dropped_behind=slot.dropped, dropped_stale=stats.stale,
            unprocessed_at_stop=captured - processed - slot.dropped - stats.stale,
            captured_fps=round(captured / wall, 2) if wall > 0 else 0.0,
            processed_fps=round(processed / wall, 2) if wall > 0 else 0.0,
            latency_ms_p50=percentile_ms(lat, 50), latency_ms_p95=p95, latency_ms_max=percentile_ms(lat, 100),
            inference_ms_p50=percentile_ms(stats.inference_ms, 50), max_latency_ms=self.cfg.max_latency_ms,
            latency_within_bound=None if p95 is None else p95 <= self.cfg.max_latency_ms,
            outputs=self.saved, recorded_frames=self.outputs.recorded_frames, selection=self.selection,
        )


def run_live(cfg: LiveConfig, log: Callable[[str], None] | None = None, status_stream: TextIO | None = None,
             keep_frames: bool = True) -> LiveResult:
    """Run until --duration, q, Ctrl-C, or the source ends; outputs are finalised in every case.

    `keep_frames` keeps a record per processed frame in the result (for tests and analysis); the CLI, which may
    run for days, keeps only the counters.
    """
    return LiveSession(cfg, log or (lambda msg: print(msg, file=sys.stderr, flush=True)),
                       status_stream or sys.stderr, keep_frames).run()
