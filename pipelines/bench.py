"""Benchmark: model-only speed, the real file pipeline, and the baselines (plain model, naive loop) in one run.

Every measurement runs in a fresh child process (`python -m pipelines.bench`, job on stdin, result on stdout):
- its peak RSS (VmHWM) is that configuration's own, not the largest seen so far;
- the optimised runs get the glibc malloc setting against page faults and OMP_WAIT_POLICY=PASSIVE (both only work
  when set before the process starts; see vsr/engine/perf.py), while the baselines run in the environment the user
  started with, as a naive program would.
Ratios are computed from the stored (rounded) figures, so a reader can check them from the JSON.

Beside the model-only and pipeline figures, an I/O-only run (the same file pipeline with a nearest-neighbour
"engine" in place of the model: decode, colour conversion, encode at the output size) gives what the pipeline
could reach at best, `bound_fps`, and `pipeline_efficiency` = pipeline / bound (see docs/bench.md).
"""

from __future__ import annotations

import copy
import dataclasses
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

import numpy as np

from vsr.engine.perf import MALLOC_TUNABLES, OMP_WAIT_POLICY, with_malloc_tunables, without_malloc_tunables
from vsr.errors import VSRError

DEFAULT_MODELS = ["ntire23-safmn-x4"]
ONNX_BACKENDS = ("onnxruntime", "tensorrt")
MIN_BATCHES = 8  # every timed model-only repeat, and every generated clip, has at least this many batches


@dataclass
class BenchConfig:
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    weights: str | None = None  # a checkpoint; then `models` names it (one model)
    sizes: list[str] = field(default_factory=lambda: ["320x180"])  # input WxH
    batches: list[Any] = field(default_factory=lambda: [1])  # ints, or "best" (1 on CPU, fitted to GPU memory)
    precisions: list[str] = field(default_factory=lambda: ["auto"])
    device: str = "auto"
    backend: str = "torch"
    frames: int = 8  # frames per timed repeat and length of the generated clip (both at least MIN_BATCHES batches)
    repeats: int = 3
    warmup: int = 1  # batches run before timing (through every CPU worker / CUDA slot)
    input: str | None = None  # a clip for the pipeline, naive and I/O-only runs instead of a generated one
    pipeline: bool = True
    naive: bool = True
    io: bool = True  # the I/O-only run (the pipeline without the model): io_only_fps, bound_fps, pipeline_efficiency
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
    colour: str = "auto"  # YUV <-> RGB as `upscale --colour`: host, device (beside the model), auto (device on a GPU)


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
                        progress("  " + _row(results[-1]))
    scaling = per_pixel_scaling(results)
    return {"machine": machine, "settings": asdict(cfg), "results": results, "scaling": scaling,
            "notices": notices, "malloc_tunables": MALLOC_TUNABLES if cfg.malloc_tuning else None,
            "omp_wait_policy": OMP_WAIT_POLICY if cfg.malloc_tuning else None}


