"""Upscale a video file: decode -> (bounded queue) -> batched model -> (bounded queue) -> encode + mux.

Three threads overlap decoding, inference and encoding; the queues bound memory (at most `queue_frames` frames
wait between two stages, whatever the length of the video). Audio, subtitle and data packets travel through
the same queues in demux order, so the muxer receives them close to the video frames they belong with and
interleaves them by dts. The output is written to a temporary file beside the target and renamed only after
the muxer finished: a failure or Ctrl-C never leaves a partial file at the target.
"""

from __future__ import annotations

import json
import queue
import resource
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pipelines.device_colour import COLOUR_MODES, HW_DECODERS, hw_decoder, plane_formats
from pipelines.file_stages import DecodeStage, EncodeStage, UpscaleStage
from pipelines.stages import StagePipeline
from vsr.errors import VSRError
from vsr.io import (
    AtomicOutput,
    EncodeSettings,
    SourceInfo,
    TimeRange,
    VideoSink,
    VideoSource,
    probe,
)
from vsr.io.sink import check_output_path

COMPILE_MODES = ("", "default", "reduce-overhead", "max-autotune")


@dataclass
class ModelSettings:
    name: str = "auto"
    weights: str | None = None
    scale: int | None = None


@dataclass
class EngineSettings:
    device: str = "auto"
    precision: str = "auto"
    batch: int | str = 1  # frames per model call (equal sizes); >1 helps on GPUs, not on CPUs; "auto": fit the GPU
    tile: int = 0  # tile size in input pixels, 0 = whole frames (handled by vsr.engine)
    channels_last: bool = True
    cpu_workers: int = 0  # CPU: frames computed side by side (0: auto, 1: one at a time); see vsr.engine.runner
    colour: str = "auto"  # YUV <-> RGB: host (swscale), device (beside the model), auto (device on a GPU)
    compile: str = ""  # torch.compile mode ("default", "reduce-overhead" = CUDA graphs, "max-autotune"); "": eager


@dataclass
class PipelineSettings:
    queue_frames: int = 8  # frames waiting between two stages, at most
    decode_threads: int = 0  # 0: FFmpeg decides
    max_frames: int | None = None  # stop after this many frames (a preview); None: the whole file
    hwdec: str = "auto"  # decoder: cuda (NVDEC), none (the CPU), auto (NVDEC when the model runs on a GPU)


@dataclass
class UpscaleConfig:
    model: ModelSettings = field(default_factory=ModelSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)


class Notices:
    """What the user should know (stream dropped, audio re-encoded, packet skipped), printed and reported."""

    def __init__(self, echo: bool = True) -> None:
        self.items: list[str] = []
        self.echo = echo
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        with self._lock:
            self.items.append(message)
        if self.echo:
            tqdm.write(message if message.startswith("warning:") else f"note: {message}", file=sys.stderr)


