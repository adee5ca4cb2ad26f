"""HDR10 / HLG input through the real upscale: mastering display (SMPTE ST 2086) and content light level side data
and the BT.2020 PQ / HLG colour tags come out as they went in, or a notice says why not.

The values are read back from the decoded output frames' side data as FFmpeg lays them out (raw int32 pairs),
independently of `vsr.io.hdr`'s parser."""

from __future__ import annotations

import dataclasses
import struct
from fractions import Fraction
from pathlib import Path

import av
import pytest

from pipelines.common.notices import Notices
from pipelines.common.settings import UpscaleConfig
from pipelines.upscale import run_upscale
from vsr.io import probe
from vsr.io.hdr import ContentLight, HdrMetadata, hdr_plan, merge_options, read_hdr

from ..conftest import run_cli
from ..media_factory import HDR_LIGHT, HDR_MASTERING, make_hdr_clip

# AVMasteringDisplayMetadata of HDR_MASTERING: R, G, B, white point (x, y), min, max luminance, as num/den pairs,
# then has_primaries, has_luminance. HEVC/H.264 SEI units: chromaticity /50000, luminance /10000 cd/m2.
MASTERING_INTS = (34000, 50000, 16000, 50000, 13250, 50000, 34500, 50000, 7500, 50000, 3000, 50000,
                  15635, 50000, 16450, 50000, 5, 10000, 40000000, 10000, 1, 1)
LIGHT_INTS = (1234, 567)
BT2020_PQ, BT2020_HLG = (9, 9, 16, 1), (9, 9, 18, 1)  # (matrix bt2020nc, primaries bt2020, trc, limited range)


def _need(*codecs: str) -> None:
    missing = [c for c in codecs if c not in av.codecs_available]
    if missing:
        pytest.skip(f"this FFmpeg build lacks {', '.join(missing)}")


def _upscale(src: Path, out: Path, codec: str | None, preset: str | None = "ultrafast") -> list[str]:
    cfg = UpscaleConfig()
    cfg.model.name, cfg.model.scale = "bicubic", 2
    cfg.engine.precision = "fp32"
    cfg.encode.codec, cfg.encode.preset = codec, preset
    notices = Notices(echo=False)
    run_upscale(src, out, cfg, progress=False, notices=notices)
    return notices.items


