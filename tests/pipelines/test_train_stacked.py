"""`train` with data.stacked_frames (the stacked-frames experiment, vsr/models/stacked.py): batches whose centre
frame is the single-frame batch, a short real run, and scripts/stacked_frames.py on what it wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vsr.errors import ConfigError
from vsr.metrics.image_io import read_image, write_image
from vsr.metrics.sequence import open_sequence
from vsr.metrics.video_eval import score_sequence
from vsr.models import load_model
from vsr.training.data import DataConfig, load_training_set, make_batch
from vsr.training.degrade import ClipCache, DegradeConfig

from ..conftest import ROOT, SHARED, load_script, run_cli
from .test_train import small_images, tiny_config, write_yaml

SCRIPT = ROOT / "scripts" / "stacked_frames.py"
OFFICIAL = SHARED / "weights" / "ntire2023_safmn_x4.pth"


def _degrade(**kw) -> DegradeConfig:
    return DegradeConfig(**{"prob": 1.0, "blur_prob": 0.0, "noise_prob": 0.0, "codecs": ["libx264"],
                            "presets": ["veryfast"], "clip_frames": 3, "cache_slots": 2, "cache_iters": 10, **kw})


def test_a_stacked_batch_is_the_single_frame_batch_plus_neighbours(tmp_path: Path) -> None:
    examples, _ = load_training_set([small_images(tmp_path / "d", 3)], scale=2, lr_patch=8)
    one = DataConfig(lr_patch=8, batch_size=6, degrade=_degrade())
    three = DataConfig(lr_patch=8, batch_size=6, degrade=_degrade(), stacked_frames=3)
    cache = ClipCache(one.degrade, 2, 8, seed=0)  # shared: the codec is not bit-exact from encode to encode
    lr1, hr1 = make_batch(examples, one, 2, 0, 0, cache)
    lr3, hr3 = make_batch(examples, three, 2, 0, 0, cache)
    assert lr1.shape == (6, 3, 8, 8) and lr3.shape == (6, 9, 8, 8) and hr3.shape == (6, 3, 16, 16)
    assert torch.equal(lr3[:, 3:6], lr1) and torch.equal(hr3, hr1)  # same draws; the centre is the target's LR
    assert not torch.equal(lr3[:, :3], lr3[:, 3:6])  # the neighbours are other frames of the moving clip
    clean = DataConfig(lr_patch=8, batch_size=2, stacked_frames=3)  # a still image: the frame repeated
    lr, _ = make_batch(examples, clean, 2, 0, 0)
    assert torch.equal(lr[:, :3], lr[:, 3:6]) and torch.equal(lr[:, 6:], lr[:, 3:6])
    with pytest.raises(ConfigError, match="odd"):
        DataConfig(stacked_frames=2)
    with pytest.raises(ConfigError, match="h264_prob"):
        DataConfig(stacked_frames=3, h264_prob=0.5)


def _tiny_city(folder: Path, size: int) -> Path:
    folder.mkdir()
    for i, frame in enumerate(sorted((SHARED / "data" / "vid4" / "city").glob("*.png"))[:3]):
        write_image(folder / f"{i:03d}.png", read_image(frame)[200:200 + size, 300:300 + size])
    return folder


def test_the_script_scores_a_single_frame_model_as_eval_video_does(tmp_path: Path) -> None:
    seq = open_sequence(_tiny_city(tmp_path / "city", 128))
    script = load_script(SCRIPT)
    [got] = script.score_recipe({"official": script.load_stacked(OFFICIAL)}, seq, "clean", 4)
    single, _ = load_model(OFFICIAL)
    want = score_sequence(single.eval(), seq, 4)  # eval --video's scorer, MATLAB bicubic LR
    assert got.frames == 1 and got.score.psnr == pytest.approx(want.psnr, abs=1e-9)
    assert got.score.tof == pytest.approx(want.tof, abs=1e-9)


def test_a_short_stacked_run_writes_a_checkpoint_the_script_scores(tmp_path: Path) -> None:
    cfg = tiny_config(small_images(tmp_path / "d", 4), tmp_path / "k3.pth", iters=3)
    cfg["model"]["arch"] = "ntire23-safmn"
    cfg["data"]["stacked_frames"] = 3
    cfg["data"]["degrade"] = {"prob": 1.0, "clip_frames": 3, "cache_slots": 2, "cache_iters": 2}
    r = run_cli("train", "--config", str(write_yaml(tmp_path / "c.yaml", cfg)))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "k3.json").read_text())["config"]["data"]["stacked_frames"] == 3
    out = tmp_path / "scores.json"
    p = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "k3_last.pth"), "--seq",
                        str(_tiny_city(tmp_path / "city", 64)), "--lr", "clean", "crf25", "--fps-size", "32x32",
                        "--fps-runs", "1", "--threads", "1", "--json", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    data = json.loads(out.read_text())
    assert data["models"]["k3_last"]["frames"] == 3 and set(data["recipes"]) == {"clean", "crf25"}
    assert data["recipes"]["crf25"]["models"]["k3_last"]["frames"] == 3 and data["fps"]["k3_last"] > 0
