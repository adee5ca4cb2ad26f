"""Child: the pipeline's own I/O, with `NearestEngine` in place of the model (what the pipeline could reach)."""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.bench.config import BenchJob
from pipelines.bench.measure import cpu_s
from pipelines.common.device_colour import colour_beside_model
from vsr.engine.interface import EngineStats, ScheduledEngine


class NearestEngine(ScheduledEngine):
    """The I/O-only run's stand-in for the model, a `FrameEngine` on the CPU: integer RGB frames (N, H, W, 3) ->
    nearest-neighbour upscaled frames of the same dtype, or, when colour conversion runs beside the model (YUV
    pictures), each YUV plane upscaled the same way into the target format. No arithmetic: each row widened once,
    then copied `scale` times (~2 ms for a 1280x720 RGB frame here; one broadcast copy of all six axes took 12
    ms). `kinds` records what it was handed ("rgb", "planes")."""

    takes_yuv = True
    precision = "none"

    def __init__(self, scale: int) -> None:
        import torch

        from vsr.engine.schedulers import SyncScheduler

        self.scale = scale
        self.device = torch.device("cpu")
        self.frames = 0
        self.kinds: set[str] = set()
        self.scheduler = SyncScheduler(weakref.proxy(self), self.device)  # (no engine <-> scheduler cycle)

    def describe(self) -> str:
        return f"nearest x{self.scale} (I/O only)"

    def stats(self) -> EngineStats:
        return EngineStats(self.depth)

    def suggest_batch(self, height: int, width: int, cap: int = 32) -> int:
        return 1

    def run(self, x, batch):
        """The scheduler's step: the packed input -> the packed nearest-neighbour result; no guard flags."""
        import torch

        from vsr.engine.frames import YuvPictures

        if isinstance(batch, YuvPictures):
            self.kinds.add("planes")
            self.frames += len(batch.planes)
            return self._planes(batch), None
        self.kinds.add("rgb")
        n, h, w, c = x.shape
        self.frames += n
        up = self._repeat(x.numpy().reshape(n * h, w, c), self.scale)
        return torch.from_numpy(up.reshape(n, h * self.scale, w * self.scale, c)), None

    def repair(self, x, out, flags, batch) -> None:
        raise AssertionError("nearest-neighbour flags no frames")

    @staticmethod
    def _repeat(x: np.ndarray, s: int) -> np.ndarray:
        """(R, W, ...) -> (R * s, W * s, ...): columns repeated, then each widened row copied s times."""
        wide = np.repeat(x, s, axis=1)
        out = np.empty((x.shape[0], s) + wide.shape[1:], x.dtype)
        out[...] = wide[:, None]
        return out.reshape((x.shape[0] * s,) + wide.shape[1:])

    def _planes(self, batch):
        from vsr.engine.colour import pack_frames

        src, dst = batch.source, batch.target
        frames = []
        for planes in batch.planes:
            out = []
            for plane, shape in zip(planes, dst.plane_shapes, strict=True):
                h, w = plane.shape
                if shape == (h * self.scale, w * self.scale):
                    up = self._repeat(plane, self.scale)
                else:  # odd chroma sizes, another subsampling out: nearest rows and columns
                    rows = np.minimum(np.arange(shape[0]) * h // shape[0], h - 1)
                    cols = np.minimum(np.arange(shape[1]) * w // shape[1], w - 1)
                    up = plane[rows][:, cols]
                if dst.bits != src.bits:
                    up = up.astype(np.uint16)
                    up = up << (dst.bits - src.bits) if dst.bits > src.bits else up >> (src.bits - dst.bits)
                out.append(up.astype(dst.sample_dtype, copy=False))
            frames.append(out)
        return pack_frames(frames, dst)


def child_io(job: BenchJob) -> dict[str, Any]:
    """The pipeline's own I/O without the model: `upscale_file` on the same clip, codec and preset, with
    `NearestEngine` in place of the model, so decode, the host's colour conversions (where the pipeline runs them
    there: not when they run beside the model on a GPU) and the encode at the output size are the work the
    pipeline does, on the same threads."""
    import torch

    from pipelines.common.notices import Notices
    from pipelines.common.settings import EngineSettings, PipelineSettings, UpscaleConfig
    from pipelines.upscale import PassOptions, upscale_file
    from vsr.engine.device import resolve_device
    from vsr.io import EncodeSettings, probe

    if job.threads:
        torch.set_num_threads(job.threads)
    info = probe(job.clip)
    engine = NearestEngine(job.scale)
    # the measured configuration's choice, made for its device (NearestEngine itself is on the CPU)
    colour = ("device" if colour_beside_model(job.colour, resolve_device(job.device))
              else "host")
    collected = Notices(echo=False)
    cpu0 = cpu_s()
    cfg = UpscaleConfig(engine=EngineSettings(batch=job.batch, colour=colour),
                        encode=EncodeSettings(codec=job.codec, preset=job.preset),
                        pipeline=PipelineSettings(hwdec="none"))
    opts = PassOptions(info=info, overwrite=True, progress=False,
                       labels={"model": "none (nearest)", "device": "cpu"})
    report = upscale_file(job.clip, job.out, engine, job.scale, cfg, opts, collected)
    return {"fps": round(report.fps, 4), "frames": report.frames, "frames_upscaled": engine.frames,
            "colour": "device" if "planes" in engine.kinds else "host",
            "wall_s": report.wall_s, "cpu_ms_per_frame": round((cpu_s() - cpu0) * 1000 / max(1, report.frames), 3),
            "stages": report.stages, "output_size": report.output_size,
            "bytes_written": Path(job.out).stat().st_size, "codec": report.codec,
            "packets_copied": report.packets_copied, "notices": collected.items}
