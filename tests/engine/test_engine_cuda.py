"""CUDA path: integer frames through pinned buffers and three streams, no host sync in submit, the guard's flags,
exact fp32, out-of-memory fallback, and the commands with --device cuda. Runs only where CUDA is present
(scripts/gpu_check.sh runs it on a GPU machine)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsr.engine.device import probe_frames, probe_image, psnr_db
from vsr.engine.runner import Engine, EngineConfig
from vsr.metrics.quality import psnr
from vsr.models import load_model

from ..conftest import SHARED, run_cli, run_pipelined
from ..media_factory import make_clip
from .test_engine_frames import FAMILIES, _RecordsFlags, checkerboard, real_frames

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")


@pytest.fixture(scope="module")
def ntire23():
    return load_model(SHARED / "weights" / "ntire2023_safmn_x4.pth")[0]


@pytest.mark.parametrize("weights", FAMILIES)
@pytest.mark.parametrize("precision", ["fp16", "bf16", "fp32"])
def test_every_family_and_precision_matches_cpu_fp32_on_real_frames(weights, precision):
    module, arch = load_model(SHARED / "weights" / weights)
    frames = real_frames(2, (64, 48))
    cpu = Engine(module, arch.scale, EngineConfig("cpu", "fp32"))(frames)
    gpu = Engine(module, arch.scale, EngineConfig("cuda", precision))
    out = gpu(frames)
    assert out.dtype == np.uint8 and out.shape == cpu.shape
    bound = {"fp16": 50, "bf16": 40, "fp32": 60}[precision]
    assert psnr(out, cpu) >= bound
    assert gpu.guard_recomputes == 0


def test_fp32_is_exact_tf32_off(ntire23):
    x = probe_image(64)
    cpu = Engine(ntire23, 4, EngineConfig("cpu", "fp32"))(x)
    gpu = Engine(ntire23, 4, EngineConfig("cuda", "fp32"))(x)
    assert (gpu - cpu).abs().max().item() <= 1e-4  # TF32 would give ~1e-3
    _RecordsFlags.seen.clear()
    Engine(_RecordsFlags(), 2, EngineConfig("cuda", "fp32"))(probe_frames(1, 8, 8))
    assert _RecordsFlags.seen[-1] == (False, False, True)


def test_pipelined_frames_equal_one_at_a_time_across_odd_sizes_and_shape_changes():
    module, _ = load_model(SHARED / "weights" / "ais2024_light_safmnpp_x4.pth")
    engine = Engine(module, 4, EngineConfig("cuda", "fp16"))
    batches = [probe_frames(n, h, w, seed=i) for i, (n, h, w) in
               enumerate([(2, 181, 321), (2, 181, 321), (1, 7, 13), (3, 181, 321), (1, 33, 64), (2, 33, 64)])]
    sequential = [engine(b) for b in batches]
    for a, b in zip(sequential, run_pipelined(engine, batches), strict=True):
        # cuDNN's benchmark may pick another algorithm for another batch size: fp16 is not batch-invariant
        assert a.shape == b.shape and np.abs(a.astype(np.int16) - b.astype(np.int16)).max() <= 1


def test_submit_never_synchronises_with_the_device(ntire23):
    engine = Engine(ntire23, 4, EngineConfig("cuda", "fp16"))
    x = probe_frames(2, 180, 320)
    engine(x)  # warm-up: cuDNN's benchmark and the allocator's first blocks may synchronise once per shape
    torch.cuda.set_sync_debug_mode("error")
    try:
        engine.submit(x)
        engine.submit(x)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    engine.collect()
    engine.collect()


def test_guard_flags_read_at_collect_recompute_only_the_overflowing_frame():
    module, _ = load_model(SHARED / "weights" / "ntire2024_safmnpp_x4.pth")
    engine = Engine(module, 4, EngineConfig("cuda", "fp16"))
    batch = np.stack([real_frames(1, (32, 32))[0], checkerboard(32)])
    results = run_pipelined(engine, [batch, batch[:1]])
    assert engine.guard_recomputes == 1
    assert np.array_equal(results[0][:1], results[1])
    exact = Engine(module, 4, EngineConfig("cpu", "fp32"))(batch[1:])
    assert psnr(results[0][1:], exact) >= 40


def test_compiled_engine_keeps_the_guard():
    module, _ = load_model(SHARED / "weights" / "ntire2024_safmnpp_x4.pth")
    engine = Engine(module, 4, EngineConfig("cuda", "fp16", compile=True))
    checker = checkerboard(32)[None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine(checker)
    assert engine.guard_recomputes == 1


def test_copies_are_integers_and_timed(ntire23):
    engine = Engine(ntire23, 4, EngineConfig("cuda", "fp16"))
    run_pipelined(engine, [probe_frames(2, 48, 64, seed=s) for s in range(4)])
    t = engine.stats().copy_times
    assert t.batches == 4 and t.h2d_ms > 0 and t.d2h_ms > 0 and t.compute_ms > 0
    assert t.h2d_bytes == 4 * 2 * 48 * 64 * 3 and t.d2h_bytes == 16 * t.h2d_bytes  # uint8 both ways


def test_auto_batch_fits_memory(ntire23):
    engine = Engine(ntire23, 4, EngineConfig("cuda", "fp16"))
    assert 1 <= engine.suggest_batch(180, 320) <= 32
    assert engine.guard_recomputes == 0  # the probe is image-like: it timed the model, not the fp32 fallback


def test_out_of_memory_falls_back_to_tiles_and_returns_every_frame(ntire23):
    x = probe_frames(2, 540, 960)
    full = Engine(ntire23, 4, EngineConfig("cuda", "fp16"))(x)
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    # Whole frames peak at about 0.6 GiB; in tiles the fp32 result (199 MB), its uint8 copy and one window's
    # activations fit in 384 MiB: the cap fails the first attempt and leaves room for the tiles.
    torch.cuda.set_per_process_memory_fraction(min(1.0, (torch.cuda.memory_allocated() + 384 * 2**20) / total))
    notes: list[str] = []
    try:
        engine = Engine(ntire23, 4, EngineConfig("cuda", "fp16"), notice=notes.append)
        y = engine(x)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    assert y.shape == full.shape and engine.stats().fallback_tiles and any("out of memory" in n for n in notes)
    assert psnr(y, full) >= 40


def test_tiled_matches_untiled(ntire23):
    x = probe_image(96)
    full = Engine(ntire23, 4, EngineConfig(device="cuda", precision="fp16"))(x)
    tiled = Engine(ntire23, 4, EngineConfig(device="cuda", precision="fp16", tile=48, tile_overlap=16))(x)
    assert psnr_db(tiled, full) >= 40


def test_upscale_bench_and_live_commands_on_cuda(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", width=64, height=36, frames=8)
    out, report = tmp_path / "out.mp4", tmp_path / "r.json"
    r = run_cli("upscale", str(clip), "-o", str(out), "--model", "bicubic", "--scale", "2", "--device", "cuda",
                "--batch", "4", "--no-progress", "--report", str(report))
    assert r.returncode == 0, r.stderr
    assert json.loads(report.read_text())["frames"] == 8
    weights = str(SHARED / "weights" / "ais2024_light_safmnpp_x4.pth")
    r = run_cli("upscale", str(clip), "-o", str(tmp_path / "o2.mp4"), "--weights", weights, "--device", "cuda",
                "--no-progress")
    assert r.returncode == 0, r.stderr
    bench = tmp_path / "b.json"
    r = run_cli("bench", "--model", "safmnpp-light-x4", "--weights", weights, "--input-size", "64x36", "--frames",
                "8", "--repeats", "1", "--device", "cuda", "--precision", "fp16", "--json", str(bench))
    assert r.returncode == 0, r.stderr
    assert json.loads(bench.read_text())["results"][0]["model_only_fps"] > 0
    rec = tmp_path / "rec.mp4"
    r = run_cli("live", "--source", "lavfi:testsrc2=size=64x36:rate=30", "--duration", "2", "--weights", weights,
                "--device", "cuda", "-o", str(rec))
    assert r.returncode == 0, r.stderr
    assert rec.stat().st_size > 0


def test_float_batches_still_work(ntire23):
    x = probe_image(48).repeat(2, 1, 1, 1)
    y = Engine(ntire23, 4, EngineConfig("cuda", "fp16"))(x)
    assert y.device.type == "cpu" and y.dtype == torch.float32 and y.shape == (2, 3, 192, 192)
    assert psnr_db(y, F.interpolate(x, scale_factor=4, mode="bicubic").clamp(0, 1)) >= 20


def test_yuv_planes_on_the_gpu_match_the_cpu():
    import av

    from vsr.engine.frames import YuvPictures
    from vsr.io import probe
    from vsr.io.picture import YuvPicture
    from vsr.io.planes import planes_from_frame, yuv_format

    clip = SHARED / "media" / "sample_with_increasing_timestamps_320w_240h_5s.mp4"
    info = probe(clip)
    src = info.yuv_format
    dst = yuv_format("yuv420p", 1280, 960, info.colour, info.chroma_location)
    with av.open(str(clip)) as c:
        pictures = [YuvPicture(planes_from_frame(f), src) for _, f in zip(range(3), c.decode(video=0), strict=False)]
    module, _ = load_model(SHARED / "weights" / "ais2024_light_safmnpp_x4.pth")
    cpu = Engine(module, 4, EngineConfig("cpu", "fp32"))(YuvPictures(pictures, dst))
    gpu_engine = Engine(module, 4, EngineConfig("cuda", "fp16"))
    gpu = run_pipelined(gpu_engine, [YuvPictures(pictures[:2], dst), YuvPictures(pictures[2:], dst)])
    gpu = gpu[0] + gpu[1]
    assert len(gpu) == len(cpu) == 3 and gpu_engine.stats().copy_times.h2d_bytes == 3 * 320 * 240 * 3 // 2
    for a, b in zip(gpu, cpu, strict=True):
        assert a.format == b.format == dst
        for pa, pb in zip(a.planes, b.planes, strict=True):
            assert psnr(pa, pb) >= 45
