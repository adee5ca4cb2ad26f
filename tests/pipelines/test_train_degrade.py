"""`train`'s codec degradation stage (vsr/training/degrade.py) on tiny inputs: clips that move, blur or bicubic,
noise, a real x264/x265 round trip; the clip cache; the YAML keys; a short real run with it on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vsr.errors import ConfigError
from vsr.metrics.evaluate import make_lr
from vsr.metrics.image_io import read_image
from vsr.metrics.quality import psnr
from vsr.training.config import TrainConfig, from_dict
from vsr.training.data import DataConfig, load_training_set, make_batch
from vsr.training.degrade import ClipCache, DegradeConfig, encoded_side, make_clip

from ..conftest import run_cli
from .test_train import SET5, small_images, tiny_config, write_yaml

BABY = read_image(SET5 / "baby.png")


def _clean(**kw) -> DegradeConfig:
    """The stage with bicubic, no noise, one codec: only what a test varies."""
    base = {"prob": 1.0, "blur_prob": 0.0, "noise_prob": 0.0, "codecs": ["libx264"], "presets": ["medium"]}
    return DegradeConfig(**{**base, **kw})


def test_a_clip_moves_and_its_pairs_are_aligned() -> None:
    still = make_clip(BABY, np.random.default_rng(1), _clean(motion=0, crf=[10, 10]), 2, 16)
    moving = make_clip(BABY, np.random.default_rng(1), _clean(motion=3, crf=[10, 10]), 2, 16)
    for clip in (still, moving):
        assert len(clip.lr) == len(clip.hr) == 5
        assert {lo.shape for lo in clip.lr} == {(16, 16, 3)} and {h.shape for h in clip.hr} == {(32, 32, 3)}
        for lo, hr in zip(clip.lr, clip.hr, strict=True):  # at CRF 10 the LR is close to its HR's bicubic LR
            assert psnr(lo[2:-2, 2:-2], make_lr(hr, 2)[2:-2, 2:-2]) > 30
    assert all(np.array_equal(h, still.hr[0]) for h in still.hr)
    assert len({h.tobytes() for h in moving.hr}) > 1
    assert encoded_side(16) == 64 and encoded_side(70) == 78  # libx265's floor; the crop plus 4 pixels a side


@pytest.mark.parametrize("codec", ["libx264", "libx265"])
def test_the_codec_degrades_more_at_higher_crf(codec: str) -> None:
    def error(crf: int) -> float:
        clip = make_clip(BABY, np.random.default_rng(3), _clean(codecs=[codec], crf=[crf, crf]), 4, 16)
        assert codec in clip.recipe and f"crf={crf}" in clip.recipe
        pairs = zip(clip.lr, clip.hr, strict=True)
        return float(np.mean([np.abs(lo.astype(int) - make_lr(h, 4)).mean() for lo, h in pairs]))

    assert error(10) + 1 < error(45)


def test_blur_and_noise_are_drawn_and_said() -> None:
    recipes = [make_clip(BABY, np.random.default_rng(i), DegradeConfig(prob=1.0, blur_prob=0.5, noise_prob=0.5,
                                                                        qp_prob=0.5), 2, 8).recipe
               for i in range(12)]
    assert any(r.startswith("blur:") for r in recipes) and any(r.startswith("bicubic") for r in recipes)
    assert any(" noise " in r for r in recipes) and any(" noise " not in r for r in recipes)
    assert any("qp=" in r for r in recipes) and any("crf=" in r for r in recipes)
    assert any("libx265" in r for r in recipes) and any("libx264" in r for r in recipes)


def test_batches_with_the_stage_and_the_cache(tmp_path: Path) -> None:
    examples, _ = load_training_set([small_images(tmp_path / "d", 3)], scale=2, lr_patch=8)
    off = DataConfig(lr_patch=8, batch_size=4)
    on = DataConfig(lr_patch=8, batch_size=4, degrade=_clean(prob=0.5, crf=[30, 30]))
    lr, hr = make_batch(examples, on, 2, 0, 0)
    assert lr.shape == (4, 3, 8, 8) and hr.shape == (4, 3, 16, 16)
    assert not torch.equal(make_batch(examples, off, 2, 0, 0)[0], lr)
    cached = DataConfig(lr_patch=8, batch_size=8, degrade=_clean(cache_slots=3, cache_iters=10))
    cache = ClipCache(cached.degrade, 2, 8, seed=0)
    for index in range(10):  # one generation: at most 3 clips for 80 samples
        make_batch(examples, cached, 2, 0, index, cache)
    assert 1 <= cache.made <= 3
    before = cache.made
    make_batch(examples, cached, 2, 0, 10, cache)  # a new generation makes its own
    assert before < cache.made <= before + 3
    # the stream does not depend on the cache's history: batch 12 from a fresh cache has the same HR targets
    late = make_batch(examples, cached, 2, 0, 12, ClipCache(cached.degrade, 2, 8, seed=0))
    assert torch.equal(late[1], make_batch(examples, cached, 2, 0, 12, cache)[1])


def test_the_yaml_keys_and_bad_values() -> None:
    cfg = from_dict(TrainConfig, {"data": {"lr_patch": 8, "degrade": {"prob": 0.5, "codecs": ["libx265"],
                                                                         "crf": [20, 30], "cache_slots": 64}}})
    assert cfg.data.degrade == DegradeConfig(prob=0.5, codecs=["libx265"], crf=[20, 30], cache_slots=64)
    assert cfg.to_dict()["data"]["degrade"]["codecs"] == ["libx265"]
    for bad, message in [({"codecs": ["libvpx-vp9"]}, "libx264 and/or libx265"), ({"crf": [30, 20]}, "[low, high]"),
                         ({"prob": 2.0}, "probability"), ({"presets": ["turbo"]}, "x264 preset names"),
                         ({"clip_frames": 0}, "clip_frames")]:
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
            DegradeConfig(**bad)


def test_a_short_run_with_the_stage_and_a_bad_config_through_the_cli(tmp_path: Path) -> None:
    data = small_images(tmp_path / "d", 4)
    cfg = tiny_config(data, tmp_path / "run.pth", iters=4)
    cfg["data"]["degrade"] = {"prob": 1.0, "clip_frames": 3, "cache_slots": 4, "cache_iters": 2}
    r = run_cli("train", "--config", str(write_yaml(tmp_path / "c.yaml", cfg)))
    assert r.returncode == 0, r.stderr
    log = json.loads((tmp_path / "run.json").read_text())
    assert log["config"]["data"]["degrade"]["prob"] == 1.0 and (tmp_path / "run.pth").is_file()
    cfg["data"]["degrade"] = {"prob": 1.0, "codecs": ["libvpx-vp9"]}
    cfg["out"] = str(tmp_path / "bad.pth")
    r = run_cli("train", "--config", str(write_yaml(tmp_path / "b.yaml", cfg)))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "data.degrade.codecs" in r.stderr
    assert not (tmp_path / "bad.pth").exists()
