"""Benchmark: model-only speed, the real file pipeline, and the baselines (plain model, naive loop) in one run.

Every measurement runs in a fresh child process (`python -m pipelines.bench`, job on stdin, result on stdout):
- its peak RSS (VmHWM) is that configuration's own, not the largest seen so far;
- the optimised runs get the glibc malloc setting against page faults and OMP_WAIT_POLICY=PASSIVE (both only work
  when set before the process starts; see vsr/engine/perf.py), while the baselines run in the environment the user
  started with, as a naive program would.
Ratios are computed from the stored (rounded) figures, so a reader can check them from the JSON.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vsr.engine.perf import MALLOC_TUNABLES, OMP_WAIT_POLICY, with_malloc_tunables, without_malloc_tunables
from vsr.errors import VSRError

DEFAULT_MODELS = ["ntire23-safmn-x4"]


@dataclass
class BenchConfig:
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    weights: str | None = None  # a checkpoint; then `models` names it (one model)
    sizes: list[str] = field(default_factory=lambda: ["320x180"])  # input WxH
    batches: list[Any] = field(default_factory=lambda: [1])  # ints, or "best" (1 on CPU, fitted to GPU memory)
    precisions: list[str] = field(default_factory=lambda: ["auto"])
    device: str = "auto"
    backend: str = "torch"
    frames: int = 8  # frames per timed repeat, and length of the generated pipeline clip
    repeats: int = 3
    warmup: int = 1  # batches run before timing
    input: str | None = None  # a clip for the pipeline and naive runs instead of a generated one
    pipeline: bool = True
    naive: bool = True
    plain: bool = True
    compile: bool = False
    tile: int = 0  # optimised engine's tile (0: whole frames)
    tile_overlap: int = 16
    cpu_tile: int = 110_592  # the optimised CPU engine tiles frames of more LR pixels than this (0: never; as Engine)
    malloc_tuning: bool = True
    threads: int = 0  # torch threads in the children; 0: torch's default (the number of cores)
    cpu_workers: int = 0  # optimised CPU engine: frames side by side (0: auto, as `upscale` does; 1: one at a time)
    codec: str = "libx264"
    preset: str = "veryfast"


# ---- the parent: plan, spawn, assemble -------------------------------------------------------------------


def parse_size(text: Any) -> tuple[int, int]:
    """"320x180" (or [320, 180]) -> (320, 180)."""
    try:
        w, h = (int(v) for v in (text.lower().split("x") if isinstance(text, str) else text))
    except (ValueError, TypeError, AttributeError):
        raise VSRError(f"input size {text!r}: use WIDTHxHEIGHT, e.g. 320x180") from None
    if w < 8 or h < 8:
        raise VSRError(f"input size {w}x{h} is too small (at least 8x8)")
    return w, h


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


def run_bench(cfg: BenchConfig, progress=print) -> dict[str, Any]:
    """Run every configuration; returns the report (also what --json writes)."""
    _check(cfg)
    sizes = [parse_size(s) for s in cfg.sizes]
    cfg.batches = [parse_batch(b) for b in cfg.batches]
    notices: list[str] = []
    machine = machine_info(cfg.codec)
    if cfg.backend == "onnxruntime":
        _onnxruntime_settings(cfg, notices)
    results = []
    with tempfile.TemporaryDirectory(prefix="vsr-bench-") as tmp:
        clips: dict[tuple[int, int], str] = {}
        for model in cfg.models:
            for w, h in sizes:
                clip = None
                if cfg.pipeline or cfg.naive:
                    clip = _clip_for(cfg, w, h, tmp, clips)
                for precision in cfg.precisions:
                    for batch in _batches(cfg, model, w, h, precision):
                        progress(f"bench: {model} {w}x{h} batch {batch} {precision} ...")
                        results.append(_configuration(cfg, model, w, h, batch, precision, clip, tmp, notices))
                        progress("  " + _row(results[-1]))
    scaling = per_pixel_scaling(results)
    return {"machine": machine, "settings": asdict(cfg), "results": results, "scaling": scaling,
            "notices": notices, "malloc_tunables": MALLOC_TUNABLES if cfg.malloc_tuning else None,
            "omp_wait_policy": OMP_WAIT_POLICY if cfg.malloc_tuning else None}


def _check(cfg: BenchConfig) -> None:
    if cfg.backend not in ("torch", "onnxruntime"):
        raise VSRError(f"unknown backend {cfg.backend!r}; use torch or onnxruntime")
    if cfg.frames < 1 or cfg.repeats < 1 or cfg.warmup < 0:
        raise VSRError("--frames and --repeats must be at least 1")
    if cfg.cpu_workers < 0:
        raise VSRError("--cpu-workers must be 0 (auto) or more")
    if not cfg.models or not cfg.sizes or not cfg.batches or not cfg.precisions:
        raise VSRError("nothing to measure: give at least one model, input size, batch and precision")
    from vsr.engine.device import PRECISIONS
    from vsr.models import get_entry

    for p in cfg.precisions:
        if p != "auto" and p not in PRECISIONS:
            raise VSRError(f"unknown precision {p!r}; use auto, fp32, fp16 or bf16")
    if not cfg.weights:
        for m in cfg.models:
            get_entry(m)
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
        import onnxruntime  # noqa: F401
    except ImportError:
        raise VSRError("--backend onnxruntime: onnxruntime is not installed (pip install .[onnx])") from None
    if any(p not in ("auto", "fp32", "fp16") for p in cfg.precisions):
        raise VSRError("--backend onnxruntime runs an exported fp32 or fp16 graph: use --precision fp32 or fp16")
    cfg.precisions = list(dict.fromkeys("fp32" if p == "auto" else p for p in cfg.precisions))
    if cfg.pipeline or cfg.naive:
        notices.append("backend onnxruntime: model-only and the plain torch model only (pipeline/naive skipped)")
    cfg.pipeline = cfg.naive = False


def _clip_for(cfg: BenchConfig, w: int, h: int, tmp: str, clips: dict) -> str:
    if cfg.input:
        return str(cfg.input)
    if (w, h) not in clips:
        from vsr.io.synth import write_pattern_clip

        rate = 25
        path = Path(tmp) / f"clip_{w}x{h}.mp4"
        write_pattern_clip(path, w, h, seconds=max(cfg.frames, 2) / rate, rate=rate)
        clips[(w, h)] = str(path)
    return clips[(w, h)]


def _batches(cfg: BenchConfig, model: str, w: int, h: int, precision: str) -> list[int]:
    out: list[int] = []
    for b in cfg.batches:
        if b == "best":
            b = _child("best_batch", {"model": model, "weights": cfg.weights, "device": cfg.device,
                                      "precision": precision, "size": [w, h]}, cfg, optimised=True)["batch"]
        if b not in out:
            out.append(b)
    return out


def _configuration(cfg: BenchConfig, model: str, w: int, h: int, batch: int, precision: str,
                   clip: str | None, tmp: str, notices: list[str]) -> dict[str, Any]:
    job = {"model": model, "weights": cfg.weights, "size": [w, h], "batch": batch, "device": cfg.device,
           "precision": precision, "frames": cfg.frames, "repeats": 1, "warmup": cfg.warmup,
           "compile": cfg.compile, "tile": cfg.tile, "tile_overlap": cfg.tile_overlap, "threads": cfg.threads,
           "cpu_tile": cfg.cpu_tile, "cpu_workers": cfg.cpu_workers, "backend": cfg.backend}
    video = {"codec": cfg.codec, "preset": cfg.preset, "clip": clip}
    rounds: dict[str, list[dict[str, Any]]] = {"optimised": [], "plain": [], "pipeline": [], "naive": []}
    # Each repeat is one round of every measurement, in turn: a change in the machine's load (other jobs) then
    # hits the optimised run and its baselines alike, instead of skewing their ratio.
    for r in range(cfg.repeats):
        rounds["optimised"].append(_child("model_only", job, cfg, optimised=True))
        if cfg.plain:
            rounds["plain"].append(_child("model_only", {**job, "plain": True}, cfg, optimised=False))
        if clip is not None and cfg.pipeline:
            rounds["pipeline"].append(_child("pipeline", {**job, **video, "out": str(Path(tmp) / f"pipe{r}.mp4")},
                                             cfg, optimised=True))
        if clip is not None and cfg.naive:
            rounds["naive"].append(_child("naive", {**job, **video, "out": str(Path(tmp) / f"naive{r}.mp4")},
                                          cfg, optimised=False))
    for part in (p for parts in rounds.values() for p in parts):
        notices.extend(n for n in part.pop("notices", []) if n not in notices)
    optimised = _merge_model_runs(rounds["optimised"])
    plain = _merge_model_runs(rounds["plain"]) if rounds["plain"] else None
    pipeline = _merge_video_runs(rounds["pipeline"]) if rounds["pipeline"] else None
    naive = _merge_video_runs(rounds["naive"]) if rounds["naive"] else None
    row = {
        "model": model, "weights": optimised["weights"], "random_weights": optimised["random_weights"],
        "scale": optimised["scale"], "input_size": [w, h], "output_size": [w * optimised["scale"],
                                                                           h * optimised["scale"]],
        "batch": batch, "precision": optimised["precision"], "device": optimised["device"], "backend": cfg.backend,
        "model_only": optimised, "plain_model": plain, "pipeline": pipeline, "naive": naive,
        "model_only_fps": optimised["fps_median"],
        "plain_model_fps": plain["fps_median"] if plain else None,
        "pipeline_fps": pipeline["fps"] if pipeline else None,
        "naive_fps": naive["fps"] if naive else None,
    }
    row["ratios"] = {
        "pipeline_over_model_only": _ratio(row["pipeline_fps"], row["model_only_fps"]),
        "pipeline_over_naive": _ratio(row["pipeline_fps"], row["naive_fps"]),
        "optimised_over_plain": _ratio(row["model_only_fps"], row["plain_model_fps"]),
    }
    row["model_only_mpix_per_s"] = round(row["model_only_fps"] * w * h / 1e6, 4)
    return row


def _merge_model_runs(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One model-only figure from the rounds: median and spread of the rounds' frames/s, latency percentiles over
    every batch of every round, the largest peak memory."""
    out = dict(parts[0])
    fps = [f for p in parts for f in p["fps_repeats"]]
    ms = [m for p in parts for m in p.pop("ms_samples")]
    out.pop("ms_samples", None)
    out.update(
        fps_median=round(statistics.median(fps), 4), fps_min=round(min(fps), 4), fps_max=round(max(fps), 4),
        fps_repeats=fps, ms_per_frame_p50=round(_percentile(ms, 0.5), 3),
        ms_per_frame_p95=round(_percentile(ms, 0.95), 3),
        cpu_ms_per_frame=round(statistics.mean(p["cpu_ms_per_frame"] for p in parts), 3),
        peak_mem_mib=max(p["peak_mem_mib"] or 0 for p in parts) or None,
    )
    for key in ("h2d_ms_per_frame", "d2h_ms_per_frame", "gpu_compute_ms_per_frame"):
        values = [p[key] for p in parts if p.get(key) is not None]
        out[key] = round(statistics.mean(values), 4) if values else None
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


