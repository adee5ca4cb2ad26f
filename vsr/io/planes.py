"""The Y, U, V planes of a decoded frame as numpy arrays, and encoder-ready frames built from planes.

This is the host half of converting colour on the device (vsr/engine/colour.py is the other half): the
decoder's planes are handed out as views (no copy, no swscale), and planes that come back are written
straight into a new frame's buffers. Rows in FFmpeg buffers are padded to `line_size` bytes; the views skip
the padding by their strides, so the one copy a plane needs is the one into the device's upload buffer.

Semi-planar nv12 / p010le are supported too: their interleaved UV plane is split into two strided views
(p010le keeps its 10 bits in the top of each 16-bit word, so it is shifted, which copies).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import av
import numpy as np

from vsr.io.colour import ACCURATE, ColourDescription
from vsr.io.picture import YuvFormat


@dataclass(frozen=True)
class PlaneLayout:
    """How a pix_fmt stores its planes: chroma subsampling as log2 shifts, bits per sample, UV interleaved."""

    name: str
    shift_w: int
    shift_h: int
    bits: int
    semi_planar: bool = False

    @property
    def dtype(self) -> type[np.unsignedinteger]:
        return np.uint8 if self.bits <= 8 else np.uint16

    @property
    def chroma_shift(self) -> tuple[int, int]:
        return self.shift_w, self.shift_h

    def plane_shapes(self, width: int, height: int) -> tuple[tuple[int, int], ...]:
        """(rows, columns) of Y, U and V; odd sizes round the chroma up, as FFmpeg does."""
        cw, ch = -(-width >> self.shift_w), -(-height >> self.shift_h)
        return (height, width), (ch, cw), (ch, cw)


def _table() -> dict[str, PlaneLayout]:
    shifts = {"420": (1, 1), "422": (1, 0), "444": (0, 0)}
    table: dict[str, PlaneLayout] = {}
    for sub, (sw, sh) in shifts.items():
        for name, bits in ((f"yuv{sub}p", 8), (f"yuvj{sub}p", 8), (f"yuv{sub}p10le", 10), (f"yuv{sub}p12le", 12)):
            table[name] = PlaneLayout(name, sw, sh, bits)
    table["nv12"] = PlaneLayout("nv12", 1, 1, 8, semi_planar=True)
    table["p010le"] = PlaneLayout("p010le", 1, 1, 10, semi_planar=True)
    return table


LAYOUTS = _table()
_P010_SHIFT = 6  # p010le: 10 significant bits in the top of a 16-bit little-endian word


def supported_pix_fmt(name: str) -> bool:
    return name in LAYOUTS


def same_layout(a: str, b: str) -> bool:
    """Whether frames in pix_fmt `a` give the planes of `b` (nv12 those of yuv420p, p010le of yuv420p10le)."""
    if a == b:
        return supported_pix_fmt(a)
    la, lb = LAYOUTS.get(a), LAYOUTS.get(b)
    return la is not None and lb is not None and (la.shift_w, la.shift_h, la.bits) == (lb.shift_w, lb.shift_h, lb.bits)


def output_pix_fmt(source_pix_fmt: str, deep: bool) -> str:
    """The pix_fmt the file sink encodes by default: the source's chroma subsampling, 10-bit for a deep source."""
    sub = "444" if "444" in source_pix_fmt else "422" if "422" in source_pix_fmt else "420"
    return f"yuv{sub}p10le" if deep else f"yuv{sub}p"


def yuv_format(pix_fmt: str, width: int, height: int, colour: ColourDescription,
               chroma_loc: int) -> YuvFormat | None:
    """The format of `pix_fmt` planes of a `width` x `height` picture in `colour`: the one place a YUV picture's
    format is decided, for the decoder's pictures and the encoder's alike. None where the planes cannot be handed
    out (a pix_fmt without a plane layout, or a matrix the device conversion does not know)."""
    layout = LAYOUTS.get(pix_fmt)
    if layout is None:
        return None
    try:
        return YuvFormat(width, height, layout.shift_w, layout.shift_h, layout.bits, colour.matrix,
                         colour.full_range, chroma_loc, pix_fmt)
    except ValueError:
        return None


def layout_of(name: str) -> PlaneLayout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"{name} has no plane layout here; supported: {', '.join(sorted(LAYOUTS))}") from None


def _plane_view(plane: av.video.plane.VideoPlane, rows: int, columns: int, dtype: type) -> np.ndarray:
    """(rows, columns) of `dtype` over a plane's buffer, skipping each row's padding; shares the buffer."""
    item = np.dtype(dtype).itemsize
    flat = np.frombuffer(plane, dtype=dtype)
    return np.lib.stride_tricks.as_strided(flat, (rows, columns), (plane.line_size, item), writeable=False)


def planes_from_frame(frame: av.VideoFrame) -> list[np.ndarray]:
    """[Y, U, V] as 2-D arrays (uint8, or uint16 holding the sample values) that view the frame's buffers.

    The views keep the frame's buffers alive (numpy holds the buffer object), so the frame may be dropped.
    Only p010le is copied (shifted down to its 10-bit values).
    """
    layout = layout_of(frame.format.name)
    (h, w), (ch, cw), _ = layout.plane_shapes(frame.width, frame.height)
    y = _plane_view(frame.planes[0], h, w, layout.dtype)
    if not layout.semi_planar:
        return [y] + [_plane_view(frame.planes[i], ch, cw, layout.dtype) for i in (1, 2)]
    uv = _plane_view(frame.planes[1], ch, 2 * cw, layout.dtype)
    u, v = uv[:, 0::2], uv[:, 1::2]
    if layout.name == "p010le":
        return [y >> _P010_SHIFT, u >> _P010_SHIFT, v >> _P010_SHIFT]
    return [y, u, v]


