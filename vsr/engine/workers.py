"""Frames side by side on the CPU: a few worker threads, each running whole batches with its own share of the cores.

One model call with all the cores splits every layer across them and waits at the end of each layer for the
slowest core. In a pipeline the decoder, the encoder (x264 has its own threads) and the frame conversions take a
core now and then, and every such moment stalls the whole call: the model ran ~25% slower beside them on a 2-core
CPU. Two workers with one core's worth of threads each lose only what is taken from their own core, so the
pipeline keeps to the model-only speed (light SAFMN++, 320x180 -> 1280x720: pipeline / model-only 0.83 -> 0.99),
at the same model-only throughput and twice the latency per frame, which a file job does not see.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import torch


class FrameWorkers:
    """`count` threads that run `fn` on submitted tasks (a batch and what it represents), each with `threads_each`
    intra-op threads.

    The owner calls `close()` (or uses it as a context manager); the threads are daemons, so a worker pool that
    is never closed cannot keep the process alive.
    """

    def __init__(self, fn: Callable[[Any], torch.Tensor], count: int, threads_each: int) -> None:
        self._fn = fn
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        # torch.set_num_threads also sets the count that threads started later begin with: keep the caller's.
        restore = torch.get_num_threads()
        ready = threading.Barrier(count + 1)
        self._threads = [
            threading.Thread(target=self._run, args=(threads_each, ready), name=f"vsr-engine-worker-{i}", daemon=True)
            for i in range(count)
        ]
        for t in self._threads:
            t.start()
        ready.wait()
        torch.set_num_threads(restore)

    def _run(self, threads_each: int, ready: threading.Barrier) -> None:
        # A thread takes its count from the process default on its first parallel op; take it now so that the
        # set_num_threads below is not overwritten by that first op.
        torch.get_num_threads()
        torch.set_num_threads(threads_each)
        ready.wait()
        while (task := self._tasks.get()) is not None:
            future, x = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._fn(x))
            except BaseException as exc:  # handed to the caller of result()
                future.set_exception(exc)

    def submit(self, x: Any) -> Future:
        if not self._threads:
            raise RuntimeError("submit() on closed workers")
        future: Future = Future()
        self._tasks.put((future, x))
        return future

    def close(self) -> None:
        """Finish the submitted work and stop the threads."""
        for _ in self._threads:
            self._tasks.put(None)
        for t in self._threads:
            if t is not threading.current_thread():  # closed from a worker (its owner collected there)
                t.join()
        self._threads = []

    def __enter__(self) -> FrameWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
