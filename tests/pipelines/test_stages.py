"""StagePipeline on its own: threads between bounded queues, stopped and joined by their owner in every case."""

from __future__ import annotations

import queue
import threading

import av
import pytest

from pipelines.common.stages import EOS, Stage, StagePipeline
from vsr.errors import VSRError


class Numbers(Stage):
    name = "numbers"

    def __init__(self, n: int, outbox: queue.Queue, stop: threading.Event) -> None:
        super().__init__(None, outbox, stop)
        self.n = n

    def process(self) -> None:
        for i in range(self.n):  # far more than the queue holds: put() must wait for room, or for a stop
            self.put(i)
        self.put(EOS)


class Double(Stage):
    name = "double"

    def __init__(self, inbox: queue.Queue, outbox: queue.Queue, stop: threading.Event, fail_at: int | None = None,
                 error: BaseException | None = None) -> None:
        super().__init__(inbox, outbox, stop)
        self.fail_at, self.error = fail_at, error

    def process(self) -> None:
        while (item := self.get()) is not EOS:
            if item == self.fail_at:
                raise self.error
            self.put(item * 2)
        self.put(EOS)


class Collect(Stage):
    name = "collect"

    def __init__(self, inbox: queue.Queue, stop: threading.Event) -> None:
        super().__init__(inbox, None, stop)
        self.items: list[int] = []

    def process(self) -> None:
        while (item := self.get()) is not EOS:
            self.items.append(item)


def _chain(n: int, fail_at: int | None = None, error: BaseException | None = None):
    stop = threading.Event()
    a, b = queue.Queue(maxsize=2), queue.Queue(maxsize=2)
    collect = Collect(b, stop)
    stages = [Numbers(n, a, stop), Double(a, b, stop, fail_at, error), collect]
    return StagePipeline(stages, stop), collect


def test_items_pass_in_order_through_bounded_queues_and_every_thread_ends():
    pipeline, collect = _chain(200)
    ticks = []
    pipeline.run(lambda: ticks.append(1))
    assert collect.items == [2 * i for i in range(200)]
    assert not pipeline.alive() and ticks
    assert all(s.stats.busy_s >= 0 for s in pipeline.stages)


def test_a_failing_stage_stops_the_others_and_its_error_is_raised_once():
    pipeline, collect = _chain(10_000, fail_at=5, error=RuntimeError("model exploded"))
    with pytest.raises(RuntimeError, match="model exploded"):
        pipeline.run(lambda: None)
    assert not pipeline.alive()  # the producer, blocked on a full queue, was stopped too
    assert collect.items == [0, 2, 4, 6, 8][: len(collect.items)]


def test_a_media_error_in_a_stage_becomes_one_line_naming_the_stage():
    pipeline, _ = _chain(50, fail_at=3, error=av.InvalidDataError(1094995529, "Invalid data found"))
    with pytest.raises(VSRError) as exc:
        pipeline.run(lambda: None)
    assert str(exc.value).startswith("double failed:") and "\n" not in str(exc.value)
    assert not pipeline.alive()


def test_an_interrupt_in_the_owner_stops_and_joins_every_stage():
    pipeline, _ = _chain(10**9)  # would run for ever

    def tick() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipeline.run(tick)
    assert not pipeline.alive()
    assert not [t for t in threading.enumerate() if t.name.startswith("vsr-")]