def per_pixel_scaling(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model/batch/precision: each size's input pixels per second relative to the smallest size's."""
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault((r["model"], r["batch"], r["precision"]), []).append(r)
    out = []
    for (model, batch, precision), rows in groups.items():
        rows = sorted(rows, key=lambda r: r["input_size"][0] * r["input_size"][1])
        base = rows[0]["model_only_mpix_per_s"]
        for r in rows[1:]:
            out.append({"model": model, "batch": batch, "precision": precision, "input_size": r["input_size"],
                        "reference_size": rows[0]["input_size"], "mpix_per_s": r["model_only_mpix_per_s"],
                        "reference_mpix_per_s": base,
                        "per_pixel_speed_ratio": _ratio(r["model_only_mpix_per_s"], base)})
    return out


def _child(kind: str, job: dict, cfg: BenchConfig, optimised: bool) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; optimised runs get the malloc setting."""
    env = with_malloc_tunables(os.environ) if (optimised and cfg.malloc_tuning) else without_malloc_tunables(
        os.environ)
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, "-m", "pipelines.bench", kind], input=json.dumps(job),
                          capture_output=True, text=True, env=env, cwd=root)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise VSRError(f"bench {kind} ({job['model']} {job['size'][0]}x{job['size'][1]}) failed: {err}")
    return json.loads(lines[-1])


