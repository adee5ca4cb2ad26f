"""Choosing the device and the precision a model runs in."""

from __future__ import annotations

import torch

from vsr.errors import VSRError

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise VSRError(f"--device {name} requested but CUDA is not available (torch {torch.__version__})")
    if name == "cpu" or name.startswith("cuda"):
        return torch.device(name)
    raise VSRError(f"unknown device {name!r}; use auto, cpu or cuda[:N]")


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bf16 natively (AVX512_BF16 or AMX), so bf16 beats fp32."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:  # not Linux: stay with fp32, which is always correct
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """`auto` is fp16 on CUDA, bf16 on a CPU that has native bf16, else fp32. fp32 is exact."""
    if name == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    try:
        return PRECISIONS[name]
    except KeyError:
        raise VSRError(f"unknown precision {name!r}; use auto, fp32, fp16 or bf16") from None


def dtype_name(dtype: torch.dtype) -> str:
    return {v: k for k, v in PRECISIONS.items()}[dtype]