# ---- the job ---------------------------------------------------------------------------------------------
@dataclass
class FileReport:
    input: str
    output: str
    frames_in: int
    frames: int
    wall_s: float
    fps: float
    input_size: list[int]
    output_size: list[int]
    model: str
    scale: int
    device: str
    precision: str
    batch: int
    codec: str
    pix_fmt: str
    colour: str
    stages: dict[str, dict[str, Any]]
    streams: list[dict[str, Any]]
    packets_copied: int
    corrupt_packets: int
    truncated: bool
    notices: list[str]
    peak_rss_mib: float
    engine: str = ""  # the engine's own description (device, precision, memory format, tiling)

    def summary(self) -> str:
        lines = [
            f"{self.input} -> {self.output}",
            f"  frames in/out: {self.frames_in}/{self.frames}   wall {self.wall_s:.2f} s   {self.fps:.2f} fps overall",
            f"  {self.input_size[0]}x{self.input_size[1]} -> {self.output_size[0]}x{self.output_size[1]} "
            f"({self.model} x{self.scale}, {self.device}, {self.precision}, batch {self.batch}); "
            f"{self.codec} {self.pix_fmt}; {self.colour}",
        ]
        for name, st in self.stages.items():
            lines.append(f"  {name:<8} busy {st['busy_s']:7.2f} s   waiting {st['wait_s']:7.2f} s "
                         f"(input {st['wait_in_s']:.2f}, output {st['wait_out_s']:.2f})")
        if self.packets_copied:
            lines.append(f"  other streams: {self.packets_copied} packets copied")
        if self.corrupt_packets or self.truncated:
            lines.append(f"  corrupt packets skipped: {self.corrupt_packets}" + ("; input truncated" if self.truncated
                                                                               else ""))
        return "\n".join(lines)

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def upscale_file(
    src: str | Path,
    out: str | Path,
    engine: Callable[[np.ndarray], np.ndarray],
    scale: int,
    *,
    info: SourceInfo | None = None,
    encode: EncodeSettings | None = None,
    batch: int | str = 1,
    queue_frames: int = 8,
    decode_threads: int = 0,
    max_frames: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    notices: Notices | None = None,
    labels: dict[str, str] | None = None,
    time_range: TimeRange | None = None,
    video_only: bool = False,
    on_frames: Callable[[int], None] | None = None,
    colour: str = "auto",
    hwdec: str = "none",
) -> FileReport:
    """Run the whole job. `engine` maps frames (N,H,W,3) uint8/uint16 to (N,sH,sW,3) of the same dtype (an Engine,
    or any such callable); `labels` name it in the report.

    `time_range` upscales only those frames and `video_only` leaves the other streams out (a segment of a longer
    job, see pipelines/segments.py); `on_frames` is called with the number of frames written so far. `colour`:
    where YUV <-> RGB runs: "host" (swscale, beside the decoder and encoder), "device" (beside the model, with
    the YUV planes crossing to it), or "auto" (the device when it is a GPU). `hwdec`: "cuda" decodes with NVDEC
    (falling back to the CPU with a notice), "auto" when the engine runs on a GPU, "none" on the CPU.
    """
    src, out = Path(src), Path(out)
    check_output_path(out, src, overwrite)
    info = info or probe(src)
    notices = notices if notices is not None else Notices()
    labels = labels or {}
    batch = resolve_batch(batch, engine, info, notices)
    out_w, out_h = info.width * scale, info.height * scale
    atomic = AtomicOutput(out)
    stop_event = threading.Event()
    try:
        sink = VideoSink(atomic.temp, info, out_w, out_h, encode or EncodeSettings(), notices, video_only=video_only)
    except BaseException:  # the muxer may have created the file before failing (or Ctrl-C)
        atomic.discard()
        raise
    committed = False
    owner: StagePipeline | None = None
    try:
        yuv = plane_formats(colour, engine, info, sink, scale, notices)
        source = VideoSource(info, sink.copy_streams, sink.encode_streams, notices, threads=decode_threads,
                             time_range=time_range, max_frames=max_frames, planes=yuv is not None,
                             hwdec=hw_decoder(hwdec, engine))
        q1: queue.Queue = queue.Queue(maxsize=queue_frames)
        q2: queue.Queue = queue.Queue(maxsize=queue_frames)
        decode = DecodeStage(source, q1, stop_event)
        upscale = UpscaleStage(engine, batch, q1, q2, stop_event, yuv)
        encode_stage = EncodeStage(sink, q2, stop_event)
        owner = StagePipeline([decode, upscale, encode_stage], stop_event)
        total = min(info.frames, max_frames) if info.frames and max_frames else info.frames or max_frames
        wall = _run_with_progress(owner, encode_stage, sink, total, f"upscale x{scale}", progress, on_frames)
        if not encode_stage.finished:
            raise VSRError("the pipeline stopped before the end of the input")
        atomic.commit()
        committed = True
    finally:
        if not committed:
            if owner is None or not owner.alive():
                sink.close(flush=False)  # a stage still inside the muxer would crash on a closed file
            atomic.discard()

    return _report(src, out, info, scale, batch, wall, labels, sink, source, owner, notices)


def _run_with_progress(owner: StagePipeline, encode_stage: EncodeStage, sink: VideoSink, total: int | None,
                       label: str, progress: bool, on_frames: Callable[[int], None] | None) -> float:
    """Run the stages under a progress bar of the frames written; returns the wall time."""
    bar = tqdm(total=total, unit="frame", desc=label, disable=not progress, file=sys.stderr, dynamic_ncols=True,
               smoothing=0.1)

    def tick() -> None:
        # The bar shows frames written by the encoder: the same counter the report uses.
        bar.update(sink.counters.frames - bar.n)
        if on_frames is not None:
            on_frames(sink.counters.frames)

    start = time.perf_counter()
    try:
        owner.run(tick)
        if encode_stage.finished and bar.total != bar.n:
            bar.total = bar.n  # the header's frame count was an estimate (duration x rate): end at 100%
    finally:
        tick()
        bar.close()
    return time.perf_counter() - start


def _report(src: Path, out: Path, info: SourceInfo, scale: int, batch: int, wall: float, labels: dict[str, str],
            sink: VideoSink, source: VideoSource, owner: StagePipeline, notices: Notices) -> FileReport:
    frames = sink.counters.frames
    return FileReport(
        input=str(src), output=str(out), frames_in=source.counters.frames, frames=frames,
        wall_s=round(wall, 3), fps=round(frames / wall, 3) if wall > 0 else 0.0,
        input_size=[info.width, info.height], output_size=[sink.width, sink.height],
        model=labels.get("model", "?"), scale=scale, device=labels.get("device", "?"),
        precision=labels.get("precision", "?"), batch=batch, codec=sink.codec, pix_fmt=sink.pix_fmt,
        colour=info.colour.describe(),
        stages={s.name: s.stats.as_dict() for s in owner.stages},
        streams=[asdict(p) for p in sink.plans], packets_copied=sink.counters.packets,
        corrupt_packets=source.counters.corrupt_packets, truncated=source.counters.truncated,
        notices=list(notices.items), peak_rss_mib=round(_peak_rss_mib(), 1), engine=labels.get("engine", ""),
    )


