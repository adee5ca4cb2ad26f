"""YUV <-> RGB in torch, on whatever device the model runs on (no PyAV here: planes in, planes out).

Frames cross PCIe as their YUV planes (8-bit 4:2:0: 1.5 bytes a pixel, against 3 for RGB24) and are converted
beside the model, as swscale converts them in `vsr.io.colour` (docs/colour.md has the measured differences):

- matrices: swscale's fixed-point table (`ff_yuv2rgb_coeffs`, libswscale/yuv2rgb.c) by AVColorSpace code;
  RGB -> YUV is the inverse of the same matrix.
- levels, as BT.601/709/2100 define them: limited 16..235 / 16..240 times 2^(bits-8), full 0..2^bits-1 with
  chroma centred on 2^(bits-1). swscale departs by up to one 8-bit level: its full-range chroma from RGB is
  centred on 127.5, and above 8 bits it takes 16-bit RGB (257 x 8-bit) for 256 x 8-bit (limited white 943).
- chroma siting: the frame's AVChromaLocation, which swscale honours (`vsr.io.planes.chroma_location` reads
  it back, PyAV does not expose it): H.264/HEVC/MPEG-4 decoders say "left" (MPEG-2 siting), VP8 and frames
  made by hand say nothing, taken as centred. Upsampling is bilinear between the two nearest samples,
  downsampling a triangle around the sample ((1, 3, 3, 1) / 8 centred, (1, 2, 1) / 4 cosited).

Integer planes are uint8 (8-bit) or int16 holding 0..2^bits-1 (deeper): int16 has every op on every device,
and a numpy uint16 plane views as int16 for free, so nothing is converted on the host.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from vsr.io.picture import MATRICES, SITING, YuvFormat

# {crv, cbu, cgu, cgv} in 16.16 fixed point, scaled by 255/224 (libswscale/yuv2rgb.c), by AVColorSpace code.
_SWS_COEFFS = {
    1: (117489, 138438, 13975, 34925),  # BT.709
    4: (104448, 132798, 24759, 53109),  # FCC
    5: (104597, 132201, 25675, 53279),  # BT.470BG (BT.601)
    6: (104597, 132201, 25675, 53279),  # SMPTE 170M (BT.601)
    7: (117579, 136230, 16907, 35559),  # SMPTE 240M
    9: (110013, 140363, 12277, 42626),  # BT.2020 NCL
    10: (110013, 140363, 12277, 42626),  # BT.2020 CL: swscale converts it as NCL, so do we
}
ChromaUpsampling = Literal["bilinear", "swscale-deep"]


def plane_dtype(fmt: YuvFormat) -> torch.dtype:
    """The torch dtype of `fmt`'s samples: uint8, or int16 holding 0..2^bits-1 (every op on every device)."""
    return torch.uint8 if fmt.bits <= 8 else torch.int16


def _levels(bits: int, full_range: bool) -> tuple[float, float, float, float]:
    """(luma offset, luma scale, chroma offset, chroma scale) that map codes to Y' in [0, 1], C' in [-.5, .5]."""
    step = float(1 << (bits - 8))
    if full_range:
        peak = float((1 << bits) - 1)
        return 0.0, peak, float(1 << (bits - 1)), peak
    return 16 * step, 219 * step, 128 * step, 224 * step


def _yuv_to_rgb_coeffs(matrix: int) -> tuple[float, float, float, float]:
    """(R from Cr, G from Cb, G from Cr, B from Cb) for normalised Y'CbCr (swscale's table without 255/224)."""
    if matrix not in _SWS_COEFFS:
        raise ValueError(f"unsupported matrix {matrix}; known: {sorted(MATRICES)}")
    crv, cbu, cgu, cgv = (c / 65536 * 224 / 255 for c in _SWS_COEFFS[matrix])
    return crv, -cgu, -cgv, cbu