_PROBE = 16  # a 16x16 probe: large enough for interior samples, cheap whatever the frame size
# (x, y) siting in luma pixels (as vsr.engine.colour.SITING) -> AVChromaLocation code.
_LOCATIONS = {(0.0, 0.5): 1, (0.5, 0.5): 2, (0.0, 0.0): 3, (0.5, 0.0): 4, (0.0, 1.0): 5, (0.5, 1.0): 6}


def chroma_location(frame: av.VideoFrame) -> int:
    """The AVChromaLocation code swscale applies to `frame` (2 = centred for "unspecified"): PyAV does not expose
    the field, so it is measured. A small frame inheriting `frame`'s properties (a scaled copy) is filled with a
    chroma pattern, upsampled by swscale to 4:4:4, and where the pattern lands says where swscale puts the
    samples. Call it once per stream; `frame` itself is not touched."""
    layout = layout_of(frame.format.name)
    if not (layout.shift_w or layout.shift_h):
        return 2  # nothing is subsampled: any answer is right
    planar = {(1, 1): "yuv420p", (1, 0): "yuv422p"}[layout.chroma_shift]
    probe = frame.reformat(width=_PROBE, height=_PROBE, format=planar)  # av_frame_copy_props keeps the location
    (ch, cw) = layout.plane_shapes(_PROBE, _PROBE)[1]
    # U alternates along x and V along y, so one interpolated sample per axis gives that axis's offset.
    _writable(probe.planes[0], _PROBE, _PROBE, np.uint8)[:] = 128
    _writable(probe.planes[1], ch, cw, np.uint8)[:] = (64 + 128 * (np.arange(cw) % 2))[None, :]
    _writable(probe.planes[2], ch, cw, np.uint8)[:] = (64 + 128 * (np.arange(ch) % 2))[:, None]
    full = probe.reformat(format="yuv444p", interpolation=ACCURATE)
    _, u, v = planes_from_frame(full)
    # Luma position 2 sits 2 - offset luma pixels, i.e. (2 - offset) / 2 chroma samples, from sample 0 (64):
    # the value there is 64 + 128 * (2 - offset) / 2 within sample 0..1, so the offset is read back directly.
    x_off = 0.0 if not layout.shift_w else 2.0 - 2 * (float(u[8, 2]) - 64) / 128
    y_off = 0.5 if not layout.shift_h else 2.0 - 2 * (float(v[2, 8]) - 64) / 128
    return _LOCATIONS.get((round(x_off * 2) / 2, round(y_off * 2) / 2), 2)


def _writable(plane: av.video.plane.VideoPlane, rows: int, columns: int, dtype: type) -> np.ndarray:
    item = np.dtype(dtype).itemsize
    flat = np.frombuffer(memoryview(plane), dtype=dtype)
    return np.lib.stride_tricks.as_strided(flat, (rows, columns), (plane.line_size, item))


def _as_samples(plane: np.ndarray, dtype: type) -> np.ndarray:
    # int16 planes from the device hold 0..2^bits-1, so viewing them as uint16 changes no value.
    if plane.dtype == np.int16 and dtype is np.uint16:
        return plane.view(np.uint16)
    if plane.dtype != dtype:
        raise TypeError(f"plane of {plane.dtype} for a {np.dtype(dtype).name} format")
    return plane


def frame_from_planes(planes: Sequence[np.ndarray], pix_fmt: str, colour: ColourDescription) -> av.VideoFrame:
    """An encoder-ready `pix_fmt` frame holding `planes` (Y, U, V), tagged like `vsr.io.colour.from_rgb`."""
    layout = layout_of(pix_fmt)
    height, width = planes[0].shape
    shapes = layout.plane_shapes(width, height)
    for plane, shape in zip(planes, shapes, strict=True):
        if plane.shape != shape:
            raise ValueError(f"{pix_fmt} {width}x{height} needs planes of {shapes}, got {[p.shape for p in planes]}")
    y, u, v = (_as_samples(p, layout.dtype) for p in planes)
    frame = av.VideoFrame(width, height, pix_fmt)
    (ch, cw) = shapes[1]
    if layout.semi_planar:
        shift = _P010_SHIFT if layout.name == "p010le" else 0
        _writable(frame.planes[0], height, width, layout.dtype)[:] = y << shift
        uv = _writable(frame.planes[1], ch, 2 * cw, layout.dtype)
        uv[:, 0::2], uv[:, 1::2] = u << shift, v << shift
    else:
        for plane, data, (rows, columns) in zip(frame.planes, (y, u, v), shapes, strict=True):
            _writable(plane, rows, columns, layout.dtype)[:] = data
    frame.colorspace = colour.matrix
    frame.color_range = colour.range
    frame.color_primaries = colour.primaries
    frame.color_trc = colour.trc
    return frame
