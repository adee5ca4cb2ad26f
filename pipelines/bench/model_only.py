"""Children: the engine alone (`model_only`: frames/s, latency, memory, CUDA copy times) and the batch it suggests
(`best_batch`)."""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import statistics
import time
from typing import Any

from pipelines.bench import workload
from pipelines.bench.config import MIN_BATCHES, BenchJob
from pipelines.bench.machine import cuda_uuid, gpu_state
from pipelines.bench.measure import cpu_s, rss_mib
from pipelines.common.device_colour import colour_beside_model
from pipelines.common.stats import percentile
from vsr.engine.interface import FrameEngine


def _describe_batch(x) -> str:
    from vsr.engine.frames import YuvPictures

    if isinstance(x, YuvPictures):
        f = x.source
        return f"YUV planes ({f.bits}-bit, chroma /{2**f.shift_w}x{2**f.shift_h}; colour beside the model)"
    return f"{x.dtype} RGB frames (N, H, W, 3)"


def _probe(clip: str | None):
    if not clip:
        return None
    from vsr.io import probe

    return probe(clip)


def _copy_times(engine: FrameEngine):
    """A snapshot of the engine's accumulated CUDA copy/compute counters (None on the CPU)."""
    times = engine.stats().copy_times
    return copy.copy(times) if times is not None else None


def _times_since(before, after) -> dict[str, Any] | None:
    """The counters' growth from one snapshot to the next: the timed batches alone, without the warm-up."""
    if before is None or after is None:
        return None
    return {f.name: getattr(after, f.name) - getattr(before, f.name) for f in dataclasses.fields(after)}


def child_model_only(job: BenchJob) -> dict[str, Any]:
    import torch

    if job.threads:
        torch.set_num_threads(job.threads)
    notices: list[str] = []
    module, scale, weights, random_weights = workload.load(job)
    plain = job.plain
    engine = workload.engine(job, module, scale, plain, notices)
    w, h = job.size
    b = job.batch
    # what the pipeline hands the engine (conversions inside it, on its device): RGB frames, or YUV planes
    info = _probe(job.clip)
    x = workload.model_batch(w, h, b, scale, colour_beside_model(job.colour, engine.device), info)
    cuda = engine.device.type == "cuda"
    workload.warm_up(engine, x, job.warmup)
    if cuda:
        torch.cuda.synchronize(engine.device)
        torch.cuda.reset_peak_memory_stats(engine.device)
    times0 = _copy_times(engine)  # the warm-up's copies and compute are not part of the figures
    base_rss = rss_mib("VmRSS")
    n_batches = max(math.ceil(job.frames / b), MIN_BATCHES)
    cpu0 = cpu_s()
    fps, per_frame_ms = _timed_runs(engine, x, n_batches, b, job.repeats)
    # CPU seconds per frame (all threads, user + system): unlike wall time, barely affected by other jobs
    cpu_ms = (cpu_s() - cpu0) * 1000 / (n_batches * b * job.repeats)
    timed = _times_since(times0, _copy_times(engine))
    stats = engine.stats()
    out = {
        "fps_median": round(statistics.median(fps), 4), "fps_min": round(min(fps), 4), "fps_max": round(max(fps), 4),
        "fps_repeats": [round(f, 4) for f in fps], "frames_per_repeat": n_batches * b,
        "warmup_batches": job.warmup, "input": _describe_batch(x),
        "ms_per_frame_p50": round(percentile(per_frame_ms, 0.5), 3),
        "ms_per_frame_p95": round(percentile(per_frame_ms, 0.95), 3),
        "ms_samples": [round(v, 3) for v in per_frame_ms],
        "cpu_ms_per_frame": round(cpu_ms, 3),
        "peak_mem_mib": None, "mem_kind": None, "baseline_rss_mib": round(base_rss, 1) if base_rss else None,
        "h2d_ms_per_frame": None, "d2h_ms_per_frame": None, "gpu_compute_ms_per_frame": None,
        "h2d_bytes_per_frame": None, "d2h_bytes_per_frame": None, "cuda_times": None, "gpu_state": None,
        "engine": engine.describe(), "cpu_workers": stats.cpu_workers, "depth": stats.depth,
        "guard_recomputes": stats.guard_recomputes,
        "plain": plain, "precision": engine.precision, "device": str(engine.device),
        "scale": scale, "weights": weights, "random_weights": random_weights,
        "torch_threads": torch.get_num_threads(), "malloc_tunables": os.environ.get("GLIBC_TUNABLES"),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "notices": notices,
    }
    out.update(_cuda_figures(engine, timed, b) if cuda else _cpu_memory())
    return out


def _timed_runs(engine, x, n_batches: int, b: int, repeats: int) -> tuple[list[float], list[float]]:
    """`repeats` runs of `n_batches` pipelined batches: the fps of each run and the time per frame of every batch
    as it came back."""
    fps, per_frame_ms = [], []
    for _ in range(repeats):
        t0 = last = time.perf_counter()
        for _ in range(n_batches):
            if not engine.can_submit:
                engine.collect()
                now = time.perf_counter()
                per_frame_ms.append((now - last) * 1000 / b)
                last = now
            engine.submit(x)
        while engine.in_flight:
            engine.collect()
            now = time.perf_counter()
            per_frame_ms.append((now - last) * 1000 / b)
            last = now
        fps.append(n_batches * b / (time.perf_counter() - t0))
    return fps, per_frame_ms


def _cpu_memory() -> dict[str, Any]:
    peak = rss_mib("VmHWM")
    return {"peak_mem_mib": round(peak, 1) if peak else None, "mem_kind": "rss_peak"}


def _cuda_figures(engine, timed: dict[str, Any] | None, b: int) -> dict[str, Any]:
    """Device memory, clocks and the copy/compute split per frame of the timed batches."""
    import torch

    index = engine.device.index if engine.device.index is not None else torch.cuda.current_device()
    out: dict[str, Any] = {"gpu_state": gpu_state(cuda_uuid(index)),  # the clocks while they are still up
                           "peak_mem_mib": round(torch.cuda.max_memory_allocated(engine.device) / 2**20, 1),
                           "mem_kind": "cuda_max_allocated"}
    if timed is not None and timed["batches"]:
        n = timed["batches"] * b
        out["cuda_times"] = {k: round(v, 3) if isinstance(v, float) else v for k, v in timed.items()}
        out["h2d_ms_per_frame"] = round(timed["h2d_ms"] / n, 4)
        out["d2h_ms_per_frame"] = round(timed["d2h_ms"] / n, 4)
        out["gpu_compute_ms_per_frame"] = round(timed["compute_ms"] / n, 4)
        out["h2d_bytes_per_frame"] = round(timed["h2d_bytes"] / n)
        out["d2h_bytes_per_frame"] = round(timed["d2h_bytes"] / n)
    return out


def child_best_batch(job: BenchJob) -> dict[str, Any]:
    module, scale, _, _ = workload.load(job)
    engine = workload.engine(job, module, scale, False, [])
    return {"batch": engine.suggest_batch(job.size[1], job.size[0])}
