"""Pipeline stages: each runs on its own thread between bounded queues; the owner (a pipeline) stops them.

A stage waits on its queues in short slices so that a stop request (another stage failed, Ctrl-C) ends it
within a fraction of a second. End of stream travels as the `EOS` sentinel. Every stage counts the time it
spends working and waiting: the progress bar, the summary and the JSON report all read these counters.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av

from vsr.errors import VSRError

EOS = object()  # end of stream: the last item a stage puts on its output queue
_JOIN_S = 5.0  # how long stopping waits for a stage (an inference call in flight must finish)
_SLICE_S = 0.1


class Stopped(Exception):
    """Raised inside a stage when its owner asked it to stop."""


@dataclass
class StageStats:
    items: int = 0  # items produced (frames, for the video stages)
    busy_s: float = 0.0
    wait_in_s: float = 0.0  # waiting for input (upstream too slow)
    wait_out_s: float = 0.0  # waiting for room downstream (downstream too slow)

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "busy_s": round(self.busy_s, 3),
                "wait_s": round(self.wait_in_s + self.wait_out_s, 3),
                "wait_in_s": round(self.wait_in_s, 3), "wait_out_s": round(self.wait_out_s, 3)}


class Stage:
    """Base: subclasses implement `process()` using `get()` and `put()`."""

    name = "stage"

    def __init__(self, inbox: queue.Queue | None, outbox: queue.Queue | None, stop_event: threading.Event) -> None:
        self.inbox, self.outbox = inbox, outbox
        self._stop = stop_event
        self.stats = StageStats()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def get(self) -> Any:
        assert self.inbox is not None
        start = time.perf_counter()
        try:
            return self._until_stopped(lambda: self.inbox.get(timeout=_SLICE_S), queue.Empty)
        finally:
            self.stats.wait_in_s += time.perf_counter() - start

    def put(self, item: Any) -> None:
        assert self.outbox is not None
        start = time.perf_counter()
        try:
            self._until_stopped(lambda: self.outbox.put(item, timeout=_SLICE_S), queue.Full)
        finally:
            self.stats.wait_out_s += time.perf_counter() - start

    def _until_stopped(self, attempt: Callable[[], Any], busy: type[Exception]) -> Any:
        """Retries a queue operation of one slice until it succeeds, or raises Stopped once a stop is asked."""
        while True:
            if self._stop.is_set():
                raise Stopped
            try:
                return attempt()
            except busy:
                continue

    def process(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        """The thread body: busy time is the wall time minus the waits. Stopped ends quietly."""
        start = time.perf_counter()
        try:
            self.process()
        except Stopped:
            pass
        finally:
            self.stats.busy_s = time.perf_counter() - start - self.stats.wait_in_s - self.stats.wait_out_s


class StagePipeline:
    """Starts the stages on threads, waits for them, stops all when one fails and re-raises that error once."""

    def __init__(self, stages: list[Stage], stop_event: threading.Event) -> None:
        self.stages = stages
        self._stop = stop_event
        self._error: tuple[Stage, BaseException] | None = None
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._guard, args=(s,), name=f"vsr-{s.name}", daemon=True)
                        for s in stages]

    def _guard(self, stage: Stage) -> None:
        try:
            stage.run()
        except BaseException as exc:  # any failure stops everything; the owner reports the first one
            with self._lock:
                if self._error is None:
                    self._error = (stage, exc)
            self.stop()

    def stop(self) -> None:
        for stage in self.stages:
            stage.stop()

    def alive(self) -> bool:
        return any(t.is_alive() for t in self.threads)

    def run(self, tick: Callable[[], None]) -> None:
        try:
            for t in self.threads:  # inside the try: a signal between two starts still stops the started ones
                t.start()
            while self.alive():
                self.threads[-1].join(timeout=0.2)
                tick()
        except BaseException:  # Ctrl-C: stop, give the stages a moment, then let the caller clean up
            self.stop()
            self.join()
            raise
        self.join()
        if self._error is not None:
            stage, exc = self._error
            if isinstance(exc, VSRError):
                raise exc
            if isinstance(exc, av.FFmpegError):
                raise VSRError(f"{stage.name} failed: {exc}") from exc
            raise exc

    def join(self) -> None:
        deadline = time.monotonic() + _JOIN_S
        for t in self.threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
