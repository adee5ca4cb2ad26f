"""NVDEC that did not start: PyAV keeps `is_hwaccel` true while FFmpeg decodes in software, so whether NVDEC
decoded is read from the frames' format (vsr.io.file.source.nvdec_decoded)."""

from __future__ import annotations

import av

from vsr.io.file.source import nvdec_decoded

from ..conftest import SHARED


def test_software_frames_are_not_taken_for_nvdec_even_when_pyav_says_hwaccel():
    clip = SHARED / "media" / "sample_with_increasing_timestamps_320w_240h_5s.mp4"
    with av.open(str(clip)) as c:
        frame = next(c.decode(video=0))
    assert frame.format.name in ("yuv420p", "yuvj420p")  # what FFmpeg's software H.264 decoder gives
    assert not nvdec_decoded(frame.format.name, is_hwaccel=True)
    downloaded = frame.reformat(format="nv12")  # what NVDEC's 8-bit 4:2:0 frames come down as
    assert nvdec_decoded(downloaded.format.name, is_hwaccel=True)
    assert not nvdec_decoded(downloaded.format.name, is_hwaccel=False)
    assert nvdec_decoded(frame.reformat(format="p010le").format.name, is_hwaccel=True)
