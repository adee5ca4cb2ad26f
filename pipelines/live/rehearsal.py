"""A rehearsal of the live loop for one model candidate: what live measures before it chooses.

A candidate timed flat out, alone, looked fast enough and then fell behind in the run (light x4 at 320x180 on
two cores: 53.7 frames/s alone, 45.9 with the encodes on a thread of their own, 35.8 flat out with them on the
loop's thread, 23.3-25.5 of 30 in the run). `rehearse` runs the loop's own schedule instead: frames arrive at
the source's rate into a newest-frame slot (an arrival that finds the last one not taken drops it), the engine
is fed and emptied as `LiveSession.step` feeds and empties it (results noticed when ready, the loop otherwise
waiting up to 10 ms for the source), and every result goes through `ScratchOutputs` on the same thread, as
`_emit` writes the recordings: the same writers (`TimedWriter`: colour conversion, codec, settings) into scratch
files, on frames that jump about (a repeated still frame, or a steady pan, would cost the encoder almost nothing).
"""

from __future__ import annotations

import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vsr.engine.interface import FrameEngine
from vsr.io.colour import ColourDescription
from vsr.io.encode import WriterSettings
from vsr.io.live.sinks import TimedWriter, is_stream_target

# The scratch frames jump by these (rows, columns) from one to the next: a steady pan costs the encoder little
# (its motion search finds it at once), far less than a camera's picture; jumps it must search for come close.
JITTER = [(int(dy), int(dx)) for dy, dx in np.random.default_rng(0).integers(-24, 25, (64, 2))]


class ScratchOutputs:
    """A context manager: inside, `write(frames)` brings each output frame (N, H, W, 3) to the output size
    (`fit_output`) and encodes it into one scratch writer per target (`settings`, in order) at `rate` frames/s of
    recording time; on exit the writers are dropped and the scratch files removed."""

    def __init__(self, settings: list[WriterSettings], width: int, height: int, rate: float,
                 colour: ColourDescription) -> None:
        self.settings, self.width, self.height, self.rate, self.colour = settings, width, height, rate, colour
        self.frames = 0
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._writers: list[TimedWriter] = []

    def __enter__(self) -> ScratchOutputs:
        if self.settings:
            self._tmp = tempfile.TemporaryDirectory(prefix="vsr-live-load-")
            self._writers = [TimedWriter(str(Path(self._tmp.name) / f"load{i}.mkv"), self.width, self.height,
                                         self.rate, self.colour, None, ws) for i, ws in enumerate(self.settings)]
        return self

    def __exit__(self, *exc: object) -> None:
        for w in self._writers:
            w.abort()
        self._writers = []
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def write(self, frames: np.ndarray) -> None:
        """The live loop's per-frame output work for a collected batch (uint8 frames at the output size)."""
        for frame in frames:
            frame = fit_output(frame, (self.width, self.height))
            if not self._writers:
                continue
            moving = np.roll(frame, JITTER[self.frames % len(JITTER)], axis=(0, 1))  # see JITTER
            for w in self._writers:
                w.write(moving, self.frames / self.rate)
            self.frames += 1


def fit_output(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A model's output frame at the output `size` (width, height): as it is, or resized bicubic (OpenCV, a few
    milliseconds for 1280x720) when the model was of a smaller scale than asked (`NAME+bicubic` candidates)."""
    if frame.shape[1::-1] == size:
        return frame
    return cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC)


def output_settings(outputs: list[str], codec: str, preset: str, crf: int | None) -> list[WriterSettings]:
    """The writer settings of each recording and stream, as `LiveOutputs.open` makes them."""
    return [WriterSettings(codec, preset, crf, low_latency=is_stream_target(t)) for t in outputs]


@dataclass
class Rehearsal:
    """What a rehearsal gave: frames that arrived, were processed and dropped, the processed rate and latency."""

    captured: int
    processed: int
    dropped: int
    fps: float  # processed frames per second of the rehearsal
    latency_ms_p95: float

    @property
    def kept(self) -> float:
        """The share of the arrived frames that were not dropped (those still in flight at the end count as
        kept: the run would have shown them)."""
        return 1.0 - self.dropped / max(1, self.captured)


def rehearse(engine: FrameEngine, x: np.ndarray, rate: float, seconds: float, outputs: ScratchOutputs | None,
             give_up_below: float = 0.5) -> Rehearsal:
    """Run the loop's schedule for `seconds` on frame batch `x` arriving at `rate` (see the module docstring).
    Ends early once fewer than `give_up_below` of the frames so far were processed after the first half second:
    a model far too slow need not be watched for long."""
    start = time.monotonic()
    slot = _NewestFrameSlot(start, rate)
    in_flight: deque[float] = deque()
    latencies: list[float] = []
    while (now := time.monotonic()) - start < seconds:
        slot.arrive_until(now)
        while engine.oldest_ready or (in_flight and not engine.can_submit):
            out = engine.collect()
            if outputs is not None:
                outputs.write(out)
            latencies.append(time.monotonic() - in_flight.popleft())
        if now - start > 0.5 and len(latencies) < give_up_below * slot.arrived:
            break
        if slot.waiting is not None and engine.can_submit:
            engine.submit(x)
            in_flight.append(slot.take())
        else:
            time.sleep(max(0.0, min(0.01 if in_flight else 0.1, slot.next_arrival() - time.monotonic())))
    end = time.monotonic()
    slot.arrive_until(end)  # the arrivals during the last wait count too
    while in_flight:  # finished, not counted: the run would have shown them late
        engine.collect()
        in_flight.popleft()
    elapsed = end - start
    p95 = float(np.percentile(latencies, 95)) * 1000 if latencies else float("inf")
    return Rehearsal(slot.arrived, len(latencies), slot.dropped, len(latencies) / elapsed, p95)


@dataclass
class _NewestFrameSlot:
    """The source's frames arriving at `rate` from `start` into a one-frame slot, as the live loop's capture
    keeps only the newest: an arrival that finds the last frame not yet taken drops it."""

    start: float
    rate: float
    arrived: int = 0
    dropped: int = 0
    waiting: float | None = None  # the arrival time of the frame in the slot, None when it is empty

    def next_arrival(self) -> float:
        return self.start + self.arrived / self.rate

    def arrive_until(self, now: float) -> None:
        while (t := self.next_arrival()) <= now:
            self.dropped += self.waiting is not None
            self.waiting, self.arrived = t, self.arrived + 1

    def take(self) -> float:
        t, self.waiting = self.waiting, None
        assert t is not None
        return t
