"""`eval --video`: Vid4-style per-frame Y PSNR/SSIM and tOF, for the model and bicubic, on crops of the shared Vid4
`city` frames and on frames the tests make (odd sizes, gray, one frame, a video file, a given LR set), and the
temporal blend (exact when off)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from vsr.engine.temporal import TemporalBlend
from vsr.metrics.image_io import read_image, write_image
from vsr.metrics.temporal import TofMeter

from ..conftest import SHARED, run_cli
from ..media_factory import make_clip

CITY = SHARED / "data" / "vid4" / "city"
NTIRE23_X4 = SHARED / "weights" / "ntire2023_safmn_x4.pth"
BICUBIC_X2 = ["--model", "bicubic", "--scale", "2", "--no-progress"]


def _city_crops(folder: Path, frames: int = 3, box: tuple[int, int, int, int] = (200, 160, 160, 128)) -> Path:
    """The first `frames` city frames cropped to x, y, w, h (names kept, spaces included)."""
    x, y, w, h = box
    folder.mkdir()
    for p in sorted(CITY.iterdir())[:frames]:
        write_image(folder / p.name, read_image(p)[y:y + h, x:x + w])
    return folder


def _moving_frames(folder: Path, n: int, width: int, height: int, gray: bool = False) -> Path:
    """A textured picture that shifts right by one pixel a frame."""
    folder.mkdir()
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, size=(height, width + n, 3), dtype=np.uint8)
    for i in range(n):
        frame = np.ascontiguousarray(base[:, n - i:n - i + width])
        write_image(folder / f"f{i:03d}.png", frame[..., 1].copy() if gray else frame)
    return folder


def _eval(tmp_path: Path, *args: str) -> tuple[dict, str]:
    out = tmp_path / f"r{len(list(tmp_path.glob('r*.json')))}.json"
    r = run_cli("eval", *args, "--json", str(out))
    assert r.returncode == 0, r.stderr
    return json.loads(out.read_text()), r.stdout


def _matlab_bicubic(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB imresize(img, scale, 'bicubic') written out from its documented algorithm, independently of
    vsr/metrics/imresize.py: per output pixel, the antialiased cubic's taps at symmetric-padded positions."""
    def weights(n_in: int, n_out: int) -> np.ndarray:
        width = 4.0 / scale if scale < 1 else 4.0
        m = np.zeros((n_out, n_in))
        for o in range(n_out):
            u = (o + 1) / scale + 0.5 * (1 - 1 / scale)
            left = math.floor(u - width / 2)
            for j in range(left, left + math.ceil(width) + 2):
                d = (u - j) * (scale if scale < 1 else 1)
                a = abs(d)
                k = 1.5 * a**3 - 2.5 * a**2 + 1 if a <= 1 else (-0.5 * a**3 + 2.5 * a**2 - 4 * a + 2 if a <= 2 else 0)
                k *= scale if scale < 1 else 1
                idx = j - 1
                while idx < 0 or idx >= n_in:  # symmetric padding
                    idx = -idx - 1 if idx < 0 else 2 * n_in - idx - 1
                m[o, idx] += k
            m[o] /= m[o].sum()
        return m

    h, w = img.shape[:2]
    rows, cols = weights(h, round(h * scale)), weights(w, round(w * scale))
    out = np.einsum("oh,hwc->owc", rows, img.astype(np.float64))
    return np.einsum("pw,owc->opc", cols, out)


def test_video_eval_on_city_equals_image_eval_and_an_independent_bicubic(tmp_path: Path) -> None:
    if not NTIRE23_X4.exists():
        pytest.skip(f"{NTIRE23_X4} is not here")
    seq = _city_crops(tmp_path / "city")
    video, stdout = _eval(tmp_path, "--weights", str(NTIRE23_X4), "--video", str(seq), "--batch", "2",
                          "--no-progress")
    image, _ = _eval(tmp_path, "--weights", str(NTIRE23_X4), "--hr", str(seq))
    assert list(video) == ["model", "scale", "temporal", "lr", "protocol", "sequences", "mean"]
    assert video["temporal"] == "off" and video["protocol"] == "standard"
    assert video["lr"] == {"downscale": "bicubic", "sigma": None, "codec": None}
    city = video["sequences"]["city"]
    assert list(city) == ["psnr", "ssim", "tof", "bicubic_psnr", "bicubic_ssim", "bicubic_tof", "frames"]
    assert list(video["mean"]) == list(city) and city["frames"] == 3
    # the same engine, protocol and frames as image eval, batched by two: the same scores
    for key in ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim"):
        assert city[key] == pytest.approx(image["mean"][key], abs=1e-9)
    assert city["psnr"] > city["bicubic_psnr"] + 0.3
    assert city["tof"] is not None and city["bicubic_tof"] is not None and 0 < city["tof"] < 5
    assert "city" in stdout and f"{city['psnr']:.2f}" in stdout
    # the bicubic baseline against MATLAB's algorithm written out independently
    psnrs = []
    for p in sorted(seq.iterdir()):
        hr = read_image(p)
        lr = np.clip(np.floor(_matlab_bicubic(hr, 0.25) + 0.5), 0, 255)
        up = np.clip(np.floor(_matlab_bicubic(lr, 4.0) + 0.5), 0, 255)
        y = [16 + (a[4:-4, 4:-4] / 255.0) @ np.array([65.481, 128.553, 24.966]) for a in (up, hr.astype(float))]
        psnrs.append(10 * np.log10(255.0**2 / np.mean((y[0] - y[1]) ** 2)))
    assert city["bicubic_psnr"] == pytest.approx(float(np.mean(psnrs)), abs=0.05)


