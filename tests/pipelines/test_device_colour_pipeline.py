"""The file pipeline with colour converted beside the model (`--colour device`: YUV planes to the engine, the
path a GPU takes), run here on the CPU against the host path (swscale): the same frames, timestamps and audio,
pictures within a level or two, 8- and 10-bit, 4:2:0 and 4:4:4, the formats it cannot take falling back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.common.notices import Notices
from pipelines.common.settings import UpscaleConfig
from pipelines.upscale import run_upscale
from vsr.io import Frame, VideoSource, probe
from vsr.io.picture import RgbPicture, YuvPicture

from ..conftest import SHARED
from ..media_factory import AudioSpec, decode_info, frame_rgb, make_clip, stream_packets

LIGHT = str(SHARED / "weights" / "ais2024_light_safmnpp_x4.pth")


def upscale(src: Path, out: Path, colour: str, weights: str | None = None, **encode) -> tuple[dict, list[str]]:
    cfg = UpscaleConfig()
    if weights:
        cfg.model.weights = weights
    else:
        cfg.model.name, cfg.model.scale = "bicubic", 2
    cfg.engine.precision, cfg.engine.colour = "fp32", colour
    cfg.encode.preset, cfg.encode.crf = "ultrafast", encode.pop("crf", 4)
    for key, value in encode.items():
        setattr(cfg.encode, key, value)
    notices = Notices(echo=False)
    report = run_upscale(src, out, cfg, progress=False, notices=notices)
    return report.__dict__, notices.items


def decoded_rgb(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([frame_rgb(f) for f in c.decode(video=0)]).astype(np.float64)


@pytest.mark.parametrize("pix_fmt,codec,suffix", [("yuv420p", "libx264", ".mp4"), ("yuv444p", "libx264", ".mkv"),
                                                  ("yuv420p10le", "libx264", ".mkv")])
def test_device_colour_matches_the_host_path(tmp_path, pix_fmt, codec, suffix):
    src = make_clip(tmp_path / f"in{suffix}", width=64, height=48, frames=5, pix_fmt=pix_fmt, codec=codec, matrix=1,
                    audio=[AudioSpec(layout="stereo")], options={})
    before = src.read_bytes()
    host, dev = tmp_path / f"host{suffix}", tmp_path / f"dev{suffix}"
    upscale(src, host, "host", LIGHT, codec=codec)
    report, notices = upscale(src, dev, "device", LIGHT, codec=codec)
    assert not [n for n in notices if "colour conversion on the host" in n]
    a, b = decode_info(host), decode_info(dev)
    assert (b["frames"], b["pts"], b["size"], b["pix_fmt"], b["colour"]) == \
        (a["frames"], a["pts"], a["size"], a["pix_fmt"], a["colour"])
    assert stream_packets(dev, 1) == stream_packets(src, 1)  # audio copied untouched
    # Chroma siting differs at sharp colour edges (swscale downsamples centred, the device path as the input is
    # sited) and the two encodes differ a little: close, not equal.
    diff = decoded_rgb(dev) - decoded_rgb(host)
    psnr = 10 * np.log10(255**2 / np.mean(diff**2))
    assert np.abs(diff).mean() <= 1.0 and psnr >= 38, (np.abs(diff).mean(), psnr)
    assert src.read_bytes() == before


def test_frames_come_as_planes_only_when_asked():
    info = probe(SHARED / "media" / "sample_with_increasing_timestamps_320w_240h_5s.mp4")
    assert info.chroma_location == 1  # H.264: left-sited chroma, which the conversion honours
    for planes in (False, True):
        source = VideoSource(info, set(), set(), lambda m: None, max_frames=2, planes=planes)
        frames = [f for f in source.items(lambda: False) if isinstance(f, Frame)]
        assert len(frames) == 2
        if planes:
            picture = frames[0].picture
            assert isinstance(picture, YuvPicture)
            assert [p.shape for p in picture.planes] == [(240, 320), (120, 160), (120, 160)]
        else:
            assert isinstance(frames[0].picture, RgbPicture) and frames[0].picture.rgb.shape == (240, 320, 3)


def test_formats_it_cannot_take_fall_back_to_the_host_with_a_notice(tmp_path):
    # 4:2:0 at x3 gives an odd output that the sink pads: not a plane format the engine writes.
    src = make_clip(tmp_path / "odd.mkv", width=33, height=21, frames=3, codec="ffv1", options={})
    out = tmp_path / "odd_x3.mkv"
    cfg = UpscaleConfig()
    cfg.model.name, cfg.model.scale, cfg.engine.colour = "bicubic", 3, "device"
    notices = Notices(echo=False)
    run_upscale(src, out, cfg, progress=False, notices=notices)
    assert any("colour conversion on the host" in n for n in notices.items)
    assert decode_info(out)["frames"] == 3


def test_colour_setting_is_checked_before_anything_runs(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=2)
    cfg = UpscaleConfig()
    cfg.model.name, cfg.model.scale, cfg.engine.colour = "bicubic", 2, "gpu"
    from vsr.errors import VSRError

    with pytest.raises(VSRError, match="colour gpu"):
        run_upscale(src, tmp_path / "o.mp4", cfg, progress=False, notices=Notices(echo=False))
    assert not (tmp_path / "o.mp4").exists()


def test_nvdec_without_a_gpu_falls_back_to_the_cpu_decoder_with_one_notice(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=4, audio=[AudioSpec(layout="stereo")])
    outs = {}
    for hwdec in ("none", "cuda"):
        cfg = UpscaleConfig()
        cfg.model.name, cfg.model.scale, cfg.pipeline.hwdec = "bicubic", 2, hwdec
        cfg.encode.preset = "ultrafast"
        notices = Notices(echo=False)
        outs[hwdec] = tmp_path / f"{hwdec}.mp4"
        run_upscale(src, outs[hwdec], cfg, progress=False, notices=notices)
        nvdec = [n for n in notices.items if "NVDEC" in n]
        assert len(nvdec) == (1 if hwdec == "cuda" else 0) and (not nvdec or "decoding on the CPU" in nvdec[0])
    assert outs["none"].read_bytes() == outs["cuda"].read_bytes()


def test_bad_hwdec_is_a_clear_error(tmp_path):
    from vsr.errors import VSRError

    cfg = UpscaleConfig()
    cfg.model.name, cfg.model.scale, cfg.pipeline.hwdec = "bicubic", 2, "vaapi"
    with pytest.raises(VSRError, match="hwdec vaapi"):
        run_upscale(make_clip(tmp_path / "in.mp4", frames=2), tmp_path / "o.mp4", cfg, progress=False,
                    notices=Notices(echo=False))
