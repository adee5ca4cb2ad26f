"""Tiled upscaling: run a model on overlapping windows of a frame and keep only each window's centre.

SAFM's pooled branches see the whole input, so a model run on a window is not exactly the model run on the frame:
each window therefore carries `overlap` extra pixels of context on every side, and only its core (the part at least
`overlap` pixels from a cut edge) is kept. All windows of a frame have the same size (edge windows are shifted
inwards rather than shrunk), so they can be stacked into batches.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch

from vsr.errors import ConfigError

T = TypeVar("T")

# The smallest tile the out-of-memory fallback tries before giving up.
MIN_TILE = 32


@dataclass(frozen=True)
class Span:
    """One axis of one tile: the core [core0, core1) is kept, the window [win0, win1) is what the model sees."""

    core0: int
    core1: int
    win0: int
    win1: int


def spans(size: int, tile: int, overlap: int) -> list[Span]:
    """Cut an axis of `size` pixels into cores of `tile` pixels, each inside a window of `tile + 2 * overlap`.

    Windows keep one length along the axis (clamped to `size`), so that all tiles stack into one batch.
    """
    if tile <= 0 or overlap < 0:
        raise ValueError(f"tile must be > 0 and overlap >= 0 (got {tile}, {overlap})")
    win = min(size, tile + 2 * overlap)
    out = []
    for core0 in range(0, size, tile):
        core1 = min(size, core0 + tile)
        win0 = min(max(0, core0 - overlap), size - win)
        out.append(Span(core0, core1, win0, win0 + win))
    return out


def cache_tiles(h: int, w: int, area: int, overlap: int, max_tiles: int = 64) -> tuple[int, int] | None:
    """Core size (th, tw) of a grid whose windows hold at most `area` pixels each, with the least total window
    area (the overlaps are computed twice); None when the frame itself fits in `area`."""
    if h * w <= area:
        return None
    best: tuple[int, tuple[int, int]] | None = None
    for ny in range(1, min(h, max_tiles) + 1):
        th = -(-h // ny)
        wh = min(h, th + 2 * overlap)
        for nx in range(1, min(w, max_tiles) + 1):
            tw = -(-w // nx)
            ww = min(w, tw + 2 * overlap)
            if wh * ww <= area:
                total = len(spans(h, th, overlap)) * len(spans(w, tw, overlap)) * wh * ww
                if best is None or total < best[0]:
                    best = (total, (th, tw))
                break  # more columns only add overlap
    return best[1] if best else None


def upscale_tiled(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    scale: int,
    tile: int | tuple[int, int],
    overlap: int,
    max_batch: int = 4,
) -> torch.Tensor:
    """Upscale (N, C, H, W) `x` window by window with `forward`; returns (N, C', sH, sW) on forward's device.

    `tile` is the core size, square or (height, width). Up to `max_batch` windows (from any frame of the batch)
    go through `forward` at once.
    """
    n, _, h, w = x.shape
    th, tw = (tile, tile) if isinstance(tile, int) else tile
    jobs = [(i, sy, sx) for i in range(n) for sy in spans(h, th, overlap) for sx in spans(w, tw, overlap)]
    out: torch.Tensor | None = None
    for start in range(0, len(jobs), max(1, max_batch)):
        group = jobs[start:start + max_batch]
        windows = torch.cat([x[i:i + 1, :, sy.win0:sy.win1, sx.win0:sx.win1] for i, sy, sx in group])
        y = forward(windows)
        if out is None:
            # the tiles' memory format (channels_last from the CPU engine), so the copies below stay cheap
            fmt = torch.channels_last if y.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
            out = torch.empty((n, y.shape[1], h * scale, w * scale), dtype=y.dtype, device=y.device,
                              memory_format=fmt)
        for k, (i, sy, sx) in enumerate(group):
            oy, ox = (sy.core0 - sy.win0) * scale, (sx.core0 - sx.win0) * scale
            hh, ww = (sy.core1 - sy.core0) * scale, (sx.core1 - sx.core0) * scale
            out[i, :, sy.core0 * scale:sy.core1 * scale, sx.core0 * scale:sx.core1 * scale] = \
                y[k, :, oy:oy + hh, ox:ox + ww]
    assert out is not None
    return out


# How the libraries say "out of memory" when it does not arrive as torch.OutOfMemoryError: the CUDA runtime (a
# failed cudaMalloc/cudaHostAlloc outside the caching allocator), cuDNN and cuBLAS workspaces, the CPU allocator.
_OOM_MESSAGES = ("CUDA error: out of memory", "CUDNN_STATUS_ALLOC_FAILED", "CUBLAS_STATUS_ALLOC_FAILED",
                 "CUDA out of memory", "can't allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """An out-of-memory error of the GPU (device or pinned host memory, cuDNN/cuBLAS workspaces) or of the CPU."""
    if isinstance(exc, torch.OutOfMemoryError):  # torch.cuda.OutOfMemoryError is the same class
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc) for m in _OOM_MESSAGES)


def run_with_tile_fallback(
    run: Callable[[int], T],
    tile: int,
    frame_size: int,
    notice: Callable[[str], None] | None = None,
    min_tile: int = MIN_TILE,
) -> tuple[T, int]:
    """Call `run(tile)`; after an out-of-memory error, halve the tile and try again.

    `tile` 0 means untiled; the first fallback then tiles at half the frame's longer side (`frame_size`).
    Returns the result and the tile that worked, so that the caller keeps using it. Says so once (`notice`).
    """
    said = False
    while True:
        try:
            return run(tile), tile
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            smaller = (tile or frame_size) // 2
            if smaller < min_tile:
                first_line = str(exc).splitlines()[0]
                raise ConfigError(f"out of memory even with {tile or frame_size}-pixel tiles: {first_line}") from exc
            if not said:
                (notice or _stderr)(f"out of memory: tiling at {smaller} px (halving further if needed)")
                said = True
            tile = smaller
        # Outside the except block the failed attempt's tensors are gone: give their cached blocks back.
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _stderr(msg: str) -> None:
    print(f"notice: {msg}", file=sys.stderr)
