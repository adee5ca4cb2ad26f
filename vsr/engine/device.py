"""Choosing the device and the precision a model runs in."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from vsr.engine.frames import float_to_frames
from vsr.errors import ConfigError

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"requested but CUDA is not available (torch {torch.__version__})", setting="device",
                          value=name)
    if name == "cpu" or name.startswith("cuda"):
        return torch.device(name)
    raise ConfigError(f"unknown device {name!r}", hint="use auto, cpu or cuda[:N]", setting="device")


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bf16 natively (AVX512_BF16 or AMX), so bf16 beats fp32."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:  # not Linux: stay with fp32, which is always correct
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


# bf16 must keep this fidelity against fp32 to be chosen automatically (the project's bound for reduced precision).
MIN_AUTO_PSNR_DB = 40.0


def psnr_db(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of `a` against `b`, both in [0, 1]."""
    mse = (a.float().clamp(0, 1) - b.float().clamp(0, 1)).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def probe_image(size: int = 64) -> torch.Tensor:
    """A smooth, image-like (1, 3, size, size) probe. White noise is no image: it drives these models (trained on
    photos) far outside their range and understates bf16's fidelity on video by 20-30 dB."""
    coarse = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def probe_frames(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """`n` smooth, image-like uint8 frames (N, H, W, 3): what speed probes (auto batch, live's model choice, bench)
    feed the engine. Real-looking content keeps them honest: white noise trips the numeric guard of some models
    (vsr/engine/guard.py), and a probe would then time the fp32 recomputation instead of the model."""
    coarse = torch.rand(n, 3, max(2, height // 16), max(2, width // 16), generator=torch.Generator().manual_seed(seed))
    x = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
    return float_to_frames(x, torch.uint8).numpy()


def choose_cpu_precision(
    run_as: Callable[[torch.Tensor, torch.dtype], torch.Tensor],
    native_bf16: bool | None = None,
    probe_size: int = 64,
) -> torch.dtype:
    """Precision auto on the CPU: bf16 where the CPU computes it natively and it stays within MIN_AUTO_PSNR_DB of
    fp32 on this model, else fp32.

    The choice rests on the CPU and the model only, never on a timing, so every command (upscale, live, bench,
    eval) picks the same precision for the same model on the same machine, whatever else the machine is doing.
    Native bf16 (AVX512_BF16 or AMX) ran this family 1.4-3.8x faster than fp32 in every measurement
    (docs/bench.md); without it bf16 is emulated and about 11x slower, so fp32 is chosen without a probe.
    """
    if not (cpu_has_native_bf16() if native_bf16 is None else native_bf16):
        return torch.float32
    x = probe_image(probe_size)
    fp32, bf16 = run_as(x, torch.float32), run_as(x, torch.bfloat16)
    return torch.bfloat16 if psnr_db(bf16, fp32) >= MIN_AUTO_PSNR_DB else torch.float32


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """`auto` is fp16 on CUDA, bf16 on a CPU that has native bf16, else fp32 (the Engine refines auto on the CPU
    with `choose_cpu_precision`). fp32 is exact."""
    if name == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    try:
        return PRECISIONS[name]
    except KeyError:
        raise ConfigError(f"unknown precision {name!r}", hint="use auto, fp32, fp16 or bf16",
                          setting="precision") from None


def dtype_name(dtype: torch.dtype) -> str:
    return {v: k for k, v in PRECISIONS.items()}[dtype]
