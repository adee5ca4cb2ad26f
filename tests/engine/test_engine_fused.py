"""The fused inference blocks (vsr/engine/fused_blocks.py) compute what the paper-style blocks compute."""

from __future__ import annotations

import json

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from vsr.engine.device import probe_image, psnr_db
from vsr.engine.fast_layers import with_fast_layers
from vsr.engine.fused_blocks import FusedFMM, FusedNtireBlock, FusedSAFMNPPBlock
from vsr.models import load_model

from ..conftest import SHARED

CASES = json.loads((SHARED / "golden" / "cases.json").read_text()) if SHARED.is_dir() else []
FUSED = {"safmn": FusedFMM, "ntire23-safmn": FusedNtireBlock, "safmnpp": FusedSAFMNPPBlock,
         "safmnpp-light": FusedSAFMNPPBlock}


@pytest.mark.parametrize("case", CASES, ids=[c["case"].split("/")[-1] for c in CASES])
def test_fused_model_matches_the_golden_output(case):
    model, spec = load_model(SHARED / case["weights"])
    fused = with_fast_layers(model)
    blocks = [m for m in fused.modules() if isinstance(m, FUSED[spec.family])]
    assert len(blocks) == spec.n_blocks
    data = torch.load(SHARED / case["case"], weights_only=True)
    with torch.inference_mode():
        for fmt in (torch.contiguous_format, torch.channels_last):
            out = fused.to(memory_format=fmt)(data["input"].contiguous(memory_format=fmt))
            assert (out - data["output"]).abs().max().item() <= 1e-5
    # the original module is untouched
    assert not any(isinstance(m, tuple(FUSED.values())) for m in model.modules())


def test_the_fused_kernel_runs_on_cpu_fp32_and_not_under_autocast():
    model, _ = load_model(SHARED / "weights" / "ntire2023_safmn_x4.pth")
    fused = with_fast_layers(model).to(memory_format=torch.channels_last)
    x = probe_image(32).contiguous(memory_format=torch.channels_last)

    def pointwise_calls(autocast: bool) -> int:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast), \
                profile(activities=[ProfilerActivity.CPU]) as prof:
            fused(x)
        return sum(e.count for e in prof.key_averages() if e.key == "mkldnn::_convolution_pointwise")

    # every conv of the model goes to oneDNN directly (two of each block's with their GELU fused)
    assert pointwise_calls(False) == sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) == 58
    assert pointwise_calls(True) == 0  # bf16 autocast: the ordinary layers, which autocast knows


def test_fused_blocks_under_bf16_autocast_match_the_original():
    model, _ = load_model(SHARED / "weights" / "ntire2023_safmn_x4.pth")
    fused = with_fast_layers(model)
    x = probe_image(48)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        a, b = model(x).float(), fused(x).float()
    assert psnr_db(b, a) >= 40
