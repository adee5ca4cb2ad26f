"""Reading and writing still images with OpenCV, in RGB order; 8-bit and 16-bit, colour and gray."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vsr.errors import InputError, MediaError
from vsr.fs import write_bytes_atomic

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) RGB or (H, W) gray, uint8 or uint16 as stored; an alpha channel is dropped."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image not found: {path}")
    # imdecode from bytes rather than imread: imread cannot open some non-ASCII paths and says nothing why.
    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise MediaError(f"{path}: not a readable image")
    if img.dtype not in (np.uint8, np.uint16):
        raise MediaError(f"{path}: {img.dtype} images are not supported (8-bit or 16-bit only)")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 3:
        code = cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB
        img = cv2.cvtColor(img, code)
    return img


def as_rgb(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) as it is; (H, W) or (H, W, 1) gray replicated to R = G = B, as cv2.IMREAD_COLOR reads a gray file."""
    if img.ndim == 3 and img.shape[2] == 3:
        return img
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim != 2:
        raise ValueError(f"expected an (H, W), (H, W, 1) or (H, W, 3) image, got shape {img.shape}")
    return np.repeat(img[..., None], 3, axis=2)


def check_output_path(path: str | Path) -> None:
    """Raise a one-line InputError unless an image could be written at `path` (folder exists, known type)."""
    path = Path(path)
    if not path.resolve().parent.is_dir():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        known = ", ".join(IMAGE_SUFFIXES)
        raise InputError(f"cannot write {path}: unknown image type {path.suffix!r} (use one of {known})")


def write_image(path: str | Path, img: np.ndarray) -> None:
    """Write an RGB or gray uint8/uint16 image atomically: a temporary file beside `path`, then a rename.

    A failure leaves neither a partial file nor the temporary one.
    """
    path = Path(path)
    check_output_path(path)
    out = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img
    ok, encoded = cv2.imencode(path.suffix, out)
    if not ok:
        raise MediaError(f"cannot encode {path.name} as {path.suffix} ({img.dtype}, shape {img.shape})")
    write_bytes_atomic(path, encoded.tobytes())


def list_images(folder: str | Path) -> list[Path]:
    """The image files directly in `folder`, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files
