"""onnxruntime's execution providers for the exported model: which ones, and their options (CUDA device, TensorRT
fp16, engine and timing caches, shape profiles). Pure functions, but for `cache_model_file`: the tests without a
GPU check them."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vsr.errors import ConfigError, InputError
from vsr.fs import write_bytes_atomic

TRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
BACKENDS = ("onnxruntime", "tensorrt")
INPUT, OUTPUT = "lr", "sr"  # the exported graph's names (export_onnx)
INSTALL_TENSORRT = "pip install onnxruntime-gpu (instead of onnxruntime) and TensorRT (pip install tensorrt)"


def version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for p in text.split(".")[:2]:
        digits = "".join(c for c in p if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def import_onnxruntime():
    """The onnxruntime module, or a one-line error saying how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("onnxruntime is not installed (pip install .[onnx])") from None
    return onnxruntime


def require_onnx() -> None:
    """A one-line error when the onnx package is missing: torch's exporter needs it (the TorchScript-based one too,
    from torch 2.9 on, where it builds the model proto with onnx)."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ConfigError("ONNX export needs the onnx package (pip install .[onnx])") from None


# ---- pure parts: device, providers, options ---------------------------------------------------------------------


def parse_device(device: str) -> tuple[str, int]:
    """'cpu' -> ('cpu', 0); 'cuda' -> ('cuda', 0); 'cuda:N' -> ('cuda', N). ('auto' is resolved before.)"""
    if device == "cpu":
        return "cpu", 0
    if device == "cuda":
        return "cuda", 0
    if device.startswith("cuda:") and device[5:].isdigit():
        return "cuda", int(device[5:])
    raise ConfigError(f"unknown device {device!r}", hint="use auto, cpu or cuda[:N]", setting="device")


def choose_providers(device_type: str, backend: str, available: Sequence[str]) -> tuple[list[str], list[str]]:
    """(providers in order, notices). onnxruntime: TensorRT, then CUDA, on a GPU device where installed, the CPU
    always last. tensorrt: TensorRT is required (a one-line error naming what to install when it is missing)."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}", hint=f"use {' or '.join(BACKENDS)}", setting="backend")
    if backend == "tensorrt":
        if TRT not in available:
            raise ConfigError(f"backend tensorrt needs onnxruntime's {TRT}, which this onnxruntime lacks "
                              f"(it has {', '.join(available)})", hint=INSTALL_TENSORRT, setting="backend")
        if device_type != "cuda":
            raise ConfigError("backend tensorrt runs on a GPU", hint="use {device} cuda[:N] or auto")
        return [TRT] + ([CUDA] if CUDA in available else []) + [CPU], []
    notices: list[str] = []
    wanted = [CPU]
    if device_type == "cuda":
        if CUDA in available:
            wanted.insert(0, CUDA)
            if TRT in available:
                wanted.insert(0, TRT)
            else:
                notices.append("onnxruntime: TensorRT execution provider not installed; using CUDA")
        else:
            notices.append("onnxruntime: CUDA execution provider not installed; using the CPU")
    return wanted, notices


def tensorrt_cache_dir() -> Path:
    """Beside the weights cache: $VSR_CACHE_DIR/tensorrt, else $XDG_CACHE_HOME/vsr/tensorrt or ~/.cache/vsr/tensorrt."""
    from vsr.models.weights import CACHE_ENV, cache_dir

    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser() / "tensorrt"
    return cache_dir().parent / "tensorrt"


Dims = tuple[int, int, int]  # (batch, height, width) of the input "lr" (N, 3, H, W)