# ---- machine ---------------------------------------------------------------------------------------------


def machine_info(codec: str = "libx264") -> dict[str, Any]:
    import av
    import torch

    info: dict[str, Any] = {
        "cpu": _cpu_model(), "cpu_cores": os.cpu_count(), "cpu_affinity": len(os.sched_getaffinity(0)),
        "cpu_flags": _cpu_flags(), "platform": platform.platform(), "python": platform.python_version(),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "pyav": av.__version__,
        "ffmpeg": {k: ".".join(map(str, v)) for k, v in av.library_versions.items()},
        "codecs": {c: c in av.codecs_available for c in (codec, "h264", "aac", "libopus")},
        "gpu": None,
    }
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info["gpu"] = {"name": p.name, "memory_gib": round(p.total_memory / 2**30, 2), "cuda": torch.version.cuda,
                       "driver": _nvidia_driver(), "count": torch.cuda.device_count()}
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "f16c")
    return [f for f in wanted if f in flags]


def _nvidia_driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


# ---- table -----------------------------------------------------------------------------------------------


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def _row(r: dict[str, Any]) -> str:
    mo, ratios = r["model_only"], r["ratios"]
    return (f"{r['model']:<18} {r['input_size'][0]:>4}x{r['input_size'][1]:<4} b{r['batch']:<3} {r['precision']:<5}"
            f" model {_fmt(r['model_only_fps']):>7} fps (p50 {mo['ms_per_frame_p50']:.1f} ms,"
            f" p95 {mo['ms_per_frame_p95']:.1f} ms)  plain {_fmt(r['plain_model_fps']):>6}"
            f"  pipeline {_fmt(r['pipeline_fps']):>6}  naive {_fmt(r['naive_fps']):>6}"
            f"  opt/plain {_fmt(ratios['optimised_over_plain'])}  pipe/model {_fmt(ratios['pipeline_over_model_only'])}"
            f"  pipe/naive {_fmt(ratios['pipeline_over_naive'])}")


