"""Where and when a forward step runs: at once on the calling thread, or on CPU worker threads side by side.

(The CUDA scheduler, with its pinned slots, streams and events, is vsr/engine/cuda.py.) Every scheduler keeps
one queue of work in flight, each entry the batch and its pending result, and hands results back in submission
order, unpacked by their batch (numpy for numpy, pictures for pictures).
"""

from __future__ import annotations

import weakref
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

import torch

from vsr.engine.frames import EngineBatch
from vsr.engine.workers import FrameWorkers


class Step(Protocol):
    """One batch's computation (vsr/engine/forward.py for torch, vsr/engine/onnx_engine.py for onnxruntime)."""

    def run(self, x: torch.Tensor, batch: EngineBatch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Device batch in -> (packed result, per-frame guard flags or None), without waiting for the device."""
        ...

    def repair(self, x: torch.Tensor, out: torch.Tensor, flags: torch.Tensor, batch: EngineBatch) -> None:
        """Recompute the flagged frames of `out`, in place, from input `x`."""
        ...


def run_now(step: Step, batch: EngineBatch, device: torch.device) -> torch.Tensor:
    """One batch on the calling thread, guard repairs included; the packed result on the host."""
    x = batch.host()
    x_dev = x.to(device)
    out, flags = step.run(x_dev, batch)
    if flags is not None and bool(flags.any()):
        step.repair(x_dev, out, flags, batch)
    return out.cpu()


@dataclass
class _Pending:
    batch: EngineBatch
    result: Future | torch.Tensor


class SyncScheduler:
    """Computes each batch at `submit`, on the calling thread with every intra-op thread (depth 1)."""

    depth = 1

    def __init__(self, step: Step, device: torch.device) -> None:
        self.step, self.device = step, device
        self._queue: deque[_Pending] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def submit(self, batch: EngineBatch) -> None:
        self._queue.append(_Pending(batch, run_now(self.step, batch, self.device)))

    def oldest_ready(self) -> bool:
        return bool(self._queue)

    def collect(self) -> object:
        done = self._queue.popleft()
        assert isinstance(done.result, torch.Tensor)
        return done.batch.result(done.result)

    def close(self) -> None:
        self._queue.clear()


class WorkerScheduler:
    """`depth` CPU worker threads, each computing whole batches with its share of the intra-op threads
    (vsr/engine/workers.py says why), started on the first submit and stopped by `close` (or when the scheduler
    is garbage-collected: the workers hold the step, never the scheduler)."""

    def __init__(self, step: Step, depth: int, threads_each: int) -> None:
        self.step, self.depth, self.threads_each = step, depth, threads_each
        self._queue: deque[_Pending] = deque()
        self._workers: FrameWorkers | None = None
        self._finalizer: weakref.finalize | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def submit(self, batch: EngineBatch) -> None:
        if self._workers is None:
            step, cpu = self.step, torch.device("cpu")
            self._workers = FrameWorkers(lambda b: run_now(step, b, cpu), self.depth, self.threads_each)
            self._finalizer = weakref.finalize(self, self._workers.close)
        self._queue.append(_Pending(batch, self._workers.submit(batch)))

    def oldest_ready(self) -> bool:
        return bool(self._queue) and self._queue[0].result.done()  # type: ignore[union-attr]

    def collect(self) -> object:
        done = self._queue.popleft()
        assert isinstance(done.result, Future)
        return done.batch.result(done.result.result())

    def close(self) -> None:
        """Finish the batches in flight and join the threads (their results are dropped)."""
        if self._finalizer is not None:
            self._finalizer()
        self._workers, self._finalizer = None, None
        self._queue.clear()


class Scheduler(Protocol):
    """What every scheduler offers its engine: `depth` batches in flight at most, results in submission order."""

    depth: int

    def __len__(self) -> int: ...

    def submit(self, batch: EngineBatch) -> None: ...

    def oldest_ready(self) -> bool: ...

    def collect(self) -> object: ...

    def close(self) -> None: ...
