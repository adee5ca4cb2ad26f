"""The parent: check the settings, plan the configurations, spawn one child per measurement and round, merge the
rounds into one row per configuration with its ratios and bound."""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from pipelines.bench.config import MIN_BATCHES, ONNX_BACKENDS, BenchConfig, BenchJob
from pipelines.bench.machine import machine_info
from pipelines.bench.report import row
from pipelines.bench.results import BenchReport, BenchRow, Ratios, ScalingRow
from pipelines.bench.spawn import child
from pipelines.common.parsing import parse_size as parse_text_size
from pipelines.common.stats import percentile
from vsr.engine.perf import MALLOC_TUNABLES, OMP_WAIT_POLICY
from vsr.errors import VSRError


def parse_size(text: Any) -> tuple[int, int]:
    """"320x180" (or [320, 180]) -> (320, 180), at least 8x8."""
    return parse_text_size(text, "input_size", "320x180", minimum=8)


def parse_batch(value: Any) -> int | str:
    if value == "best":
        return "best"
    try:
        b = int(value)
    except (TypeError, ValueError):
        b = 0
    if b < 1 or isinstance(value, bool) or (isinstance(value, float) and value != b):
        raise VSRError(f"batch {value!r}: use a positive integer or best")
    return b


def run_bench(cfg: BenchConfig, progress=print) -> BenchReport:
    """Run every configuration; returns the report (also what --json writes)."""
    _check(cfg)
    sizes = [parse_size(s) for s in cfg.sizes]
    cfg.batches = [parse_batch(b) for b in cfg.batches]
    notices: list[str] = []
    machine = machine_info(cfg.codec, cfg.device)
    if cfg.backend in ONNX_BACKENDS:
        _onnxruntime_settings(cfg, notices)
    results = []
    with tempfile.TemporaryDirectory(prefix="vsr-bench-") as tmp:
        clips: dict[tuple[int, int, int], str] = {}
        for model in cfg.models:
            for w, h in sizes:
                for precision in cfg.precisions:
                    for batch in _batches(cfg, model, w, h, precision):
                        clip = None
                        if cfg.pipeline or cfg.naive or cfg.io:
                            clip = _clip_for(cfg, w, h, max(cfg.frames, MIN_BATCHES * batch), tmp, clips)
                        progress(f"bench: {model} {w}x{h} batch {batch} {precision} ...")
                        results.append(_configuration(cfg, model, w, h, batch, precision, clip, tmp, notices))
                        progress("  " + row(results[-1]))
    return BenchReport(machine, asdict(cfg), results, per_pixel_scaling(results), notices,
                       MALLOC_TUNABLES if cfg.malloc_tuning else None, OMP_WAIT_POLICY if cfg.malloc_tuning else None)


def _check(cfg: BenchConfig) -> None:
    if cfg.backend not in ("torch", *ONNX_BACKENDS):
        raise VSRError(f"unknown backend {cfg.backend!r}; use torch, {' or '.join(ONNX_BACKENDS)}")
    if cfg.frames < 1 or cfg.repeats < 1 or cfg.warmup < 0:
        raise VSRError("--frames and --repeats must be at least 1")
    if cfg.cpu_workers < 0:
        raise VSRError("--cpu-workers must be 0 (auto) or more")
    from pipelines.common.device_colour import COLOUR_MODES

    if cfg.colour not in COLOUR_MODES:
        raise VSRError(f"--colour {cfg.colour}: use {', '.join(COLOUR_MODES)}")
    if not cfg.models or not cfg.sizes or not cfg.batches or not cfg.precisions:
        raise VSRError("nothing to measure: give at least one model, input size, batch and precision")
    from vsr.engine.device import PRECISIONS
    from vsr.models import check_model_name

    for p in cfg.precisions:
        if p != "auto" and p not in PRECISIONS:
            raise VSRError(f"unknown precision {p!r}; use auto, fp32, fp16 or bf16")
    if not cfg.weights:
        for m in cfg.models:
            check_model_name(m)
    elif not Path(cfg.weights).is_file():
        raise VSRError(f"--weights {cfg.weights}: no such file")
    if cfg.weights and len(cfg.models) != 1:
        raise VSRError("--weights goes with a single --model (its label)")
    if cfg.input and not Path(cfg.input).is_file():
        raise VSRError(f"--input {cfg.input}: no such file")


