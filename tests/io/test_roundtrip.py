"""The codec round trip (vsr/io/roundtrip.py) on a tiny crop of Vid4 city: real encoders, real decoders; it
compresses more at higher CRF/QP, predicts frames from each other, and takes only the specs it can honour."""

from __future__ import annotations

import numpy as np
import pytest

from vsr.errors import InputError
from vsr.io.roundtrip import CodecSpec, roundtrip_list
from vsr.metrics.evaluate import make_lr, mod_crop
from vsr.metrics.image_io import read_image
from vsr.metrics.quality import psnr

from ..conftest import SHARED

CITY = SHARED / "data" / "vid4" / "city"


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    """Six LR frames (64x64, libx265's smallest) of city: x4 MATLAB bicubic of a 256x256 crop, as eval makes them."""
    return [make_lr(mod_crop(read_image(p)[160:416, 200:456], 4), 4) for p in sorted(CITY.iterdir())[:6]]


def _psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(np.mean([psnr(x, y) for x, y in zip(a, b, strict=True)]))


@pytest.mark.parametrize("codec,key,levels", [("libx264", "crf", (10, 25, 40)), ("libx265", "crf", (10, 25, 40)),
                                              ("libx264", "qp", (10, 30, 50)), ("libsvtav1", "crf", (10, 35, 60))])
def test_the_round_trip_compresses_more_at_higher_levels(clip: list[np.ndarray], codec: str, key: str,
                                                         levels: tuple[int, int, int]) -> None:
    scores = []
    for level in levels:
        out = roundtrip_list(clip, CodecSpec(codec, **{key: level}))
        assert [(o.shape, o.dtype) for o in out] == [(c.shape, np.uint8) for c in clip]
        scores.append(_psnr(out, clip))
    assert scores[0] > scores[1] + 2 > scores[2] + 4, scores
    assert scores[0] < 60  # 4:2:0 and quantisation: never the input back


def test_444_keeps_the_colour_that_420_loses() -> None:
    """Red and blue columns one pixel wide: 4:2:0 averages their chroma away, 4:4:4 keeps it."""
    stripes = np.zeros((32, 32, 3), np.uint8)
    stripes[:, 0::2, 0] = 200
    stripes[:, 1::2, 2] = 200
    errors = {fmt: float(np.abs(roundtrip_list([stripes] * 2, CodecSpec("libx264", crf=5, pix_fmt=fmt))[1]
                                .astype(int) - stripes).mean()) for fmt in ("yuv420p", "yuv444p")}
    assert errors["yuv444p"] < 5 < 30 < errors["yuv420p"], errors


def test_frames_are_coded_as_one_clip_not_one_by_one(clip: list[np.ndarray]) -> None:
    """The last frame differs when it is predicted from the others (P/B-frames) and when it is coded alone."""
    spec = CodecSpec("libx264", crf=35)
    in_clip = roundtrip_list(clip, spec)[-1]
    alone = roundtrip_list(clip[-1:], spec)[0]
    assert not np.array_equal(in_clip, alone)


def test_specs_parse_and_describe_themselves() -> None:
    spec = CodecSpec.parse("libx265:qp=30:pix_fmt=yuv444p:preset=fast:fps=25")
    assert spec == CodecSpec("libx265", None, 30, "yuv444p", "fast", 25)
    assert CodecSpec.parse(spec.describe()) == spec
    assert spec.to_dict() == {"codec": "libx265", "crf": None, "qp": 30, "pix_fmt": "yuv444p", "preset": "fast",
                              "fps": 25}
    assert CodecSpec.parse("libx264").options() == {"preset": "medium"}  # x264's own default rate control


@pytest.mark.parametrize("text,message", [
    ("libvpx:crf=20", "expected one of libx264"),
    ("libx264:crf=20:qp=20", "crf or qp, not both"),
    ("libx264:crf=abc", "not a whole number"),
    ("libx264:crf=99", "expected 0 to 69"),
    ("libx264:bitrate=1M", "not KEY=VALUE"),
    ("libx264:crf", "not KEY=VALUE"),
    ("libx264:pix_fmt=yuv422p", "yuv420p or yuv444p"),
    ("libsvtav1:crf=30:pix_fmt=yuv444p", "4:2:0 only"),
    ("libx264:preset=turbo", "expected one of ultrafast"),
    ("libx264:fps=0", "expected 1 to 240"),
])
def test_bad_specs_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as exc:
        CodecSpec.parse(text)
    assert "\n" not in str(exc.value)


def test_frames_it_cannot_code_are_one_line_errors(clip: list[np.ndarray]) -> None:
    with pytest.raises(InputError, match="even width and height"):
        roundtrip_list([clip[0][:47]], CodecSpec("libx264", crf=20))
    with pytest.raises(InputError, match="frame 2 is 64x46"):
        roundtrip_list([clip[0], clip[1][:46]], CodecSpec("libx264", crf=20))
    with pytest.raises(InputError, match="libx265 needs frames of at least 64x64, not 64x62"):
        roundtrip_list([clip[0][:62]], CodecSpec("libx265", crf=20))
    odd = roundtrip_list([clip[0][:47]], CodecSpec("libx264", crf=20, pix_fmt="yuv444p"))  # 4:4:4 takes odd sizes
    assert odd[0].shape == (47, 64, 3)
