"""Tiling: windows cover the frame, tiled output matches untiled (real checkpoints, real image), OOM fallback."""

from __future__ import annotations

import cv2
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vsr.engine.device import psnr_db
from vsr.engine.runner import Engine, EngineConfig
from vsr.engine.tiling import cache_tiles, run_with_tile_fallback, spans
from vsr.errors import VSRError
from vsr.models import load_model

from ..conftest import SHARED

CHECKPOINTS = ["ntire2023_safmn_x4.pth", "ntire2024_safmnpp_x4.pth", "ais2024_light_safmnpp_x4.pth"]


@pytest.mark.parametrize("size,tile,overlap", [(80, 48, 16), (96, 48, 16), (45, 16, 4), (30, 48, 16), (100, 7, 3)])
def test_spans_cover_the_axis_once_with_equal_windows(size, tile, overlap):
    parts = spans(size, tile, overlap)
    covered = [p for s in parts for p in range(s.core0, s.core1)]
    assert covered == list(range(size))
    assert len({s.win1 - s.win0 for s in parts}) == 1  # one window length: tiles stack into a batch
    for s in parts:
        assert 0 <= s.win0 <= s.core0 < s.core1 <= s.win1 <= size
        # every core keeps `overlap` pixels of context where the frame has them
        assert s.core0 - s.win0 >= min(overlap, s.core0) or s.win1 == size
        assert s.win1 - s.core1 >= min(overlap, size - s.core1) or s.win0 == 0


@pytest.mark.parametrize("h,w", [(540, 960), (360, 640), (300, 400), (1080, 1920), (181, 425)])
def test_cache_tiles_keep_every_window_within_the_area_with_little_overlap_work(h, w):
    th, tw = cache_tiles(h, w, 76_800, 16)
    ys, xs = spans(h, th, 16), spans(w, tw, 16)
    window = (ys[0].win1 - ys[0].win0) * (xs[0].win1 - xs[0].win0)
    assert window <= 76_800
    assert len(ys) * len(xs) * window <= 1.45 * h * w  # the overlap computed twice stays a modest overhead
    assert cache_tiles(180, 320, 76_800, 16) is None


def _set5_crop() -> torch.Tensor:
    """A 96x80 photo (Set5 baby, area-downscaled), (1, 3, 80, 96) in [0, 1]."""
    img = cv2.cvtColor(cv2.imread(str(SHARED / "data" / "set5" / "baby.png")), cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, (128, 128), interpolation=cv2.INTER_AREA)[16:96, 16:112]
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_tiled_output_matches_untiled_within_40db(checkpoint):
    module, spec = load_model(SHARED / "weights" / checkpoint)
    x = _set5_crop()
    full = Engine(module, spec.scale, EngineConfig(device="cpu", precision="fp32"))(x)
    tiled_engine = Engine(module, spec.scale, EngineConfig(device="cpu", precision="fp32", tile=48, tile_overlap=16))
    tiled = tiled_engine(x)
    assert tiled.shape == full.shape == (1, 3, 320, 384)
    assert psnr_db(tiled, full) >= 40.0
    # without overlap the seams show: the overlap is what buys the fidelity
    seams = Engine(module, spec.scale, EngineConfig(device="cpu", precision="fp32", tile=48, tile_overlap=0))(x)
    assert psnr_db(seams, full) < psnr_db(tiled, full)


def test_large_frames_on_cpu_are_tiled_for_the_cache_within_40db():
    img = cv2.cvtColor(cv2.imread(str(SHARED / "data" / "set5" / "baby.png")), cv2.COLOR_BGR2RGB)[100:400, 50:450]
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255  # 400x300: more than 76,800 pixels
    module, _ = load_model(SHARED / "weights" / "ntire2023_safmn_x4.pth")
    default = Engine(module, 4, EngineConfig(device="cpu", precision="fp32"))
    whole = Engine(module, 4, EngineConfig(device="cpu", precision="fp32", cpu_tile=0))
    assert "tiles" in default.describe() and "tile" not in whole.describe()
    area = default.step.tiling.cache_area
    assert cache_tiles(300, 400, area, 16) is not None and cache_tiles(180, 320, area, 16) is None
    assert psnr_db(default(x), whole(x)) >= 40


def test_tiles_batched_or_one_by_one_give_the_same_frames():
    module, spec = load_model(SHARED / "weights" / "ais2024_light_safmnpp_x4.pth")
    x = torch.cat([_set5_crop(), _set5_crop().flip(-1)])
    outs = [Engine(module, 4, EngineConfig(device="cpu", precision="fp32", tile=32, tile_overlap=8, tile_batch=b))(x)
            for b in (1, 5)]
    assert (outs[0] - outs[1]).abs().max().item() <= 1e-5


class AllPairs(nn.Module):
    """A tiny layer that needs memory quadratic in the pixel count (like global attention), then upsamples x2.

    Its scratch buffer is (H*W)^2 * 64 bytes: 27 TB for a 144x144 window (a real allocation failure on any
    machine), 2.6 GB of untouched virtual memory for an 80x80 window.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels = x.shape[-2] * x.shape[-1]
        scratch = torch.empty(pixels * pixels * 64, dtype=torch.uint8)
        del scratch
        return F.interpolate(x, scale_factor=2, mode="nearest")


def test_engine_tiles_after_a_real_out_of_memory_error_and_says_so_once():
    notices: list[str] = []
    engine = Engine(AllPairs(), 2, EngineConfig(device="cpu", precision="fp32", tile_overlap=8), notice=notices.append)
    x = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(0))
    y = engine(x)
    assert torch.equal(y, F.interpolate(x, scale_factor=2, mode="nearest"))
    assert engine.stats().fallback_tiles == {(1, 3, 512, 512): 64}  # 512 -> 256 -> 128 -> 64, for this shape
    assert len(notices) == 1 and "out of memory" in notices[0]
    engine(x)  # the tile that worked is kept: no new failure, no new notice
    assert len(notices) == 1


def test_tile_fallback_gives_up_with_a_clear_error_below_the_minimum():
    def run(tile: int) -> torch.Tensor:
        return torch.empty(2**50, dtype=torch.uint8)  # a petabyte: fails at every tile size

    with pytest.raises(VSRError, match="out of memory even with"):
        run_with_tile_fallback(run, 0, 256, notice=lambda m: None)


def test_tile_fallback_lets_other_errors_through():
    def run(tile: int) -> torch.Tensor:
        return torch.ones(2, 3) @ torch.ones(2, 3)  # a shape error, not memory

    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        run_with_tile_fallback(run, 0, 256, notice=lambda m: None)
