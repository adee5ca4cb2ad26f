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
from vsr.engine.device import probe_frames
from vsr.engine.interface import FrameEngine
from vsr.errors import VSRError
from vsr.models import REGISTRY, SHIPPED, LoadedModel, resolve_model, then_bicubic
from vsr.models.shipped import shipped_for
from vsr.models.weights import is_cached

# Best picture first: the paper's large model beats the efficient ones, which beat the light real-time one (the
# official light SAFMN++ is x4 only). The shipped models follow, best Set5 PSNR first (an offline install always has
# a trained real-time model), and bicubic last: always available and fast, so a choice always exists.
OFFICIAL_CANDIDATES = ["safmn-l-x{s}", "safmn-x{s}", "ntire23-safmn-x{s}", "safmnpp-x{s}", "safmnpp-light-x{s}"]


# A learned model of half the scale followed by a bicubic resize (`NAME+bicubic`): where no model of the scale holds
# the rate, a learned x2 then a cheap x2 still beats bicubic x4 (light x2 runs about twice as fast as light x4).
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
    if spec.endswith(THEN_BICUBIC):
        base = spec.removesuffix(THEN_BICUBIC)
        return then_bicubic(load_candidate(base, _base_scale(base) or scale), scale)
    if Path(spec).is_file():
        return resolve_model("auto", weights=spec, scale=scale)
    return resolve_model(spec, scale=scale)


@torch.inference_mode()  # no autograd bookkeeping for anything in here
def measure_fps(engine: FrameEngine, width: int, height: int, seconds: float, give_up_below: float,
                sample: np.ndarray | None = None,
                load: contextlib.AbstractContextManager | None = None) -> tuple[float, int]:
    """Frames per second of `engine` on the frame `sample` (H, W, 3 RGB; None or another size: a made-up
    image-like one), fed as the live loop feeds it (as many in flight as the engine takes: one per CPU worker),
    after one warm-up, with `load` running beside the timed part (the outputs' work: `OutputLoad`); (fps, frames
    timed).

    Stops after the first timed frame when it already shows the model far below `give_up_below` fps: a model
    at 0.3 fps need not be watched for seconds to know it is too slow. (The warm-up call is not used for that:
    it includes one-off allocations and can be several times slower than the rest.)
    """
    if sample is not None and sample.shape == (height, width, 3):
        x = np.ascontiguousarray(sample[None])
    else:
        x = probe_frames(1, height, width)  # image-like (white noise would trip the guard of some models)
    engine(x)
    with load or contextlib.nullcontext():
        return _timed(engine, x, seconds, give_up_below)


def _timed(engine: FrameEngine, x: np.ndarray, seconds: float, give_up_below: float) -> tuple[float, int]:
    n, t0 = 0, time.perf_counter()
    try:
        while True:
            while engine.can_submit:
                engine.submit(x)
            engine.collect()
            n += 1
            elapsed = time.perf_counter() - t0
            if n == 1 and elapsed > 0.5 and elapsed > 2.0 / give_up_below:
                return 1.0 / elapsed, 1
            if elapsed >= seconds and n >= 2:
                return n / elapsed, n
    finally:
        while engine.in_flight:
            engine.collect()


def choose_model(candidates: list[str], scale: int, target_fps: float, width: int, height: int,
                 engine_settings: EngineSettings, seconds: float = 1.5, headroom: float = 1.15,
                 max_latency_ms: float | None = None, log: Callable[[str], None] = print,
                 sample: np.ndarray | None = None,
                 load: contextlib.AbstractContextManager | None = None) -> tuple[LoadedModel, FrameEngine, Selection]:
    """Measure candidates best-first, each with `load` (the outputs' work) running beside it as in the live loop;
    the first that reaches `target_fps * headroom` wins.

    The headroom leaves time per frame for capture and display beside the model. When none is fast enough, the
    fastest measured one is used and the selection says so. Engines not chosen are closed.
    """
    specs = [c.format(s=scale) for c in candidates]
    measurements: list[Measurement] = []
    best: tuple[float, LoadedModel, FrameEngine] | None = None
    need = target_fps * headroom
    log(f"target {target_fps:g} fps: measuring candidate models at {width}x{height} x{scale}, best quality first")
    for spec in specs:
        ok, why = _available(spec, scale)
        if not ok:
            measurements.append(Measurement(spec, None, None, why))
            log(f"  {spec}: skipped ({why})")
            continue
        try:
            loaded = load_candidate(spec, scale)
        except VSRError as exc:  # e.g. a checkpoint of another scale: skip it, the others may do
            measurements.append(Measurement(spec, None, None, str(exc)))
            log(f"  {spec}: skipped ({exc})")
            continue
        engine = build_engine(loaded, engine_settings).engine
        fps, n = measure_fps(engine, width, height, seconds, need, sample, load)
        ms = 1000.0 / fps * engine.depth  # each frame's own time: `depth` batches run side by side
        fast = fps >= need and (max_latency_ms is None or ms <= max_latency_ms)
        measurements.append(Measurement(loaded.name, round(fps, 2), round(ms, 1),
                                        "fast enough" if fast else "too slow"))
        log(f"  {loaded.name} {engine.precision}: {fps:.1f} fps ({ms:.0f} ms a frame, {engine.depth} side by "
            f"side, {n} timed) -> {'fast enough' if fast else 'too slow'}")
        if fast:
            if best is not None:
                best[2].close()
            return loaded, engine, Selection(loaded.name, round(fps, 2), target_fps, (width, height),
                                             _fast_reason(loaded.name, fps, target_fps, width, height, headroom,
                                                          measurements), measurements)
        if best is None or fps > best[0]:
            if best is not None:
                best[2].close()
            best = (fps, loaded, engine)
        else:
            engine.close()
    if best is None:
        raise VSRError("none of the candidate models ({candidates}) is available offline (see `vsr models`)")
    fps, loaded, engine = best
    reason = (f"chose {loaded.name}: no candidate reaches {target_fps:g} fps at {width}x{height}; it is the fastest "
              f"({fps:.1f} fps), expect dropped frames")
    return loaded, engine, Selection(loaded.name, round(fps, 2), target_fps, (width, height), reason, measurements)


def _fast_reason(name: str, fps: float, target_fps: float, width: int, height: int, headroom: float,
                 measurements: list[Measurement]) -> str:
    slower = [m for m in measurements if m.fps is not None and m.note == "too slow"]
    better = "; better but too slow: " + ", ".join(f"{m.candidate} {m.fps:g} fps" for m in slower) \
        if slower else "; it is the best-quality candidate available"
    how = " (a learned model of half the scale, then bicubic: no model of the full scale holds the rate)" \
        if name.endswith(THEN_BICUBIC) else ""
    return (f"chose {name}{how}: {fps:.1f} fps at {width}x{height} with the outputs' work beside it reaches the "
            f"target {target_fps:g} fps (+{(headroom - 1) * 100:.0f}% headroom){better}")
