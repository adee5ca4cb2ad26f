"""The `image` job: one still image through an engine, written atomically (the `image` command and the Python
API's `Upscaler.image` both run it)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsr.errors import InputError
from vsr.metrics.image_io import check_output_path, write_image

if TYPE_CHECKING:  # torch loads only when a model does: bad paths are refused first
    from vsr.engine.interface import FrameEngine


@dataclass
class ImageResult:
    """What `upscale_image_file` did: the picture written, its sizes (W, H) and the model's seconds."""

    output: np.ndarray  # (H, W, 3) RGB or (H, W) gray, the input's dtype
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    seconds: float


def check_image_paths(src: str | Path, dst: str | Path) -> None:
    """A one-line InputError unless `dst` can be written and is not `src` (checked before any model loads)."""
    src, dst = Path(src), Path(dst)
    if dst.resolve() == src.resolve():
        raise InputError(f"output {dst} is the input; the input is never overwritten, choose another name")
    check_output_path(dst)


def upscale_image_file(engine: FrameEngine, img: np.ndarray, dst: str | Path) -> ImageResult:
    """Upscale `img` (as `vsr.metrics.image_io.read_image` gives it: RGB or gray, uint8 or uint16) with `engine`
    and write it to `dst` (a temporary file beside it, renamed when complete: a failure leaves nothing)."""
    from vsr.metrics.evaluate import upscale_image

    start = time.perf_counter()
    out = upscale_image(engine, img)
    seconds = time.perf_counter() - start
    write_image(dst, out)
    return ImageResult(out, (img.shape[1], img.shape[0]), (out.shape[1], out.shape[0]), seconds)
