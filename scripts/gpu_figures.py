"""The GPU check's figures (run by scripts/gpu_check.sh on a machine with CUDA): one JSON with every result.

Each check is independent: a failure is recorded as "ERROR ..." under its key and the others still run.
    python scripts/gpu_figures.py OUT.json
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from vsr.engine.cuda import CopyTimes
from vsr.engine.device import probe_frames
from vsr.engine.interface import run_pipelined
from vsr.engine.runner import Engine, EngineConfig
from vsr.fs import write_json_atomic
from vsr.io.file.source import nvdec_decoded
from vsr.metrics.quality import psnr
from vsr.models import load_model

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CLIP = SHARED / "media" / "sample_with_increasing_timestamps_320w_240h_5s.mp4"
FAMILIES = {"ntire23": "ntire2023_safmn_x4.pth", "safmnpp": "ntire2024_safmnpp_x4.pth",
            "light": "ais2024_light_safmnpp_x4.pth"}
RESULTS: dict[str, Any] = {}
OUT_PATH = Path(sys.argv[1] if len(sys.argv) > 1 else "gpu_figures.json")
# GPU_FIGURES_DRY_RUN=1: every check on the CPU at a tenth of the size, to catch mistakes before a GPU is spent
DRY = bool(os.environ.get("GPU_FIGURES_DRY_RUN"))
DEVICE = "cpu" if DRY else "cuda"


def size(w: int, h: int) -> tuple[int, int]:
    return (max(8, w // 10), max(8, h // 10)) if DRY else (w, h)


def record(key: str, fn: Callable[[], Any]) -> None:
    t0 = time.perf_counter()
    try:
        RESULTS[key] = fn()
    except Exception as exc:  # keep going: one broken check must not hide the others
        RESULTS[key] = f"ERROR {type(exc).__name__}: {str(exc)[:400]}"
        traceback.print_exc()
    print(f"{key} ({time.perf_counter() - t0:.1f} s): {RESULTS[key]}", flush=True)
    write_json_atomic(OUT_PATH, RESULTS, indent=1)  # after every check: a timeout keeps what ran


def real_frames(n: int) -> np.ndarray:
    with av.open(str(CLIP)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for _, f in zip(range(n), c.decode(video=0), strict=False)])


def gpu_info() -> dict[str, Any]:
    if DRY:
        return {"name": "dry run on the CPU"}
    p = torch.cuda.get_device_properties(0)
    return {"name": p.name, "cc": f"{p.major}.{p.minor}", "memory_gib": round(p.total_memory / 2**30, 1),
            "integrated": bool(p.is_integrated), "sms": p.multi_processor_count, "torch": torch.__version__,
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(), "av": av.__version__}


def fidelity(module: torch.nn.Module, frames: np.ndarray, ref: np.ndarray, precision: str) -> dict[str, Any]:
    engine = Engine(module, 4, EngineConfig(DEVICE, precision))
    out = engine(frames)
    diff = np.abs(out.astype(np.int32) - ref).max()
    return {"psnr_vs_cpu_fp32": round(psnr(out, ref), 2), "max_level_diff": int(diff), "guard_recomputes":
            engine.guard_recomputes}


def throughput(module: torch.nn.Module, w: int, h: int, batch: int | str, precision: str = "fp16",
               n_frames: int = 256, **cfg: Any) -> dict[str, Any]:
    """Frames in, frames out, pipelined: frames/s by wall clock, and per batch the CUDA-event times."""
    # (the dry run times fp32: half precision is emulated on most CPUs, and only the steps are being checked)
    engine = Engine(module, 4, EngineConfig(DEVICE, "fp32" if DRY else precision, **cfg))
    w, h = size(w, h)
    b = engine.suggest_batch(h, w) if batch == "auto" else int(batch)
    x = probe_frames(b, h, w)
    run_pipelined(engine, [x] * 4)  # warm-up (cuDNN benchmark, allocator, pinned buffers)
    t, n = engine.stats().copy_times, max(8, (8 if DRY else n_frames) // b)
    t = t if t is not None else CopyTimes(1.0, 1.0, 1.0, 0)  # the CPU (dry run): no copies to time
    c0, h0, d0, k0 = t.compute_ms, t.h2d_ms, t.d2h_ms, t.batches
    if not DRY:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    run_pipelined(engine, [x] * n)
    wall = time.perf_counter() - t0
    k = max(1, t.batches - k0)
    per = {"compute_ms": (t.compute_ms - c0) / k or 1.0, "h2d_ms": (t.h2d_ms - h0) / k,
           "d2h_ms": (t.d2h_ms - d0) / k}
    return {"batch": b, "fps": round(n * b / wall, 1), "wall_ms_per_batch": round(wall * 1e3 / n, 3),
            **{key: round(v, 3) for key, v in per.items()},
            "compute_share_of_wall": round(per["compute_ms"] / (wall * 1e3 / n), 3),
            "gpu_compute_fps": round(b / per["compute_ms"] * 1e3, 1), "engine": engine.describe(),
            "guard_recomputes": engine.guard_recomputes}


def oom_fallback(module: torch.nn.Module) -> dict[str, Any]:
    """Two 960x540 frames under a memory cap that whole frames exceed (they peak near 0.6 GiB) and tiles fit."""
    x = probe_frames(2, *size(540, 960))
    full = Engine(module, 4, EngineConfig(DEVICE, "fp16"))(x)
    notes: list[str] = []
    if DRY:
        engine = Engine(module, 4, EngineConfig(DEVICE, "fp16"), notice=notes.append)
        y = engine(x)
    else:
        torch.cuda.empty_cache()
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, (torch.cuda.memory_allocated() + 384 * 2**20) / total))
        try:
            engine = Engine(module, 4, EngineConfig(DEVICE, "fp16"), notice=notes.append)
            y = engine(x)
        finally:
            torch.cuda.set_per_process_memory_fraction(1.0)
    return {"frames": int(y.shape[0]), "tiles": {str(k): v for k, v in engine.stats().fallback_tiles.items()},
            "notes": notes, "psnr_vs_untiled": round(psnr(y, full), 2)}


def nvdec() -> dict[str, Any]:
    """What the pipeline uses (frames downloaded as nv12), and whether frames kept on the GPU reach torch."""
    from av.codec.hwaccel import HWAccel

    out: dict[str, Any] = {}
    with av.open(str(CLIP), hwaccel=HWAccel(device_type="cuda", allow_software_fallback=False)) as c:
        frame = next(c.decode(video=0))
        hw = c.streams.video[0].codec_context.is_hwaccel
        out["host_frames"] = {"format": frame.format.name, "is_hwaccel": hw,
                              "nvdec_decoded": nvdec_decoded(frame.format.name, hw)}
    try:
        accel = HWAccel(device_type="cuda", allow_software_fallback=False, is_hw_owned=True)
        with av.open(str(CLIP), hwaccel=accel) as c:
            frame = next(c.decode(video=0))
            planes = [torch.from_dlpack(p) for p in frame.planes]
            out["gpu_frames"] = {"format": frame.format.name, "sw_format": str(getattr(frame, "sw_format", "")),
                                 "planes": [(str(t.device), tuple(t.shape), tuple(t.stride())) for t in planes]}
    except Exception as exc:
        out["gpu_frames"] = f"ERROR {type(exc).__name__}: {str(exc)[:300]}"
    return out


def onnx_backend(module: torch.nn.Module, backend: str, ref_frames: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    from vsr.engine.onnx_engine import OnnxEngine

    engine = OnnxEngine(module, 4, DEVICE, precision="fp16", backend=backend, max_batch=8,
                        input_shape=(8, *size(180, 320)))
    x = probe_frames(8, *size(180, 320))
    run_pipelined(engine, [x] * 4)
    t0 = time.perf_counter()
    run_pipelined(engine, [x] * 32)
    fps = 32 * 8 / (time.perf_counter() - t0)
    return {"fps_320x180_batch8": round(fps, 1), "engine": engine.describe(),
            "psnr_vs_cpu_fp32": round(psnr(engine(ref_frames), ref), 2)}


def nvenc() -> str:
    ctx = av.CodecContext.create("h264_nvenc", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 256, 144, "yuv420p"
    ctx.time_base = Fraction(1, 25)
    ctx.open()
    return "h264_nvenc opened"


def gpu_providers() -> list[str]:
    """onnxruntime's GPU providers present here: without them its figures would time its CPU provider."""
    import onnxruntime as ort

    return [p for p in ort.get_available_providers() if p in ("CUDAExecutionProvider", "TensorrtExecutionProvider")]


