"""`train` with the flicker term (loss.temporal_weight, data.temporal_pairs): batches of two following frames of a
real encoded clip, the loss that finds their shift, and a short real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vsr.errors import ConfigError
from vsr.training.config import LossConfig, TrainConfig
from vsr.training.data import DataConfig, load_training_set, make_batch
from vsr.training.degrade import ClipCache, DegradeConfig
from vsr.training.losses import temporal_l1

from ..conftest import run_cli
from .test_train import small_images, tiny_config, write_yaml

MOTION = 3


def _pairs_config(**kw) -> DataConfig:
    degrade = DegradeConfig(prob=1.0, blur_prob=0.0, noise_prob=0.0, codecs=["libx264"], presets=["veryfast"],
                            clip_frames=3, motion=MOTION, cache_slots=2, cache_iters=10)
    return DataConfig(lr_patch=8, batch_size=6, degrade=degrade, temporal_pairs=True, **kw)


def _shift(hr: torch.Tensor) -> tuple[int, int] | None:
    """The shift under which frame t + 1's HR is frame t's, searched independently of the loss."""
    t0, t1 = hr[:3], hr[3:]
    h, w = t0.shape[-2:]
    for dy in range(-MOTION, MOTION + 1):
        for dx in range(-MOTION, MOTION + 1):
            if torch.equal(t0[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)],
                           t1[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]):
                return dy, dx
    return None


def test_a_pair_batch_holds_two_following_frames_of_one_moving_clip(tmp_path: Path) -> None:
    examples, _ = load_training_set([small_images(tmp_path / "d", 3)], scale=2, lr_patch=8)
    cfg = _pairs_config()
    lr, hr = make_batch(examples, cfg, 2, 0, 0, ClipCache(cfg.degrade, 2, 8, seed=0))
    assert lr.shape == (6, 6, 8, 8) and hr.shape == (6, 6, 16, 16)
    shifts = [_shift(h) for h in hr]
    assert all(s is not None for s in shifts)  # the HR frames are windows of one picture, flips and all
    assert any(s != (0, 0) for s in shifts)  # and the windows moved
    assert not torch.equal(lr[:, :3], lr[:, 3:])  # two coded frames, not one twice


def test_the_flicker_term_is_zero_for_the_ground_truth_and_grows_with_changes_the_picture_lacks():
    picture = torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(0))
    target = torch.stack([picture[:, 2:34, 3:35], picture[:, 4:36, 1:33]])[None]  # moved by (2, -2)
    assert temporal_l1(target.clone(), target, MOTION) == 0
    flicker = target.clone()
    flicker[:, 1] += 0.05  # the second frame brighter everywhere: a flicker the picture does not have
    assert temporal_l1(flicker, target, MOTION) == pytest.approx(0.05, abs=1e-6)
    steady = target + 0.05  # the same error in both frames: no flicker
    assert temporal_l1(steady, target, MOTION) == pytest.approx(0.0, abs=1e-6)


def test_the_flicker_term_needs_pairs_and_pairs_need_clips() -> None:
    with pytest.raises(ConfigError, match="temporal_pairs"):
        TrainConfig(loss=LossConfig(temporal_weight=0.1))
    with pytest.raises(ConfigError, match="clip_frames"):
        DataConfig(temporal_pairs=True, degrade=DegradeConfig(clip_frames=1))


def test_a_short_run_with_the_flicker_term_trains_and_logs(tmp_path: Path) -> None:
    cfg = tiny_config(small_images(tmp_path / "d", 4), tmp_path / "t.pth", iters=3)
    cfg["data"]["temporal_pairs"] = True
    cfg["data"]["degrade"] = {"prob": 1.0, "clip_frames": 3, "cache_slots": 2, "cache_iters": 2}
    cfg["loss"] = {"temporal_weight": 0.5}
    r = run_cli("train", "--config", str(write_yaml(tmp_path / "c.yaml", cfg)))
    assert r.returncode == 0, r.stderr
    log = json.loads((tmp_path / "t.json").read_text())
    assert log["config"]["loss"]["temporal_weight"] == 0.5 and log["config"]["data"]["temporal_pairs"]
    assert (tmp_path / "t.pth").is_file()
