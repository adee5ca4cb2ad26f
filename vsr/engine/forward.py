"""The forward step: one batch's device tensor in, its packed result and guard flags out.

Precision, memory format, the optional compiled model (checked against eager once per shape), tiling (fixed, the
CPU's cache-sized windows, and the out-of-memory fallback), the numeric guard's flags and the quantisation all
happen here, as a function of one tensor. Where and when it runs (at once, on CPU worker threads, on a CUDA
stream) is the scheduler's business (vsr/engine/schedulers.py, vsr/engine/cuda.py).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from vsr.engine.frames import EngineBatch
from vsr.engine.guard import WiderModels, recompute, untrusted, wider
from vsr.engine.tiling import cache_tiles, run_with_tile_fallback, upscale_tiled


@dataclass(frozen=True)
class Tiling:
    """How frames are cut: `tile` LR pixels per side (0: whole frames), `overlap` pixels of context around each
    tile, `batch` tiles per model call, and on the CPU `cache_area` (frames of more LR pixels run in windows of
    at most that many pixels; 0: off)."""

    tile: int = 0
    overlap: int = 16
    batch: int = 4
    cache_area: int = 0


def _new_tf32_api() -> bool:
    cudnn = torch.backends.cudnn
    return hasattr(cudnn, "conv") and hasattr(cudnn.conv, "fp32_precision")


def read_math_flags() -> tuple[bool, bool, bool]:
    """(TF32 in cuDNN convolutions, TF32 in matmuls, cudnn.benchmark): through torch's `fp32_precision` settings
    where it has them, since from torch 2.9 on reading the legacy `allow_tf32` flags raises once anything in the
    process has used the new ones (this module does)."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    if _new_tf32_api():
        return cudnn.conv.fp32_precision == "tf32", matmul.fp32_precision == "tf32", cudnn.benchmark
    return cudnn.allow_tf32, matmul.allow_tf32, cudnn.benchmark


