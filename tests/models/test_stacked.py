"""The stacked-frames experiment's model (vsr/models/stacked.py): started from a single-frame checkpoint it is the
single-frame model, whatever the neighbours."""

from __future__ import annotations

import pytest
import torch

from vsr.errors import ModelError
from vsr.models import load_model
from vsr.models.stacked import StackedSAFMN, load_stacked, widen_first_conv
from vsr.training.checkpoint import init_from

from ..conftest import SHARED

OFFICIAL = SHARED / "weights" / "ntire2023_safmn_x4.pth"


def test_widened_from_the_official_checkpoint_it_is_the_single_frame_model() -> None:
    single, _ = load_model(OFFICIAL)
    stacked = load_stacked(OFFICIAL, frames=3)
    torch.manual_seed(0)
    x = torch.rand(2, 3, 12, 16)
    with torch.inference_mode():
        want = single.eval()(x)
        same = stacked(x.repeat(1, 3, 1, 1))
        other = stacked(torch.cat([torch.rand_like(x), x, torch.rand_like(x)], dim=1))  # zero neighbour weights
    assert same.shape == (2, 3, 48, 64)
    torch.testing.assert_close(same, want, atol=1e-6, rtol=0)
    torch.testing.assert_close(other, want, atol=1e-6, rtol=0)
    assert load_stacked(OFFICIAL).frames == 1
    fresh = StackedSAFMN(frames=3)  # `train --init` widens the first conv the same way
    assert init_from(fresh, str(OFFICIAL)).skipped == []
    torch.testing.assert_close(fresh.state_dict(), stacked.state_dict(), atol=0, rtol=0)


def test_widening_puts_the_weights_on_the_centre_frame_only() -> None:
    w = torch.randn(4, 3, 3, 3)
    wide = widen_first_conv({"to_feat.weight": w, "b": torch.ones(1)}, 5)["to_feat.weight"]
    assert wide.shape == (4, 15, 3, 3) and torch.equal(wide[:, 6:9], w)
    assert not wide[:, :6].any() and not wide[:, 9:].any()
    model = StackedSAFMN(8, 1, 2.0, 2, frames=3)
    assert model.adapt_checkpoint({"to_feat.weight": model.to_feat.weight})["to_feat.weight"].shape[1] == 9


def test_even_frames_and_a_mismatched_checkpoint_are_refused(tmp_path) -> None:
    with pytest.raises(ModelError, match="odd"):
        StackedSAFMN(frames=2)
    path = tmp_path / "k3.pth"
    torch.save({"params": StackedSAFMN(8, 1, 2.0, 2, frames=3).state_dict()}, path)
    assert load_stacked(path).frames == 3
    with pytest.raises(ModelError, match="3 stacked frames, not 5"):
        load_stacked(path, frames=5)
