"""Run an upscaling model on batches: device, precision, memory format, tiling, the numeric guard and CUDA copies.

Frames in, frames out: the engine takes integer RGB frames (N, H, W, 3) uint8/uint16 (numpy or torch) and returns
frames of the same dtype, converted and quantised where the model runs (vsr/engine/frames.py). Float tensors
(N, 3, H, W) in [0, 1] are taken too and come back as float (images, tests).
"""

from __future__ import annotations

import contextlib
import copy
import sys
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import torch
from torch import nn

from vsr.engine.cuda import math_flags
from vsr.engine.device import choose_cpu_precision, dtype_name, probe_frames, resolve_device, resolve_precision
from vsr.engine.fast_layers import with_fast_layers
from vsr.engine.frames import Batch, Representation, RgbFrames, YuvBatch, checked_batch
from vsr.engine.guard import WiderModels, recompute, untrusted, wider
from vsr.engine.tiling import cache_tiles, run_with_tile_fallback, upscale_tiled
from vsr.engine.workers import FrameWorkers
from vsr.errors import ConfigError


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
    # (72 channels) under 32 MB, glibc's largest mmap threshold, so they stay in reused heap memory (docs/bench.md).
    # The value is the window area in LR pixels; 0: off.
    cpu_tile: int = 110_592
    fast_layers: bool = True  # swap in the equivalent fused layers (vsr/engine/fast_layers.py)
    compile: bool = False  # torch.compile, checked against eager on the first batch of each shape
    # torch.compile's mode: "reduce-overhead" replays CUDA graphs (its static output buffers are consumed on the
    # compute stream by the quantisation, which writes a fresh tensor, before the next replay can overwrite them).
    compile_mode: str = "default"
    cuda_depth: int = 2  # batches in flight on CUDA (submit/collect)
    cudnn_benchmark: bool = True  # a video's shapes repeat: let cuDNN time its algorithms once per shape
    # On the CPU, batches computed side by side by submit/collect, each with threads/cpu_workers intra-op threads
    # (vsr/engine/workers.py): the same throughput alone, and a pipeline's other stages no longer stall the model.
    # 0: auto (2 where torch has >= 2 threads and nothing is compiled); 1: one batch at a time with every thread.
    # Calling the engine directly (`engine(x)`, the lowest latency) always uses every thread.
    cpu_workers: int = 0


