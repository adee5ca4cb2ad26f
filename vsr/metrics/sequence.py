"""A video sequence to score: a folder of frames in name order, or a video file, read one frame at a time.

Frames come out as RGB uint8 on the 0..255 scale (16-bit images and deep video reduced to 8 bits, gray images
replicated to RGB, as image eval does), so that memory stays one frame per reader whatever the length.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vsr.errors import InputError
from vsr.metrics.evaluate import to_8bit
from vsr.metrics.image_io import as_rgb, list_images, read_image


@dataclass
class Sequence:
    name: str  # the folder's name, or the video file's stem
    path: Path
    images: list[Path] | None  # the frame files of a folder; None for a video file

    def known_length(self) -> int | None:
        """Frames in a folder; None for a video file (its count is known once decoded)."""
        return len(self.images) if self.images is not None else None

    def frames(self) -> Iterator[np.ndarray]:
        """Each frame, RGB uint8, in order."""
        if self.images is not None:
            for p in self.images:
                yield as_rgb(to_8bit(read_image(p)))
            return
        from vsr.io import VideoSource, probe

        source = VideoSource(probe(self.path), set(), set(), notify=lambda _msg: None)
        for item in source.items(lambda: False):
            yield as_rgb(to_8bit(item.picture.rgb))  # type: ignore[union-attr]  (RGB: no planes asked)


def open_sequence(path: str | Path) -> Sequence:
    """A folder of PNG/JPEG/... frames (any names, sorted by name) or a video file; a one-line error otherwise."""
    path = Path(path)
    if path.is_dir():
        return Sequence(path.name, path, list_images(path))
    if path.is_file():
        from vsr.io import probe

        probe(path)  # a one-line MediaError for what is not a video
        return Sequence(path.stem, path, None)
    raise InputError(f"sequence not found: {path} (a folder of frames or a video file)")
