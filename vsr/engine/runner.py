"""The torch engine: a model's forward step (vsr/engine/forward.py) under a scheduler, as a `FrameEngine`.

Frames in, frames out: integer RGB frames (N, H, W, 3) uint8/uint16 (numpy or torch) come back as frames of the
same kind and dtype, YUV or RGB pictures as pictures, float tensors (N, 3, H, W) in [0, 1] as float (images,
tests); converted and quantised where the model runs (vsr/engine/frames.py). This module chooses: the device,
the precision (auto on the CPU: `choose_cpu_precision`), the fused layers, torch.compile, and the scheduler
(synchronous, CPU workers, or CUDA).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from vsr.engine.device import choose_cpu_precision, dtype_name, probe_frames, resolve_device, resolve_precision
from vsr.engine.fast_layers import with_fast_layers
from vsr.engine.forward import ForwardStep, Tiling
from vsr.engine.frames import Batch, RgbFrames, as_batch
from vsr.engine.interface import EngineStats, ScheduledEngine
from vsr.engine.schedulers import Scheduler, SyncScheduler, WorkerScheduler, run_now
from vsr.errors import ConfigError

# torch.compile modes that replay CUDA graphs: before torch 2.13 a graph recorded on one thread asserts when
# replayed on another (pytorch#123177)
GRAPH_MODES = ("reduce-overhead", "max-autotune")


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


class Engine(ScheduledEngine):
    """Upscales batches with one model on one device (see the module docstring); a `FrameEngine`.

    fp32 runs the model as it is (exact: TF32 off on CUDA). On CUDA, fp16/bf16 convert the weights (the
    normalisation layers compute their statistics in fp32 internally); on the CPU, bf16 uses autocast. Frames whose
    output is not finite (or, in fp16/bf16, out of range) are recomputed at wider precisions (vsr/engine/guard.py).

    `engine(x)` is synchronous, on the CPU with every thread (the lowest latency). `submit(x)` / `collect()`
    pipeline batches: on CUDA the copies of one batch overlap the compute of the next and submit never waits for
    the GPU; on the CPU `cpu_workers` batches run side by side (or `submit` computes at once when that is 1).
    `close()` stops the CPU workers.
    """

    takes_yuv = True

    def __init__(self, module: nn.Module, scale: int, config: EngineConfig | None = None,
                 notice: Callable[[str], None] | None = None) -> None:
        config = config or EngineConfig()
        self.config, self.scale = config, scale
        self.notice = notice or _stderr_notice
        self.device = resolve_device(config.device)
        _check_compile(config, self.device)
        # torch.compile fuses the elementwise work itself, better without the hand-fused blocks (their oneDNN calls
        # are opaque to it): NTIRE23 SAFMN 320x180, compiled 349 ms/frame from the plain blocks, 387 from the fused
        plain = module.eval()
        own = with_fast_layers(plain, fuse_blocks=not config.compile) if config.fast_layers else copy.deepcopy(plain)
        memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        own = own.to(self.device, memory_format=memory_format)
        for p in own.parameters():
            p.requires_grad_(False)
        tiling = Tiling(config.tile, config.tile_overlap, config.tile_batch,
                        config.cpu_tile if self.device.type == "cpu" else 0)
        self.step = ForwardStep(own, plain, self.device, torch.float32, tiling, scale,
                                channels_last=config.channels_last, cudnn_benchmark=config.cudnn_benchmark,
                                notice=self.notice)
        if config.precision == "auto" and self.device.type == "cpu":
            self.step.set_precision(choose_cpu_precision(self.step.run_as))
        else:
            self.step.set_precision(resolve_precision(config.precision, self.device))
        if config.compile:
            self.step.compiled = torch.compile(self.step.module, mode=config.compile_mode)
        self.cpu_workers = self._cpu_workers()
        self.scheduler = self._scheduler()

    def _cpu_workers(self) -> int:
        if self.device.type != "cpu":
            return 1
        if self.config.cpu_workers < 0:
            raise ConfigError("must be 0 (auto) or more", setting="cpu_workers", value=self.config.cpu_workers)
        auto = 2 if torch.get_num_threads() >= 2 and not self.config.compile else 1
        return self.config.cpu_workers or auto

    def _scheduler(self) -> Scheduler:
        if self.device.type == "cuda":
            from vsr.engine.cuda import CudaScheduler, is_integrated

            return CudaScheduler(self.step, self.device, depth=self.config.cuda_depth,
                                 staging=not is_integrated(self.device), notice=self.notice)
        if self.cpu_workers > 1:
            return WorkerScheduler(self.step, self.cpu_workers, self._threads_per_worker())
        return SyncScheduler(self.step, self.device)

    @property
    def dtype(self) -> torch.dtype:
        return self.step.dtype

    @property
    def precision(self) -> str:
        return dtype_name(self.step.dtype)

    def describe(self) -> str:
        cfg = self.config
        if cfg.tile:
            tile = f", tile {cfg.tile}+{cfg.tile_overlap}"
        elif self.step.tiling.cache_area:
            tile = f", frames over {cfg.cpu_tile} px in tiles (+{cfg.tile_overlap})"
        else:
            tile = ""
        fmt = "channels_last" if cfg.channels_last else "NCHW"
        workers = ""
        if self.cpu_workers > 1:
            workers = f", {self.cpu_workers} frames in parallel x {self._threads_per_worker()} threads"
        compiled = ", compiled" if cfg.compile and self.step.compiled is not None else ""
        if compiled and cfg.compile_mode != "default":
            compiled += f" ({cfg.compile_mode})"
        return f"{self.device} {self.precision} {fmt}{tile}{workers}{compiled}"

    def _threads_per_worker(self) -> int:
        return max(1, torch.get_num_threads() // self.cpu_workers)

    def stats(self) -> EngineStats:
        from vsr.engine.cuda import CudaScheduler

        times = self.scheduler.times if isinstance(self.scheduler, CudaScheduler) else None
        return EngineStats(self.depth, self.cpu_workers, self.step.guard_recomputes, times,
                           dict(self.step.fallback_tiles))

    @property
    def guard_recomputes(self) -> int:
        return self.step.guard_recomputes

    def __call__(self, x: Batch) -> object:
        """One batch, synchronously; on the CPU on the calling thread with every intra-op thread."""
        if self.device.type != "cpu":
            return super().__call__(x)
        batch = as_batch(x)
        return batch.result(run_now(self.step, batch, self.device))

    def suggest_batch(self, height: int, width: int, cap: int = 32) -> int:
        """Batch size for `batch: auto`: 1 on the CPU (batching does not help there), else what fits the GPU's
        memory and the host's pinned memory, measured on image-like 8-bit frames of this size with the eager
        model (a compiled one is left to the thread that runs the batches)."""
        if self.device.type != "cuda":
            return 1
        from vsr.engine.cuda import auto_batch

        compiled, self.step.compiled = self.step.compiled, None
        try:
            def probe(n: int) -> None:
                frames = torch.from_numpy(probe_frames(n, height, width))
                self.step.run(frames.to(self.device), RgbFrames(frames))

            host_bytes = height * width * 3 * (1 + self.scale**2)  # one uint8 input and output frame, pinned
            return auto_batch(probe, self.device, host_bytes, self.config.cuda_depth, cap=cap)
        finally:
            self.step.compiled = compiled


def _check_compile(config: EngineConfig, device: torch.device) -> None:
    """CUDA graphs (reduce-overhead, max-autotune) across threads need torch 2.13: refuse them before."""
    if not config.compile or device.type != "cuda" or config.compile_mode not in GRAPH_MODES:
        return
    version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    if version < (2, 13):
        raise ConfigError(f"mode {config.compile_mode} replays CUDA graphs on the pipeline's model thread, which "
                          f"torch {torch.__version__} cannot (pytorch#123177)", setting="compile",
                          hint="use {compile} default, or torch 2.13 or newer")


def _stderr_notice(msg: str) -> None:
    import sys

    print(f"notice: {msg}", file=sys.stderr)