@contextlib.contextmanager
def math_flags(exact: bool, benchmark: bool) -> Iterator[None]:
    """cuDNN/cuBLAS settings for one model call: TF32 off when fp32 must be exact (Ampere and later use TF32 for
    fp32 convolutions by default, ~1e-3 relative error), cudnn.benchmark for the fixed shapes of a video. Set and
    restored through the same API `read_math_flags` reads."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    new_api = _new_tf32_api()
    if new_api:
        saved = (cudnn.conv.fp32_precision, matmul.fp32_precision, cudnn.benchmark)
        cudnn.conv.fp32_precision = matmul.fp32_precision = "ieee" if exact else "tf32"
    else:  # torch < 2.9
        saved = (cudnn.allow_tf32, matmul.allow_tf32, cudnn.benchmark)
        cudnn.allow_tf32 = matmul.allow_tf32 = not exact
    cudnn.benchmark = benchmark
    try:
        yield
    finally:
        if new_api:
            cudnn.conv.fp32_precision, matmul.fp32_precision, cudnn.benchmark = saved
        else:
            cudnn.allow_tf32, matmul.allow_tf32, cudnn.benchmark = saved


class ForwardStep:
    """The model in `dtype` on `device` (weights already there), with its tiling, guard and quantisation.

    `run` never waits for the device. Frames it flags are recomputed by `repair` at a wider precision, escalating
    fp32 -> fp64 while a frame's output is still not finite (vsr/engine/guard.py). An out-of-memory error retries
    the whole step (model, flags and quantisation) in smaller tiles; the tile that fitted is remembered for that
    input shape alone (`fallback_tiles`), so other shapes and the configured tiling are untouched.
    """

    def __init__(self, module: nn.Module, plain: nn.Module, device: torch.device, dtype: torch.dtype,
                 tiling: Tiling, scale: int, *, channels_last: bool = True, compiled: Callable | None = None,
                 cudnn_benchmark: bool = True, notice: Callable[[str], None] = print) -> None:
        self.module, self.device, self.dtype, self.tiling, self.scale = module, device, dtype, tiling, scale
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.compiled = compiled
        self.cudnn_benchmark = cudnn_benchmark
        self.notice = notice
        self.cast_input = device.type == "cuda" and dtype != torch.float32  # weights converted; CPU: autocast
        self.wider = WiderModels(plain, device)
        self.guard_recomputes = 0
        self.fallback_tiles: dict[tuple[int, ...], int] = {}
        self._checked_shapes: set[tuple[int, ...]] = set()
        self._lock = threading.Lock()  # the CPU workers share the counters and the fallback tiles

    def set_precision(self, dtype: torch.dtype) -> None:
        """Compute in `dtype` from now on: on CUDA the weights are converted (and so is each input); on the CPU
        reduced precision is autocast and the weights stay fp32."""
        self.dtype = dtype
        self.cast_input = self.device.type == "cuda" and dtype != torch.float32
        if self.cast_input:
            self.module = self.module.to(dtype)

    def autocast(self, dtype: torch.dtype) -> contextlib.AbstractContextManager:
        if self.device.type == "cpu" and dtype != torch.float32:
            return torch.autocast("cpu", dtype=dtype)
        return contextlib.nullcontext()

    def run_as(self, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The eager module on a CPU tensor in `dtype` (autocast); used to choose the precision."""
        with torch.inference_mode(), self.autocast(dtype):
            return self.module(x.contiguous(memory_format=self.memory_format)).float()

    def _model(self, x: torch.Tensor) -> torch.Tensor:
        """The model (compiled when asked and verified) on a device tensor already in the right format."""
        if self.compiled is None:
            return self.module(x)
        y = self.compiled(x)
        key = tuple(x.shape)
        if key not in self._checked_shapes:  # once per shape: the one host synchronisation of a compiled engine
            ref = self.module(x)
            err = (y.float() - ref.float()).abs().max().item()
            bound = 1e-4 if self.dtype == torch.float32 else 2e-2
            if err > bound:
                self.notice(f"torch.compile output differs from eager by {err:.3g} (> {bound}): using eager")
                self.compiled = None
                return ref
            self._checked_shapes.add(key)
        return y

    def _untiled(self, t: torch.Tensor) -> torch.Tensor:
        with self.autocast(self.dtype):
            return self._model(t.contiguous(memory_format=self.memory_format)).float()

    def _raw(self, x: torch.Tensor, tile: int) -> torch.Tensor:
        """Float device tensor in, the model's float32 output (not clamped) out, in `tile`s when set."""
        h, w = x.shape[-2:]
        t = self.tiling
        if tile and (h > tile or w > tile):
            return upscale_tiled(self._untiled, x, self.scale, tile, t.overlap, t.batch)
        grid = cache_tiles(h, w, t.cache_area, t.overlap) if self.device.type == "cpu" and t.cache_area else None
        if grid is not None:  # one window at a time: the point is small buffers
            return upscale_tiled(self._untiled, x, self.scale, grid, t.overlap, 1)
        return self._untiled(x)

    def run(self, x: torch.Tensor, batch: EngineBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """A device batch -> (the result packed as `batch` packs it, per-frame guard flags), both on the device;
        nothing here waits for the device."""
        key = tuple(x.shape)
        with torch.inference_mode(), math_flags(self.dtype == torch.float32, self.cudnn_benchmark):
            xf = batch.to_float(x).contiguous(memory_format=self.memory_format)
            if self.cast_input:
                xf = xf.to(self.dtype)

            def attempt(tile: int) -> tuple[torch.Tensor, torch.Tensor]:
                y = self._raw(xf, tile)
                flags = untrusted(y, self.dtype != torch.float32)
                out = batch.from_float(y)
                return (out.contiguous() if self.device.type == "cuda" else out), flags

            (out, flags), tile = run_with_tile_fallback(attempt, self._tile_for(key), max(xf.shape[-2:]),
                                                        self.notice)
        if tile != self.tiling.tile:
            with self._lock:
                self.fallback_tiles[key] = tile
        return out, flags

    def _tile_for(self, key: tuple[int, ...]) -> int:
        with self._lock:
            return self.fallback_tiles.get(key, self.tiling.tile)

    def repair(self, x: torch.Tensor, out: torch.Tensor, flags: torch.Tensor, batch: EngineBatch) -> None:
        """Recompute, in place in `out`, the frames that `flags` marks, from input `x`, at wider precisions."""
        with torch.inference_mode(), math_flags(exact=True, benchmark=False):  # fp32 recomputation: no TF32
            n = recompute(self.wider, x, out, flags, wider(self.dtype), batch.to_float, batch.from_float)
        with self._lock:
            self.guard_recomputes += n