class Engine:
    """Upscales batches of frames (or float tensors) with one model on one device.

    fp32 runs the model as it is (exact: TF32 off on CUDA). On CUDA, fp16/bf16 convert the weights (the
    normalisation layers compute their statistics in fp32 internally); on the CPU, bf16 uses autocast. Frames whose
    output is not finite (or, in fp16/bf16, out of range) are recomputed at a wider precision (vsr/engine/guard.py);
    `guard_recomputes` counts them.

    `engine(x)` is synchronous. `submit(x)` / `collect()` pipeline batches: on CUDA the copies of one batch overlap
    the compute of the next and submit never waits for the GPU; on the CPU `cpu_workers` batches run side by side
    (or `submit` computes at once when that is 1) and `collect` hands results back in order. numpy in, numpy out;
    a tensor in, a CPU tensor out. `close()` stops the CPU workers.
    """

    def __init__(self, module: nn.Module, scale: int, config: EngineConfig | None = None,
                 notice: Callable[[str], None] | None = None) -> None:
        config = config or EngineConfig()
        self.config = config
        self.scale = scale
        self.notice = notice or (lambda msg: print(f"notice: {msg}", file=sys.stderr))
        self.device = resolve_device(config.device)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        # torch.compile fuses the elementwise work itself, better without the hand-fused blocks (their oneDNN calls
        # are opaque to it): NTIRE23 SAFMN 320x180, compiled 349 ms/frame from the plain blocks, 387 from the fused
        plain = module.eval()
        own = with_fast_layers(plain, fuse_blocks=not config.compile) if config.fast_layers else copy.deepcopy(plain)
        self.module = own.to(self.device, memory_format=self.memory_format)
        for p in self.module.parameters():
            p.requires_grad_(False)
        if config.precision == "auto" and self.device.type == "cpu":
            self.dtype = choose_cpu_precision(self._run_module_as)
        else:
            self.dtype = resolve_precision(config.precision, self.device)
        self._cast_weights = self.device.type == "cuda" and self.dtype != torch.float32
        if self._cast_weights:
            self.module = self.module.to(self.dtype)
        self._wider = WiderModels(plain, self.device)
        self.guard_recomputes = 0
        self.tile = config.tile
        self._compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
        self._checked_shapes: set[tuple[int, ...]] = set()
        if config.compile:
            self._compiled = torch.compile(self.module, mode=config.compile_mode)
        self._pending: deque[Future | torch.Tensor] = deque()
        self._as_numpy: deque[bool] = deque()
        self.cpu_workers = 1
        if self.device.type == "cpu":
            if config.cpu_workers < 0:
                raise ConfigError("must be 0 (auto) or more", setting="cpu_workers", value=config.cpu_workers)
            self.cpu_workers = config.cpu_workers or (2 if torch.get_num_threads() >= 2 and not config.compile else 1)
        self._workers: FrameWorkers | None = None  # started by the first submit()
        self._cuda = None
        if self.device.type == "cuda":
            from vsr.engine.cuda import CudaPipeline, is_integrated

            self._cuda = CudaPipeline(self.device, depth=config.cuda_depth, staging=not is_integrated(self.device),
                                      notice=self.notice)

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
        if compiled and self.config.compile_mode != "default":
            compiled += f" ({self.config.compile_mode})"
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
        if key not in self._checked_shapes:  # once per shape: the one host synchronisation of a compiled engine
            ref = self.module(x)
            err = (y.float() - ref.float()).abs().max().item()
            bound = 1e-4 if self.dtype == torch.float32 else 2e-2
            if err > bound:
                self.notice(f"torch.compile output differs from eager by {err:.3g} (> {bound}): using eager")
                self._compiled = None
                return ref
            self._checked_shapes.add(key)
        return y

    def _forward_raw(self, x: torch.Tensor) -> torch.Tensor:
        """Float device tensor in, the model's float32 output (not clamped) out; tiled when a tile is set."""
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

        y, self.tile = run_with_tile_fallback(run, self.tile, max(x.shape[-2:]), self.notice)
        return y

    def _cache_tiles(self, h: int, w: int) -> tuple[int, int] | None:
        if self.device.type != "cpu" or self.config.cpu_tile <= 0:
            return None
        return cache_tiles(h, w, self.config.cpu_tile, self.config.tile_overlap)

    def _run(self, x: torch.Tensor, rep: Representation) -> tuple[torch.Tensor, torch.Tensor]:
        """A device batch -> (result in `rep`'s representation, per-frame guard flags), both on the device;
        nothing here waits for the device."""
        with torch.inference_mode(), math_flags(self.dtype == torch.float32, self.config.cudnn_benchmark):
            y = self._forward_raw(rep.to_float(x))
            flags = untrusted(y, self.dtype != torch.float32)
            out = rep.from_float(y)
            if self._cuda is not None:
                out = out.contiguous()  # what the pinned buffer holds: the download is then one plain copy
        return out, flags

    def _repair(self, x: torch.Tensor, out: torch.Tensor, flags: torch.Tensor, rep: Representation) -> None:
        """Recompute, in place in `out`, the frames that `flags` marks, from input `x`, at the wider precision."""
        with torch.inference_mode(), math_flags(exact=True, benchmark=False):  # fp32 recomputation: no TF32
            self.guard_recomputes += recompute(self._wider, x, out, flags, wider(self.dtype), rep.to_float,
                                               rep.from_float)

    def _run_now(self, x: torch.Tensor, rep: Representation) -> torch.Tensor:
        """One batch on the CPU device, guard repairs included."""
        out, flags = self._run(x, rep)
        if bool(flags.any()):
            self._repair(x, out, flags, rep)
        return out

    # --- public API ---------------------------------------------------------------------------------------------

    def __call__(self, x: Batch) -> Batch:
        """One batch, synchronously; on the CPU with every thread (the lowest latency)."""
        host, rep, numpy_out = checked_batch(x)
        if self._cuda is not None:
            if len(self._cuda):
                raise RuntimeError("engine(x) while batches are in flight: collect() them first")
            self._submit_cuda(host, rep)
            out = self._cuda.collect()
        else:
            out = self._run_now(_staged(host), rep)
        return out.numpy() if numpy_out else out

    def submit(self, x: Batch) -> None:
        """Start a batch; its result comes out of `collect()` in submission order. See `in_flight`/`can_submit`."""
        host, rep, numpy_out = checked_batch(x)
        if self._cuda is not None:
            self._submit_cuda(host, rep)
        elif self.cpu_workers > 1:
            if self._workers is None:
                self._start_workers()
            self._pending.append(self._workers.submit((_staged(host), rep)))
        else:
            self._pending.append(self._run_now(_staged(host), rep))
        self._as_numpy.append(numpy_out)

    def _submit_cuda(self, host: torch.Tensor | YuvBatch, rep: Representation) -> None:
        assert self._cuda is not None
        self._cuda.submit(host, lambda x: self._run(x, rep), lambda x, out, flags: self._repair(x, out, flags, rep))

    def collect(self) -> Batch:
        """The oldest submitted batch's result (waits for it)."""
        if not self._as_numpy:
            raise RuntimeError("collect() without a submitted batch")
        if self._cuda is not None:
            out = self._cuda.collect()
        else:
            result = self._pending.popleft()
            out = result.result() if isinstance(result, Future) else result
        return out.numpy() if self._as_numpy.popleft() else out

    def _start_workers(self) -> None:
        # The workers hold the engine only weakly, and stop when it is garbage-collected without close().
        run_now = weakref.WeakMethod(self._run_now)

        def run(task: tuple[torch.Tensor, Representation]) -> torch.Tensor:
            method = run_now()
            if method is None:
                raise RuntimeError("the engine is gone")
            return method(*task)

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
        return len(self._as_numpy)

    @property
    def oldest_ready(self) -> bool:
        """Whether `collect()` would return without waiting (False with nothing in flight)."""
        if not self._as_numpy:
            return False
        if self._cuda is not None:
            return self._cuda.oldest_ready()
        oldest = self._pending[0]
        return oldest.done() if isinstance(oldest, Future) else True

    @property
    def can_submit(self) -> bool:
        """False when the next submit would have to wait: collect first (CUDA keeps `cuda_depth` in flight)."""
        return self.in_flight < (self.config.cuda_depth if self._cuda is not None else self.cpu_workers)

    @property
    def copy_times(self):
        """Host<->device copy and compute times (CUDA only; None on the CPU, where there are no copies)."""
        return self._cuda.times if self._cuda is not None else None

    def suggest_batch(self, height: int, width: int, cap: int = 32) -> int:
        """Batch size for `batch: auto`: 1 on the CPU (batching does not help there), else what fits the GPU's
        memory and the host's pinned memory, measured on image-like 8-bit frames of this size."""
        if self.device.type != "cuda":
            return 1
        from vsr.engine.cuda import auto_batch

        def probe(n: int) -> None:
            self._run(torch.from_numpy(probe_frames(n, height, width)).to(self.device), RgbFrames(torch.uint8))

        host_bytes = height * width * 3 * (1 + self.scale**2)  # one uint8 input and output frame, pinned
        return auto_batch(probe, self.device, host_bytes, self.config.cuda_depth, cap=cap)


def _staged(host: torch.Tensor | YuvBatch) -> torch.Tensor:
    """A CPU tensor of the batch (YUV planes are packed here; on CUDA straight into the pinned buffer instead)."""
    return host.fill(torch.empty(host.shape, dtype=host.dtype)) if isinstance(host, YuvBatch) else host


def run_pipelined(engine, batches: list[Batch]) -> list[Batch]:
    """Push `batches` through any engine's `submit`/`collect`, keeping as many in flight as it takes (as the file
    pipeline's upscale stage does); the results in submission order."""
    results = []
    for b in batches:
        if not engine.can_submit:
            results.append(engine.collect())
        engine.submit(b)
    while engine.in_flight:
        results.append(engine.collect())
    return results
