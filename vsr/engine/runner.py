"""Run an upscaling model on batches: device, precision, memory format, tiling and CUDA copies in one place."""

from __future__ import annotations

import contextlib
import sys
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import torch
from torch import nn

from vsr.engine.device import choose_cpu_precision, dtype_name, resolve_device, resolve_precision
from vsr.engine.fast_layers import with_fast_layers
from vsr.engine.tiling import cache_tiles, run_with_tile_fallback, upscale_tiled
from vsr.engine.workers import FrameWorkers
from vsr.errors import VSRError


@dataclass
class EngineConfig:
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool = True
    tile: int = 0  # LR pixels per tile side; 0: whole frames (tiles are still used after an out-of-memory error)
    tile_overlap: int = 16  # LR pixels of context on each side of a tile, cropped away after the model
    tile_batch: int = 4  # tiles run through the model at once
    # On the CPU, frames of more than this many LR pixels run in tiles whose windows (core + overlap) stay within
    # it: the activations of a whole large frame (75-150 MB per map at 960x540) are fresh mmaps that page-fault
    # on every frame and thrash the caches; a window of at most 384x288 px keeps the efficient models' largest maps
    # (72 channels) under 32 MB, glibc's largest mmap threshold, so they stay in reused heap memory. Output within
    # ~60-70 dB of untiled on photos. The value is the window area in LR pixels; 0: off. (76,800 before: 960x540 in
    # 3x3 tiles computed 1.3x the pixels; now 6 full-height strips, 1.2x: per-pixel speed 0.77 -> 0.89 of 320x180.)
    cpu_tile: int = 110_592
    fast_layers: bool = True  # swap in the equivalent fused layers (vsr/engine/fast_layers.py)
    compile: bool = False  # torch.compile, checked against eager on the first batch of each shape
    cuda_depth: int = 2  # batches in flight on CUDA (submit/collect)
    # On the CPU, batches computed side by side by submit/collect, each with threads/cpu_workers intra-op threads
    # (vsr/engine/workers.py): the same throughput alone, and a pipeline's other stages no longer stall the model.
    # 0: auto (2 where torch has >= 2 threads and nothing is compiled); 1: one batch at a time with every thread.
    # Calling the engine directly (`engine(x)`, the lowest latency) always uses every thread.
    cpu_workers: int = 0