def test_odd_sizes_gray_frames_a_video_file_and_a_single_frame(tmp_path: Path) -> None:
    odd = _moving_frames(tmp_path / "odd seq", 4, 67, 45)
    gray = _moving_frames(tmp_path / "gray", 3, 40, 32, gray=True)
    one = _moving_frames(tmp_path / "one", 1, 40, 32)
    clip = make_clip(tmp_path / "clip.mp4", 64, 36, frames=5)
    report, stdout = _eval(tmp_path, *BICUBIC_X2, "--video", str(odd), str(gray), str(one), str(clip))
    seqs = report["sequences"]
    assert list(seqs) == ["odd seq", "gray", "one", "clip"]
    assert [seqs[n]["frames"] for n in seqs] == [4, 3, 1, 5] and report["mean"]["frames"] == 13
    assert seqs["one"]["tof"] is None and seqs["one"]["bicubic_tof"] is None  # no pair of frames
    assert all(seqs[n]["tof"] is not None and seqs[n]["tof"] >= 0 for n in ("odd seq", "gray", "clip"))
    assert "n/a" in stdout
    means = [seqs[n]["psnr"] for n in seqs]
    assert report["mean"]["psnr"] == pytest.approx(float(np.mean(means)))
    assert report["mean"]["tof"] == pytest.approx(float(np.mean([seqs[n]["tof"] for n in seqs if n != "one"])))


def test_a_given_lr_set_scores_as_the_made_one_and_mismatches_are_one_line_errors(tmp_path: Path) -> None:
    from vsr.metrics.evaluate import make_lr, mod_crop

    hr = _moving_frames(tmp_path / "hr", 3, 40, 32)
    lr = tmp_path / "lr"
    lr.mkdir()
    for p in sorted(hr.iterdir()):
        write_image(lr / p.name, make_lr(mod_crop(read_image(p), 2), 2))
    made, _ = _eval(tmp_path, *BICUBIC_X2, "--video", str(hr))
    given, _ = _eval(tmp_path, *BICUBIC_X2, "--video", str(hr), "--lr", str(lr))
    assert given["sequences"]["hr"] == made["sequences"]["hr"]
    assert given["lr"] == {"given": [str(lr)]}
    cases = [
        (["--video", str(hr), "--lr", str(hr)], "is not the x2 LR of 40x32"),
        (["--video", str(hr), "--lr", str(lr), str(lr)], "--lr needs one sequence per --video sequence"),
        (["--video", str(tmp_path / "nope")], "sequence not found"),
        (["--video", str(hr), "--temporal-blend", "1.5"], "--temporal-blend 1.5"),
        (["--hr", str(hr), "--batch", "2"], "go with --video"),
    ]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for args, message in cases:
        r = run_cli("eval", *BICUBIC_X2, *args, "--json", str(tmp_path / "bad.json"))
        assert r.returncode == 2 and message in r.stderr, (args, r.stderr)
        assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no report, no temporary file


def test_temporal_blend_is_exact_when_off_and_steadies_still_areas(tmp_path: Path) -> None:
    seq = _moving_frames(tmp_path / "seq", 4, 40, 32)
    plain, _ = _eval(tmp_path, *BICUBIC_X2, "--video", str(seq))
    off, _ = _eval(tmp_path, *BICUBIC_X2, "--video", str(seq), "--temporal-blend", "0")
    assert off["sequences"] == plain["sequences"] and off["temporal"] == "off"
    blended, _ = _eval(tmp_path, *BICUBIC_X2, "--video", str(seq), "--temporal-blend", "0.5")
    assert blended["temporal"].startswith("temporal blend 0.5")
    # Every pixel of this picture moves by more than the threshold: the blend must leave it alone.
    assert blended["sequences"]["seq"]["psnr"] == pytest.approx(plain["sequences"]["seq"]["psnr"], abs=0.2)

    rng = np.random.default_rng(1)
    lr = np.full((8, 8, 3), 100, np.uint8)
    blend = TemporalBlend(0.5)
    first = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert np.array_equal(blend(lr, first), first)  # nothing before: the model's frame
    second = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    out = blend(lr, second)  # a still input: half way to the previous output
    np.testing.assert_array_equal(out, np.rint((first.astype(float) + second) / 2).astype(np.uint8))
    moved = lr.copy()
    moved[:, :4] = 200  # the left half changes a lot
    third = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    out3 = blend(moved, third)
    assert np.array_equal(out3[:, :6], third[:, :6])  # moving: the model's pixels (past the resize's ramp)
    assert not np.array_equal(out3[:, 10:], third[:, 10:])


def test_tof_is_zero_for_the_ground_truth_and_grows_with_flicker() -> None:
    rng = np.random.default_rng(3)
    base = rng.integers(40, 200, size=(48, 72, 3)).astype(np.uint8)
    gts = [np.roll(base, i, axis=1) for i in range(4)]
    meter = TofMeter(["same", "flicker"], crop=2)
    for gt in gts:
        noise = rng.integers(-25, 26, size=gt.shape)
        meter.add(gt, {"same": gt, "flicker": np.clip(gt + noise, 0, 255).astype(np.uint8)})
    assert meter.pairs == 3
    assert meter.result("same") == 0.0
    assert meter.result("flicker") > 0.05
    single = TofMeter(["x"], crop=0)
    single.add(gts[0], {"x": gts[0]})
    assert single.result("x") is None
