"""MATLAB-compatible bicubic `imresize` (the resize the SR benchmarks use to make LR images).

MATLAB's `imresize(img, scale, 'bicubic')` is separable. For each output index i (1-based) along one axis it
samples the input at u = i / scale + (1 - 1 / scale) / 2 with Keys' cubic kernel (a = -0.5). When shrinking
(scale < 1) with antialiasing on, the kernel is stretched by 1 / scale (h(x) = scale * cubic(scale * x)), so
it low-pass filters as it samples. The taps of each output pixel are normalised to sum to one, and taps that
fall outside the image are mirrored back in (symmetric padding: ... 2 1 | 1 2 3 ... n | n n-1 ...).
The output length is ceil(in * scale). Both axes are resized, the one with the smaller scale first.

Everything is computed in float64; the caller rounds/clips to uint8 where MATLAB would (uint8 input).
"""

from __future__ import annotations

import math

import numpy as np


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's `cubic`), support [-2, 2]."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return inner + outer


def resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool = True) -> np.ndarray:
    """The (out_len, in_len) matrix M with resized = M @ signal along one axis.

    Each row holds the normalised kernel taps of one output sample, with out-of-range taps folded back
    in by symmetric padding (a tap's weight is added to the input sample it mirrors to).
    """
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel_width /= scale
        def kernel(x):
            return scale * cubic(scale * x)
    else:
        kernel = cubic
    i = np.arange(1, out_len + 1, dtype=np.float64)[:, None]
    u = i / scale + 0.5 * (1.0 - 1.0 / scale)  # input coordinate (1-based) each output sample is centred on
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    idx = left + np.arange(taps)[None, :]  # (out_len, taps), 1-based, may lie outside 1..in_len
    weights = kernel(u - idx)
    weights /= weights.sum(axis=1, keepdims=True)
    # Symmetric padding: index k maps into the period [1..n, n..1] of length 2n.
    period = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    src = period[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    matrix = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(matrix, (np.repeat(np.arange(out_len), taps), src.ravel()), weights.ravel())
    return matrix


def imresize(img: np.ndarray, scale: float, antialias: bool = True) -> np.ndarray:
    """Resize an (H, W) or (H, W, C) image by `scale` like MATLAB's `imresize(img, scale, 'bicubic')`.

    Returns float64 (float32 stays float32), not rounded: the value range is the input's (0..255 or 0..1).
    """
    if img.ndim not in (2, 3):
        raise ValueError(f"imresize expects an (H, W) or (H, W, C) image, got shape {img.shape}")
    if scale <= 0:
        raise ValueError(f"imresize scale must be positive, got {scale}")
    out_dtype = img.dtype if img.dtype in (np.float32, np.float64) else np.float64
    x = img.astype(np.float64)
    h, w = x.shape[:2]
    out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
    # Both axes have the same scale here, so MATLAB's order (smaller scale first; ties: rows first) is rows first.
    rows = resize_matrix(h, out_h, scale, antialias)
    cols = resize_matrix(w, out_w, scale, antialias)
    x = np.tensordot(rows, x, axes=([1], [0]))  # (out_h, W[, C])
    x = np.tensordot(cols, x, axes=([1], [1]))  # (out_w, out_h[, C])
    x = np.swapaxes(x, 0, 1)
    return np.ascontiguousarray(x).astype(out_dtype, copy=False)


def imresize_uint8(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB's imresize of a uint8 image: resize in float on the 0..255 values, then round and clip to uint8."""
    return to_uint8(imresize(img.astype(np.float64), scale))


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Round half away from zero (MATLAB's rounding, not numpy's half-to-even) and clip to 0..255."""
    return np.clip(np.floor(img + 0.5), 0, 255).astype(np.uint8)
