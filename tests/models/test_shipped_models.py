"""The models shipped in the package: loadable by name, of the family their name says, and as good on Set5 as
vsr/models/default/TRAINING.md promises (scored with `eval`'s protocol, fp32)."""

from __future__ import annotations

import pytest
import torch

from vsr.errors import ModelError
from vsr.metrics.evaluate import evaluate_folder
from vsr.models import SHIPPED, check_model_name, resolve_model

from ..conftest import SHARED, run_cli

SET5 = SHARED / "data" / "set5"
# The gain over MATLAB bicubic each shipped file must keep (Y PSNR, Set5): the targets, the efficient
# x4's own figure less 0.03 dB, and for the models trained for compressed video their clean figure less a little.
MIN_GAIN_DB = {"safmn-default-x2": 3.0, "safmn-default-x4": 1.9, "safmnpp-light-default-x2": 1.5,
               "safmnpp-light-default-x4": 1.0, "ntire23-safmn-robust-x4": 3.7}


def test_every_shipped_model_is_in_the_package_and_loads_by_name():
    assert set(SHIPPED) == set(MIN_GAIN_DB)
    for name, shipped in SHIPPED.items():
        assert shipped.available, f"{shipped.path} missing"
        loaded = resolve_model(name)
        assert (loaded.name, loaded.scale, loaded.arch.family) == (name, shipped.scale, shipped.family)
        check_model_name(name)
    light = resolve_model("safmnpp-light-default-x4").arch
    assert (light.dim, light.n_blocks, light.ffn_scale) == (32, 2, 1.5)  # the AIS 2024 real-time size


def test_a_shipped_name_with_another_scale_is_a_one_line_error():
    with pytest.raises(ModelError, match="model safmnpp-light-default-x2 is x2, but"):
        resolve_model("safmnpp-light-default-x2", scale=4)
    with pytest.raises(ModelError, match="unknown model 'safmnpp-light-default-x3'.*safmnpp-light-default-x4"):
        check_model_name("safmnpp-light-default-x3")


@pytest.mark.skipif(not SET5.is_dir(), reason="shared Set5 missing")
@pytest.mark.parametrize("name", sorted(MIN_GAIN_DB))
def test_shipped_model_beats_bicubic_on_set5_by_its_promised_margin(name):
    loaded = resolve_model(name)

    @torch.inference_mode()
    def upscale(x: torch.Tensor) -> torch.Tensor:
        return loaded.module(x)

    mean = evaluate_folder(upscale, SET5, loaded.scale).mean
    assert mean.psnr - mean.bicubic_psnr >= MIN_GAIN_DB[name]
    assert round(mean.psnr, 2) == SHIPPED[name].set5_psnr  # what `auto` and live rank the shipped models by
    assert mean.ssim > mean.bicubic_ssim


def test_models_and_cost_commands_name_the_shipped_models():
    listing = run_cli("models")
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[0]: line.split() for line in listing.stdout.splitlines() if line.strip()}
    for name, shipped in SHIPPED.items():
        params = sum(p.numel() for p in resolve_model(name).module.parameters())
        assert rows[name][1:5] == [shipped.family, str(shipped.scale), f"{params:,}", "in"]
    cost = run_cli("cost", "--model", "safmnpp-light-default-x4", "--input-size", "64x48")
    assert cost.returncode == 0, cost.stderr
    assert cost.stdout.startswith("safmnpp-light-default-x4: safmnpp-light x4 (dim 32, 2 blocks, ffn 1.5); "
                                  "input 64x48 -> output 256x192")