@functools.cache
def _rgb_to_yuv_matrix(matrix: int) -> tuple[tuple[float, float, float], ...]:
    """Rows (Y', Cb', Cr') of (R, G, B) weights: the inverse of the swscale decoding matrix (host floats)."""
    rv, gu, gv, bu = _yuv_to_rgb_coeffs(matrix)
    forward = torch.tensor([[1.0, 0.0, rv], [1.0, gu, gv], [1.0, bu, 0.0]], dtype=torch.float64)
    return tuple(tuple(row) for row in torch.linalg.inv(forward).tolist())


def _lerp_axis(c: torch.Tensor, dim: int, size: int, offset: float) -> torch.Tensor:
    """Upsample `c` along `dim` to `size`, chroma sample i sitting at luma position 2 i + offset.

    Luma pixel j reads chroma position (j + offset) * n / size - offset, as swscale maps it: (j - offset) / 2
    for even sizes; odd sizes (n = ceil(size / 2)) stretch by n / size like swscale. Edges repeat.
    """
    n = c.shape[dim]
    if size == 2 * n:
        return _up2(c, dim, offset)
    src = (torch.arange(size, device=c.device, dtype=torch.float32) + offset).mul_(n / size).sub_(offset)
    src = src.clamp_(0, n - 1)
    i0 = src.floor().long()
    shape = [1] * c.dim()
    shape[dim] = size
    w = (src - i0).view(shape)
    return torch.lerp(c.index_select(dim, i0), c.index_select(dim, (i0 + 1).clamp_(max=n - 1)), w)


def _up2(c: torch.Tensor, dim: int, offset: float) -> torch.Tensor:
    """_lerp_axis for an exact doubling, without a gather (slow on the CPU): luma pixel 2 i + k lies
    (k - offset) / 2 samples from sample i, so each phase k blends sample i with one neighbour."""
    n = c.shape[dim]
    prev = torch.cat((c.narrow(dim, 0, 1), c.narrow(dim, 0, n - 1)), dim)
    nxt = torch.cat((c.narrow(dim, 1, n - 1), c.narrow(dim, n - 1, 1)), dim)
    phases = []
    for k in (0, 1):
        d = (k - offset) / 2
        phases.append(c if d == 0 else torch.lerp(c, prev if d < 0 else nxt, abs(d)))
    return torch.stack(phases, dim + 1).flatten(dim, dim + 1)


def _upsample(uv: torch.Tensor, height: int, width: int, chroma_loc: int, mode: ChromaUpsampling) -> torch.Tensor:
    """(N, 2, h, w) chroma -> (N, 2, H, W), bilinear at the sample positions (edges repeat, as swscale's do)."""
    x_off, y_off = SITING[chroma_loc]
    if mode == "swscale-deep" and uv.shape[-1] != width:
        # swscale's >8-bit -> rgb48 path (no full-chroma interpolation) gives each pixel pair one chroma sample
        # and interpolates only vertically; offered to reproduce `to_rgb(deep=True)`, not as the better picture.
        uv, x_off = uv.repeat_interleave(2, dim=-1)[..., :width], 0.5
    if uv.shape[-2:] == (height, width):
        return uv
    if (x_off, y_off) == (0.5, 0.5):
        # the same mapping as _lerp_axis for centred samples (torch's align_corners=False), and faster
        return F.interpolate(uv, size=(height, width), mode="bilinear", align_corners=False)
    if uv.shape[-1] != width:
        uv = _lerp_axis(uv, 3, width, x_off)
    if uv.shape[-2] != height:
        uv = _lerp_axis(uv, 2, height, y_off)
    return uv