def _onnxruntime_settings(cfg: BenchConfig, notices: list[str]) -> None:
    """The onnxruntime backend measures model-only (the exported fp32 or fp16 graph) beside the plain torch model;
    the file pipeline runs the torch engine, so it and the naive loop are skipped."""
    try:
        import onnxruntime
    except ImportError:
        raise VSRError(f"--backend {cfg.backend}: onnxruntime is not installed (pip install .[onnx])") from None
    # a missing provider is a one-line error here, before any child runs
    import torch

    from vsr.engine.onnx_providers import choose_providers

    gpu = cfg.device.startswith("cuda") or (cfg.device == "auto" and torch.cuda.is_available())
    choose_providers("cuda" if gpu else "cpu", cfg.backend, onnxruntime.get_available_providers())
    if any(p not in ("auto", "fp32", "fp16") for p in cfg.precisions):
        raise VSRError(f"--backend {cfg.backend} runs an exported fp32 or fp16 graph: use --precision fp32 or fp16")
    cfg.precisions = list(dict.fromkeys("fp32" if p == "auto" else p for p in cfg.precisions))
    if cfg.pipeline or cfg.naive or cfg.io:
        notices.append(f"backend {cfg.backend}: model-only and the plain torch model only (pipeline/naive/I/O "
                       "skipped)")
    cfg.pipeline = cfg.naive = cfg.io = False


def _clip_for(cfg: BenchConfig, w: int, h: int, frames: int, tmp: str, clips: dict) -> str:
    """`--input`, or a generated clip of `frames` frames (at least MIN_BATCHES batches, as each model-only repeat)
    with an AAC tone; one per size and length."""
    if cfg.input:
        return str(cfg.input)
    if (w, h, frames) not in clips:
        from vsr.io.synth import write_pattern_clip

        rate = 25
        path = Path(tmp) / f"clip_{w}x{h}_{frames}.mp4"
        write_pattern_clip(path, w, h, seconds=frames / rate, rate=rate)
        clips[(w, h, frames)] = str(path)
    return clips[(w, h, frames)]


def _batches(cfg: BenchConfig, model: str, w: int, h: int, precision: str) -> list[int]:
    out: list[int] = []
    for b in cfg.batches:
        if b == "best":
            job = BenchJob(model=model, weights=cfg.weights, device=cfg.device, precision=precision, size=[w, h])
            b = child("best_batch", job, cfg, optimised=True)["batch"]
        if b not in out:
            out.append(b)
    return out


def _configuration(cfg: BenchConfig, model: str, w: int, h: int, batch: int, precision: str,
                   clip: str | None, tmp: str, notices: list[str]) -> BenchRow:
    job = BenchJob(model=model, weights=cfg.weights, size=[w, h], batch=batch, device=cfg.device,
                   precision=precision, frames=cfg.frames, repeats=1, warmup=cfg.warmup, compile=cfg.compile,
                   tile=cfg.tile, tile_overlap=cfg.tile_overlap, threads=cfg.threads, cpu_tile=cfg.cpu_tile,
                   cpu_workers=cfg.cpu_workers, backend=cfg.backend, colour=cfg.colour, clip=clip,
                   codec=cfg.codec, preset=cfg.preset)
    rounds: dict[str, list[dict[str, Any]]] = {"optimised": [], "plain": [], "pipeline": [], "io": [],
                                               "naive": []}
    # Each repeat is one round of every measurement, in turn: a change in the machine's load (other jobs) then
    # hits the optimised run and its baselines alike, instead of skewing their ratio.
    for r in range(cfg.repeats):
        rounds["optimised"].append(child("model_only", job, cfg, optimised=True))
        if cfg.plain:
            rounds["plain"].append(child("model_only", replace(job, plain=True), cfg, optimised=False))
        if clip is not None and cfg.pipeline:
            rounds["pipeline"].append(child("pipeline", replace(job, out=str(Path(tmp) / f"pipe{r}.mp4")), cfg,
                                            optimised=True))
        if clip is not None and cfg.io:  # same process settings as the pipeline: it is the pipeline's own I/O
            io_job = replace(job, scale=rounds["optimised"][0]["scale"], out=str(Path(tmp) / f"io{r}.mp4"))
            rounds["io"].append(child("io", io_job, cfg, optimised=True))
        if clip is not None and cfg.naive:
            rounds["naive"].append(child("naive", replace(job, out=str(Path(tmp) / f"naive{r}.mp4")), cfg,
                                         optimised=False))
    for part in (p for parts in rounds.values() for p in parts):
        notices.extend(n for n in part.pop("notices", []) if n not in notices)
    optimised = _merge_model_runs(rounds["optimised"])
    plain = _merge_model_runs(rounds["plain"]) if rounds["plain"] else None
    pipeline = _merge_video_runs(rounds["pipeline"]) if rounds["pipeline"] else None
    naive = _merge_video_runs(rounds["naive"]) if rounds["naive"] else None
    io = _merge_video_runs(rounds["io"]) if rounds["io"] else None
    scale, device = optimised["scale"], optimised["device"]
    model_fps = optimised["fps_median"]
    plain_fps, naive_fps = (plain["fps_median"] if plain else None), (naive["fps"] if naive else None)
    pipeline_fps, io_fps = (pipeline["fps"] if pipeline else None), (io["fps"] if io else None)
    bound = pipeline_bound(model_fps, io_fps, device)
    return BenchRow(
        model=model, weights=optimised["weights"], random_weights=optimised["random_weights"], scale=scale,
        input_size=[w, h], output_size=[w * scale, h * scale], batch=batch, precision=optimised["precision"],
        device=device, backend=cfg.backend, model_only=optimised, plain_model=plain, pipeline=pipeline, naive=naive,
        io_only=io, model_only_fps=model_fps, plain_model_fps=plain_fps, pipeline_fps=pipeline_fps,
        naive_fps=naive_fps, io_only_fps=io_fps, bound_kind=bound_kind(device), bound_fps=bound,
        pipeline_efficiency=_ratio(pipeline_fps, bound),
        ratios=Ratios(pipeline_over_model_only=_ratio(pipeline_fps, model_fps),
                      pipeline_over_naive=_ratio(pipeline_fps, naive_fps),
                      optimised_over_plain=_ratio(model_fps, plain_fps)),
        model_only_mpix_per_s=round(model_fps * w * h / 1e6, 4),
    )


