"""What a child runs: the model, its engine, the frames the pipeline would hand it, the warm-up."""

from __future__ import annotations

from pipelines.bench.config import ONNX_BACKENDS, BenchJob
from vsr.engine.interface import FrameEngine


def load(job: BenchJob):
    """(module, scale, weights label, random?) for a job; uncached registry models get random weights."""
    from vsr.models import SHIPPED, get_entry, resolve_model
    from vsr.models.weights import is_cached

    if job.weights:
        loaded = resolve_model(job.model, weights=job.weights)
        return loaded.module, loaded.scale, loaded.source, False
    if job.model in SHIPPED:  # inside the package: always the trained weights
        loaded = resolve_model(job.model)
        return loaded.module, loaded.scale, loaded.source, False
    entry = get_entry(job.model)
    if entry.arch is None:  # bicubic: no weights at all
        loaded = resolve_model(job.model, scale=4)
        return loaded.module, loaded.scale, "none", False
    if is_cached(entry):
        loaded = resolve_model(job.model)
        return loaded.module, loaded.scale, loaded.source, False
    import torch

    torch.manual_seed(0)
    return entry.arch.build().eval(), entry.arch.scale, "random", True


def engine(job: BenchJob, module, scale: int, plain: bool, notices: list[str]) -> FrameEngine:
    from vsr.engine.runner import Engine, EngineConfig

    if not plain and job.backend in ONNX_BACKENDS:
        import torch

        from vsr.engine.onnx_engine import OnnxEngine

        w, h = job.size
        # the TensorRT engine is built for this batch and size before the warm-up, not inside the timed loop
        return OnnxEngine(module, scale, job.device, job.threads or torch.get_num_threads(),
                          notice=notices.append, precision=job.precision, backend=job.backend,
                          max_batch=job.batch, input_shape=(job.batch, h, w))
    if plain:
        cfg = EngineConfig(job.device, "fp32", channels_last=False, fast_layers=False, cpu_tile=0, cpu_workers=1)
    else:
        cfg = EngineConfig(job.device, job.precision, channels_last=True, fast_layers=True,
                           tile=job.tile, tile_overlap=job.tile_overlap,
                           cpu_tile=job.cpu_tile, compile=job.compile,
                           cpu_workers=job.cpu_workers)
    return Engine(module, scale, cfg, notice=notices.append)


def frame(w: int, h: int, n: int, deep: bool = False):
    """`n` smooth, image-like frames (N, H, W, 3) uint8 (uint16 for `deep`), what the pipeline hands the engine
    (speed does not depend on content; a real-looking frame keeps it honest)."""
    from vsr.engine.device import probe_frames

    frames = probe_frames(n, h, w)
    return frames.astype("uint16") * 257 if deep else frames


def _yuv_formats(info, w: int, h: int, scale: int):
    """(source, target) YuvFormat of the pictures the pipeline hands the engine for this clip (as vsr.io decides
    them: its pix_fmt, matrix, range and chroma siting; the output at `scale` with the same subsampling, 10-bit
    for deep inputs, as the sink picks); without a clip, what the generated ones are (yuv420p, BT.709, limited
    range). None where the pipeline would convert on the host (a pix_fmt without a plane layout)."""
    from vsr.io.colour import ColourDescription
    from vsr.io.planes import layout_of, output_pix_fmt, yuv_format

    if info is None:
        pix_fmt, colour, loc = "yuv420p", ColourDescription(matrix=1, primaries=1, trc=1, range=1), 0
    else:
        pix_fmt, colour, loc = info.pix_fmt, info.colour, info.chroma_location
    source = yuv_format(pix_fmt, w, h, colour, loc)
    if source is None:
        return None
    out_fmt = output_pix_fmt(pix_fmt, deep=layout_of(pix_fmt).bits > 8)  # as the sink picks it
    return source, yuv_format(out_fmt, w * scale, h * scale, colour, loc)


def model_batch(w: int, h: int, n: int, scale: int, on_device: bool, info=None):
    """`n` image-like frames as the pipeline hands them to the engine: RGB frames (N, H, W, 3) uint8 (uint16 for a
    deep clip), or, where colour is converted beside the model, a batch of their YUV pictures in the clip's
    format."""
    frames = frame(w, h, n, deep=bool(info is not None and info.deep))
    formats = _yuv_formats(info, w, h, scale) if on_device else None
    if formats is None:
        return frames
    import torch

    from vsr.engine.colour import rgb_to_yuv
    from vsr.engine.frames import YuvPictures, frames_to_float
    from vsr.io.picture import YuvPicture

    source, target = formats
    planes = rgb_to_yuv(frames_to_float(torch.from_numpy(frames)), matrix=source.matrix,
                        full_range=source.full_range, bits=source.bits,
                        chroma_shift=(source.shift_w, source.shift_h), chroma_loc=source.chroma_loc)
    pictures = [YuvPicture([p[i].numpy().view(source.sample_dtype) for p in planes], source) for i in range(n)]
    return YuvPictures(pictures, target)


def warm_up(engine, x, batches: int) -> None:
    """`batches` batches through every CPU worker or CUDA slot (kernels are built per shape and per thread count;
    each CUDA slot allocates its pinned buffers on first use)."""
    from vsr.engine.interface import run_pipelined

    run_pipelined(engine, [x] * (batches * max(1, engine.depth)))
