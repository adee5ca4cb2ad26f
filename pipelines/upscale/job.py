"""Upscale a video file: decode -> (bounded queue) -> batched model -> (bounded queue) -> encode + mux.

Three threads overlap decoding, inference and encoding; the queues bound memory (at most `queue_frames` frames
wait between two stages, whatever the length of the video). Audio, subtitle and data packets travel through
the same queues in demux order, so the muxer receives them close to the video frames they belong with and
interleaves them by dts. The output is written to a temporary file beside the target and renamed only after
the muxer finished: a failure or Ctrl-C never leaves a partial file at the target.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.common.device_colour import device_colour_target, hw_decoder
from pipelines.common.engine_factory import build_engine, model_from_settings, resolve_batch
from pipelines.common.notices import Notices
from pipelines.common.progress import progress_bar
from pipelines.common.settings import UpscaleConfig
from pipelines.common.stages import StagePipeline
from pipelines.common.stop import StopFlag
from pipelines.upscale.checks import check_paths, check_run_settings
from pipelines.upscale.report import FileReport, file_report
from pipelines.upscale.stages import DecodeStage, EncodeStage, UpscaleStage
from vsr.engine.interface import FrameEngine
from vsr.errors import MediaError
from vsr.io import AtomicOutput, SourceInfo, TimeRange, VideoSink, VideoSource, probe
from vsr.io.file.pipe import STDIO, PipeInput, PipeOutput
from vsr.io.file.sink import check_output_path


@dataclass
class PassOptions:
    """How one pass runs, beyond the settings. `time_range` upscales only those frames and `video_only` leaves
    the other streams out (a segment of a longer job, see pipelines/segments); `on_frames` is called with the
    number of frames written so far; `labels` name the engine in the report. `stop`: a signal ends the pass at
    its next safe point (between stage-loop ticks, never after the output is committed)."""

    info: SourceInfo | None = None  # the probe, when the caller has it already
    overwrite: bool = False
    progress: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    time_range: TimeRange | None = None
    video_only: bool = False
    on_frames: Callable[[int], None] | None = None
    stop: StopFlag | None = None
    pipe_in: PipeInput | None = None  # the input is a pipe (stdin), opened and probed once
    pipe_out: PipeOutput | None = None  # the output is a pipe (stdout), claimed: written as it goes, no temporary file


def upscale_file(src: str | Path, out: str | Path, engine: FrameEngine, scale: int,
                 cfg: UpscaleConfig | None = None, opts: PassOptions | None = None,
                 notices: Notices | None = None) -> FileReport:
    """Run the whole job with `engine` (vsr.engine.interface.FrameEngine: the torch or onnxruntime engine, or the
    bench's I/O-only stand-in). Of `cfg` this uses the engine's batch, colour (where YUV <-> RGB runs: "host" with
    swscale, "device" beside the model, "auto" the device when it is a GPU), the encode settings and the
    pipeline's queue, threads, frame limit and decoder (`hwdec` "cuda": NVDEC, falling back to the CPU with a
    notice; "auto": NVDEC when the engine runs on a GPU)."""
    src, out = Path(src), Path(out)
    cfg, opts = cfg or UpscaleConfig(), opts or PassOptions()
    notices = notices if notices is not None else Notices()
    if opts.pipe_out is None:
        check_output_path(out, src, opts.overwrite)
    info = opts.info or (opts.pipe_in.info if opts.pipe_in is not None else probe(src))
    batch = resolve_batch(cfg.engine.batch, engine, info, notices)
    atomic = AtomicOutput(out) if opts.pipe_out is None else None
    try:
        sink = VideoSink(atomic.temp if atomic is not None else out, info, info.width * scale, info.height * scale,
                         cfg.encode, notices, video_only=opts.video_only,
                         template=opts.pipe_in.container if opts.pipe_in is not None else None, pipe=opts.pipe_out)
    except BaseException:  # the muxer may have created the file before failing (or Ctrl-C)
        if atomic is not None:
            atomic.discard()
        raise
    committed, owner = False, None
    try:
        owner, source, encode_stage = _stages(engine, batch, info, sink, scale, cfg, opts, notices)
        wall = _run_with_progress(owner, encode_stage, sink, _expected_frames(info, cfg.pipeline.max_frames),
                                  f"upscale x{scale}", opts)
        if not encode_stage.finished:
            raise MediaError("the pipeline stopped before the end of the input")
        if opts.stop is not None:
            opts.stop.raise_if_set()  # the last moment a signal stops the pass: after the rename it is complete
        if atomic is not None:
            atomic.commit()
        committed = True
    finally:
        if not committed:
            if owner is None or not owner.alive():
                sink.close(flush=False)  # a stage still inside the muxer would crash on a closed file
            if atomic is not None:
                atomic.discard()
    names = (Path("stdin") if opts.pipe_in else src, Path("stdout") if opts.pipe_out else out)
    return file_report(*names, info, scale, batch, wall, opts.labels, sink, source, owner, notices)


def _stages(engine: FrameEngine, batch: int, info: SourceInfo, sink: VideoSink, scale: int, cfg: UpscaleConfig,
            opts: PassOptions, notices: Notices) -> tuple[StagePipeline, VideoSource, EncodeStage]:
    """Decoder, model and encoder on their threads, joined by bounded queues, under one owner."""
    yuv = device_colour_target(cfg.engine.colour, engine, info, sink, notices)
    source = VideoSource(info, sink.copy_streams, sink.encode_streams, notices, threads=cfg.pipeline.decode_threads,
                         time_range=opts.time_range, max_frames=cfg.pipeline.max_frames, planes=yuv is not None,
                         hwdec=hw_decoder(cfg.pipeline.hwdec, engine), pipe=opts.pipe_in)
    stop_event = threading.Event()
    for end in (opts.pipe_in, opts.pipe_out):
        if end is not None:  # a read or write waiting on a stalled pipe gives up when the stages stop
            end.cancel_on(stop_event)
    decoded: queue.Queue = queue.Queue(maxsize=cfg.pipeline.queue_frames)
    upscaled: queue.Queue = queue.Queue(maxsize=cfg.pipeline.queue_frames)
    encode_stage = EncodeStage(sink, upscaled, stop_event)
    stages = [DecodeStage(source, decoded, stop_event),
              UpscaleStage(engine, batch, decoded, upscaled, stop_event, yuv), encode_stage]
    return StagePipeline(stages, stop_event), source, encode_stage


def _expected_frames(info: SourceInfo, max_frames: int | None) -> int | None:
    return min(info.frames, max_frames) if info.frames and max_frames else info.frames or max_frames


def _run_with_progress(owner: StagePipeline, encode_stage: EncodeStage, sink: VideoSink, total: int | None,
                       label: str, opts: PassOptions) -> float:
    """Run the stages under a progress bar of the frames written; returns the wall time."""
    bar = progress_bar(total, label, enabled=opts.progress)

    def show() -> None:
        # The bar shows frames written by the encoder: the same counter the report uses.
        bar.update(sink.counters.frames - bar.n)
        if opts.on_frames is not None:
            opts.on_frames(sink.counters.frames)

    def tick() -> None:
        show()
        if opts.stop is not None:
            opts.stop.raise_if_set()  # the stage pipeline stops and joins its threads, then re-raises

    start = time.perf_counter()
    try:
        owner.run(tick)
        if encode_stage.finished and bar.total != bar.n:
            bar.total = bar.n  # the header's frame count was an estimate (duration x rate): end at 100%
    finally:
        show()
        bar.close()
    return time.perf_counter() - start


def _when_written(on_progress: Callable[[int, int | None], None] | None,
                  total: int | None) -> Callable[[int], None] | None:
    """`PassOptions.on_frames` that calls `on_progress(frames_written, total)` when the count moved."""
    if on_progress is None:
        return None
    last = -1

    def on_frames(written: int) -> None:
        nonlocal last
        if written != last:
            last = written
            on_progress(written, total)

    return on_frames


def run_upscale(src: Path, out: Path, cfg: UpscaleConfig, *, overwrite: bool = False,
                report_path: str | Path | None = None, progress: bool = True,
                notices: Notices | None = None, stream_format: str | None = None,
                on_progress: Callable[[int, int | None], None] | None = None) -> FileReport:
    """The `upscale` command: every check that can fail runs before the model loads or a byte is written. `-`
    (`STDIO`) as `src` reads stdin, as `out` writes stdout in `stream_format` (default Matroska).
    `on_progress(frames_written, frames_expected or None)` is called each time more frames were written."""
    notices = notices if notices is not None else Notices()
    pipe_out = check_paths(src, out, overwrite, stream_format)
    check_run_settings(cfg, report_path)
    with contextlib.ExitStack() as stack:
        pipe_in = stack.enter_context(PipeInput(threads=cfg.pipeline.decode_threads)) if src == STDIO else None
        info = pipe_in.info if pipe_in is not None else probe(src)
        built = build_engine(model_from_settings(cfg.model, compressed=info.lossy), cfg.engine, notices)
        labels, scale = built.labels, built.scale
        if progress:
            print(f"{'stdin' if pipe_in else src.name}: {info.width}x{info.height} -> {info.width * scale}x"
                  f"{info.height * scale}, {labels['model']} on {labels['device']} ({labels['precision']})",
                  file=sys.stderr)
        # Probe and model load take the signal where they are (Interrupted); from here the pass stops at safe points.
        with StopFlag() as stop:
            try:
                with pipe_out if pipe_out is not None else contextlib.nullcontext():
                    report = upscale_file(src, out, built.engine, scale, cfg, PassOptions(
                        info=info, overwrite=overwrite, progress=progress, labels=labels, stop=stop,
                        pipe_in=pipe_in, pipe_out=pipe_out,
                        on_frames=_when_written(on_progress, _expected_frames(info, cfg.pipeline.max_frames))),
                        notices)
            finally:
                built.engine.close()
            if report_path is not None:
                report.write_json(report_path)
            stop.finish()
    return report
