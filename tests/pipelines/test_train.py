"""`train`: the L1 + FFT loss, data pairs, a short real run that lowers the loss, checkpoints, resume, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from vsr.errors import VSRError
from vsr.metrics.image_io import read_image, write_image
from vsr.metrics.imresize import imresize
from vsr.models import load_model
from vsr.training.checkpoint import export_ema, init_from, load_training_state
from vsr.training.config import TrainConfig, from_dict
from vsr.training.data import (
    BatchLoader,
    DataConfig,
    h264_roundtrip,
    load_training_set,
    make_batch,
    read_video_frames,
    sample_pair,
)
from vsr.training.losses import L1FFTLoss, fft_l1
from vsr.training.schedule import ScheduleConfig, learning_rate
from vsr.training.trainer import Trainer, build_model, output_paths

from ..conftest import SHARED, run_cli

SET5 = SHARED / "data" / "set5"


# -- loss ----------------------------------------------------------------------------------------------------------
def test_fft_loss_matches_numpy_fft():
    rng = np.random.default_rng(1)
    a, b = rng.random((2, 3, 12, 10)), rng.random((2, 3, 12, 10))
    fa, fb = np.fft.fft2(a, axes=(-2, -1)), np.fft.fft2(b, axes=(-2, -1))
    direct = np.mean(np.abs(np.stack([fa.real, fa.imag], -1) - np.stack([fb.real, fb.imag], -1)))
    got = fft_l1(torch.from_numpy(a).float(), torch.from_numpy(b).float()).item()
    assert got == pytest.approx(direct, rel=1e-5)
    total, l1, fft = L1FFTLoss(1.0, 0.05)(torch.from_numpy(a).float(), torch.from_numpy(b).float())
    assert l1.item() == pytest.approx(np.mean(np.abs(a - b)), rel=1e-5)
    assert total.item() == pytest.approx(l1.item() + 0.05 * direct, rel=1e-5)


def test_schedule_warmup_then_cosine_to_eta_min():
    cfg = ScheduleConfig(kind="cosine", warmup_iters=10, eta_min=1e-6)
    lrs = [learning_rate(1e-3, i, 110, cfg) for i in range(110)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert lrs[10] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(1e-6)
    assert all(x >= y for x, y in zip(lrs[10:-1], lrs[11:], strict=True))
    step = ScheduleConfig(kind="multistep", milestones=[5, 8], gamma=0.5)
    assert [learning_rate(1.0, i, 10, step) for i in (4, 5, 8)] == [1.0, 0.5, 0.25]


# -- data ----------------------------------------------------------------------------------------------------------
def small_images(folder: Path, n: int = 6, size: int = 40) -> Path:
    """`n` real-content images: crops of Set5 pictures, written as PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(sorted(SET5.glob("*.png"))[:n] * 2):
        if i >= n:
            break
        img = read_image(path)
        y, x = 30 + 7 * i, 40 + 5 * i
        write_image(folder / f"img{i}.png", img[y:y + size, x:x + size])
    return folder


def test_pairs_are_aligned_after_flips_and_rotations(tmp_path):
    examples, report = load_training_set([small_images(tmp_path / "d", 3, 48)], scale=2, lr_patch=12)
    assert report.images == 3 and not report.skipped
    cfg = DataConfig(lr_patch=12, batch_size=1)
    rng = np.random.default_rng(0)
    for _ in range(12):
        lr, hr = sample_pair(examples, rng, cfg, scale=2)
        assert lr.shape == (12, 12, 3) and hr.shape == (24, 24, 3)
        # Away from the crop border, the LR crop is the bicubic downscale of the HR crop (flipped/rotated alike).
        down = imresize(hr.astype(np.float64), 0.5)
        assert np.abs(down[3:-3, 3:-3] - lr[3:-3, 3:-3]).mean() < 2.0


def test_batches_depend_on_index_only(tmp_path):
    examples, _ = load_training_set([small_images(tmp_path / "d", 3)], scale=2, lr_patch=8)
    cfg = DataConfig(lr_patch=8, batch_size=3, workers=2, prefetch=3)
    with BatchLoader(examples, cfg, 2, seed=5, start=4) as loader:
        first = loader.next()
    lr, hr = make_batch(examples, cfg, 2, 5, 4)
    assert torch.equal(first[0], lr) and torch.equal(first[1], hr)
    assert lr.shape == (3, 3, 8, 8) and hr.shape == (3, 3, 16, 16) and 0 <= lr.min() and lr.max() <= 1


def test_h264_degradation_is_lossy_but_close():
    img = read_image(SET5 / "baby.png")[100:164, 100:164]
    out = h264_roundtrip(img, crf=30)
    assert out.shape == img.shape and out.dtype == np.uint8
    mse = np.mean((out.astype(float) - img) ** 2)
    assert 0 < mse and 10 * np.log10(255**2 / mse) > 25


