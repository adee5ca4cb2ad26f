"""The SR evaluation protocol (`vsr eval`) on Set5 and on gray images, and `vsr image`."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from vsr.engine.runner import Engine, EngineConfig
from vsr.metrics.evaluate import evaluate_folder
from vsr.metrics.image_io import read_image, write_image
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


def test_gray_images_are_scored_on_their_one_channel(tmp_path):
    # A gray image G and its RGB copy (G, G, G) go through the same LR and the same model input. Scored on
    # Y = 16 + 219/255 G, the RGB copy's errors are 219/255 of the gray ones: PSNR higher by 20 log10(255/219),
    # exactly for bicubic (same rounding in every channel), nearly for the model (its channels differ a little).
    gray_dir, rgb_dir = tmp_path / "gray", tmp_path / "rgb"
    gray_dir.mkdir()
    rgb_dir.mkdir()
    gray = cv2.cvtColor(read_image(SET5 / "bird.png"), cv2.COLOR_RGB2GRAY)[:100, :120]
    write_image(gray_dir / "bird.png", gray)
    write_image(rgb_dir / "bird.png", np.repeat(gray[..., None], 3, axis=2))
    module, arch = load_model(LIGHT)
    engine = Engine(module, arch.scale, EngineConfig("cpu", "fp32"))
    g = evaluate_folder(engine, gray_dir, 4).images[0]
    c = evaluate_folder(engine, rgb_dir, 4).images[0]
    shift = 20 * np.log10(255 / 219)
    assert c.bicubic_psnr - g.bicubic_psnr == pytest.approx(shift, abs=1e-9)
    assert c.psnr - g.psnr == pytest.approx(shift, abs=0.05)
    assert g.psnr > g.bicubic_psnr + 0.5 and g.ssim > g.bicubic_ssim


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