class Engine:
    """Upscales float tensors (N, 3, H, W) in [0, 1]; returns float32 tensors on the CPU, clamped to [0, 1].

    Results are the caller's own tensors, in the engine's memory format: channels_last on the CPU, so that their
    NHWC view (what frames and images are made of) is contiguous; NCHW from CUDA.

    fp32 runs the model as it is (exact). On CUDA, fp16/bf16 convert the weights (the normalisation layers compute
    their statistics in fp32 internally, so this is safe); on the CPU, bf16 uses autocast.

    `engine(x)` is synchronous. `submit(x)` / `collect()` pipeline batches: on CUDA the copies of one batch overlap
    the compute of the next; on the CPU `cpu_workers` batches run side by side (or `submit` computes at once when
    that is 1) and `collect` hands results back in order. `close()` stops the CPU workers.
    """

    def __init__(
        self,
        module: nn.Module,
        scale: int,
        config: EngineConfig | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        config = config or EngineConfig()
        self.config = config
        self.scale = scale
        self.notice = notice or (lambda msg: print(f"notice: {msg}", file=sys.stderr))
        self.device = resolve_device(config.device)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        # torch.compile fuses the elementwise work itself, better without the hand-fused blocks (their oneDNN calls
        # are opaque to it): NTIRE23 SAFMN 320x180, compiled 349 ms/frame from the plain blocks, 387 from the fused
        module = with_fast_layers(module, fuse_blocks=not config.compile) if config.fast_layers else module
        self.module = module.eval().to(self.device, memory_format=self.memory_format)
        for p in self.module.parameters():
            p.requires_grad_(False)
        if config.precision == "auto" and self.device.type == "cpu":
            self.dtype = choose_cpu_precision(self._run_module_as)
        else:
            self.dtype = resolve_precision(config.precision, self.device)
        self._cast_weights = self.device.type == "cuda" and self.dtype != torch.float32
        if self._cast_weights:
            self.module = self.module.to(self.dtype)
        self.tile = config.tile
        self._compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
        self._checked_shapes: set[tuple[int, ...]] = set()
        if config.compile:
            self._compiled = torch.compile(self.module)
        self._pending: deque[Future | torch.Tensor] = deque()
        self.cpu_workers = 1
        if self.device.type == "cpu":
            if config.cpu_workers < 0:
                raise VSRError(f"cpu_workers must be 0 (auto) or more, not {config.cpu_workers}")
            self.cpu_workers = config.cpu_workers or (2 if torch.get_num_threads() >= 2 and not config.compile else 1)
        self._workers: FrameWorkers | None = None  # started by the first submit()
        self._cuda = None
        if self.device.type == "cuda":
            from vsr.engine.cuda import CudaPipeline

            self._cuda = CudaPipeline(self._forward_float, self.device, depth=config.cuda_depth)

    @property
    def precision(self) -> str:
        return dtype_name(self.dtype)

    def describe(self) -> str:
        if self.tile:
            tile = f", tile {self.tile}+{self.config.tile_overlap}"
        elif self.device.type == "cpu" and self.config.cpu_tile:
            tile = f", frames over {self.config.cpu_tile} px in tiles (+{self.config.tile_overlap})"
        else:
            tile = ""
        fmt = "channels_last" if self.memory_format == torch.channels_last else "NCHW"
        workers = ""
        if self.cpu_workers > 1:
            workers = f", {self.cpu_workers} frames in parallel x {self._threads_per_worker()} threads"
        compiled = ", compiled" if self._compiled is not None else ""  # (a compiled module has no truth value)
        return f"{self.device} {self.precision} {fmt}{tile}{workers}{compiled}"

    def _threads_per_worker(self) -> int:
        return max(1, torch.get_num_threads() // self.cpu_workers)

    # --- the model on device tensors -------------------------------------------------------------------------

    def _autocast(self, dtype: torch.dtype) -> contextlib.AbstractContextManager:
        if self.device.type == "cpu" and dtype != torch.float32:
            return torch.autocast("cpu", dtype=dtype)
        return contextlib.nullcontext()

    def _run_module_as(self, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The eager module on a CPU tensor in `dtype` (autocast); used to choose the precision."""
        with torch.inference_mode(), self._autocast(dtype):
            return self.module(x.contiguous(memory_format=self.memory_format)).float()

    def _model(self, x: torch.Tensor) -> torch.Tensor:
        """The model (compiled when asked and verified) on a device tensor already in the right format."""
        if self._compiled is None:
            return self.module(x)
        y = self._compiled(x)
        key = tuple(x.shape)
        if key not in self._checked_shapes:
            ref = self.module(x)
            err = (y.float() - ref.float()).abs().max().item()
            bound = 1e-4 if self.dtype == torch.float32 else 2e-2
            if err > bound:
                self.notice(f"torch.compile output differs from eager by {err:.3g} (> {bound}): using eager")
                self._compiled = None
                return ref
            self._checked_shapes.add(key)
        return y

    def _forward_float(self, x: torch.Tensor) -> torch.Tensor:
        """Device tensor in (any float dtype), float32 device tensor in [0, 1] out; tiled when a tile is set."""
        x = x.contiguous(memory_format=self.memory_format)
        if self._cast_weights:
            x = x.to(self.dtype)

        def untiled(t: torch.Tensor) -> torch.Tensor:
            with self._autocast(self.dtype):
                return self._model(t.contiguous(memory_format=self.memory_format)).float()

        def run(tile: int) -> torch.Tensor:
            h, w = x.shape[-2:]
            if tile and (h > tile or w > tile):
                return upscale_tiled(untiled, x, self.scale, tile, self.config.tile_overlap, self.config.tile_batch)
            grid = self._cache_tiles(h, w)
            if grid is not None:  # one tile at a time: the point is small buffers
                return upscale_tiled(untiled, x, self.scale, grid, self.config.tile_overlap, 1)
            return untiled(x)

        with torch.inference_mode():
            y, self.tile = run_with_tile_fallback(run, self.tile, max(x.shape[-2:]), self.notice)
            return y.clamp_(0.0, 1.0)

    def _cache_tiles(self, h: int, w: int) -> tuple[int, int] | None:
        if self.device.type != "cpu" or self.config.cpu_tile <= 0:
            return None
        return cache_tiles(h, w, self.config.cpu_tile, self.config.tile_overlap)

    def forward_device(self, x: torch.Tensor) -> torch.Tensor:
        """Run on a tensor (moved to the device if needed); returns float32 in [0, 1] on the device."""
        return self._forward_float(x.to(self.device, non_blocking=True))

    # --- public API ---------------------------------------------------------------------------------------------

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x)
        if self._cuda is not None:
            self._cuda.submit(x)
            return self._cuda.collect()
        return self._forward_float(x)

    def submit(self, x: torch.Tensor) -> None:
        """Start a batch; its result comes out of `collect()` in submission order. See `in_flight`/`can_submit`."""
        _check_input(x)
        if self._cuda is not None:
            self._cuda.submit(x)
        elif self.cpu_workers > 1:
            if self._workers is None:
                self._start_workers()
            self._pending.append(self._workers.submit(x))
        else:
            self._pending.append(self._forward_float(x))

    def collect(self) -> torch.Tensor:
        """The oldest submitted batch's result (waits for it)."""
        if self._cuda is not None:
            if not len(self._cuda):
                raise RuntimeError("collect() without a submitted batch")
            return self._cuda.collect()
        if not self._pending:
            raise RuntimeError("collect() without a submitted batch")
        result = self._pending.popleft()
        return result.result() if isinstance(result, Future) else result

    def _start_workers(self) -> None:
        # The workers hold the engine only weakly, and stop when it is garbage-collected without close().
        forward = weakref.WeakMethod(self._forward_float)

        def run(x: torch.Tensor) -> torch.Tensor:
            method = forward()
            if method is None:
                raise RuntimeError("the engine is gone")
            return method(x)

        self._workers = FrameWorkers(run, self.cpu_workers, self._threads_per_worker())
        self._finalizer = weakref.finalize(self, self._workers.close)

    def close(self) -> None:
        """Stop the CPU worker threads (after the batches in flight); the engine can still be called directly."""
        if self._workers is not None:
            self._finalizer()  # closes the workers (once)
            self._workers = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def in_flight(self) -> int:
        return len(self._cuda) if self._cuda is not None else len(self._pending)

    @property
    def can_submit(self) -> bool:
        """False when the next submit would have to wait: collect first (CUDA keeps `cuda_depth` in flight)."""
        return self.in_flight < (self.config.cuda_depth if self._cuda is not None else self.cpu_workers)

    @property
    def copy_times(self):
        """Host<->device copy and compute times (CUDA only; None on the CPU, where there are no copies)."""
        return self._cuda.times if self._cuda is not None else None

    def suggest_batch(self, height: int, width: int, cap: int = 32) -> int:
        """Batch size for `batch: auto`: 1 on the CPU (batching does not help there), else what fits the GPU."""
        if self.device.type != "cuda":
            return 1
        from vsr.engine.cuda import auto_batch

        def probe(n: int) -> None:
            self._forward_float(torch.rand(n, 3, height, width, device=self.device))

        return auto_batch(probe, self.device, cap=cap)


def _check_input(x: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape[1] != 3:
        raise VSRError(f"engine input must be (N, 3, H, W); got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise VSRError(f"engine input must be a float tensor in [0, 1]; got {x.dtype}")
