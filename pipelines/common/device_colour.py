"""Where the file pipeline decodes and converts colour: NVDEC or the CPU; swscale on the host or beside the model.

On a GPU, YUV planes cross PCIe instead of RGB (8-bit 4:2:0: 1.5 bytes a pixel each way, against 3) and the
conversion runs on the GPU (vsr/engine/colour.py) instead of in single-threaded swscale beside the decoder.
The formats themselves are decided by vsr.io (`SourceInfo.yuv_format`, `VideoSink.yuv_format`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vsr.engine.interface import FrameEngine
from vsr.io import SourceInfo, VideoSink
from vsr.io.picture import YuvFormat

COLOUR_MODES = ("auto", "host", "device")


def colour_beside_model(colour: str, device: torch.device | None) -> bool:
    """Whether the `colour` setting converts beside a model on `device`: "device" always, "auto" on a GPU."""
    return colour == "device" or (colour == "auto" and _on_gpu(device))


def _on_gpu(device: torch.device | None) -> bool:
    return device is not None and device.type == "cuda"


def device_colour_target(colour: str, engine: FrameEngine, info: SourceInfo, sink: VideoSink,
                         notices: Callable[[str], None]) -> YuvFormat | None:
    """The YUV format the engine's results are wanted in when colour is converted beside the model, or None for
    the host path (swscale), with a notice saying why where the setting asked for the device."""
    if not colour_beside_model(colour, engine.device):
        return None
    why = ("the engine takes no YUV pictures" if not engine.takes_yuv else
           f"{info.pix_fmt} input" if info.yuv_format is None else
           f"{sink.pix_fmt} output of {sink.width}x{sink.height}" if sink.yuv_format is None else "")
    if why:
        notices(f"colour conversion on the host ({why} is not converted beside the model)")
        return None
    return sink.yuv_format


HW_DECODERS = ("auto", "none", "cuda")


def hw_decoder(hwdec: str, engine: FrameEngine) -> str | None:
    """The NVDEC device to decode on ("cuda", "cuda:N"), or None for the CPU decoder; auto: the engine's GPU."""
    if hwdec == "none":
        return None
    if hwdec == "auto":
        return str(engine.device) if _on_gpu(engine.device) else None
    return hwdec