def compile_allowed() -> bool:
    """CUDA-graph compile modes need torch 2.13 (vsr.engine.runner refuses them before; pytorch#123177)."""
    return tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 13)


def main() -> int:
    record("gpu", gpu_info)
    models = {k: load_model(SHARED / "weights" / f)[0] for k, f in FAMILIES.items()}
    frames = real_frames(4)
    frames = frames[:, :24, :32].copy() if DRY else frames
    for k, m in models.items():
        ref = Engine(m, 4, EngineConfig("cpu", "fp32"))(frames)
        for precision in ("fp16", "bf16", "fp32"):
            record(f"fidelity/{k}/{precision}", lambda m=m, ref=ref, p=precision: fidelity(m, frames, ref, p))
    for k, (w, h), batch in [("ntire23", (320, 180), "auto"), ("ntire23", (320, 180), 1), ("light", (320, 180), "auto"),
                             ("ntire23", (960, 540), "auto")]:
        record(f"model_only/{k}/{w}x{h}/batch{batch}", lambda k=k, w=w, h=h, b=batch: throughput(models[k], w, h, b))
    record("model_only/ntire23/320x180/batch8/bf16", lambda: throughput(models["ntire23"], 320, 180, 8, "bf16"))
    record("oom_fallback", lambda: oom_fallback(models["ntire23"]))
    if not DRY:
        record("nvdec", nvdec)
        record("nvenc", nvenc)
    providers = gpu_providers()
    record("onnx/gpu_providers", lambda: providers or "none: no onnxruntime GPU figures")
    if providers:
        ref = Engine(models["ntire23"], 4, EngineConfig("cpu", "fp32"))(frames)
        for backend in ("onnxruntime",) + (("tensorrt",) if "TensorrtExecutionProvider" in providers else ()):
            record(f"onnx/{backend}", lambda b=backend: onnx_backend(models["ntire23"], b, frames, ref))
    if not DRY and compile_allowed():  # last: torch.compile takes the longest, and the step's limit may cut it
        record("model_only/ntire23/320x180/batch8/compiled_reduce_overhead",
               lambda: throughput(models["ntire23"], 320, 180, 8, compile=True, compile_mode="reduce-overhead"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
