"""`eval --video` with the LR made as compressed-video SR papers make it (vsr/metrics/degrade.py: bicubic or
blur-downscale, then a real codec round trip) and scored with COMISR's protocol (vsr/metrics/protocol.py), on
tiny crops of Vid4 city."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vsr.errors import InputError
from vsr.metrics.degrade import Downscale, LrDegradation
from vsr.metrics.image_io import read_image, write_image
from vsr.metrics.imresize import imresize_uint8
from vsr.metrics.protocol import ScoringProtocol, comisr_window
from vsr.metrics.sequence import open_sequence
from vsr.metrics.temporal import TofMeter
from vsr.metrics.video_eval import score_sequence

from ..conftest import SHARED, run_cli

CITY = SHARED / "data" / "vid4" / "city"
BICUBIC_X4 = ["--model", "bicubic", "--scale", "4", "--no-progress"]


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    """Seven city frames cropped to 128x112 (LR 32x28)."""
    d = tmp_path_factory.mktemp("deg") / "city"
    d.mkdir()
    for p in sorted(CITY.iterdir())[:7]:
        write_image(d / p.name, read_image(p)[200:312, 240:368])
    return d


def _eval(tmp_path: Path, city: Path, *args: str) -> dict:
    out = tmp_path / f"r{len(list(tmp_path.glob('r*.json')))}.json"
    r = run_cli("eval", *BICUBIC_X4, "--video", str(city), *args, "--json", str(out))
    assert r.returncode == 0, r.stderr
    return json.loads(out.read_text())


def test_the_codec_is_applied_and_recorded(city: Path, tmp_path: Path) -> None:
    clean = _eval(tmp_path, city)
    assert clean["lr"] == {"downscale": "bicubic", "sigma": None, "codec": None} and clean["protocol"] == "standard"
    scores = [clean["mean"]["bicubic_psnr"]]
    for crf in (20, 40):
        report = _eval(tmp_path, city, "--lr-codec", f"libx264:crf={crf}")
        assert report["lr"] == {"downscale": "bicubic", "sigma": None, "codec": {
            "codec": "libx264", "crf": crf, "qp": None, "pix_fmt": "yuv420p", "preset": "medium", "fps": 10}}
        assert report["mean"]["frames"] == 7
        scores.append(report["mean"]["bicubic_psnr"])
    assert scores[0] > scores[1] > scores[2] + 1, scores
    blur = _eval(tmp_path, city, "--lr-degrade", "blur:1.5", "--lr-codec", "libx264:qp=30:pix_fmt=yuv444p")
    assert blur["lr"]["downscale"] == "blur" and blur["lr"]["sigma"] == 1.5
    assert blur["lr"]["codec"]["codec"] == "libx264" and blur["lr"]["codec"]["qp"] == 30
    assert blur["mean"]["bicubic_psnr"] != pytest.approx(scores[0], abs=0.1)


def _gaussian_reference(hr: np.ndarray, scale: int, sigma: float) -> np.ndarray:
    """COMISR's blur-down written out: a normalised Gaussian of 2 * round(4 sigma) + 1 taps (OpenCV's size for
    float images), mirrored borders without repeating the edge (OpenCV's default), every scale-th pixel."""
    r = round(4 * sigma)
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-x * x / (2 * sigma * sigma))
    g /= g.sum()
    padded = np.pad(hr.astype(np.float64), ((r, r), (r, r), (0, 0)), mode="reflect")
    rows = sum(g[i] * padded[i:i + hr.shape[0]] for i in range(len(g)))
    both = sum(g[i] * rows[:, i:i + hr.shape[1]] for i in range(len(g)))
    return np.clip(np.floor(both[::scale, ::scale] + 0.5), 0, 255).astype(np.uint8)


def test_blur_downscale_is_comisrs_gaussian_then_every_scale_th_pixel(city: Path) -> None:
    hr = read_image(sorted(city.iterdir())[0])
    lr = Downscale.parse("blur:1.5")(hr, 4)
    assert lr.shape == (28, 32, 3)
    assert np.abs(lr.astype(int) - _gaussian_reference(hr, 4, 1.5)).max() <= 1
    dot = np.zeros((32, 32, 3), np.uint8)
    dot[8, 12] = 255
    low = Downscale("blur", 1.0)(dot, 4)
    assert np.unravel_index(np.argmax(low[..., 0]), low.shape[:2]) == (2, 3)  # sampled from the top-left pixel