def yuv_to_rgb(y: torch.Tensor, u: torch.Tensor, v: torch.Tensor, *, matrix: int, full_range: bool, bits: int,
               chroma_loc: int = 0, chroma: ChromaUpsampling = "bilinear", channels_last: bool = True) -> torch.Tensor:
    """Integer planes y (N, H, W), u/v (N, H >> sh, W >> sw) -> float32 RGB (N, 3, H, W) in [0, 1].

    Computed in float32 on the planes' device and clamped to [0, 1] (swscale clips to 0..255 likewise). With
    `channels_last` the storage is NHWC, the model's layout, written directly rather than converted after.
    """
    n, height, width = y.shape
    y_off, y_scale, c_off, c_scale = _levels(bits, full_range)
    rv, gu, gv, bu = _yuv_to_rgb_coeffs(matrix)
    luma = (y.to(torch.float32) - y_off).mul_(1.0 / y_scale).unsqueeze(1)
    # Centre and scale the chroma before upsampling: a quarter of the pixels for 4:2:0, same result (linear).
    uv = (torch.stack((u, v), dim=1).to(torch.float32) - c_off).mul_(1.0 / c_scale)
    uv = _upsample(uv, height, width, chroma_loc, chroma)
    cb, cr = uv[:, 0:1], uv[:, 1:2]
    if channels_last:
        out = torch.empty((n, height, width, 3), dtype=torch.float32, device=y.device).permute(0, 3, 1, 2)
    else:
        out = torch.empty((n, 3, height, width), dtype=torch.float32, device=y.device)
    torch.add(luma, cr, alpha=rv, out=out[:, 0:1])
    torch.add(luma, cb, alpha=gu, out=out[:, 1:2]).add_(cr, alpha=gv)
    torch.add(luma, cb, alpha=bu, out=out[:, 2:3])
    return out.clamp_(0.0, 1.0)


def _downsample(c: torch.Tensor, shift_w: int, shift_h: int, chroma_loc: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, ceil(H / 2^sh), ceil(W / 2^sw)): per halved axis, a triangle two luma pixels wide
    each side of the chroma sample's position, over luma pixels 2 i - 1 .. 2 i + 2.

    Edges repeat, as swscale folds out-of-picture taps onto the edge sample; an odd size gets one more repeated
    sample so the last chroma sample exists, as FFmpeg rounds chroma sizes up. Four strided slices rather than
    a depthwise convolution, which is slow on the CPU.
    """
    # rows first: their padding copies whole rows, and the columns then pad half as many
    for dim, shift, offset in ((2, shift_h, SITING[chroma_loc][1]), (3, shift_w, SITING[chroma_loc][0])):
        if not shift:
            continue
        n, m = c.shape[dim], -(-c.shape[dim] // 2)
        last = c.narrow(dim, n - 1, 1)
        c = torch.cat([c.narrow(dim, 0, 1), c] + [last] * (1 + n % 2), dim)  # index p + 1 holds pixel p
        out = None
        for d in (-1, 0, 1, 2):
            tap = max(0.0, 1.0 - abs(d - offset) / 2) / 2
            if tap:
                index = [slice(None)] * c.dim()
                index[dim] = slice(d + 1, d + 2 * m, 2)  # pixels 2 i + d, i < m
                part = c[tuple(index)]
                out = part * tap if out is None else out.add_(part, alpha=tap)
        c = out
    return c


def _encode(rgb: torch.Tensor, row: tuple[float, ...], offset: float, scale: float, bits: int) -> torch.Tensor:
    """One code plane: (R, G, B) . row, scaled to codes, rounded to nearest (halves up, as swscale's accurate
    rounding) and clipped to the code range."""
    w = [c * scale for c in row]
    x = torch.mul(rgb[:, 0], w[0]).add_(rgb[:, 1], alpha=w[1]).add_(rgb[:, 2], alpha=w[2])
    dtype = torch.uint8 if bits <= 8 else torch.int16
    return x.add_(offset + 0.5).floor_().clamp_(0, (1 << bits) - 1).to(dtype)


def rgb_to_yuv(rgb: torch.Tensor, *, matrix: int, full_range: bool, bits: int, chroma_shift: tuple[int, int] = (1, 1),
               chroma_loc: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Float RGB (N, 3, H, W) in [0, 1] -> contiguous integer planes y (N, H, W), u/v (N, ceil(H / 2^sh),
    ceil(W / 2^sw)): uint8 for 8 bits, int16 holding 0..2^bits-1 above. `chroma_shift` is (log2 w, log2 h).
    """
    y_off, y_scale, c_off, c_scale = _levels(bits, full_range)
    m = _rgb_to_yuv_matrix(matrix)
    # Clamp first: swscale reads clipped integers. The matrix and the filter are both linear, so the RGB is
    # filtered down to the chroma size first and the chroma rows of the matrix run on a quarter of the pixels.
    rgb = rgb.to(torch.float32).clamp(0.0, 1.0)
    small = _downsample(rgb, *chroma_shift, chroma_loc)
    y = _encode(rgb, m[0], y_off, y_scale, bits)
    u = _encode(small, m[1], c_off, c_scale, bits)
    v = _encode(small, m[2], c_off, c_scale, bits)
    return y, u, v