@dataclass(frozen=True)
class ShapeProfile:
    """A TensorRT optimisation profile for the input: any batch in [min, max] runs on one engine."""

    min: Dims
    opt: Dims
    max: Dims

    @classmethod
    def first(cls, n: int, h: int, w: int, max_batch: int = 0) -> ShapeProfile:
        """Batches of 1..max(n, max_batch) frames of the first batch's size, tuned for the first batch."""
        return cls((1, h, w), (n, h, w), (max(n, max_batch), h, w))

    def covers(self, n: int, h: int, w: int) -> bool:
        return all(lo <= v <= hi for lo, v, hi in zip(self.min, (n, h, w), self.max, strict=True))

    def widened(self, n: int, h: int, w: int) -> ShapeProfile:
        """The smallest profile holding this one and (n, h, w); the opt shape stays the first batch's."""
        return ShapeProfile((1, min(self.min[1], h), min(self.min[2], w)), self.opt,
                            (max(self.max[0], n), max(self.max[1], h), max(self.max[2], w)))

    @staticmethod
    def shape(d: Dims) -> str:
        return f"{d[0]}x3x{d[1]}x{d[2]}"

    def options(self, name: str = INPUT) -> dict[str, str]:
        return {f"trt_profile_{k}_shapes": f"{name}:{self.shape(d)}"
                for k, d in (("min", self.min), ("opt", self.opt), ("max", self.max))}

    def __str__(self) -> str:
        return f"{self.shape(self.min)}..{self.shape(self.max)} (opt {self.shape(self.opt)})"


def cuda_provider_options(device_id: int, stream: int | None = None, tf32: bool | None = None) -> dict:
    """CUDA EP options. `tf32` False: exact fp32 convolutions, as the torch engine's fp32 (onnxruntime >= 1.18's
    use_tf32; None leaves the option out for older versions, which reject keys they do not know)."""
    opts: dict = {"device_id": device_id}
    if tf32 is not None:
        opts["use_tf32"] = tf32
    if stream is not None:  # see OnnxEngine._stream: onnxruntime launches on the engine's torch stream
        opts.update(has_user_compute_stream=True, user_compute_stream=str(stream))
    return opts


def tensorrt_provider_options(device_id: int, precision: str, cache: Path, profile: ShapeProfile,
                              stream: int | None = None) -> dict:
    """TensorRT EP options. fp16 is TensorRT's fp16 flag on the fp32 graph (see `OnnxEngine._graph_precision`),
    with the layer norms' Pow + Reduce statistics kept in fp32 (as the fp16 export keeps them)."""
    fp16 = precision == "fp16"
    return {**cuda_provider_options(device_id, stream),
            "trt_fp16_enable": fp16, "trt_layer_norm_fp32_fallback": fp16,
            "trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": True, "trt_timing_cache_path": str(cache),
            **profile.options()}


def provider_options(providers: Sequence[str], device: str, precision: str = "fp32", cache: Path | None = None,
                     profile: ShapeProfile | None = None, stream: int | None = None,
                     tf32_option: bool = False) -> list[dict]:
    """One options dict per provider: device_id N of 'cuda:N' for CUDA and TensorRT, TensorRT's flags and caches."""
    _, device_id = parse_device(device)
    out = []
    for p in providers:
        if p == TRT:
            if profile is None:
                raise ValueError("the TensorRT provider needs a shape profile")
            out.append(tensorrt_provider_options(device_id, precision, cache or tensorrt_cache_dir(), profile,
                                                 stream))
        elif p == CUDA:
            out.append(cuda_provider_options(device_id, stream, (precision != "fp32") if tf32_option else None))
        else:
            out.append({})
    return out


def model_file_name(data: bytes, precision: str) -> str:
    """The exported file's name in the TensorRT cache. onnxruntime keys its engine cache on the model's file name
    and node names, not its weights: the name must carry the content (and the precision the engine is built in),
    or another checkpoint of the same architecture would load this one's engine."""
    return f"vsr-{hashlib.sha256(data).hexdigest()[:20]}-{precision}.onnx"


def cache_model_file(cache: Path, data: bytes, precision: str) -> Path:
    """The exported model as a stable, content-named file in the TensorRT cache (written once, atomically):
    onnxruntime names its engine cache after it (`model_file_name`)."""
    target = cache / model_file_name(data, precision)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        if not target.is_file():
            write_bytes_atomic(target, data)
    except OSError as exc:
        raise ConfigError(f"cannot write to the TensorRT cache {cache} ({exc.strerror or exc})",
                          hint="set VSR_CACHE_DIR elsewhere") from None
    except InputError as exc:  # the write's own one line: "cannot write FILE: reason"
        raise ConfigError(f"TensorRT cache: {exc.message}", hint="set VSR_CACHE_DIR elsewhere") from None
    return target
