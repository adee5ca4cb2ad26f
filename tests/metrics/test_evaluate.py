"""The SR evaluation protocol (`vsr eval`) on Set5 and on gray images, and `vsr image`."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from vsr.engine.runner import Engine, EngineConfig
from vsr.metrics.evaluate import evaluate_folder
from vsr.metrics.image_io import read_image, write_image
from vsr.metrics.imresize import imresize
from vsr.models import load_model

from ..conftest import SHARED, run_cli

SET5 = SHARED / "data" / "set5"
LIGHT = SHARED / "weights" / "ais2024_light_safmnpp_x4.pth"


def test_eval_reproduces_the_set5_reference_numbers(tmp_path):
    # Reference: shared/data/MANIFEST.md, computed there with BasicSR's MATLAB-style imresize and Y PSNR/SSIM.
    out = tmp_path / "set5.json"
    result = run_cli("eval", "--weights", str(LIGHT), "--hr", str(SET5), "--json", str(out), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert list(report) == ["model", "scale", "mean", "images"]
    assert report["scale"] == 4
    assert list(report["mean"]) == ["psnr", "ssim", "bicubic_psnr", "bicubic_ssim"]
    assert [i["name"] for i in report["images"]] == ["baby", "bird", "butterfly", "head", "woman"]
    assert all(list(i) == ["name", "psnr", "ssim", "bicubic_psnr", "bicubic_ssim"] for i in report["images"])
    mean = report["mean"]
    assert mean["bicubic_psnr"] == pytest.approx(28.43, abs=0.006)
    assert mean["bicubic_ssim"] == pytest.approx(0.8113, abs=0.00006)
    assert mean["psnr"] == pytest.approx(30.43, abs=0.006)
    assert mean["ssim"] == pytest.approx(0.8585, abs=0.00006)
    assert mean["psnr"] == pytest.approx(np.mean([i["psnr"] for i in report["images"]]))
    # the table on stdout shows every image and the means
    for name in ("baby", "woman", "mean"):
        assert name in result.stdout
    assert "30.43" in result.stdout and "28.43" in result.stdout


def _y_bt601(rgb: np.ndarray) -> np.ndarray:
    # BasicSR to_y_channel / rgb2ycbcr(y_only=True): 16 + (65.481 R + 128.553 G + 24.966 B) on R, G, B in [0, 1]
    x = rgb.astype(np.float64) / 255.0
    return 16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]


def _ssim_cv2(a: np.ndarray, b: np.ndarray) -> float:
    # BasicSR's _ssim: cv2.filter2D with the 11x11 Gaussian (sigma 1.5), the map kept where the window fits
    k = cv2.getGaussianKernel(11, 1.5)
    w = np.outer(k, k.transpose())

    def f(x: np.ndarray) -> np.ndarray:
        return cv2.filter2D(x, -1, w)[5:-5, 5:-5]

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = f(a), f(b)
    va, vb, cov = f(a * a) - ma**2, f(b * b) - mb**2, f(a * b) - ma * mb
    return float(np.mean((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2))))


def _psnr_ssim(sr_y: np.ndarray, hr_y: np.ndarray, crop: int) -> tuple[float, float]:
    a, b = sr_y[crop:-crop, crop:-crop], hr_y[crop:-crop, crop:-crop]
    return 10 * np.log10(255.0**2 / np.mean((a - b) ** 2)), _ssim_cv2(a, b)


def _matlab_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def test_a_gray_png_is_scored_as_basicsr_does_rgb_then_y(tmp_path):
    # BasicSR reads a gray PNG with cv2.IMREAD_COLOR (B = G = R = gray), runs the model on that RGB image and
    # scores Y = 16 + 219/255 gray, cropped by the scale. Computed here on its own and compared with `vsr eval`.
    gray = cv2.cvtColor(cv2.imread(str(SET5 / "bird.png")), cv2.COLOR_BGR2GRAY)[:, :282]  # 282: not a multiple of 4
    (tmp_path / "hr").mkdir()
    cv2.imwrite(str(tmp_path / "hr" / "bird.png"), gray)
    assert cv2.imread(str(tmp_path / "hr" / "bird.png"), cv2.IMREAD_UNCHANGED).ndim == 2  # a 1-channel file
    hr = cv2.imread(str(tmp_path / "hr" / "bird.png"), cv2.IMREAD_COLOR)[:288, :280, ::-1]
    lr = _matlab_uint8(imresize(hr.astype(np.float64), 0.25))
    bic = _matlab_uint8(imresize(lr.astype(np.float64), 4))
    module, arch = load_model(LIGHT)

    def model(x: torch.Tensor) -> torch.Tensor:  # plain NCHW in, as BasicSR's img2tensor gives
        return module(x.contiguous())

    with torch.inference_mode():
        out = model(torch.from_numpy(lr.copy()).permute(2, 0, 1)[None].float() / 255)[0]
    sr = (out.clamp(0, 1) * 255).round().permute(1, 2, 0).numpy().astype(np.uint8)  # BasicSR's tensor2img
    want_model = _psnr_ssim(_y_bt601(sr), _y_bt601(hr), 4)
    want_bic = _psnr_ssim(_y_bt601(bic), _y_bt601(hr), 4)

    got = evaluate_folder(model, tmp_path / "hr", 4).images[0]
    assert got.psnr == pytest.approx(want_model[0], abs=1e-6)
    assert got.bicubic_psnr == pytest.approx(want_bic[0], abs=1e-6)
    assert got.ssim == pytest.approx(want_model[1], abs=1e-6)
    assert got.bicubic_ssim == pytest.approx(want_bic[1], abs=1e-6)
    # The Engine (as `vsr eval` runs it) feeds channels_last: float noise flips a few of the 235k roundings.
    engine = Engine(module, arch.scale, EngineConfig("cpu", "fp32"))
    assert evaluate_folder(engine, tmp_path / "hr", 4).images[0].psnr == pytest.approx(want_model[0], abs=1e-3)
    # The old protocol took the gray as its own luma (and the model's output averaged back to one channel):
    # 1.3 dB lower, 20 log10(255/219) exactly for bicubic. Before this change the asserts above failed by that.
    old_sr = _matlab_uint8(sr.astype(np.float64).mean(axis=2))
    old_model = _psnr_ssim(old_sr.astype(np.float64), hr[..., 0].astype(np.float64), 4)[0]
    old_bic = _psnr_ssim(bic[..., 0].astype(np.float64), hr[..., 0].astype(np.float64), 4)[0]
    assert want_bic[0] - old_bic == pytest.approx(20 * np.log10(255 / 219), abs=1e-9)
    assert want_model[0] - old_model > 1.2
    # one path: the gray file and its RGB copy score the same
    (tmp_path / "rgb").mkdir()
    write_image(tmp_path / "rgb" / "bird.png", np.repeat(gray[..., None], 3, axis=2))
    c = evaluate_folder(model, tmp_path / "rgb", 4).images[0]
    assert (c.psnr, c.ssim, c.bicubic_psnr, c.bicubic_ssim) == (got.psnr, got.ssim, got.bicubic_psnr, got.bicubic_ssim)


def test_eval_bad_folder_is_a_one_line_error(tmp_path):
    for hr in (tmp_path / "missing", tmp_path):
        result = run_cli("eval", "--model", "bicubic", "--scale", "2", "--hr", str(hr))
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_image_command_colour_16_bit_gray_and_failures(tmp_path):
    src = tmp_path / "in.png"
    deep = (np.linspace(0, 65535, 12 * 10).reshape(12, 10)).astype(np.uint16)
    write_image(src, deep)
    before = src.read_bytes()
    result = run_cli("image", str(src), "-o", str(tmp_path / "out.png"), "--model", "bicubic", "--scale", "3")
    assert result.returncode == 0, result.stderr
    out = read_image(tmp_path / "out.png")
    assert out.dtype == np.uint16 and out.shape == (36, 30)
    assert abs(float(out.mean()) - float(deep.mean())) < 0.02 * 65535
    assert src.read_bytes() == before
    # the real model on a real colour image
    result = run_cli("image", str(SET5 / "head.png"), "-o", str(tmp_path / "head.png"), "--weights", str(LIGHT))
    assert result.returncode == 0, result.stderr
    assert read_image(tmp_path / "head.png").shape == (1120, 1120, 3)
    # failures: one line, non-zero, nothing written
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    for args in (["image", str(tmp_path / "bad.png"), "-o", str(tmp_path / "x.png")],
                 ["image", str(src), "-o", str(tmp_path / "nodir" / "x.png")],
                 ["image", str(src), "-o", str(src)],
                 ["image", str(src), "-o", str(tmp_path / "x.txt")],
                 ["image", str(src), "-o", str(tmp_path / "x.png"), "--tile", "-3"]):
        result = run_cli(*args, "--model", "bicubic")
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.png", "head.png", "in.png", "out.png"]
    assert src.read_bytes() == before