def _y(img: np.ndarray) -> np.ndarray:
    return 16 + (65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255


def _skimage_ssim(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """scikit-image's structural_similarity(y_true, y_pred, data_range=y_pred.max() - y_pred.min()) with its
    defaults, written out window by window: 7x7 windows that fit, sample variances and covariance."""
    win = np.lib.stride_tricks.sliding_window_view
    a, b = win(y_true, (7, 7)).reshape(-1, 49), win(y_pred, (7, 7)).reshape(-1, 49)
    r = y_pred.max() - y_pred.min()
    c1, c2 = (0.01 * r) ** 2, (0.03 * r) ** 2
    ma, mb = a.mean(1), b.mean(1)
    va, vb = a.var(1, ddof=1), b.var(1, ddof=1)
    cov = ((a - ma[:, None]) * (b - mb[:, None])).sum(1) / 48
    return float(np.mean((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2))))


def _nearest(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest")


def test_comisr_protocol_drops_two_frames_at_each_end_and_scores_the_centred_crop(city: Path) -> None:
    assert comisr_window(576, 704) == (16, 560, 16, 688)  # Vid4 city: 672x544, as COMISR's crop_8x8
    assert comisr_window(112, 128) == (8, 104, 16, 112)
    score = score_sequence(_nearest, open_sequence(city), 4, protocol=ScoringProtocol("comisr"))
    assert score.frames == 3
    hrs = [read_image(p) for p in sorted(city.iterdir())][2:5]
    lrs = [imresize_uint8(hr, 0.25) for hr in hrs]
    outs = [lr.repeat(4, axis=0).repeat(4, axis=1) for lr in lrs]
    bics = [imresize_uint8(lr, 4) for lr in lrs]

    def mean_psnr(images: list[np.ndarray]) -> float:
        errs = [np.mean((_y(o[8:104, 16:112].astype(float)) - _y(h[8:104, 16:112].astype(float))) ** 2)
                for o, h in zip(images, hrs, strict=True)]
        return float(np.mean([10 * np.log10(255 ** 2 / e) for e in errs]))

    assert score.psnr == pytest.approx(mean_psnr(outs), abs=1e-9)
    assert score.bicubic_psnr == pytest.approx(mean_psnr(bics), abs=1e-9)
    ssims = [_skimage_ssim(_y(h[8:104, 16:112].astype(float)), _y(o[8:104, 16:112].astype(float)))
             for o, h in zip(outs, hrs, strict=True)]
    assert score.ssim == pytest.approx(float(np.mean(ssims)), abs=1e-9)
    meter = TofMeter(["model"], crop=0)  # the pairs of the kept frames only: (2, 3) and (3, 4)
    for o, h in zip(outs, hrs, strict=True):
        meter.add(h[8:104, 16:112], {"model": o[8:104, 16:112]})
    assert meter.pairs == 2 and score.tof == pytest.approx(meter.result("model"), abs=1e-12)
    standard = score_sequence(_nearest, open_sequence(city), 4)
    assert standard.frames == 7 and standard.psnr != pytest.approx(score.psnr, abs=1e-3)


def test_comisr_protocol_through_the_cli(city: Path, tmp_path: Path) -> None:
    report = _eval(tmp_path, city, "--protocol", "comisr", "--lr-codec", "libx264:crf=25")
    assert report["protocol"] == "comisr" and report["mean"]["frames"] == 3
    short = tmp_path / "short"
    short.mkdir()
    for p in sorted(city.iterdir())[:4]:
        (short / p.name).write_bytes(p.read_bytes())
    r = run_cli("eval", *BICUBIC_X4, "--video", str(short), "--protocol", "comisr")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: the comisr protocol leaves out the first and last 2 frames: a sequence of 4 has none left"]


@pytest.mark.parametrize("args,message", [
    (["--lr-codec", "libx264:crf=99"], "--lr-degrade/--lr-codec: codec libx264 crf=99: expected 0 to 69"),
    (["--lr-codec", "h264"], "--lr-degrade/--lr-codec: codec 'h264': expected one of libx264, libx265, libsvtav1"),
    (["--lr-codec", "libx265:crf=28"], "codec round trip: libx265 needs frames of at least 64x64, not 32x28"),
    (["--lr-degrade", "blur:wide"], "--lr-degrade/--lr-codec: downscale 'blur:wide': expected blur:SIGMA"),
    (["--lr-degrade", "gauss"], "--lr-degrade/--lr-codec: downscale 'gauss': expected bicubic or blur:SIGMA"),
    (["--lr-degrade", "blur:0"], "--lr-degrade/--lr-codec: downscale blur:0.0: expected a sigma from 0.1 to 10"),
    (["--lr-codec", "libx264:crf=20", "--lr", "CITY"], "--lr-degrade and --lr-codec make the LR from the ground"),
])
def test_bad_lr_specs_are_one_line_errors(city: Path, tmp_path: Path, args: list[str], message: str) -> None:
    args = [str(city) if a == "CITY" else a for a in args]
    out = tmp_path / "r.json"
    r = run_cli("eval", *BICUBIC_X4, "--video", str(city), *args, "--json", str(out))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), r.stderr
    assert not out.exists()


def test_lr_flags_go_with_video(tmp_path: Path) -> None:
    r = run_cli("eval", *BICUBIC_X4, "--hr", str(tmp_path), "--lr-codec", "libx264:crf=20")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: --lr, --lr-degrade, --lr-codec, --protocol, --batch and --temporal-blend go with --video"]


def test_the_default_degradation_is_the_protocols_bicubic(city: Path) -> None:
    hrs = [read_image(p) for p in sorted(city.iterdir())[:2]]
    lows = list(LrDegradation.parse(None, "none").lr_frames(hrs, 4))
    assert all(np.array_equal(lo, imresize_uint8(h, 0.25)) for lo, h in zip(lows, hrs, strict=True))
    with pytest.raises(InputError, match="takes no sigma"):
        Downscale("bicubic", 1.0)
