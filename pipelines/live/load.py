"""The outputs' share of the machine while live measures its model candidates.

The live loop converts and encodes every processed frame for each recording and stream, on the same cores as the
model's workers. A candidate measured alone looked fast enough and then fell behind (light x4 at 320x180 on two
cores: 53.7 frames/s measured, 23.6 of 30 in the run). `OutputLoad` does that work beside each measurement, at the
source's rate, with the same writers (`TimedWriter`: colour conversion, the same codec and settings) into scratch
files, on moving output-size frames (a still frame would cost the encoder almost nothing).
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np

from vsr.errors import VSRError
from vsr.io.colour import ColourDescription
from vsr.io.encode import WriterSettings
from vsr.io.live.sinks import TimedWriter, is_stream_target


class OutputLoad:
    """A context manager: while inside, one thread writes output-size frames at `rate` frames/s to a scratch
    writer per target (`settings`: the writer settings of each target, in order). The thread is started on
    entry and stopped and joined on exit, and the scratch files are removed."""

    def __init__(self, settings: list[WriterSettings], width: int, height: int, rate: float,
                 colour: ColourDescription, sample: np.ndarray | None) -> None:
        self.settings, self.width, self.height, self.rate = settings, width, height, rate
        self.colour, self.sample = colour, sample
        self.frames = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._writers: list[TimedWriter] = []

    def __enter__(self) -> OutputLoad:
        if not self.settings:
            return self
        self._tmp = tempfile.TemporaryDirectory(prefix="vsr-live-load-")
        self._writers = [TimedWriter(str(Path(self._tmp.name) / f"load{i}.mkv"), self.width, self.height, self.rate,
                                     self.colour, None, ws) for i, ws in enumerate(self.settings)]
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(self._frame(),), name="vsr-live-load", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for w in self._writers:
            w.abort()
        self._writers = []
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _frame(self) -> np.ndarray:
        """The source's picture resized to the output (or a gradient without one): what the encoder will see."""
        if self.sample is not None:
            return cv2.resize(self.sample, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        ramp = np.linspace(0, 255, self.width, dtype=np.float32)[None, :, None]
        return np.broadcast_to(ramp, (self.height, self.width, 3)).astype(np.uint8)

    def _run(self, frame: np.ndarray) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            moving = np.roll(frame, 2 * self.frames, axis=1)  # motion, as a camera's frames have
            t = self.frames / self.rate
            try:
                for w in self._writers:
                    w.write(moving, t)
            except (VSRError, av.FFmpegError, OSError) as exc:  # the real writers will say so: measure without
                self.error = str(exc)
                return
            self.frames += 1
            wait = start + self.frames / self.rate - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)


def output_settings(outputs: list[str], codec: str, preset: str, crf: int | None) -> list[WriterSettings]:
    """The writer settings of each recording and stream, as `LiveOutputs.open` makes them."""
    return [WriterSettings(codec, preset, crf, low_latency=is_stream_target(t)) for t in outputs]