def _frames(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as c:
        return list(c.decode(video=0))


def _raw(frame: av.VideoFrame, name: str, fmt: str) -> tuple[int, ...] | None:
    for sd in frame.side_data:
        if sd.type.name == name:
            return struct.unpack_from(fmt, bytes(sd))
    return None


def _tags(frame: av.VideoFrame) -> tuple[int, int, int, int]:
    return int(frame.colorspace), int(frame.color_primaries), int(frame.color_trc), int(frame.color_range)


def _hdr_notices(items: list[str]) -> list[str]:
    return [n for n in items if "HDR metadata" in n or "mastering" in n]


@pytest.mark.parametrize("codec,ext", [("libx265", ".mkv"), ("libx265", ".mp4"), ("libx264", ".mp4")])
def test_pq_mastering_display_and_light_level_kept_exactly(tmp_path: Path, codec: str, ext: str) -> None:
    _need(codec, "libx265")
    src = make_hdr_clip(tmp_path / "hdr10.mkv", "pq")
    out = tmp_path / f"out{ext}"
    notices = _upscale(src, out, codec)
    assert _hdr_notices(notices) == []
    frames = _frames(out)
    assert len(frames) == 6 and (frames[0].width, frames[0].height) == (128, 72)
    assert {f.format.name for f in frames} == {"yuv420p10le"}
    assert [_tags(f) for f in frames] == [BT2020_PQ] * 6
    # x265 repeats the SEI on every frame; x264 writes it with each IDR frame (here the first).
    carriers = frames if codec == "libx265" else [f for f in frames if f.key_frame]
    assert carriers and carriers[0] is frames[0]
    for f in carriers:
        assert _raw(f, "MASTERING_DISPLAY_METADATA", "<22i") == MASTERING_INTS
        assert _raw(f, "CONTENT_LIGHT_LEVEL", "<2I") == LIGHT_INTS
    info = probe(out)
    assert info.hdr == HdrMetadata(HDR_MASTERING, HDR_LIGHT)
    assert (info.colour.matrix, info.colour.primaries, info.colour.trc, info.colour.range) == BT2020_PQ


@pytest.mark.parametrize("codec,ext", [("libx265", ".mkv"), ("libx264", ".mp4")])
def test_hlg_tags_kept_and_no_side_data_invented(tmp_path: Path, codec: str, ext: str) -> None:
    _need(codec, "libx265")
    src = make_hdr_clip(tmp_path / "hlg.mkv", "hlg")
    out = tmp_path / f"out{ext}"
    notices = _upscale(src, out, codec)
    assert _hdr_notices(notices) == []
    frames = _frames(out)
    assert [_tags(f) for f in frames] == [BT2020_HLG] * 6
    assert {f.format.name for f in frames} == {"yuv420p10le"}
    assert all(read_hdr(f) == HdrMetadata() for f in frames)


def test_light_level_alone_is_kept(tmp_path: Path) -> None:
    _need("libx265")
    src = make_hdr_clip(tmp_path / "cll.mkv", "hlg", hdr=HdrMetadata(light=ContentLight(800, 120)))
    out = tmp_path / "out.mkv"
    assert _hdr_notices(_upscale(src, out, "libx265")) == []
    first = _frames(out)[0]
    assert _raw(first, "CONTENT_LIGHT_LEVEL", "<2I") == (800, 120)
    assert _raw(first, "MASTERING_DISPLAY_METADATA", "<22i") is None
    assert _tags(first) == BT2020_HLG


def test_av1_keeps_them_to_av1_precision(tmp_path: Path) -> None:
    """AV1's metadata OBU holds chromaticity in 1/65536 and min luminance in 1/16384 cd/m2: nearest values."""
    _need("libsvtav1", "libx265")
    src = make_hdr_clip(tmp_path / "hdr10.mkv", "pq")
    out = tmp_path / "out.mkv"
    assert _hdr_notices(_upscale(src, out, "libsvtav1", preset=None)) == []
    frames = _frames(out)
    assert [_tags(f) for f in frames] == [BT2020_PQ] * 6
    got = read_hdr(frames[0])
    assert got.light == HDR_LIGHT and got.mastering is not None
    m, want = got.mastering, HDR_MASTERING
    for a, b in zip((*m.red, *m.green, *m.blue, *m.white_point), (*want.red, *want.green, *want.blue,
                                                                   *want.white_point), strict=True):
        assert abs(a - b) <= Fraction(1, 2 * 65536)
    assert m.max_luminance == want.max_luminance
    assert abs(m.min_luminance - want.min_luminance) <= Fraction(1, 2 * 16384)


def test_encoder_that_cannot_carry_them_gives_a_notice(tmp_path: Path) -> None:
    """FFV1 has no HDR metadata of its own (and PyAV cannot set Matroska's): the colour tags still go through."""
    _need("ffv1", "libx265")
    src = make_hdr_clip(tmp_path / "hdr10.mkv", "pq")
    out = tmp_path / "out.mkv"
    notices = _hdr_notices(_upscale(src, out, "ffv1"))
    assert len(notices) == 1
    assert "not written: ffv1 cannot carry it" in notices[0]
    assert "MaxCLL 1234, MaxFALL 567" in notices[0]
    frames = _frames(out)
    assert [_tags(f) for f in frames] == [BT2020_PQ] * 6
    assert all(read_hdr(f) == HdrMetadata() for f in frames)


def test_webm_vp9_notice_through_the_cli(tmp_path: Path) -> None:
    _need("libvpx-vp9", "libx265")
    src = make_hdr_clip(tmp_path / "hdr10.mkv", "pq")
    out = tmp_path / "out.webm"
    r = run_cli("upscale", str(src), "-o", str(out), "--model", "bicubic", "--scale", "2", "--preset", "ultrafast")
    assert r.returncode == 0, r.stderr
    assert "HDR metadata of the input (mastering display 0.0005-4000 cd/m2, MaxCLL 1234, MaxFALL 567) is not " \
           "written: libvpx-vp9 cannot carry it" in r.stderr
    first = _frames(out)[0]
    assert _tags(first) == BT2020_PQ
    assert read_hdr(first) == HdrMetadata()


def test_plan_for_partial_metadata_and_merged_options() -> None:
    partial = HdrMetadata(dataclasses.replace(HDR_MASTERING, has_luminance=False), HDR_LIGHT)
    plan = hdr_plan("libx265", partial)
    assert plan.options == {"x265-params": "max-cll=1234,567"}
    assert plan.notice is not None and "lacks its luminance" in plan.notice
    assert hdr_plan("libx264", HdrMetadata()).options == {}
    assert merge_options({"x265-params": "a=1", "crf": "20"}, {"x265-params": "b=2"}) == \
        {"x265-params": "a=1:b=2", "crf": "20"}
