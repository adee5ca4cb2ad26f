"""Where the file pipeline decodes and converts colour: NVDEC or the CPU; swscale on the host or beside the model.

On a GPU, YUV planes cross PCIe instead of RGB (8-bit 4:2:0: 1.5 bytes a pixel each way, against 3) and the
conversion runs on the GPU (vsr/engine/colour.py) instead of in single-threaded swscale beside the decoder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from vsr.engine.colour import YuvFormat
from vsr.io import SourceInfo, VideoSink
from vsr.io.planes import layout_of, supported_pix_fmt


@dataclass(frozen=True)
class PlaneFormats:
    """The YUV formats a batch has going into the engine (the input's) and coming out (the output's)."""

    source: YuvFormat
    target: YuvFormat
    pix_fmt: str  # the target's, the sink's pix_fmt


COLOUR_MODES = ("auto", "host", "device")


def colour_beside_model(colour: str, device: torch.device | None) -> bool:
    """Whether the `colour` setting converts beside a model on `device`: "device" always, "auto" on a GPU."""
    return colour == "device" or (colour == "auto" and _on_gpu(device))


def _on_gpu(device: torch.device | None) -> bool:
    return device is not None and device.type == "cuda"


def plane_formats(colour: str, engine: Callable, info: SourceInfo, sink: VideoSink, scale: int,
                  notices: Callable[[str], None]) -> PlaneFormats | None:
    """The formats for colour conversion beside the model, or None for the host path (swscale)."""
    device = getattr(engine, "device", None)
    if not colour_beside_model(colour, device):
        return None
    why = ("the engine takes no YUV batches" if not hasattr(engine, "submit") or device is None else
           f"{info.pix_fmt} input" if not supported_pix_fmt(info.pix_fmt) else
           f"{sink.pix_fmt} output of {sink.width}x{sink.height}" if not sink.takes_planes else "")
    if why:
        notices(f"colour conversion on the host ({why} is not converted beside the model)")
        return None
    c, src, dst = info.colour, layout_of(info.pix_fmt), layout_of(sink.pix_fmt)
    source = YuvFormat(info.width, info.height, src.shift_w, src.shift_h, src.bits, c.matrix, c.full_range,
                       info.chroma_location)
    target = YuvFormat(sink.width, sink.height, dst.shift_w, dst.shift_h, dst.bits, c.matrix, c.full_range,
                       info.chroma_location)
    return PlaneFormats(source, target, sink.pix_fmt)


HW_DECODERS = ("auto", "none", "cuda")


def hw_decoder(hwdec: str, engine: Callable) -> str | None:
    """The NVDEC device to decode on ("cuda", "cuda:N"), or None for the CPU decoder; auto: the engine's GPU."""
    if hwdec == "none":
        return None
    if hwdec == "auto":
        device = getattr(engine, "device", None)
        return str(device) if _on_gpu(device) else None
    return hwdec
