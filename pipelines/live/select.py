"""The live model choice: measure the candidate models at the source size, as the live loop runs them, and keep the
best one that is fast enough."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pipelines.common.engine_factory import build_engine
from pipelines.common.settings import EngineSettings
from vsr.engine.device import probe_frames
from vsr.engine.runner import Engine
from vsr.errors import VSRError
from vsr.models import REGISTRY, SHIPPED, LoadedModel, resolve_model
from vsr.models.shipped import shipped_for
from vsr.models.weights import is_cached

# Best picture first: the paper's large model beats the efficient ones, which beat the light real-time one (the
# official light SAFMN++ is x4 only). The shipped models follow, best Set5 PSNR first (an offline install always has
# a trained real-time model), and bicubic last: always available and fast, so a choice always exists.
OFFICIAL_CANDIDATES = ["safmn-l-x{s}", "safmn-x{s}", "ntire23-safmn-x{s}", "safmnpp-x{s}", "safmnpp-light-x{s}"]


def default_candidates(scale: int) -> list[str]:
    return [c.format(s=scale) for c in OFFICIAL_CANDIDATES] + [m.name for m in shipped_for(scale)] + ["bicubic"]


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
    if Path(spec).is_file():
        return resolve_model("auto", weights=spec, scale=scale)
    return resolve_model(spec, scale=scale)


@torch.inference_mode()  # no autograd bookkeeping for anything in here
def measure_fps(engine: Engine, width: int, height: int, seconds: float, give_up_below: float,
                sample: np.ndarray | None = None) -> tuple[float, int]:
    """Frames per second of `engine` on the frame `sample` (H, W, 3 RGB; None or another size: a made-up
    image-like one), fed as the live loop feeds it (as many in flight as the engine takes: one per CPU worker),
    after one warm-up; (fps, frames timed).

    Stops after the first timed frame when it already shows the model far below `give_up_below` fps: a model
    at 0.3 fps need not be watched for seconds to know it is too slow. (The warm-up call is not used for that:
    it includes one-off allocations and can be several times slower than the rest.)
    """
    if sample is not None and sample.shape == (height, width, 3):
        x = np.ascontiguousarray(sample[None])
    else:
        x = probe_frames(1, height, width)  # image-like (white noise would trip the guard of some models)
    engine(x)
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
                 sample: np.ndarray | None = None) -> tuple[LoadedModel, Engine, Selection]:
    """Measure candidates best-first; the first that reaches `target_fps * headroom` wins.

    The headroom leaves time per frame for colour conversion, encoding and display beside the model. When none
    is fast enough, the fastest measured one is used and the selection says so. Engines not chosen are closed.
    """
    specs = [c.format(s=scale) for c in candidates]
    measurements: list[Measurement] = []
    best: tuple[float, LoadedModel, Engine] | None = None
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
        fps, n = measure_fps(engine, width, height, seconds, need, sample)
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
    return (f"chose {name}: {fps:.1f} fps at {width}x{height} reaches the target {target_fps:g} fps "
            f"(+{(headroom - 1) * 100:.0f}% headroom for I/O){better}")