def test_h264_option_degrades_the_lr_crops_only(tmp_path):
    examples, _ = load_training_set([small_images(tmp_path / "d", 3)], scale=2, lr_patch=16)
    clean = make_batch(examples, DataConfig(lr_patch=16, batch_size=1), 2, 0, 0)
    coded = make_batch(examples, DataConfig(lr_patch=16, batch_size=1, h264_prob=1.0, h264_crf=[35, 35]), 2, 0, 0)
    assert torch.equal(clean[1], coded[1])  # the same crop (the H.264 draws come after it), the same HR target
    diff = (clean[0] - coded[0]).abs().mean().item()
    assert 0 < diff < 0.1


def test_video_frames_are_sampled_across_the_whole_clip():
    clip = SHARED / "media" / "big_buck_bunny_432_433.webm"  # 24 frames
    frames = read_video_frames(clip, 4)
    assert len(frames) == 4 and frames[0].shape == (720, 1280, 3)
    assert np.abs(frames[0].astype(int) - frames[-1]).mean() > 1  # the first and the last differ


# -- a real short run ----------------------------------------------------------------------------------------------
def tiny_config(data: Path, out: Path, iters: int = 30, val: Path | None = None) -> dict:
    return {
        "iters": iters, "seed": 0, "ema_decay": 0.9, "threads": 1, "out": str(out), "log_every": 5, "save_every": 10,
        "data": {"paths": [str(data)], "lr_patch": 8, "batch_size": 4, "workers": 1, "prefetch": 2},
        "model": {"scale": 2, "dim": 8, "n_blocks": 2, "ffn_scale": 2.0},
        "optim": {"lr": 0.004}, "schedule": {"kind": "cosine", "warmup_iters": 2},
        "loss": {"l1_weight": 1.0, "fft_weight": 0.05},
        "val": {"folder": str(val) if val else None, "every": 15},
    }


def write_yaml(path: Path, cfg: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(cfg))
    return path


