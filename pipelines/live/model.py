"""The live model: named by the settings, or chosen to reach --target-fps; and the batch size the latency bound
allows."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from pipelines.common.engine_factory import build_engine
from pipelines.common.settings import EngineSettings
from pipelines.live.config import LiveConfig
from vsr.engine.device import probe_frames
from vsr.engine.interface import FrameEngine
from vsr.io.colour import BT709, RANGE_LIMITED, ColourDescription
from vsr.models import LoadedModel

DEFAULT_SCALE = 2  # as `upscale` and every other command: x2 unless --scale says otherwise
_REC709 = ColourDescription(BT709, 1, 1, RANGE_LIMITED)  # scratch encodes' colour when none is given
UNKNOWN_SOURCE_FPS = 30.0  # the target when neither --target-fps nor the source tells a rate (e.g. some cameras)


def live_target_fps(cfg: LiveConfig, source_fps: float | None) -> float:
    """The rate the model must sustain: --target-fps, else the source's own rate."""
    return cfg.target_fps or source_fps or UNKNOWN_SOURCE_FPS


def load_live_model(cfg: LiveConfig, width: int, height: int, source_fps: float | None, sample: np.ndarray | None,
                    log: Callable[[str], None], colour: ColourDescription | None = None,
                    ) -> tuple[LoadedModel, FrameEngine, dict[str, Any] | None]:
    """(model, engine, selection record or None), the engine warmed up at the source size.

    Without --model/--weights the model is chosen on this machine, on the source's first frame (`sample`, RGB;
    None: an image-like made-up one of the same size) and at the precision `auto` gives each candidate, as the
    best-quality one that keeps up with the source (or --target-fps) while the recordings and streams asked for
    are encoded beside it (`colour`: theirs).
    """
    from pipelines.live.rehearsal import ScratchOutputs, output_settings
    from pipelines.live.select import KEPT, choose_model, default_candidates, measure_fps
    from vsr.models import resolve_model

    settings = EngineSettings(device=cfg.device, precision=cfg.precision)
    explicit = cfg.weights is not None or cfg.model not in ("auto", None)
    if not explicit:
        scale = cfg.scale or DEFAULT_SCALE
        candidates = cfg.candidates or default_candidates(scale)
        target = live_target_fps(cfg, source_fps)
        outputs = ScratchOutputs(output_settings(cfg.outputs, cfg.codec, cfg.preset, cfg.crf), width * scale,
                                 height * scale, target, colour or _REC709)
        loaded, engine, sel = choose_model(candidates, scale, target, width, height, settings,
                                           cfg.selection_seconds, cfg.selection_headroom, cfg.max_latency_ms, log,
                                           sample, outputs)
        log(sel.reason)
        return loaded, engine, asdict(sel)
    loaded = resolve_model(cfg.model, cfg.weights, cfg.scale)
    engine = build_engine(loaded, settings).engine
    if not cfg.target_fps:
        engine(probe_frames(1, height, width))  # warm-up: the first call allocates, don't count it as latency
        return loaded, engine, None
    run = measure_fps(engine, width, height, cfg.selection_seconds, cfg.target_fps, sample)
    fps = run.fps
    verdict = "reaches" if run.kept >= KEPT else "does not reach"
    log(f"{loaded.name} (chosen with --model/--weights): {fps:.1f} fps at {width}x{height} {verdict} "
        f"--target-fps {cfg.target_fps:g}")
    return loaded, engine, {"chosen": loaded.name, "fps": round(fps, 2), "target_fps": cfg.target_fps,
                            "reason": f"named explicitly; {verdict} the target"}


@torch.inference_mode()
def choose_batch(cfg: LiveConfig, engine: FrameEngine, width: int, height: int, fps: float | None,
                 log: Callable[[str], None]) -> int:
    """Batch size 1 unless a larger batch still meets --max-latency-ms.

    With a batch of N the slot holds the newest N frames; when the model is behind, the oldest of them has
    waited about N frame intervals, then the whole batch's inference. That sum must fit the bound.
    """
    n = max(1, cfg.batch)
    if n == 1:
        return 1
    x = probe_frames(n, height, width)
    engine(x)  # warm-up at this shape
    t0 = time.perf_counter()
    engine(x)
    batch_ms = (time.perf_counter() - t0) * 1000.0
    interval_ms = 1000.0 / (fps or 30.0)
    predicted = batch_ms + n * interval_ms
    if predicted > cfg.max_latency_ms:
        log(f"batch {n} would make latency about {predicted:.0f} ms ({batch_ms:.0f} ms per batch + {n} frame "
            f"intervals), over --max-latency-ms {cfg.max_latency_ms:g}: using batch 1")
        return 1
    log(f"batch {n}: about {predicted:.0f} ms latency when behind, within --max-latency-ms {cfg.max_latency_ms:g}")
    return n