def pack_planes(planes: Sequence[torch.Tensor], out: torch.Tensor | None = None) -> torch.Tensor:
    """Planes (N, h, w) of one batch -> one contiguous (N, elements_per_frame) buffer, each frame's Y U V in a row.

    On the device: the one buffer a converted batch downloads in (`rgb_to_yuv`'s planes are packed here, on
    the device, so the download is a single copy); `out` is filled in place when given.
    """
    n = planes[0].shape[0]
    sizes = [p.shape[-2] * p.shape[-1] for p in planes]
    if out is None:
        out = torch.empty((n, sum(sizes)), dtype=planes[0].dtype, device=planes[0].device)
    if out.shape != (n, sum(sizes)) or not out.is_contiguous():
        raise ValueError(f"pack buffer {tuple(out.shape)} does not fit planes of {sizes} elements x {n}")
    for view, plane in zip(torch.split(out, sizes, dim=1), planes, strict=True):
        view.view(n, plane.shape[-2], plane.shape[-1]).copy_(plane)
    return out


def unpack_planes(buf: torch.Tensor, fmt: YuvFormat) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N, elements_per_frame) buffer -> views y (N, H, W), u, v (N, ch, cw) into it: no copies.

    The chroma views are not contiguous across frames (each frame's row block is), which every op here takes.
    """
    shapes = fmt.plane_shapes
    if buf.dim() != 2 or buf.shape[1] != fmt.elements_per_frame:
        raise ValueError(f"buffer {tuple(buf.shape)}; {fmt} needs (N, {fmt.elements_per_frame})")
    views = torch.split(buf, [h * w for h, w in shapes], dim=1)
    y, u, v = (t.unflatten(1, shape) for t, shape in zip(views, shapes, strict=True))
    return y, u, v


def pack_frames(frames: Sequence[Sequence[np.ndarray]], fmt: YuvFormat,
                out: torch.Tensor | None = None) -> torch.Tensor:
    """Host side of the upload: each frame's [Y, U, V] numpy planes (views of decoder buffers, uint8 or uint16)
    copied once, straight into one (N, elements_per_frame) CPU buffer (`out`: pinned memory, say)."""
    n = len(frames)
    if out is None:
        out = torch.empty((n, fmt.elements_per_frame), dtype=plane_dtype(fmt))
    if out.shape != (n, fmt.elements_per_frame) or out.dtype != plane_dtype(fmt) or out.device.type != "cpu":
        raise ValueError(f"pack buffer {tuple(out.shape)} {out.dtype} does not fit {n} frames of {fmt}")
    host = out.numpy().view(np.uint16) if fmt.bits > 8 else out.numpy()  # int16 storage, uint16 samples
    sizes = np.cumsum([0] + [h * w for h, w in fmt.plane_shapes])
    for row, planes in zip(host, frames, strict=True):
        for i, (plane, shape) in enumerate(zip(planes, fmt.plane_shapes, strict=True)):
            if plane.shape != shape:
                raise ValueError(f"plane {i} is {plane.shape}; {fmt} needs {shape}")
            np.copyto(row[sizes[i]:sizes[i + 1]].reshape(shape), plane, casting="no")
    return out


def unpack_frames(buf: torch.Tensor, fmt: YuvFormat) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Host side of the download: per frame (Y, U, V) numpy views into a CPU buffer (uint8, or uint16 samples)
    for `vsr.io.planes.frame_from_planes`, which copies them: reuse the buffer only after that."""
    dtype = np.uint16 if fmt.bits > 8 else np.uint8  # int16 storage holds uint16 samples: a free view
    y, u, v = (p.numpy().view(dtype) for p in unpack_planes(buf, fmt))
    return list(zip(y, u, v, strict=True))