def test_train_command_lowers_loss_keeps_best_and_resumes(tmp_path):
    data = small_images(tmp_path / "data")
    val = small_images(tmp_path / "val", 2, 24)
    out = tmp_path / "run" / "m.pth"
    out.parent.mkdir()
    cfg = write_yaml(tmp_path / "c.yaml", tiny_config(data, out, 30, val))
    r = run_cli("train", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    assert "data: 6 images" in r.stdout and "val PSNR" in r.stdout
    log = json.loads(out.with_suffix(".json").read_text())
    curve = [p["loss"] for p in log["loss_curve"]]
    assert log["iteration"] == 30 and len(curve) == 6
    assert np.mean(curve[-2:]) < 0.8 * curve[0]
    assert [v["iteration"] for v in log["val_history"]] == [15, 30]
    # The best checkpoint loads by path alone, in the authors' layout.
    module, arch = load_model(out)
    assert (arch.family, arch.dim, arch.n_blocks, arch.scale) == ("safmn", 8, 2, 2)
    assert set(torch.load(out, weights_only=True)) == {"params", "params_ema"}
    last = out.with_name("m_last.pth")
    load_model(last)
    # The shippable copy holds the EMA weights once, under both keys, and gives the same output.
    small = tmp_path / "small.pth"
    export_ema(out, small)
    assert small.stat().st_size < 0.6 * out.stat().st_size
    shipped, _ = load_model(small)
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        assert torch.equal(shipped(x), module(x))
    # --resume continues from the saved iteration to the new total.
    r = run_cli("train", "--config", str(cfg), "--resume", str(last), "--iters", "34")
    assert r.returncode == 0, r.stderr
    assert "resumed from" in r.stdout and "at iteration 30" in r.stdout
    assert json.loads(out.with_suffix(".json").read_text())["iteration"] == 34


def test_resume_gives_the_same_next_step_loss(tmp_path):
    data = small_images(tmp_path / "data", 4)
    cfg = from_dict(TrainConfig, tiny_config(data, tmp_path / "a.pth", iters=6))
    examples, _ = load_training_set(cfg.data.paths, 2, cfg.data.lr_patch)

    def fresh() -> Trainer:
        torch.manual_seed(0)
        return Trainer(cfg, build_model(cfg), torch.device("cpu"))

    def losses(trainer: Trainer, until: int, paths: dict) -> list[float]:
        seen: list[float] = []
        with BatchLoader(examples, cfg.data, 2, cfg.seed, start=trainer.iteration) as loader:
            trainer.fit(loader, paths, until=until, on_step=lambda s: seen.append(s.loss))
        return seen

    straight = losses(fresh(), 6, output_paths(tmp_path / "a.pth"))
    first = fresh()
    paths = output_paths(tmp_path / "b.pth")
    head = losses(first, 3, paths)
    resumed = fresh()
    resumed.load_state_dict(load_training_state(paths["last"]))
    assert resumed.iteration == 3
    tail = losses(resumed, 6, paths)
    assert head == straight[:3]
    assert tail == pytest.approx(straight[3:], rel=1e-6, abs=1e-7)


def test_init_across_scales_skips_only_to_img(tmp_path):
    cfg2 = from_dict(TrainConfig, {"model": {"scale": 2, "dim": 8, "n_blocks": 2}})
    src = build_model(cfg2)
    path = tmp_path / "x2.pth"
    torch.save({"params": src.state_dict()}, path)
    cfg4 = from_dict(TrainConfig, {"model": {"scale": 4, "dim": 8, "n_blocks": 2}})
    dst = build_model(cfg4)
    report = init_from(dst, str(path))
    assert report.skipped and all(k.startswith("to_img.") for k in report.skipped)
    assert "to_img" in report.describe()
    assert torch.equal(dst.state_dict()["feats.1.ccm.ccm.0.weight"], src.state_dict()["feats.1.ccm.ccm.0.weight"])


# -- bad input -----------------------------------------------------------------------------------------------------
def video_without_frames(path: Path) -> Path:
    """A valid Matroska file whose video stream has no packets (only a short audio stream)."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("ffv1", rate=25)
        v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
        a = c.add_stream("pcm_s16le", rate=8000)
        a.layout = "mono"
        f = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        f.sample_rate, f.pts = 8000, 0
        for pkt in [*a.encode(f), *a.encode(None)]:
            c.mux(pkt)
    return path


def test_bad_inputs_are_skipped_and_counted(tmp_path):
    data = small_images(tmp_path / "data", 3)
    (data / "broken.png").write_bytes(b"not a png at all")
    write_image(data / "tiny.png", read_image(data / "img0.png")[:10, :10])
    video_without_frames(data / "empty.mkv")
    (data / "garbage.mp4").write_bytes(b"\x00" * 500)
    examples, report = load_training_set([data], scale=2, lr_patch=8)
    assert len(examples) == 3 and report.images == 3
    assert report.skipped["unreadable image"] == ["broken.png"]
    assert report.skipped["smaller than the 16x16 crop"] == ["tiny.png"]
    assert report.skipped["video with no frames"] == ["empty.mkv"]
    assert [k for k in report.skipped if k.startswith("unreadable video")] and report.n_skipped == 4


@pytest.mark.parametrize("case", ["empty", "all_bad"])
def test_bad_training_input_is_a_one_line_error(tmp_path, case):
    data = tmp_path / "data"
    data.mkdir()
    if case == "all_bad":
        (data / "broken.jpg").write_bytes(b"junk")
        video_without_frames(data / "empty.mkv")
    cfg = write_yaml(tmp_path / "c.yaml", tiny_config(data, tmp_path / "m.pth", iters=2))
    r = run_cli("train", "--config", str(cfg))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr
    expected = {"empty": "no images or videos", "all_bad": "no usable training data"}[case]
    assert expected in lines[0]
    assert not (tmp_path / "m.pth").exists()


def test_missing_data_and_unknown_config_keys_are_errors(tmp_path):
    from pipelines.train import load_config

    with pytest.raises(VSRError, match="training data not found"):
        load_training_set([tmp_path / "nowhere"], scale=2, lr_patch=8)
    cfg = tiny_config(tmp_path, tmp_path / "m.pth")
    cfg["optim"]["learning_rate"] = 1
    with pytest.raises(VSRError, match=r"unknown setting optim.learning_rate"):
        load_config(str(write_yaml(tmp_path / "c.yaml", cfg)))


def test_resume_from_a_weights_only_file_is_refused(tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"params": build_model(TrainConfig()).state_dict()}, path)
    with pytest.raises(VSRError, match="holds no training state"):
        load_training_state(path)


def test_model_arch_trains_another_family_from_a_shipped_model(tmp_path):
    """model.arch picks the family, model.init may name a shipped model: how the light defaults were made."""
    data = small_images(tmp_path / "data")
    cfg = tiny_config(data, tmp_path / "light.pth", iters=4)
    cfg["model"] = {"arch": "safmnpp-light", "scale": 4, "dim": 32, "n_blocks": 2, "ffn_scale": 1.5,
                    "init": "safmnpp-light-default-x2"}
    r = run_cli("train", "--config", str(write_yaml(tmp_path / "c.yaml", cfg)))
    assert r.returncode == 0, r.stderr
    assert "model: safmnpp-light x4 dim 32" in r.stdout + r.stderr
    assert "initialised 11/12 tensors from safmnpp-light-default-x2" in r.stdout + r.stderr
    module, arch = load_model(tmp_path / "light.pth")
    assert (arch.family, arch.scale, arch.dim, arch.n_blocks) == ("safmnpp-light", 4, 32, 2)


def test_unknown_model_arch_is_a_one_line_error_and_writes_nothing(tmp_path):
    data = small_images(tmp_path / "data")
    cfg = tiny_config(data, tmp_path / "m.pth", iters=2)
    cfg["model"]["arch"] = "resnet"
    r = run_cli("train", "--config", str(write_yaml(tmp_path / "c.yaml", cfg)))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: model.arch 'resnet' is not a model family (one of: safmn, ntire23-safmn, safmnpp, safmnpp-light)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "data"]