def _check(cfg: BenchConfig) -> None:
    if cfg.backend not in ("torch", *ONNX_BACKENDS):
        raise VSRError(f"unknown backend {cfg.backend!r}; use torch, {' or '.join(ONNX_BACKENDS)}")
    if cfg.frames < 1 or cfg.repeats < 1 or cfg.warmup < 0:
        raise VSRError("--frames and --repeats must be at least 1")
    if cfg.cpu_workers < 0:
        raise VSRError("--cpu-workers must be 0 (auto) or more")
    from pipelines.device_colour import COLOUR_MODES

    if cfg.colour not in COLOUR_MODES:
        raise VSRError(f"--colour {cfg.colour}: use {', '.join(COLOUR_MODES)}")
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
           "cpu_tile": cfg.cpu_tile, "cpu_workers": cfg.cpu_workers, "backend": cfg.backend, "colour": cfg.colour,
           "clip": clip}
    video = {"codec": cfg.codec, "preset": cfg.preset, "clip": clip}
    rounds: dict[str, list[dict[str, Any]]] = {"optimised": [], "plain": [], "pipeline": [], "io": [],
                                               "naive": []}
    # Each repeat is one round of every measurement, in turn: a change in the machine's load (other jobs) then
    # hits the optimised run and its baselines alike, instead of skewing their ratio.
    for r in range(cfg.repeats):
        rounds["optimised"].append(_child("model_only", job, cfg, optimised=True))
        if cfg.plain:
            rounds["plain"].append(_child("model_only", {**job, "plain": True}, cfg, optimised=False))
        if clip is not None and cfg.pipeline:
            rounds["pipeline"].append(_child("pipeline", {**job, **video, "out": str(Path(tmp) / f"pipe{r}.mp4")},
                                             cfg, optimised=True))
        if clip is not None and cfg.io:  # same process settings as the pipeline: it is the pipeline's own I/O
            rounds["io"].append(_child("io", {**job, **video, "scale": rounds["optimised"][0]["scale"],
                                              "out": str(Path(tmp) / f"io{r}.mp4")}, cfg, optimised=True))
        if clip is not None and cfg.naive:
            rounds["naive"].append(_child("naive", {**job, **video, "out": str(Path(tmp) / f"naive{r}.mp4")},
                                          cfg, optimised=False))
    for part in (p for parts in rounds.values() for p in parts):
        notices.extend(n for n in part.pop("notices", []) if n not in notices)
    optimised = _merge_model_runs(rounds["optimised"])
    plain = _merge_model_runs(rounds["plain"]) if rounds["plain"] else None
    pipeline = _merge_video_runs(rounds["pipeline"]) if rounds["pipeline"] else None
    naive = _merge_video_runs(rounds["naive"]) if rounds["naive"] else None
    io = _merge_video_runs(rounds["io"]) if rounds["io"] else None
    row = {
        "model": model, "weights": optimised["weights"], "random_weights": optimised["random_weights"],
        "scale": optimised["scale"], "input_size": [w, h], "output_size": [w * optimised["scale"],
                                                                           h * optimised["scale"]],
        "batch": batch, "precision": optimised["precision"], "device": optimised["device"], "backend": cfg.backend,
        "model_only": optimised, "plain_model": plain, "pipeline": pipeline, "naive": naive, "io_only": io,
        "model_only_fps": optimised["fps_median"],
        "plain_model_fps": plain["fps_median"] if plain else None,
        "pipeline_fps": pipeline["fps"] if pipeline else None,
        "naive_fps": naive["fps"] if naive else None,
        "io_only_fps": io["fps"] if io else None,
    }
    row["bound_kind"] = bound_kind(row["device"])
    row["bound_fps"] = pipeline_bound(row["model_only_fps"], row["io_only_fps"], row["device"])
    row["pipeline_efficiency"] = _ratio(row["pipeline_fps"], row["bound_fps"])
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
        what = f" ({job['model']} {job['size'][0]}x{job['size'][1]})" if "model" in job and "size" in job else ""
        raise VSRError(f"bench {kind}{what} failed: {err}")
    return json.loads(lines[-1])


# ---- machine ---------------------------------------------------------------------------------------------


def machine_info(codec: str = "libx264", device: str = "auto") -> dict[str, Any]:
    """The host, the libraries and, where CUDA is present, the GPU (`gpu`, see `child_device`). The GPU is queried
    in a child process: a CUDA context in this process would hold GPU memory for the whole run (and shrink what
    `--batch best` finds free)."""
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
    if torch.cuda.is_available():  # counts devices without creating a context
        try:
            info["gpu"] = _child("device", {"device": device}, BenchConfig(), optimised=False)["gpu"]
        except VSRError as exc:  # the benchmark itself says what is wrong with the device, if anything
            info["gpu"] = {"error": str(exc)}
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


# nvidia-smi --query-gpu fields -> report keys (queried with nounits: MiB, MHz, W, degrees C)
SMI_FIELDS = {
    "uuid": "uuid", "name": "name", "driver_version": "driver", "pstate": "pstate",
    "clocks.sm": "clocks_sm_mhz", "clocks.mem": "clocks_mem_mhz", "clocks.max.sm": "clocks_max_sm_mhz",
    "clocks.max.mem": "clocks_max_mem_mhz", "power.draw": "power_draw_w", "power.limit": "power_limit_w",
    "temperature.gpu": "temperature_c", "memory.total": "memory_total_mib", "memory.used": "memory_used_mib",
}
# what older drivers all know (the brief's query), should one of the fields above be refused
SMI_FALLBACK = ("uuid", "driver_version", "clocks.sm", "clocks.mem", "clocks.max.sm", "power.draw")


