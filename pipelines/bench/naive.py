"""Child: the naive loop (decode a frame, run the plain model, encode it), the baseline the pipeline is set against."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pipelines.bench import workload
from pipelines.bench.config import BenchJob


def child_naive(job: BenchJob) -> dict[str, Any]:
    """The loop most tools run: decode a frame, run the model (fp32, batch 1, NCHW) on the measured device, encode
    it; one thread."""
    import torch

    from vsr.engine.device import resolve_device
    from vsr.engine.frames import float_to_frames, frames_to_float
    from vsr.io import probe

    module, scale, _, _ = workload.load(job)
    device = resolve_device(job.device)
    module = module.eval().to(device)
    cuda = device.type == "cuda"

    def upscale(rgb: np.ndarray) -> np.ndarray:  # (H, W, 3) uint8 -> (sH, sW, 3) uint8, through `device`
        with torch.inference_mode():
            x = frames_to_float(torch.from_numpy(rgb)[None].to(device)).contiguous()  # NCHW, as plain code has it
            return float_to_frames(module(x), torch.uint8)[0].cpu().numpy()  # .cpu() waits for the GPU

    info = probe(job.clip)
    # the same warm-up at the clip's size as the other measurements
    upscale(workload.frame(info.width, info.height, 1)[0])
    if cuda:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    frames, busy = _decode_upscale_encode(job, scale, upscale)
    wall = time.perf_counter() - start
    return {"fps": round(frames / wall, 4), "frames": frames, "wall_s": round(wall, 3), "device": str(device),
            "stages": {k: {"busy_s": round(v, 3), "wait_s": 0.0} for k, v in busy.items()},
            "model_share": round(busy["model"] / wall, 4), "notices": []}


def _decode_upscale_encode(job: BenchJob, scale: int, upscale) -> tuple[int, dict[str, float]]:
    """One frame at a time through decode, `upscale` and encode (audio copied); frames written and time per step."""
    import av

    busy = {"decode": 0.0, "model": 0.0, "encode": 0.0}
    frames = 0
    with av.open(job.clip) as inp, av.open(job.out, "w") as out:
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0] if inp.streams.audio else None
        vout = out.add_stream(job.codec, rate=vin.average_rate or 25)
        vout.width, vout.height, vout.pix_fmt = vin.width * scale, vin.height * scale, "yuv420p"
        vout.codec_context.time_base = vin.time_base
        vout.codec_context.options = {"preset": job.preset}
        aout = out.add_stream_from_template(ain) if ain is not None else None
        streams = [vin] + ([ain] if ain is not None else [])
        t = time.perf_counter()
        for packet in inp.demux(*streams):
            if packet.stream.type == "audio":
                if packet.dts is not None:
                    packet.stream = aout
                    out.mux(packet)
                continue
            for frame in packet.decode():
                rgb = frame.to_ndarray(format="rgb24")
                busy["decode"] += time.perf_counter() - t
                t = time.perf_counter()
                y = upscale(rgb)
                busy["model"] += time.perf_counter() - t
                t = time.perf_counter()
                of = av.VideoFrame.from_ndarray(y, format="rgb24")
                of.pts, of.time_base = frame.pts, frame.time_base
                for p in vout.encode(of):
                    out.mux(p)
                frames += 1
                busy["encode"] += time.perf_counter() - t
                t = time.perf_counter()
        for p in vout.encode(None):
            out.mux(p)
        busy["encode"] += time.perf_counter() - t
    return frames, busy
