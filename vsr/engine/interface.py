"""The one boundary between the pipelines and every engine: `FrameEngine`.

Frames in, frames out: a batch (integer RGB frames, YUV or RGB pictures, float images: vsr/engine/frames.py) is
submitted, and its result, in the batch's own kind, comes out of `collect` in submission order. The torch engine
(vsr/engine/runner.py: CPU or CUDA), the onnxruntime/TensorRT engine (vsr/engine/onnx_engine.py) and the bench's
I/O-only stand-in implement it; pipelines type against it and ask it, never probe it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch

from vsr.engine.cuda import CopyTimes
from vsr.engine.frames import Batch, as_batch
from vsr.engine.schedulers import Scheduler


@dataclass
class EngineStats:
    """The figures an engine reports (bench, reports): copies and compute on a GPU, the guard's work, its depth."""

    depth: int  # batches in flight at most
    cpu_workers: int = 1  # CPU batches computed side by side
    guard_recomputes: int = 0  # frames recomputed at a wider precision (vsr/engine/guard.py)
    copy_times: CopyTimes | None = None  # CUDA only: accumulated upload/compute/download times and bytes
    fallback_tiles: dict[tuple[int, ...], int] = field(default_factory=dict)  # input shape -> tile after an OOM


@runtime_checkable
class FrameEngine(Protocol):
    """An upscaler of batches of frames. `engine(x)` is synchronous (collect what is in flight first);
    `submit`/`collect` keep up to `depth` batches in flight (`can_submit`, `oldest_ready`); `close` stops its
    threads and drops what is in flight."""

    scale: int
    device: torch.device  # where the batches are converted and computed
    precision: str  # fp32, fp16 or bf16
    takes_yuv: bool  # whether YUV pictures may be submitted (colour converted beside the model)

    def __call__(self, x: Batch) -> object: ...

    def submit(self, x: Batch) -> None: ...

    def collect(self) -> object: ...

    @property
    def in_flight(self) -> int: ...

    @property
    def depth(self) -> int: ...

    @property
    def can_submit(self) -> bool: ...

    @property
    def oldest_ready(self) -> bool: ...

    def describe(self) -> str: ...

    def stats(self) -> EngineStats: ...

    def suggest_batch(self, height: int, width: int, cap: int = 32) -> int: ...

    def close(self) -> None: ...


class ScheduledEngine:
    """`FrameEngine`'s queue methods for an engine whose `scheduler` runs its step."""

    scheduler: Scheduler

    def __call__(self, x: Batch) -> object:
        """One batch, synchronously."""
        if len(self.scheduler):
            raise RuntimeError("engine(x) while batches are in flight: collect() them first")
        self.scheduler.submit(as_batch(x))
        return self.scheduler.collect()

    def submit(self, x: Batch) -> None:
        """Start a batch; its result comes out of `collect()` in submission order. See `can_submit`."""
        self.scheduler.submit(as_batch(x))

    def collect(self) -> object:
        """The oldest submitted batch's result (waits for it)."""
        if not len(self.scheduler):
            raise RuntimeError("collect() without a submitted batch")
        return self.scheduler.collect()

    @property
    def in_flight(self) -> int:
        return len(self.scheduler)

    @property
    def depth(self) -> int:
        return self.scheduler.depth

    @property
    def can_submit(self) -> bool:
        """False when the next submit would have to wait: collect first."""
        return self.in_flight < self.depth

    @property
    def oldest_ready(self) -> bool:
        """Whether `collect()` would return without waiting (False with nothing in flight)."""
        return self.scheduler.oldest_ready()

    def close(self) -> None:
        """Stop the scheduler's threads (after the batches in flight); the engine can still be called."""
        self.scheduler.close()

    def __enter__(self) -> ScheduledEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_pipelined(engine: FrameEngine, batches: list[Batch]) -> list[object]:
    """Push `batches` through `submit`/`collect`, keeping as many in flight as the engine takes (as the file
    pipeline's upscale stage does); the results in submission order."""
    results = []
    for b in batches:
        if not engine.can_submit:
            results.append(engine.collect())
        engine.submit(b)
    while engine.in_flight:
        results.append(engine.collect())
    return results
