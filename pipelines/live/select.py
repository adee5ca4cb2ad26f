"""The live model choice: measure the candidate models at the source size, as the live loop runs them, and keep the
best one that is fast enough."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pipelines.common.engine_factory import build_engine
from pipelines.common.settings import EngineSettings
from pipelines.live.rehearsal import Rehearsal, ScratchOutputs, rehearse
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


# A candidate holds the rate when it processes this share of the frames of a rehearsal paced at the rate.
KEPT = 0.98


@torch.inference_mode()  # no autograd bookkeeping for anything in here
def measure_fps(engine: FrameEngine, width: int, height: int, seconds: float, rate: float,
                sample: np.ndarray | None = None, outputs: ScratchOutputs | None = None) -> Rehearsal:
    """A rehearsal of the live loop (`rehearse`) with `engine` on the frame `sample` (H, W, 3 RGB; None or another
    size: a made-up image-like one) arriving at `rate`, after one warm-up, each result written by `outputs` as the
    loop writes its recordings. (The warm-up is not timed: it includes one-off allocations.)"""
    if sample is not None and sample.shape == (height, width, 3):
        x = np.ascontiguousarray(sample[None])
    else:
        x = probe_frames(1, height, width)  # image-like (white noise would trip the guard of some models)
    engine(x)
    with outputs or contextlib.nullcontext():
        return rehearse(engine, x, rate, seconds, outputs)


@dataclass
class _Candidate:
    name: str  # as chosen: the model's name, with +bicubic where its output is resized
    loaded: LoadedModel
    engine: FrameEngine
    run: Rehearsal
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
    run = measure_fps(engine, width, height, seconds, need, sample, outputs)
    name = loaded.name + THEN_BICUBIC if resize > 1 else loaded.name
    return _Candidate(name, loaded, engine, run, resize)


def choose_model(candidates: list[str], scale: int, target_fps: float, width: int, height: int,
                 engine_settings: EngineSettings, seconds: float = 3.0, headroom: float = 1.1,
                 max_latency_ms: float | None = None, log: Callable[[str], None] = print,
                 sample: np.ndarray | None = None,
                 outputs: ScratchOutputs | None = None) -> tuple[LoadedModel, FrameEngine, Selection]:
    """Rehearse the live loop with each candidate, best first, frames arriving at `target_fps * headroom` and the
    results written by `outputs` as the loop writes them; the first that processes `KEPT` of the frames (and keeps
    p95 latency within `max_latency_ms`) wins. `Selection.resize` says when the chosen model's output is to be
    resized to the scale asked for (`NAME+bicubic`).

    The headroom leaves time for the capture and the display beside the loop. When none keeps up, the fastest
    one is used and the selection says so. Engines not chosen are closed.
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
        run, ms = got.run, got.run.latency_ms_p95
        fast = run.kept >= KEPT and (max_latency_ms is None or ms <= max_latency_ms)
        note = "fast enough" if fast else "too slow"
        measurements.append(Measurement(got.name, round(run.fps, 2), round(ms, 1), note))
        log(f"  {got.name} {got.engine.precision}: {run.processed} of {run.captured} frames at {need:.1f} fps "
            f"({run.fps:.1f} fps, p95 {ms:.0f} ms, {got.engine.depth} side by side) -> {note}")
        if fast or best is None or run.fps > best.run.fps:
            if best is not None:
                best.engine.close()
            best = got
        else:
            got.engine.close()
        if fast:
            reason = _fast_reason(got.name, run.fps, target_fps, width, height, headroom, measurements)
            break
    else:
        if best is None:
            raise VSRError("none of the candidate models ({candidates}) is available offline (see `vsr models`)")
        reason = (f"chose {best.name}: no candidate keeps up with {target_fps:g} fps at {width}x{height}; it is the "
                  f"fastest ({best.run.fps:.1f} fps), expect dropped frames")
    return best.loaded, best.engine, Selection(best.name, round(best.run.fps, 2), target_fps, (width, height),
                                               reason, measurements, best.resize)


def _fast_reason(name: str, fps: float, target_fps: float, width: int, height: int, headroom: float,
                 measurements: list[Measurement]) -> str:
    slower = [m for m in measurements if m.fps is not None and m.note == "too slow"]
    better = "; better but too slow: " + ", ".join(f"{m.candidate} {m.fps:g} fps" for m in slower) \
        if slower else "; it is the best-quality candidate available"
    how = " (a learned model of half the scale, then bicubic: no model of the full scale holds the rate)" \
        if name.endswith(THEN_BICUBIC) else ""
    return (f"chose {name}{how}: it kept up with {target_fps:g} fps +{(headroom - 1) * 100:.0f}% at {width}x{height} "
            f"in a rehearsal of the live loop, recordings included ({fps:.1f} fps){better}")
