"""The live model: named by the settings, or chosen to reach --target-fps; and the batch size the latency bound
allows."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import torch

from pipelines.common.engine_factory import build_engine
from pipelines.common.settings import EngineSettings
from pipelines.live.config import LiveConfig
from vsr.engine.device import probe_frames
from vsr.engine.runner import Engine
from vsr.models import LoadedModel


def load_live_model(cfg: LiveConfig, width: int, height: int,
                    log: Callable[[str], None]) -> tuple[LoadedModel, Engine, dict[str, Any] | None]:
    """(model, engine, selection record or None), the engine warmed up at the source size."""
    from pipelines.live.select import DEFAULT_CANDIDATES, choose_model, measure_fps
    from vsr.models import resolve_model

    settings = EngineSettings(device=cfg.device, precision=cfg.precision)
    explicit = cfg.weights is not None or cfg.model not in ("auto", None)
    if cfg.target_fps and not explicit:
        candidates = cfg.candidates or DEFAULT_CANDIDATES
        scale = cfg.scale or 4  # the shipped and official efficient models are x4
        loaded, engine, sel = choose_model(candidates, scale, cfg.target_fps, width, height, settings,
                                           cfg.selection_seconds, cfg.selection_headroom, cfg.max_latency_ms, log)
        log(sel.reason)
        return loaded, engine, asdict(sel)
    loaded = resolve_model(cfg.model, cfg.weights, cfg.scale)
    engine = build_engine(loaded, settings).engine
    if not cfg.target_fps:
        engine(probe_frames(1, height, width))  # warm-up: the first call allocates, don't count it as latency
        return loaded, engine, None
    fps, _ = measure_fps(engine, width, height, cfg.selection_seconds, cfg.target_fps)
    verdict = "reaches" if fps >= cfg.target_fps else "does not reach"
    log(f"{loaded.name} (chosen with --model/--weights): {fps:.1f} fps at {width}x{height} {verdict} "
        f"--target-fps {cfg.target_fps:g}")
    return loaded, engine, {"chosen": loaded.name, "fps": round(fps, 2), "target_fps": cfg.target_fps,
                            "reason": f"named explicitly; {verdict} the target"}


@torch.inference_mode()
def choose_batch(cfg: LiveConfig, engine: Engine, width: int, height: int, fps: float | None,
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