def parse_nvidia_smi(text: str, fields: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """Rows of `nvidia-smi --query-gpu=FIELDS --format=csv,noheader,nounits` as dicts of report keys; numbers
    as numbers, "[N/A]" / "[Not Supported]" as None."""
    rows = []
    for line in text.strip().splitlines():
        values = [v.strip() for v in line.split(",")]
        if len(values) != len(fields):
            continue
        row: dict[str, Any] = {}
        for f, v in zip(fields, values, strict=True):
            if not v or v.startswith("[") or v.upper() in ("N/A", "NOT SUPPORTED"):
                row[SMI_FIELDS[f]] = None
                continue
            try:
                row[SMI_FIELDS[f]] = float(v) if f in ("power.draw", "power.limit") else int(v)
            except ValueError:
                row[SMI_FIELDS[f]] = v
        rows.append(row)
    return rows


def nvidia_smi(uuid: str | None = None) -> dict[str, Any] | None:
    """Driver, clocks, power and memory of one GPU from nvidia-smi (the one with this CUDA uuid; else the only one);
    None without nvidia-smi, when it fails, or when the GPU cannot be told apart."""
    for fields in (tuple(SMI_FIELDS), SMI_FALLBACK):
        try:
            proc = subprocess.run(["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"],
                                  capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        if proc.returncode == 0:
            break
    else:
        return None
    rows = parse_nvidia_smi(proc.stdout, fields)
    if uuid:
        match = [r for r in rows if str(r.get("uuid") or "").removeprefix("GPU-") == uuid.removeprefix("GPU-")]
        if match:
            return match[0]
    return rows[0] if len(rows) == 1 else None


def _gpu_state(uuid: str | None) -> dict[str, Any] | None:
    """Clocks, power, temperature and memory right now (read right after a timed loop, while the clocks are up)."""
    smi = nvidia_smi(uuid)
    if smi is None:
        return None
    keys = ("pstate", "clocks_sm_mhz", "clocks_mem_mhz", "power_draw_w", "temperature_c", "memory_used_mib")
    return {k: smi.get(k) for k in keys}


def _cuda_uuid(index: int) -> str | None:
    import torch

    uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
    return str(uuid) if uuid is not None else None


def child_device(job: dict) -> dict[str, Any]:
    """The GPU a CUDA device name means (`cuda:N`; GPU 0 for auto or cpu): what torch and nvidia-smi say of it."""
    import torch

    if not torch.cuda.is_available():
        return {"gpu": None}
    name = job.get("device") or "auto"
    index = (torch.device(name).index or 0) if name.startswith("cuda") else 0
    p = torch.cuda.get_device_properties(index)
    free, total = torch.cuda.mem_get_info(index)
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    gpu: dict[str, Any] = {
        "index": index, "name": p.name, "memory_gib": round(p.total_memory / 2**30, 2),
        "memory_free_gib": round(free / 2**30, 2), "capability": f"{p.major}.{p.minor}",
        "multiprocessors": p.multi_processor_count, "cuda": torch.version.cuda, "cudnn": cudnn,
        "count": torch.cuda.device_count(), "uuid": _cuda_uuid(index),
    }
    smi = nvidia_smi(gpu["uuid"])
    gpu["driver"] = smi.get("driver") if smi else None
    gpu["nvidia_smi"] = smi  # clocks (now and max), power, temperature, memory; None without nvidia-smi
    return {"gpu": gpu}


# ---- table -----------------------------------------------------------------------------------------------


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def _row(r: dict[str, Any]) -> str:
    mo, ratios = r["model_only"], r["ratios"]
    return (f"{r['model']:<18} {r['input_size'][0]:>4}x{r['input_size'][1]:<4} b{r['batch']:<3} {r['precision']:<5}"
            f" model {_fmt(r['model_only_fps']):>7} fps (p50 {mo['ms_per_frame_p50']:.1f} ms,"
            f" p95 {mo['ms_per_frame_p95']:.1f} ms)  plain {_fmt(r['plain_model_fps']):>6}"
            f"  pipeline {_fmt(r['pipeline_fps']):>6}  I/O only {_fmt(r['io_only_fps']):>6}"
            f"  bound {_fmt(r['bound_fps']):>6}  naive {_fmt(r['naive_fps']):>6}"
            f"  opt/plain {_fmt(ratios['optimised_over_plain'])}  pipe/model {_fmt(ratios['pipeline_over_model_only'])}"
            f"  pipe/naive {_fmt(ratios['pipeline_over_naive'])}  efficiency {_fmt(r['pipeline_efficiency'])}")


def format_table(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [f"machine: {m['cpu']} ({m['cpu_affinity']} cores usable; {' '.join(m['cpu_flags'])}), "
             f"GPU {_gpu_line(m['gpu'])}, torch {m['torch']}, PyAV {m['pyav']}"]
    head = (f"{'model':<18} {'input':>9} {'batch':>5} {'prec':<5} {'model fps':>9} {'(min-max)':>13} {'p50 ms':>8} "
            f"{'p95 ms':>8} {'peak MiB':>8} {'plain fps':>9} {'pipe fps':>8} {'I/O fps':>8} {'bound fps':>9} "
            f"{'naive fps':>9} {'opt/plain':>9} {'pipe/model':>10} {'pipe/naive':>10} {'efficiency':>10}")
    lines += [head, "-" * len(head)]
    for r in report["results"]:
        mo, ra = r["model_only"], r["ratios"]
        label = r["model"] + ("*" if r["random_weights"] else "")
        lines.append(
            f"{label:<18} {r['input_size'][0]:>4}x{r['input_size'][1]:<4} {r['batch']:>5} {r['precision']:<5} "
            f"{r['model_only_fps']:>9.3f} {mo['fps_min']:>6.2f}-{mo['fps_max']:<6.2f} {mo['ms_per_frame_p50']:>8.1f} "
            f"{mo['ms_per_frame_p95']:>8.1f} {_fmt(mo['peak_mem_mib'], '.0f'):>8} "
            f"{_fmt(r['plain_model_fps'], '.3f'):>9} {_fmt(r['pipeline_fps'], '.3f'):>8} "
            f"{_fmt(r['io_only_fps'], '.3f'):>8} {_fmt(r['bound_fps'], '.3f'):>9} "
            f"{_fmt(r['naive_fps'], '.3f'):>9} {_fmt(ra['optimised_over_plain']):>9} "
            f"{_fmt(ra['pipeline_over_model_only']):>10} {_fmt(ra['pipeline_over_naive']):>10} "
            f"{_fmt(r['pipeline_efficiency']):>10}")
    if any(r["bound_fps"] is not None for r in report["results"]):
        lines.append("bound: the most the pipeline can reach from model-only and I/O-only alone: CPU 1/(1/model + "
                     "1/io) (shared cores), CUDA min(model, io); efficiency = pipeline / bound")
    if any(r["random_weights"] for r in report["results"]):
        lines.append("* random weights of the right architecture (checkpoint not cached; speed does not depend on it)")
    for s in report["scaling"]:
        lines.append(f"per-pixel speed {s['model']} {s['input_size'][0]}x{s['input_size'][1]} vs "
                     f"{s['reference_size'][0]}x{s['reference_size'][1]}: {_fmt(s['per_pixel_speed_ratio'])}x")
    for r in report["results"]:
        for name, part in (("pipeline", r["pipeline"]), ("I/O only", r["io_only"]), ("naive", r["naive"])):
            if part and part.get("stages"):
                stages = ", ".join(f"{k} busy {v['busy_s']:.2f}s wait {v['wait_s']:.2f}s"
                                   for k, v in part["stages"].items())
                lines.append(f"{name} {r['model']} {r['input_size'][0]}x{r['input_size'][1]}: {stages}")
        mo = r["model_only"]
        if mo.get("gpu_compute_ms_per_frame") is not None:
            lines.append(f"cuda {r['model']} {r['input_size'][0]}x{r['input_size'][1]} b{r['batch']}: per frame "
                         f"H2D {mo['h2d_ms_per_frame']:.3f} ms, compute {mo['gpu_compute_ms_per_frame']:.3f} ms, "
                         f"D2H {mo['d2h_ms_per_frame']:.3f} ms" + _clocks(mo.get("gpu_state")))
    lines += [f"notice: {n}" for n in report["notices"]]
    return "\n".join(lines)


def _gpu_line(gpu: dict[str, Any] | None) -> str:
    if not gpu:
        return "none"
    if "name" not in gpu:
        return f"? ({gpu.get('error', 'not queried')})"
    smi = gpu.get("nvidia_smi") or {}
    parts = [f"driver {gpu.get('driver') or '?'}", f"CUDA {gpu.get('cuda') or '?'}", f"cuDNN {gpu.get('cudnn') or '?'}",
             f"{gpu['memory_gib']} GiB"]
    if smi.get("clocks_max_sm_mhz"):
        parts.append(f"max SM {smi['clocks_max_sm_mhz']} MHz")
    return f"{gpu['name']} ({', '.join(parts)})"


def _clocks(states: list[dict[str, Any] | None] | None) -> str:
    """The SM/memory clocks and power read after each round's timed loop, for the table."""
    states = [s for s in states or [] if s]
    if not states:
        return ""
    def v(x: Any) -> str:
        return "?" if x is None else str(x)

    return "; after timing: " + ", ".join(f"SM {v(s.get('clocks_sm_mhz'))} / mem {v(s.get('clocks_mem_mhz'))} MHz"
                                           f" {v(s.get('power_draw_w'))} W" for s in states)


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

    if not plain and job.get("backend") in ONNX_BACKENDS:
        import torch

        from vsr.engine.onnx_engine import OnnxEngine

        w, h = job["size"]
        # the TensorRT engine is built for this batch and size before the warm-up, not inside the timed loop
        return OnnxEngine(module, scale, job["device"], job.get("threads") or torch.get_num_threads(),
                          notice=notices.append, precision=job["precision"], backend=job["backend"],
                          max_batch=job["batch"], input_shape=(job["batch"], h, w))
    if plain:
        cfg = EngineConfig(job["device"], "fp32", channels_last=False, fast_layers=False, cpu_tile=0, cpu_workers=1)
    else:
        cfg = EngineConfig(job["device"], job["precision"], channels_last=True, fast_layers=True,
                           tile=job.get("tile", 0), tile_overlap=job.get("tile_overlap", 16),
                           cpu_tile=job.get("cpu_tile", 110_592), compile=job.get("compile", False),
                           cpu_workers=job.get("cpu_workers", 0))
    return Engine(module, scale, cfg, notice=notices.append)


def _frame(w: int, h: int, n: int, deep: bool = False):
    """`n` smooth, image-like frames (N, H, W, 3) uint8 (uint16 for `deep`), what the pipeline hands the engine
    (speed does not depend on content; a real-looking frame keeps it honest)."""
    from vsr.engine.device import probe_frames

    frames = probe_frames(n, h, w)
    return frames.astype("uint16") * 257 if deep else frames


class NearestEngine:
    """The I/O-only run's stand-in for the model, with the engine interface the upscale stage uses: integer RGB
    frames (N, H, W, 3) -> nearest-neighbour upscaled frames of the same dtype, or, when colour conversion runs
    beside the model (`YuvBatch`), each YUV plane upscaled the same way into the packed target format. No
    arithmetic: each row widened once, then copied `scale` times (~2 ms for a 1280x720 RGB frame here; one
    broadcast copy of all six axes took 12 ms). `kinds` records what it was handed ("rgb", "planes")."""

    def __init__(self, scale: int) -> None:
        import torch

        self.scale = scale
        self.device = torch.device("cpu")
        self.frames = 0
        self.kinds: set[str] = set()
        self._pending: list[Any] = []

    def __call__(self, x):
        from vsr.engine.frames import YuvBatch

        if isinstance(x, YuvBatch):
            self.kinds.add("planes")
            self.frames += len(x.planes)
            return self._planes(x)
        self.kinds.add("rgb")
        n, h, w, c = x.shape
        self.frames += n
        return self._repeat(x.reshape(n * h, w, c), self.scale).reshape(n, h * self.scale, w * self.scale, c)

    @staticmethod
    def _repeat(x: np.ndarray, s: int) -> np.ndarray:
        """(R, W, ...) -> (R * s, W * s, ...): columns repeated, then each widened row copied s times."""
        wide = np.repeat(x, s, axis=1)
        out = np.empty((x.shape[0], s) + wide.shape[1:], x.dtype)
        out[...] = wide[:, None]
        return out.reshape((x.shape[0] * s,) + wide.shape[1:])

    def _planes(self, batch):
        from vsr.engine.colour import pack_frames

        src, dst = batch.source, batch.target
        dtype = np.uint8 if dst.bits <= 8 else np.uint16
        frames = []
        for planes in batch.planes:
            out = []
            for plane, shape in zip(planes, dst.plane_shapes, strict=True):
                h, w = plane.shape
                if shape == (h * self.scale, w * self.scale):
                    up = self._repeat(plane, self.scale)
                else:  # odd chroma sizes, another subsampling out: nearest rows and columns
                    rows = np.minimum(np.arange(shape[0]) * h // shape[0], h - 1)
                    cols = np.minimum(np.arange(shape[1]) * w // shape[1], w - 1)
                    up = plane[rows][:, cols]
                if dst.bits != src.bits:
                    up = up.astype(np.uint16)
                    up = up << (dst.bits - src.bits) if dst.bits > src.bits else up >> (src.bits - dst.bits)
                out.append(up.astype(dtype, copy=False))
            frames.append(out)
        return pack_frames(frames, dst)

    # the pipelined interface: `upscale_file` sends YUV planes only to an engine that has it (and a device)
    def submit(self, x) -> None:
        self._pending.append(self(x))

    def collect(self):
        return self._pending.pop(0)

    @property
    def can_submit(self) -> bool:
        return not self._pending

    @property
    def in_flight(self) -> int:
        return len(self._pending)


def _colour_on_device(colour: str, device) -> bool:
    """Whether the pipeline converts colour beside the model: `upscale_file`'s rule for its `colour` setting."""
    return colour == "device" or (colour == "auto" and device.type == "cuda")


def _yuv_formats(info, w: int, h: int, scale: int):
    """(source, target) YuvFormat of the planes the pipeline hands the engine for this clip (its pix_fmt, matrix,
    range and chroma siting; the output at `scale` with the same subsampling, 10-bit for deep inputs, as the sink
    picks); without a clip, what the generated ones are (yuv420p, BT.709, limited range). None where the pipeline
    would convert on the host (a pix_fmt without a plane layout)."""
    from vsr.engine.colour import YuvFormat
    from vsr.io.planes import layout_of, supported_pix_fmt

    if info is not None and not supported_pix_fmt(info.pix_fmt):
        return None
    layout = layout_of(info.pix_fmt if info is not None else "yuv420p")
    matrix, full, loc = (info.colour.matrix, info.colour.full_range, info.chroma_location) if info else (1, False, 0)
    bits_out = 10 if layout.bits > 8 else 8
    source = YuvFormat(w, h, layout.shift_w, layout.shift_h, layout.bits, matrix, full, loc)
    target = YuvFormat(w * scale, h * scale, layout.shift_w, layout.shift_h, bits_out, matrix, full, loc)
    return source, target


def _model_batch(w: int, h: int, n: int, scale: int, on_device: bool, info=None):
    """`n` image-like frames as the pipeline hands them to the engine: RGB frames (N, H, W, 3) uint8 (uint16 for a
    deep clip), or, where colour is converted beside the model, a `YuvBatch` of their planes in the clip's format."""
    frames = _frame(w, h, n, deep=bool(info is not None and info.deep))
    formats = _yuv_formats(info, w, h, scale) if on_device else None
    if formats is None:
        return frames
    import torch

    from vsr.engine.colour import rgb_to_yuv
    from vsr.engine.frames import YuvBatch, frames_to_float

    source, target = formats
    planes = rgb_to_yuv(frames_to_float(torch.from_numpy(frames)), matrix=source.matrix,
                        full_range=source.full_range, bits=source.bits,
                        chroma_shift=(source.shift_w, source.shift_h), chroma_loc=source.chroma_loc)
    dtype = np.uint8 if source.bits <= 8 else np.uint16  # int16 storage of 9-16 bit samples: a free view
    return YuvBatch([[p[i].numpy().view(dtype) for p in planes] for i in range(n)], source, target)


def _describe_batch(x) -> str:
    from vsr.engine.frames import YuvBatch

    if isinstance(x, YuvBatch):
        f = x.source
        return f"YUV planes ({f.bits}-bit, chroma /{2**f.shift_w}x{2**f.shift_h}; colour beside the model)"
    return f"{x.dtype} RGB frames (N, H, W, 3)"


def _probe(clip: str | None):
    if not clip:
        return None
    from vsr.io import probe

    return probe(clip)


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
    """`batches` batches through every CPU worker or CUDA slot (kernels are built per shape and per thread count;
    each CUDA slot allocates its pinned buffers on first use)."""
    if engine.device.type == "cuda":
        slots = engine.config.cuda_depth if hasattr(engine, "config") else getattr(engine, "depth", 1)
    else:
        slots = getattr(engine, "cpu_workers", 1)
    for _ in range(batches * max(1, slots)):
        if not engine.can_submit:
            engine.collect()
        engine.submit(x)
    while engine.in_flight:
        engine.collect()


def _copy_times(engine):
    """A snapshot of the engine's accumulated CUDA copy/compute counters (None on the CPU)."""
    times = getattr(engine, "copy_times", None)
    return copy.copy(times) if times is not None else None


def _times_since(before, after) -> dict[str, Any] | None:
    """The counters' growth from one snapshot to the next: the timed batches alone, without the warm-up."""
    if before is None or after is None:
        return None
    return {f.name: getattr(after, f.name) - getattr(before, f.name) for f in dataclasses.fields(after)}


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
    # what the pipeline hands the engine (conversions inside it, on its device): RGB frames, or YUV planes
    info = _probe(job.get("clip"))
    x = _model_batch(w, h, b, scale, _colour_on_device(job.get("colour", "auto"), engine.device), info)
    cuda = engine.device.type == "cuda"
    _warm_up(engine, x, job["warmup"])
    if cuda:
        torch.cuda.synchronize(engine.device)
        torch.cuda.reset_peak_memory_stats(engine.device)
    times0 = _copy_times(engine)  # the warm-up's copies and compute are not part of the figures
    base_rss = _rss_mib("VmRSS")
    n_batches = max(math.ceil(job["frames"] / b), MIN_BATCHES)
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
    timed = _times_since(times0, _copy_times(engine))
    out = {
        "fps_median": round(statistics.median(fps), 4), "fps_min": round(min(fps), 4), "fps_max": round(max(fps), 4),
        "fps_repeats": [round(f, 4) for f in fps], "frames_per_repeat": n_batches * b,
        "warmup_batches": job["warmup"], "input": _describe_batch(x),
        "ms_per_frame_p50": round(_percentile(per_frame_ms, 0.5), 3),
        "ms_per_frame_p95": round(_percentile(per_frame_ms, 0.95), 3),
        "ms_samples": [round(v, 3) for v in per_frame_ms],
        "cpu_ms_per_frame": round(cpu_ms, 3),
        "peak_mem_mib": None, "mem_kind": None, "baseline_rss_mib": round(base_rss, 1) if base_rss else None,
        "h2d_ms_per_frame": None, "d2h_ms_per_frame": None, "gpu_compute_ms_per_frame": None,
        "h2d_bytes_per_frame": None, "d2h_bytes_per_frame": None, "cuda_times": None, "gpu_state": None,
        "engine": engine.describe(), "cpu_workers": getattr(engine, "cpu_workers", 1),
        "guard_recomputes": getattr(engine, "guard_recomputes", None),
        "plain": plain, "precision": engine.precision, "device": str(engine.device),
        "scale": scale, "weights": weights, "random_weights": random_weights,
        "torch_threads": torch.get_num_threads(), "malloc_tunables": os.environ.get("GLIBC_TUNABLES"),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "notices": notices,
    }
    if cuda:
        index = engine.device.index if engine.device.index is not None else torch.cuda.current_device()
        out["gpu_state"] = _gpu_state(_cuda_uuid(index))  # the clocks while they are still up
        out["peak_mem_mib"] = round(torch.cuda.max_memory_allocated(engine.device) / 2**20, 1)
        out["mem_kind"] = "cuda_max_allocated"
        if timed is not None and timed["batches"]:
            n = timed["batches"] * b
            out["cuda_times"] = {k: round(v, 3) if isinstance(v, float) else v for k, v in timed.items()}
            out["h2d_ms_per_frame"] = round(timed["h2d_ms"] / n, 4)
            out["d2h_ms_per_frame"] = round(timed["d2h_ms"] / n, 4)
            out["gpu_compute_ms_per_frame"] = round(timed["compute_ms"] / n, 4)
            out["h2d_bytes_per_frame"] = round(timed["h2d_bytes"] / n)
            out["d2h_bytes_per_frame"] = round(timed["d2h_bytes"] / n)
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
    colour = job.get("colour", "auto")
    _warm_up(engine, _model_batch(info.width, info.height, job["batch"], scale,
                                  _colour_on_device(colour, engine.device), info), 1)
    collected = Notices(echo=False)
    cpu0 = _cpu_s()
    report = upscale_file(job["clip"], job["out"], engine, scale, info=info, batch=job["batch"], overwrite=True,
                          encode=EncodeSettings(codec=job["codec"], preset=job["preset"]), progress=False,
                          notices=collected, labels={"model": job["model"], "device": str(engine.device),
                                                     "precision": engine.precision}, colour=colour)
    return {"fps": round(report.fps, 4), "frames": report.frames, "wall_s": report.wall_s,
            "cpu_ms_per_frame": round((_cpu_s() - cpu0) * 1000 / max(1, report.frames), 3), "colour_setting": colour,
            "stages": report.stages, "peak_rss_mib": report.peak_rss_mib, "codec": report.codec,
            "packets_copied": report.packets_copied, "notices": notices + collected.items}


def child_io(job: dict) -> dict[str, Any]:
    """The pipeline's own I/O without the model: `upscale_file` on the same clip, codec and preset, with
    `NearestEngine` in place of the model, so decode, the host's colour conversions (where the pipeline runs them
    there: not when they run beside the model on a GPU) and the encode at the output size are the work the
    pipeline does, on the same threads."""
    import torch

    from pipelines.file import Notices, upscale_file
    from vsr.engine.device import resolve_device
    from vsr.io import EncodeSettings, probe

    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    info = probe(job["clip"])
    engine = NearestEngine(job["scale"])
    # the measured configuration's choice, made for its device (NearestEngine itself is on the CPU)
    colour = "device" if _colour_on_device(job.get("colour", "auto"), resolve_device(job["device"])) else "host"
    collected = Notices(echo=False)
    cpu0 = _cpu_s()
    report = upscale_file(job["clip"], job["out"], engine, job["scale"], info=info, batch=job["batch"],
                          overwrite=True, encode=EncodeSettings(codec=job["codec"], preset=job["preset"]),
                          progress=False, notices=collected, labels={"model": "none (nearest)", "device": "cpu"},
                          colour=colour)
    return {"fps": round(report.fps, 4), "frames": report.frames, "frames_upscaled": engine.frames,
            "colour": "device" if "planes" in engine.kinds else "host",
            "wall_s": report.wall_s, "cpu_ms_per_frame": round((_cpu_s() - cpu0) * 1000 / max(1, report.frames), 3),
            "stages": report.stages, "output_size": report.output_size,
            "bytes_written": Path(job["out"]).stat().st_size, "codec": report.codec,
            "packets_copied": report.packets_copied, "notices": collected.items}


def child_naive(job: dict) -> dict[str, Any]:
    """The loop most tools run: decode a frame, run the model (fp32, batch 1, NCHW) on the measured device, encode
    it; one thread."""
    import av
    import torch

    from vsr.engine.device import resolve_device
    from vsr.engine.frames import float_to_frames, frames_to_float
    from vsr.io import probe

    module, scale, _, _ = _load(job)
    device = resolve_device(job["device"])
    module = module.eval().to(device)
    cuda = device.type == "cuda"

    def upscale(rgb: np.ndarray) -> np.ndarray:  # (H, W, 3) uint8 -> (sH, sW, 3) uint8, through `device`
        with torch.inference_mode():
            x = frames_to_float(torch.from_numpy(rgb)[None].to(device)).contiguous()  # NCHW, as plain code has it
            return float_to_frames(module(x), torch.uint8)[0].cpu().numpy()  # .cpu() waits for the GPU

    info = probe(job["clip"])
    upscale(_frame(info.width, info.height, 1)[0])  # the same warm-up at the clip's size as the other measurements
    if cuda:
        torch.cuda.synchronize(device)
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
                y = upscale(rgb)
                busy["model"] += time.perf_counter() - t
                t = time.perf_counter()
                of = av.VideoFrame.from_ndarray(y, format="rgb24")
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
    return {"fps": round(frames / wall, 4), "frames": frames, "wall_s": round(wall, 3), "device": str(device),
            "stages": {k: {"busy_s": round(v, 3), "wait_s": 0.0} for k, v in busy.items()},
            "model_share": round(busy["model"] / wall, 4), "notices": []}


CHILDREN = {"model_only": child_model_only, "pipeline": child_pipeline, "naive": child_naive, "io": child_io,
            "best_batch": child_best_batch, "device": child_device}


def _child_main(argv: list[str]) -> int:
    kind = argv[0]
    job = json.loads(sys.stdin.read())
    result = CHILDREN[kind](job)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