def format_table(report: dict[str, Any]) -> str:
    m = report["machine"]
    gpu = m["gpu"]["name"] if m["gpu"] else "none"
    lines = [f"machine: {m['cpu']} ({m['cpu_affinity']} cores usable; {' '.join(m['cpu_flags'])}), GPU {gpu}, "
             f"torch {m['torch']}, PyAV {m['pyav']}"]
    head = (f"{'model':<18} {'input':>9} {'batch':>5} {'prec':<5} {'model fps':>9} {'(min-max)':>13} {'p50 ms':>8} "
            f"{'p95 ms':>8} {'peak MiB':>8} {'plain fps':>9} {'pipe fps':>8} {'naive fps':>9} {'opt/plain':>9} "
            f"{'pipe/model':>10} {'pipe/naive':>10}")
    lines += [head, "-" * len(head)]
    for r in report["results"]:
        mo, ra = r["model_only"], r["ratios"]
        label = r["model"] + ("*" if r["random_weights"] else "")
        lines.append(
            f"{label:<18} {r['input_size'][0]:>4}x{r['input_size'][1]:<4} {r['batch']:>5} {r['precision']:<5} "
            f"{r['model_only_fps']:>9.3f} {mo['fps_min']:>6.2f}-{mo['fps_max']:<6.2f} {mo['ms_per_frame_p50']:>8.1f} "
            f"{mo['ms_per_frame_p95']:>8.1f} {_fmt(mo['peak_mem_mib'], '.0f'):>8} "
            f"{_fmt(r['plain_model_fps'], '.3f'):>9} {_fmt(r['pipeline_fps'], '.3f'):>8} "
            f"{_fmt(r['naive_fps'], '.3f'):>9} {_fmt(ra['optimised_over_plain']):>9} "
            f"{_fmt(ra['pipeline_over_model_only']):>10} {_fmt(ra['pipeline_over_naive']):>10}")
    if any(r["random_weights"] for r in report["results"]):
        lines.append("* random weights of the right architecture (checkpoint not cached; speed does not depend on it)")
    for s in report["scaling"]:
        lines.append(f"per-pixel speed {s['model']} {s['input_size'][0]}x{s['input_size'][1]} vs "
                     f"{s['reference_size'][0]}x{s['reference_size'][1]}: {_fmt(s['per_pixel_speed_ratio'])}x")
    for r in report["results"]:
        for name, part in (("pipeline", r["pipeline"]), ("naive", r["naive"])):
            if part and part.get("stages"):
                stages = ", ".join(f"{k} busy {v['busy_s']:.2f}s wait {v['wait_s']:.2f}s"
                                   for k, v in part["stages"].items())
                lines.append(f"{name} {r['model']} {r['input_size'][0]}x{r['input_size'][1]}: {stages}")
    lines += [f"notice: {n}" for n in report["notices"]]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: str) -> str | None:
    """FPS against input pixels per model; returns a notice instead when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install .[plot]): no plot written"
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series: dict[str, list[tuple[int, float, float | None]]] = {}
    for r in report["results"]:
        key = f"{r['model']} b{r['batch']} {r['precision']}"
        series.setdefault(key, []).append((r["input_size"][0] * r["input_size"][1], r["model_only_fps"],
                                           r["plain_model_fps"]))
    for key, pts in series.items():
        pts.sort()
        ax.plot([p[0] / 1e3 for p in pts], [p[1] for p in pts], marker="o", label=f"{key} optimised")
        if all(p[2] for p in pts):
            ax.plot([p[0] / 1e3 for p in pts], [p[2] for p in pts], marker="x", linestyle="--", label=f"{key} plain")
    ax.set_xlabel("input kilopixels per frame")
    ax.set_ylabel("frames/s (model only)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(report["machine"]["gpu"]["name"] if report["machine"]["gpu"] else report["machine"]["cpu"])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None


# ---- the children: one measurement each ------------------------------------------------------------------


def _load(job: dict):
    """(module, scale, weights label, random?) for a job; uncached registry models get random weights."""
    from vsr.models import get_entry, resolve_model
    from vsr.models.weights import is_cached

    if job.get("weights"):
        loaded = resolve_model(job["model"], weights=job["weights"])
        return loaded.module, loaded.scale, loaded.source, False
    entry = get_entry(job["model"])
    if entry.arch is None:  # bicubic: no weights at all
        loaded = resolve_model(job["model"], scale=4)
        return loaded.module, loaded.scale, "none", False
    if is_cached(entry):
        loaded = resolve_model(job["model"])
        return loaded.module, loaded.scale, loaded.source, False
    import torch

    torch.manual_seed(0)
    return entry.arch.build().eval(), entry.arch.scale, "random", True


def _engine(job: dict, module, scale: int, plain: bool, notices: list[str]):
    from vsr.engine.runner import Engine, EngineConfig

    if not plain and job.get("backend") == "onnxruntime":
        import torch

        from vsr.engine.onnx_export import OnnxEngine

        return OnnxEngine(module, scale, job["device"], job.get("threads") or torch.get_num_threads(),
                          notice=notices.append, precision=job["precision"])
    if plain:
        cfg = EngineConfig(job["device"], "fp32", channels_last=False, fast_layers=False, cpu_tile=0, cpu_workers=1)
    else:
        cfg = EngineConfig(job["device"], job["precision"], channels_last=True, fast_layers=True,
                           tile=job.get("tile", 0), tile_overlap=job.get("tile_overlap", 16),
                           cpu_tile=job.get("cpu_tile", 110_592), compile=job.get("compile", False),
                           cpu_workers=job.get("cpu_workers", 0))
    return Engine(module, scale, cfg, notice=notices.append)


def _frame(w: int, h: int, n: int):
    """A smooth, image-like batch (speed does not depend on content; a real-looking frame keeps it honest)."""
    import torch
    import torch.nn.functional as F

    coarse = torch.rand(n, 3, max(2, h // 16), max(2, w // 16), generator=torch.Generator().manual_seed(0))
    return F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp_(0, 1)


def _rss_mib(field_name: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _cpu_s() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _warm_up(engine, x, batches: int) -> None:
    """`batches` batches through every CPU worker (kernels are built per shape and per thread count)."""
    for _ in range(batches * getattr(engine, "cpu_workers", 1)):
        if not engine.can_submit:
            engine.collect()
        engine.submit(x)
    while engine.in_flight:
        engine.collect()


def child_model_only(job: dict) -> dict[str, Any]:
    import torch

    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    notices: list[str] = []
    module, scale, weights, random_weights = _load(job)
    plain = bool(job.get("plain"))
    engine = _engine(job, module, scale, plain, notices)
    w, h = job["size"]
    b = job["batch"]
    x = _frame(w, h, b)
    cuda = engine.device.type == "cuda"
    _warm_up(engine, x, job["warmup"])
    if cuda:
        torch.cuda.synchronize(engine.device)
        torch.cuda.reset_peak_memory_stats(engine.device)
    base_rss = _rss_mib("VmRSS")
    n_batches = math.ceil(job["frames"] / b)
    fps, per_frame_ms = [], []
    cpu0 = _cpu_s()
    for _ in range(job["repeats"]):
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
    # CPU seconds per frame (all threads, user + system): unlike wall time, barely affected by other jobs
    cpu_ms = (_cpu_s() - cpu0) * 1000 / (n_batches * b * job["repeats"])
    copies = engine.copy_times
    frames_total = n_batches * b * job["repeats"] + job["warmup"] * b
    out = {
        "fps_median": round(statistics.median(fps), 4), "fps_min": round(min(fps), 4), "fps_max": round(max(fps), 4),
        "fps_repeats": [round(f, 4) for f in fps], "frames_per_repeat": n_batches * b,
        "ms_per_frame_p50": round(_percentile(per_frame_ms, 0.5), 3),
        "ms_per_frame_p95": round(_percentile(per_frame_ms, 0.95), 3),
        "ms_samples": [round(v, 3) for v in per_frame_ms],
        "cpu_ms_per_frame": round(cpu_ms, 3),
        "peak_mem_mib": None, "mem_kind": None, "baseline_rss_mib": round(base_rss, 1) if base_rss else None,
        "h2d_ms_per_frame": None, "d2h_ms_per_frame": None, "gpu_compute_ms_per_frame": None,
        "engine": engine.describe(), "cpu_workers": getattr(engine, "cpu_workers", 1),
        "plain": plain, "precision": engine.precision, "device": str(engine.device),
        "scale": scale, "weights": weights, "random_weights": random_weights,
        "torch_threads": torch.get_num_threads(), "malloc_tunables": os.environ.get("GLIBC_TUNABLES"),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "notices": notices,
    }
    if cuda:
        out["peak_mem_mib"] = round(torch.cuda.max_memory_allocated(engine.device) / 2**20, 1)
        out["mem_kind"] = "cuda_max_allocated"
        if copies is not None and copies.batches:
            n = copies.batches * b
            out["h2d_ms_per_frame"] = round(copies.h2d_ms / n, 4)
            out["d2h_ms_per_frame"] = round(copies.d2h_ms / n, 4)
            out["gpu_compute_ms_per_frame"] = round(copies.compute_ms / n, 4)
        out["frames_timed_incl_warmup"] = frames_total
    else:
        peak = _rss_mib("VmHWM")
        out["peak_mem_mib"] = round(peak, 1) if peak else None
        out["mem_kind"] = "rss_peak"
    return out


def child_best_batch(job: dict) -> dict[str, Any]:
    module, scale, _, _ = _load(job)
    engine = _engine(job, module, scale, False, [])
    return {"batch": engine.suggest_batch(job["size"][1], job["size"][0])}


def child_pipeline(job: dict) -> dict[str, Any]:
    import torch

    from pipelines.file import Notices, upscale_file
    from vsr.io import EncodeSettings, probe

    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    notices: list[str] = []
    module, scale, _, _ = _load(job)
    engine = _engine(job, module, scale, False, notices)
    # Warm up at the clip's frame size, as the model-only run does: oneDNN (and cuDNN) build their kernels for each
    # input shape on its first call, a one-off cost of up to a second that is not throughput.
    info = probe(job["clip"])
    _warm_up(engine, _frame(info.width, info.height, job["batch"]), 1)
    collected = Notices(echo=False)
    report = upscale_file(job["clip"], job["out"], engine, scale, info=info, batch=job["batch"], overwrite=True,
                          encode=EncodeSettings(codec=job["codec"], preset=job["preset"]), progress=False,
                          notices=collected, labels={"model": job["model"], "device": str(engine.device),
                                                     "precision": engine.precision})
    return {"fps": round(report.fps, 4), "frames": report.frames, "wall_s": report.wall_s,
            "stages": report.stages, "peak_rss_mib": report.peak_rss_mib, "codec": report.codec,
            "packets_copied": report.packets_copied, "notices": notices + collected.items}


def child_naive(job: dict) -> dict[str, Any]:
    """The loop most tools run: decode a frame, run the model (fp32, batch 1, NCHW), encode it; one thread."""
    import av
    import numpy as np
    import torch

    module, scale, _, _ = _load(job)
    module.eval()
    from vsr.io import probe

    info = probe(job["clip"])
    with torch.inference_mode():
        module(_frame(info.width, info.height, 1))  # the same warm-up at the clip's size as the other measurements
    busy = {"decode": 0.0, "model": 0.0, "encode": 0.0}
    frames = 0
    start = time.perf_counter()
    with av.open(job["clip"]) as inp, av.open(job["out"], "w") as out:
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0] if inp.streams.audio else None
        vout = out.add_stream(job["codec"], rate=vin.average_rate or 25)
        vout.width, vout.height, vout.pix_fmt = vin.width * scale, vin.height * scale, "yuv420p"
        vout.codec_context.time_base = vin.time_base
        vout.codec_context.options = {"preset": job["preset"]}
        aout = out.add_stream_from_template(ain) if ain is not None else None
        streams = [vin] + ([ain] if ain is not None else [])
        t = time.perf_counter()
        for packet in inp.demux(*streams):
            if packet.stream.type == "audio":
                if packet.dts is not None:
                    packet.stream = aout
                    out.mux(packet)
                continue
            for frame in packet.decode():
                rgb = frame.to_ndarray(format="rgb24")
                busy["decode"] += time.perf_counter() - t
                t = time.perf_counter()
                x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div_(255)
                with torch.inference_mode():
                    y = module(x).clamp_(0, 1).mul_(255).round_().byte()[0].permute(1, 2, 0).numpy()
                busy["model"] += time.perf_counter() - t
                t = time.perf_counter()
                of = av.VideoFrame.from_ndarray(np.ascontiguousarray(y), format="rgb24")
                of.pts, of.time_base = frame.pts, frame.time_base
                for p in vout.encode(of):
                    out.mux(p)
                frames += 1
                busy["encode"] += time.perf_counter() - t
                t = time.perf_counter()
        for p in vout.encode(None):
            out.mux(p)
        busy["encode"] += time.perf_counter() - t
    wall = time.perf_counter() - start
    return {"fps": round(frames / wall, 4), "frames": frames, "wall_s": round(wall, 3),
            "stages": {k: {"busy_s": round(v, 3), "wait_s": 0.0} for k, v in busy.items()},
            "model_share": round(busy["model"] / wall, 4), "notices": []}


CHILDREN = {"model_only": child_model_only, "pipeline": child_pipeline, "naive": child_naive,
            "best_batch": child_best_batch}


def _child_main(argv: list[str]) -> int:
    kind = argv[0]
    job = json.loads(sys.stdin.read())
    result = CHILDREN[kind](job)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
