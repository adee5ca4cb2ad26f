"""`compare`: the A/B picture (bicubic, models, ground truth, eval's PSNR) on a crop of Vid4 city, the same from a
given LR, the comparison videos (side by side, split screen), and bad usage."""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import numpy as np
import pytest

from vsr.metrics.evaluate import make_lr, mod_crop
from vsr.metrics.image_io import read_image, write_image

from ..conftest import SHARED, run_cli
from ..media_factory import decode_info, make_clip

CITY = SHARED / "data" / "vid4" / "city"
LIGHT = SHARED / "weights" / "ais2024_light_safmnpp_x4.pth"
BAR, GAP = 22, 4  # pipelines/compare/panels.py


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    """Two city frames cropped to 128x96 (names with spaces, as published)."""
    d = tmp_path_factory.mktemp("cmp") / "city"
    d.mkdir()
    for p in sorted(CITY.iterdir())[:2]:
        write_image(d / p.name, read_image(p)[200:296, 240:368])
    return d


def _psnrs(stdout: str) -> dict[str, float]:
    return {name: float(v) for name, v in re.findall(r"(\S+) ([\d.]+) dB", stdout)}


def test_picture_from_the_ground_truth_shows_eval_psnr_and_the_exact_crop(city: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.png"
    r = run_cli("compare", str(city), "--degrade", "--models", "bicubic", str(LIGHT), "--scale", "4",
                "--frame", "1", "--crop", "16,8,64,48", "-o", str(out))
    assert r.returncode == 0, r.stderr
    picture = read_image(out)
    assert picture.shape == (48 + BAR, 4 * 64 + 3 * GAP, 3)  # bicubic, two models, ground truth
    gt = mod_crop(read_image(sorted(city.iterdir())[1]), 4)
    np.testing.assert_array_equal(picture[BAR:, 3 * (64 + GAP):], gt[8:56, 16:80])
    shown = _psnrs(r.stdout)
    # eval's figures for that frame: a one-frame sequence of it
    one = tmp_path / "one"
    one.mkdir()
    write_image(one / "f.png", gt)
    report = tmp_path / "e.json"
    e = run_cli("eval", "--weights", str(LIGHT), "--video", str(one), "--json", str(report), "--no-progress")
    assert e.returncode == 0, e.stderr
    scores = json.loads(report.read_text())["sequences"]["one"]
    assert shown["ais2024_light_safmnpp_x4"] == pytest.approx(scores["psnr"], abs=0.005)
    assert shown["bicubic"] == pytest.approx(scores["bicubic_psnr"], abs=0.005)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_picture_from_a_given_lr_with_the_ground_truth_scores_the_same(city: Path, tmp_path: Path) -> None:
    gt_path = sorted(city.iterdir())[0]
    lr = tmp_path / "lr.png"
    write_image(lr, make_lr(mod_crop(read_image(gt_path), 4), 4))
    given = run_cli("compare", str(lr), "--gt", str(gt_path), "--models", str(LIGHT), "-o", str(tmp_path / "g.png"))
    made = run_cli("compare", str(city), "--degrade", "--models", str(LIGHT), "-o", str(tmp_path / "m.png"))
    assert given.returncode == 0 and made.returncode == 0, given.stderr + made.stderr
    assert _psnrs(given.stdout) == _psnrs(made.stdout)
    assert read_image(tmp_path / "g.png").shape == read_image(tmp_path / "m.png").shape == (96 + BAR, 3 * 128 + 2 * GAP,
                                                                                            3)


@pytest.mark.parametrize("layout,size", [("side", (2 * 128 + GAP, 72 + BAR)), ("split", (128, 72))])
def test_comparison_video_keeps_the_timestamps(tmp_path: Path, layout: str, size: tuple[int, int]) -> None:
    clip = make_clip(tmp_path / "in.mp4", 64, 36, frames=6)
    out = tmp_path / f"{layout}.mp4"
    r = run_cli("compare", str(clip), "--video", "--layout", layout, "--models", "bicubic", "--scale", "2",
                "-o", str(out))
    assert r.returncode == 0, r.stderr
    got, src = decode_info(out), decode_info(clip)
    assert got["frames"] == 6 and got["times"] == src["times"]
    assert got["size"] == size
    with av.open(str(out)) as c:
        first = next(c.decode(video=0)).to_ndarray(format="rgb24")
    if layout == "split":
        assert (first[:, 63:65] > 200).all()  # the divider


def test_bad_compare_usage_is_one_line_errors(city: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", 64, 36, frames=2)
    base = ["compare", str(city), "--models", "bicubic", "--scale", "4"]
    cases = [
        ([*base, "-o", str(tmp_path / "a.jpg")], "name it .png"),
        ([*base, "--layout", "split", "-o", str(tmp_path / "a.png")], "--layout split is for --video"),
        ([*base, "--crop", "1,2,3", "-o", str(tmp_path / "a.png")], "expected X,Y,W,H"),
        ([*base, "--frame", "9", "-o", str(tmp_path / "a.png")], "has no frame 9"),
        (["compare", str(city), "--models", "bicubic", str(LIGHT), "--scale", "2", "-o", str(tmp_path / "a.png")],
         "different factors"),
        (["compare", str(clip), "--video", "--degrade", "--models", "bicubic", "-o", str(tmp_path / "a.mp4")],
         "are for pictures"),
        ([*base, "--lr-codec", "libx264:crf=25", "-o", str(tmp_path / "a.png")], "add --degrade"),
        ([*base, "--degrade", "--lr-codec", "libx264:qp=-1", "-o", str(tmp_path / "a.png")], "expected 0 to 69"),
    ]
    for args, message in cases:
        r = run_cli(*args)
        assert r.returncode == 2 and message in r.stderr, (args, r.stderr)
        assert r.stderr.strip().count("\n") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_picture_with_a_codec_shows_frame_n_of_the_coded_clip(city: Path, tmp_path: Path) -> None:
    """Frame 1 of the clip blurred, downscaled and sent through x264 at CRF 35 as one clip (as eval --video makes
    it): compare's bicubic PSNR is that frame's, not the one of frame 1 coded alone, nor the clean one."""
    from vsr.metrics.degrade import LrDegradation
    from vsr.metrics.imresize import imresize_uint8
    from vsr.metrics.quality import psnr_y

    r = run_cli("compare", str(city), "--degrade", "--lr-degrade", "blur:1.5", "--lr-codec", "libx264:crf=35",
                "--models", "bicubic", "--scale", "4", "--frame", "1", "-o", str(tmp_path / "c.png"))
    assert r.returncode == 0, r.stderr
    shown = _psnrs(r.stdout)["bicubic"]
    hrs = [mod_crop(read_image(p), 4) for p in sorted(city.iterdir())]
    degradation = LrDegradation.parse("blur:1.5", "libx264:crf=35")

    def score(lr):
        return psnr_y(imresize_uint8(lr, 4), hrs[1], 4)

    in_clip = score(list(degradation.lr_frames(hrs, 4))[1])
    alone = score(next(degradation.lr_frames(hrs[1:], 4)))
    clean = score(make_lr(hrs[1], 4))
    assert shown == pytest.approx(in_clip, abs=0.005)
    assert abs(in_clip - alone) > 0.01 and clean > in_clip + 1
