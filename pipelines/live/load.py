"""The outputs' share of the work while live measures its model candidates.

The live loop converts and encodes every processed frame for each recording and stream on its own thread, right
after collecting it from the engine, while the model's workers share the same cores. A candidate measured alone
looked fast enough and then fell behind (light x4 at 320x180 on two cores: 53.7 frames/s measured alone, 45.9
with the encodes on a thread of their own, 23.6-25.5 of 30 in the run). `ScratchOutputs` does that work where
the loop does it: each collected frame is written, on the measuring thread, by the same writers (`TimedWriter`:
colour conversion, the same codec and settings) into scratch files, moved a little each time (a repeated still
frame would cost the encoder almost nothing).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from vsr.io.colour import ColourDescription
from vsr.io.encode import WriterSettings
from vsr.io.live.sinks import TimedWriter, is_stream_target


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
            moving = np.roll(frame, 2 * self.frames, axis=1)  # motion, as a camera's frames have
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
