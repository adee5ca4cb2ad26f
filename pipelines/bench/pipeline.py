"""Child: the real file pipeline (`upscale_file`) with the optimised engine."""

from __future__ import annotations

from typing import Any

from pipelines.bench import workload
from pipelines.bench.config import BenchJob
from pipelines.bench.measure import cpu_s
from pipelines.common.device_colour import colour_beside_model


def child_pipeline(job: BenchJob) -> dict[str, Any]:
    import torch

    from pipelines.common.notices import Notices
    from pipelines.common.settings import EngineSettings, PipelineSettings, UpscaleConfig
    from pipelines.upscale import PassOptions, upscale_file
    from vsr.io import EncodeSettings, probe

    if job.threads:
        torch.set_num_threads(job.threads)
    notices: list[str] = []
    module, scale, _, _ = workload.load(job)
    engine = workload.engine(job, module, scale, False, notices)
    # Warm up at the clip's frame size, as the model-only run does: oneDNN (and cuDNN) build their kernels for each
    # input shape on its first call, a one-off cost of up to a second that is not throughput.
    info = probe(job.clip)
    colour = job.colour
    workload.warm_up(engine, workload.model_batch(info.width, info.height, job.batch, scale,
                                                  colour_beside_model(colour, engine.device), info), 1)
    collected = Notices(echo=False)
    cpu0 = cpu_s()
    cfg = UpscaleConfig(engine=EngineSettings(batch=job.batch, colour=colour),
                        encode=EncodeSettings(codec=job.codec, preset=job.preset),
                        pipeline=PipelineSettings(hwdec="none"))
    opts = PassOptions(info=info, overwrite=True, progress=False,
                       labels={"model": job.model, "device": str(engine.device), "precision": engine.precision})
    report = upscale_file(job.clip, job.out, engine, scale, cfg, opts, collected)
    return {"fps": round(report.fps, 4), "frames": report.frames, "wall_s": report.wall_s,
            "cpu_ms_per_frame": round((cpu_s() - cpu0) * 1000 / max(1, report.frames), 3), "colour_setting": colour,
            "stages": report.stages, "peak_rss_mib": report.peak_rss_mib, "codec": report.codec,
            "packets_copied": report.packets_copied, "notices": notices + collected.items}