def resolve_batch(batch: int | str, engine: Callable, info: SourceInfo, notices: Notices) -> int:
    """`auto`: what the engine fits in memory at the input's size (a GPU; 1 elsewhere); a number as it is."""
    if batch != "auto":
        return int(batch)
    suggest = getattr(engine, "suggest_batch", None)
    chosen = suggest(info.height, info.width) if suggest is not None else 1
    if chosen > 1:
        notices(f"batch auto: {chosen} frames per model call at {info.width}x{info.height}")
    return chosen


def check_input_path(src: Path) -> None:
    if not src.exists():
        raise VSRError(f"{src}: no such file")
    if src.is_dir():
        raise VSRError(f"{src}: is a directory, not a video file")


def build_engine(cfg: UpscaleConfig, notices: Notices):
    """The model and engine named by the settings; returns (engine, scale, labels for the report)."""
    from vsr.engine.runner import Engine, EngineConfig
    from vsr.models import resolve_model

    loaded = resolve_model(cfg.model.name, weights=cfg.model.weights, scale=cfg.model.scale)
    if cfg.engine.tile < 0:
        raise VSRError("--tile must be 0 (whole frames) or a tile size in pixels")
    engine = Engine(loaded.module, loaded.scale,
                    EngineConfig(device=cfg.engine.device, precision=cfg.engine.precision,
                                 channels_last=cfg.engine.channels_last, tile=cfg.engine.tile,
                                 cpu_workers=cfg.engine.cpu_workers, compile=bool(cfg.engine.compile),
                                 compile_mode=cfg.engine.compile or "default"),
                    notice=notices)
    labels = {"model": loaded.name, "device": str(engine.device), "precision": engine.precision,
              "engine": engine.describe()}
    return engine, loaded.scale, labels


def check_run_settings(cfg: UpscaleConfig, report_path: str | Path | None) -> None:
    """Settings checks shared by single-pass and segmented runs, done before anything is loaded or written."""
    if report_path is not None and not Path(report_path).resolve().parent.is_dir():
        raise VSRError(f"--report {report_path}: no such directory")
    batch = cfg.engine.batch
    if (batch != "auto" and (not isinstance(batch, int) or batch < 1)) or cfg.pipeline.queue_frames < 1:
        raise VSRError("batch must be auto or at least 1, and queue_frames at least 1")
    if cfg.pipeline.hwdec not in HW_DECODERS and not cfg.pipeline.hwdec.startswith("cuda:"):
        raise VSRError(f"--hwdec {cfg.pipeline.hwdec}: use {', '.join(HW_DECODERS)} or cuda:N")
    if cfg.engine.colour not in COLOUR_MODES:
        raise VSRError(f"--colour {cfg.engine.colour}: use {', '.join(COLOUR_MODES)}")
    if cfg.engine.compile not in COMPILE_MODES:
        raise VSRError(f"--compile {cfg.engine.compile}: use one of {', '.join(m for m in COMPILE_MODES if m)}")
    if cfg.engine.cpu_workers < 0:
        raise VSRError("--cpu-workers must be 0 (auto) or a number of frames computed side by side")


def run_upscale(src: Path, out: Path, cfg: UpscaleConfig, *, overwrite: bool = False,
                report_path: str | Path | None = None, progress: bool = True,
                notices: Notices | None = None) -> FileReport:
    """The `upscale` command: every check that can fail runs before the model loads or a byte is written."""
    notices = notices if notices is not None else Notices()
    check_input_path(src)
    check_output_path(out, src, overwrite)
    check_run_settings(cfg, report_path)
    if cfg.pipeline.max_frames is not None and cfg.pipeline.max_frames < 1:
        raise VSRError("--frames must be at least 1")
    info = probe(src)
    engine, scale, labels = build_engine(cfg, notices)
    if progress:
        print(f"{src.name}: {info.width}x{info.height} -> {info.width * scale}x{info.height * scale}, "
              f"{labels['model']} on {labels['device']} ({labels['precision']})", file=sys.stderr)
    try:
        report = upscale_file(
            src, out, engine, scale, info=info, encode=cfg.encode, batch=cfg.engine.batch,
            queue_frames=cfg.pipeline.queue_frames, decode_threads=cfg.pipeline.decode_threads,
            max_frames=cfg.pipeline.max_frames, overwrite=overwrite, progress=progress, notices=notices,
            labels=labels, colour=cfg.engine.colour, hwdec=cfg.pipeline.hwdec,
        )
    finally:
        engine.close()
    if report_path is not None:
        report.write_json(report_path)
    return report
