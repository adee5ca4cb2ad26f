"""Models trained for compressed video: `auto` picks them for a lossy file (and not for a lossless one), and
`--strength` blends one with its clean twin, weight by weight."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from vsr.errors import ModelError
from vsr.io.file.probe import probe
from vsr.models import REGISTRY, SHIPPED, resolve_model

from ..conftest import SHARED, run_cli
from ..media_factory import make_clip

ROBUST = {m.scale: m for m in SHIPPED.values() if m.robust}
OFFICIAL_X4 = SHARED / "weights" / "ntire2023_safmn_x4.pth"


@pytest.fixture
def twin_mirror(tmp_path, monkeypatch):
    """An empty weights cache and a local mirror holding the official x4 checkpoint under its upstream name."""
    if not OFFICIAL_X4.is_file():
        pytest.skip("shared weights missing")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(OFFICIAL_X4, mirror / REGISTRY["ntire23-safmn-x4"].url.rsplit("/", 1)[-1])
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VSR_WEIGHTS_URL", mirror.as_uri())
    return mirror


def _out(loaded, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return loaded.module(x)


def test_the_shipped_robust_model_is_small_and_its_twin_has_its_architecture():
    assert set(ROBUST) == {4}  # the robust light x2 did not beat the clean one (TRAINING.md): not shipped
    for shipped in ROBUST.values():
        assert shipped.available and shipped.path.stat().st_size < 600_000  # a few hundred KB
        twin = SHIPPED.get(shipped.clean) or REGISTRY[shipped.clean]
        assert twin.scale == shipped.scale and twin.family == shipped.family


def test_auto_answers_compressed_input_with_the_robust_model_and_clean_input_with_a_clean_one(monkeypatch, tmp_path):
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path / "cache"))  # no official checkpoint cached
    assert resolve_model("auto", scale=4, compressed=True).name == ROBUST[4].name
    assert resolve_model("auto", scale=4).name == "safmnpp-light-default-x4"
    assert resolve_model("auto", scale=2, compressed=True).name == "safmnpp-light-default-x2"  # none robust at x2


def test_strength_blends_weights_between_the_clean_twin_and_the_robust_model(twin_mirror):
    robust = ROBUST[4]
    x = torch.rand(1, 3, 20, 16, generator=torch.Generator().manual_seed(0))
    full, half, none = (resolve_model(robust.name, strength=s) for s in (1.0, 0.5, 0.0))
    twin = resolve_model(robust.clean)
    assert torch.equal(_out(full, x), _out(resolve_model(robust.name), x))
    assert torch.allclose(_out(none, x), _out(twin, x), atol=1e-5)
    a, b, c = _out(full, x), _out(half, x), _out(twin, x)
    assert 0 < (b - c).abs().mean() < (a - c).abs().mean()  # half-way is between the two, not either
    key = "feats.0.ccm.ccm.0.weight"
    mid = (full.module.state_dict()[key] + twin.module.state_dict()[key]) / 2
    assert torch.allclose(half.module.state_dict()[key], mid, atol=1e-6)
    assert half.name == f"{robust.name}@0.5"
    assert resolve_model("auto", scale=4, strength=0.3).name == f"{robust.name}@0.3"


def test_strength_needs_a_robust_model_a_weight_from_0_to_1_and_the_twin_offline_is_one_line(tmp_path, monkeypatch):
    with pytest.raises(ModelError, match="strength 1.5: expected a weight from 0 to 1"):
        resolve_model("auto", scale=4, strength=1.5)
    with pytest.raises(ModelError, match="is not one"):
        resolve_model("safmnpp-light-default-x2", strength=0.5)
    with pytest.raises(ModelError, match="no x2 model trained for compressed video"):
        resolve_model("auto", scale=2, strength=0.5)
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VSR_WEIGHTS_URL", "http://127.0.0.1:9/")  # nothing listens: offline
    with pytest.raises(ModelError) as err:
        resolve_model(ROBUST[4].name, strength=0.5)
    assert "\n" not in str(err.value)
    assert resolve_model(ROBUST[4].name, strength=1.0).name == ROBUST[4].name  # 1 needs no twin


def test_lossy_is_read_from_the_video_codec(tmp_path):
    lossy = make_clip(tmp_path / "a.mp4", width=32, height=24, frames=2)
    lossless = make_clip(tmp_path / "b.mkv", width=32, height=24, frames=2, codec="ffv1", options={})
    assert (probe(lossy).video_codec, probe(lossy).lossy) == ("h264", True)
    assert (probe(lossless).video_codec, probe(lossless).lossy) == ("ffv1", False)


def test_upscale_auto_runs_the_robust_model_on_a_lossy_file_and_the_clean_one_on_a_lossless_file(tmp_path):
    clips = {"lossy": make_clip(tmp_path / "a.mp4", width=32, height=24, frames=2),
             "lossless": make_clip(tmp_path / "b.mkv", width=32, height=24, frames=2, codec="ffv1", options={})}
    used = {}
    for kind, src in clips.items():
        report = tmp_path / f"{kind}.json"
        done = run_cli("upscale", str(src), "-o", str(tmp_path / f"{kind}-out.mkv"), "--scale", "4",
                       "--device", "cpu", "--no-progress", "--report", str(report),
                       env={**os.environ, "VSR_CACHE_DIR": str(tmp_path / "cache")})
        assert done.returncode == 0, done.stderr
        used[kind] = json.loads(report.read_text())["model"]
    assert used["lossy"] == ROBUST[4].name
    assert used["lossless"] == "safmnpp-light-default-x4"
    bad = run_cli("upscale", str(clips["lossy"]), "-o", str(tmp_path / "bad.mkv"), "--model",
                  "safmnpp-light-default-x2", "--strength", "0.5", "--no-progress")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bad.mkv").exists()