def _merge_model_runs(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One model-only figure from the rounds: median and spread of the rounds' frames/s, latency percentiles over
    every batch of every round, the largest peak memory."""
    out = dict(parts[0])
    fps = [f for p in parts for f in p["fps_repeats"]]
    ms = [m for p in parts for m in p.pop("ms_samples")]
    out.pop("ms_samples", None)
    out.update(
        fps_median=round(statistics.median(fps), 4), fps_min=round(min(fps), 4), fps_max=round(max(fps), 4),
        fps_repeats=fps, ms_per_frame_p50=round(percentile(ms, 0.5), 3),
        ms_per_frame_p95=round(percentile(ms, 0.95), 3),
        cpu_ms_per_frame=round(statistics.mean(p["cpu_ms_per_frame"] for p in parts), 3),
        peak_mem_mib=max(p["peak_mem_mib"] or 0 for p in parts) or None,
    )
    for key in ("h2d_ms_per_frame", "d2h_ms_per_frame", "gpu_compute_ms_per_frame", "h2d_bytes_per_frame",
                "d2h_bytes_per_frame"):
        values = [p[key] for p in parts if p.get(key) is not None]
        out[key] = round(statistics.mean(values), 4) if values else None
    out["cuda_times"] = [p["cuda_times"] for p in parts] if any(p.get("cuda_times") for p in parts) else None
    out["gpu_state"] = [p["gpu_state"] for p in parts] if any(p.get("gpu_state") for p in parts) else None
    return out


def _merge_video_runs(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Median frames/s over the rounds (as for model-only, so that their ratio compares like with like); frames,
    wall time and stage times are those of the median round (the lower one of an even count)."""
    ordered = sorted(parts, key=lambda p: p["fps"])
    out = dict(ordered[(len(ordered) - 1) // 2])
    out["round_fps"] = out["fps"]
    out["fps_repeats"] = [p["fps"] for p in parts]
    out["fps"] = round(statistics.median(out["fps_repeats"]), 4)
    out["fps_min"], out["fps_max"] = ordered[0]["fps"], ordered[-1]["fps"]
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


def bound_kind(device: str) -> str:
    """How the model and the pipeline's I/O share the machine: on a CUDA device they run side by side (GPU and
    CPU), on the CPU they take turns on the same cores."""
    return "separate_devices" if str(device).startswith("cuda") else "shared_cores"


def pipeline_bound(model_fps: float | None, io_fps: float | None, device: str) -> float | None:
    """The most frames/s the pipeline can reach given its two parts measured alone: min(model, I/O) where they run
    on different devices, 1 / (1/model + 1/I/O) where they share the cores (each frame costs both times)."""
    if not model_fps or not io_fps:
        return None
    if bound_kind(device) == "separate_devices":
        return round(min(model_fps, io_fps), 4)
    return round(1.0 / (1.0 / model_fps + 1.0 / io_fps), 4)


def per_pixel_scaling(results: list[BenchRow]) -> list[ScalingRow]:
    """Per model/batch/precision: each size's input pixels per second relative to the smallest size's."""
    groups: dict[tuple, list[BenchRow]] = {}
    for r in results:
        groups.setdefault((r.model, r.batch, r.precision), []).append(r)
    out = []
    for (model, batch, precision), rows in groups.items():
        rows = sorted(rows, key=lambda r: r.input_size[0] * r.input_size[1])
        base = rows[0].model_only_mpix_per_s
        out += [ScalingRow(model, batch, precision, r.input_size, rows[0].input_size, r.model_only_mpix_per_s, base,
                           _ratio(r.model_only_mpix_per_s, base)) for r in rows[1:]]
    return out
