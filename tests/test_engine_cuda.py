"""CUDA path: fp16 + channels_last, pinned buffers and overlapped copies. Runs only where CUDA is present."""

from __future__ import annotations

import pytest
import torch

from vsr.engine.device import probe_image, psnr_db
from vsr.engine.runner import Engine, EngineConfig
from vsr.models import load_model

from .conftest import SHARED, run_pipelined

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")


@pytest.fixture(scope="module")
def ntire23():
    return load_model(SHARED / "weights" / "ntire2023_safmn_x4.pth")[0]


def test_cuda_fp16_matches_cpu_fp32(ntire23):
    x = probe_image(64)
    cpu = Engine(ntire23, 4, EngineConfig(device="cpu", precision="fp32"))(x)
    gpu = Engine(ntire23, 4, EngineConfig(device="cuda", precision="auto"))
    assert gpu.precision == "fp16"
    y = gpu(x)
    assert y.device.type == "cpu" and y.dtype == torch.float32
    assert psnr_db(y, cpu) >= 40


def test_cuda_submit_collect_keeps_order_and_times_the_copies(ntire23):
    engine = Engine(ntire23, 4, EngineConfig(device="cuda", precision="fp16"))
    batches = [probe_image(48).repeat(2, 1, 1, 1) * s for s in (1.0, 0.5, 0.25, 0.75)]
    results = run_pipelined(engine, batches)
    for b, r in zip(batches, results, strict=True):
        assert psnr_db(r, engine(b)) >= 60
    times = engine.copy_times
    assert times.batches >= 4 and times.h2d_ms > 0 and times.d2h_ms > 0 and times.compute_ms > 0


def test_cuda_auto_batch_fits_memory(ntire23):
    engine = Engine(ntire23, 4, EngineConfig(device="cuda", precision="fp16"))
    assert 1 <= engine.suggest_batch(180, 320) <= 32


def test_cuda_tiled_matches_untiled(ntire23):
    x = probe_image(96)
    full = Engine(ntire23, 4, EngineConfig(device="cuda", precision="fp16"))(x)
    tiled = Engine(ntire23, 4, EngineConfig(device="cuda", precision="fp16", tile=48, tile_overlap=16))(x)
    assert psnr_db(tiled, full) >= 40
