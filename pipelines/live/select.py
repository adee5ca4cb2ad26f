"""The live model choice: measure the candidate models at the source size, as the live loop runs them, and keep the
best one that is fast enough."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pipelines.common.engine_factory import build_engine
from pipelines.common.settings import EngineSettings
from pipelines.live.load import ScratchOutputs
from vsr.engine.device import probe_frames
from vsr.engine.interface import FrameEngine
from vsr.errors import VSRError
from vsr.models import REGISTRY, SHIPPED, LoadedModel, resolve_model
from vsr.models.shipped import shipped_for
from vsr.models.weights import is_cached

# Best picture first: the paper's large model beats the efficient ones, which beat the light real-time one (the
# official light SAFMN++ is x4 only). The shipped models follow, best Set5 PSNR first (an offline install always has
# a trained real-time model), and bicubic last: always available and fast, so a choice always exists.
OFFICIAL_CANDIDATES = ["safmn-l-x{s}", "safmn-x{s}", "ntire23-safmn-x{s}", "safmnpp-x{s}", "safmnpp-light-x{s}"]


# A learned model of half the scale whose output is resized (bicubic, OpenCV, on the host) to the size asked for
# (`NAME+bicubic`): where no model of the scale holds the rate, a learned x2 then a cheap x2 still beats bicubic x4.
THEN_BICUBIC = "+bicubic"


def default_candidates(scale: int) -> list[str]:
    halves = [m.name + THEN_BICUBIC for m in shipped_for(scale // 2)] if scale % 2 == 0 and scale > 2 else []
    return [c.format(s=scale) for c in OFFICIAL_CANDIDATES] + [m.name for m in shipped_for(scale)] + halves + \
        ["bicubic"]


def _base_scale(spec: str) -> int | None:
    """The scale of the model a `NAME+bicubic` candidate starts from (None: unknown name)."""
    base = spec.removesuffix(THEN_BICUBIC)
    if base in SHIPPED:
        return SHIPPED[base].scale
    entry = REGISTRY.get(base)
    return entry.scale if entry is not None else None


@dataclass
class Measurement:
    candidate: str
    fps: float | None  # None: not measured (unavailable)
    ms_per_frame: float | None
    note: str = ""


@dataclass
class Selection:
    chosen: str
    fps: float
    target_fps: float
    size: tuple[int, int]
    reason: str
    measurements: list[Measurement] = field(default_factory=list)
    resize: int = 1  # the model's output is resized by this factor to the scale asked for (`NAME+bicubic`)


def _available(spec: str, scale: int) -> tuple[bool, str]:
    """Whether a candidate loads without a download (live start-up must not stall on the network)."""
    if spec.endswith(THEN_BICUBIC):
        base = _base_scale(spec)
        if base is None or scale % base or base >= scale:
            return False, f"no model of a smaller scale than x{scale} of this name"
        return _available(spec.removesuffix(THEN_BICUBIC), base)
    if Path(spec).is_file():
        return True, ""
    if spec == "bicubic":
        return True, ""
    if spec in SHIPPED:
        shipped = SHIPPED[spec]
        if shipped.scale != scale:
            return False, f"x{shipped.scale}, not x{scale}"
        return shipped.available, "not shipped in this install"
    entry = REGISTRY.get(spec)
    if entry is None:
        return False, f"no x{scale} model of this name"
    if entry.scale is not None and entry.scale != scale:
        return False, f"x{entry.scale}, not x{scale}"
    return is_cached(entry), "not downloaded (fetch it once with `--model NAME`)"


def load_candidate(spec: str, scale: int) -> LoadedModel:
    """The candidate's model: for `NAME+bicubic`, NAME's own (of a smaller scale; the output is resized after it)."""
    if spec.endswith(THEN_BICUBIC):
        base = spec.removesuffix(THEN_BICUBIC)
        return load_candidate(base, _base_scale(base) or scale)
    if Path(spec).is_file():
        return resolve_model("auto", weights=spec, scale=scale)
    return resolve_model(spec, scale=scale)


@torch.inference_mode()  # no autograd bookkeeping for anything in here
def measure_fps(engine: FrameEngine, width: int, height: int, seconds: float, give_up_below: float,
                sample: np.ndarray | None = None, outputs: ScratchOutputs | None = None) -> tuple[float, int]:
    """Frames per second of `engine` on the frame `sample` (H, W, 3 RGB; None or another size: a made-up
    image-like one), fed as the live loop feeds it (as many in flight as the engine takes: one per CPU worker),
    after one warm-up, each result written by `outputs` on this thread as the live loop writes its recordings
    (`ScratchOutputs`); (fps, frames timed).

    Stops after the first timed frame when it already shows the model far below `give_up_below` fps: a model
    at 0.3 fps need not be watched for seconds to know it is too slow. (The warm-up call is not used for that:
    it includes one-off allocations and can be several times slower than the rest.)
    """
    if sample is not None and sample.shape == (height, width, 3):
        x = np.ascontiguousarray(sample[None])
    else:
        x = probe_frames(1, height, width)  # image-like (white noise would trip the guard of some models)
    engine(x)
    with outputs or contextlib.nullcontext():
        return _timed(engine, x, seconds, give_up_below, outputs)


def _timed(engine: FrameEngine, x: np.ndarray, seconds: float, give_up_below: float,
           outputs: ScratchOutputs | None) -> tuple[float, int]:
    n, t0 = 0, time.perf_counter()
    try:
        while True:
            while engine.can_submit:
                engine.submit(x)
            out = engine.collect()
            if outputs is not None:
                outputs.write(out)
            n += 1
            elapsed = time.perf_counter() - t0
            if n == 1 and elapsed > 0.5 and elapsed > 2.0 / give_up_below:
                return 1.0 / elapsed, 1
            if elapsed >= seconds and n >= 2:
                return n / elapsed, n
    finally:
        while engine.in_flight:
            engine.collect()


@dataclass
class _Candidate:
    name: str  # as chosen: the model's name, with +bicubic where its output is resized
    loaded: LoadedModel
    engine: FrameEngine
    fps: float
    resize: int


def _measure(spec: str, scale: int, width: int, height: int, engine_settings: EngineSettings, seconds: float,
             need: float, sample: np.ndarray | None, outputs: ScratchOutputs | None) -> _Candidate | str:
    """One candidate loaded and measured, or why it was skipped."""
    ok, why = _available(spec, scale)
    if not ok:
        return why
    try:
        loaded = load_candidate(spec, scale)
    except VSRError as exc:  # e.g. a checkpoint of another scale: skip it, the others may do
        return str(exc)
    engine = build_engine(loaded, engine_settings).engine
    resize = scale // loaded.scale
    fps, _ = measure_fps(engine, width, height, seconds, need, sample, outputs)
    name = loaded.name + THEN_BICUBIC if resize > 1 else loaded.name
    return _Candidate(name, loaded, engine, fps, resize)


def choose_model(candidates: list[str], scale: int, target_fps: float, width: int, height: int,
                 engine_settings: EngineSettings, seconds: float = 1.5, headroom: float = 1.15,
                 max_latency_ms: float | None = None, log: Callable[[str], None] = print,
                 sample: np.ndarray | None = None,
                 outputs: ScratchOutputs | None = None) -> tuple[LoadedModel, FrameEngine, Selection]:
    """Measure candidates best-first, each with its results written by `outputs` as the live loop writes them;
    the first that reaches `target_fps * headroom` wins. `Selection.resize` says when the chosen model's output is
    to be resized to the scale asked for (`NAME+bicubic`).

    The headroom leaves time per frame for capture and display beside the model. When none is fast enough, the
    fastest measured one is used and the selection says so. Engines not chosen are closed.
    """
    measurements: list[Measurement] = []
    best: _Candidate | None = None
    need = target_fps * headroom
    log(f"target {target_fps:g} fps: measuring candidate models at {width}x{height} x{scale}, best quality first")
    for spec in (c.format(s=scale) for c in candidates):
        got = _measure(spec, scale, width, height, engine_settings, seconds, need, sample, outputs)
        if isinstance(got, str):
            measurements.append(Measurement(spec, None, None, got))
            log(f"  {spec}: skipped ({got})")
            continue
        ms = 1000.0 / got.fps * got.engine.depth  # each frame's own time: `depth` batches run side by side
        fast = got.fps >= need and (max_latency_ms is None or ms <= max_latency_ms)
        note = "fast enough" if fast else "too slow"
        measurements.append(Measurement(got.name, round(got.fps, 2), round(ms, 1), note))
        log(f"  {got.name} {got.engine.precision}: {got.fps:.1f} fps ({ms:.0f} ms a frame, {got.engine.depth} side "
            f"by side) -> {note}")
        if fast or best is None or got.fps > best.fps:
            if best is not None:
                best.engine.close()
            best = got
        else:
            got.engine.close()
        if fast:
            reason = _fast_reason(got.name, got.fps, target_fps, width, height, headroom, measurements)
            break
    else:
        if best is None:
            raise VSRError("none of the candidate models ({candidates}) is available offline (see `vsr models`)")
        reason = (f"chose {best.name}: no candidate reaches {target_fps:g} fps at {width}x{height}; it is the "
                  f"fastest ({best.fps:.1f} fps), expect dropped frames")
    return best.loaded, best.engine, Selection(best.name, round(best.fps, 2), target_fps, (width, height), reason,
                                               measurements, best.resize)


def _fast_reason(name: str, fps: float, target_fps: float, width: int, height: int, headroom: float,
                 measurements: list[Measurement]) -> str:
    slower = [m for m in measurements if m.fps is not None and m.note == "too slow"]
    better = "; better but too slow: " + ", ".join(f"{m.candidate} {m.fps:g} fps" for m in slower) \
        if slower else "; it is the best-quality candidate available"
    how = " (a learned model of half the scale, then bicubic: no model of the full scale holds the rate)" \
        if name.endswith(THEN_BICUBIC) else ""
    return (f"chose {name}{how}: {fps:.1f} fps at {width}x{height} with the outputs' work beside it reaches the "
            f"target {target_fps:g} fps (+{(headroom - 1) * 100:.0f}% headroom){better}")
