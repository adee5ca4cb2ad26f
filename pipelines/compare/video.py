"""A clip compared: every frame upscaled by bicubic and the model(s), side by side (labelled panels) or as a split
screen (bicubic left, the first model right), encoded as H.264 with the input's timestamps, written atomically."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from pipelines.compare.panels import Panel, side_by_side, split_screen
from pipelines.compare.picture import NamedModel, upscaled
from vsr.io import AtomicOutput, VideoSource, probe
from vsr.metrics.evaluate import to_8bit
from vsr.metrics.image_io import as_rgb

LAYOUTS = ("side", "split")


def _picture(lr: np.ndarray, models: list[NamedModel], layout: str) -> np.ndarray:
    panels = [Panel(name, img) for name, img in upscaled(lr, models).items()]
    picture = split_screen(panels[0], panels[1]) if layout == "split" else side_by_side(panels)
    h, w = picture.shape[:2]
    return np.pad(picture, ((0, h % 2), (0, w % 2), (0, 0)))  # 4:2:0 wants even sizes


def write_video(src: Path, models: list[NamedModel], layout: str, out: Path, max_frames: int | None = None,
                on_frame: Callable[[], None] | None = None) -> int:
    """Returns the frames written."""
    info = probe(src)
    source = VideoSource(info, set(), set(), notify=lambda _msg: None, max_frames=max_frames)
    frames = 0
    with AtomicOutput(out) as temp, av.open(str(temp), "w") as container:
        stream = None
        for item in source.items(lambda: False):
            picture = _picture(as_rgb(to_8bit(item.picture.rgb)), models, layout)  # type: ignore[union-attr]
            if stream is None:
                stream = container.add_stream("libx264", rate=info.rate or 25)
                stream.width, stream.height, stream.pix_fmt = picture.shape[1], picture.shape[0], "yuv420p"
                stream.codec_context.time_base = info.time_base
                stream.codec_context.options = {"preset": "veryfast", "crf": "16"}
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = item.pts, item.time_base
            for packet in stream.encode(frame):
                container.mux(packet)
            frames += 1
            if on_frame is not None:
                on_frame()
        if stream is not None:
            for packet in stream.encode(None):
                container.mux(packet)
    return frames
