"""vsr.io.file: probing a file and streaming its frames and packets (real clips from tests/media_factory)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vsr.errors import InputError, MediaError
from vsr.io import AudioFrames, Frame, TimeRange, VideoSource, probe
from vsr.io.picture import YuvPicture

from ..media_factory import AudioSpec, make_clip

VFR_PTS = [0, 1, 3, 7, 8, 12]  # in 1/25 s: gaps of 1, 2, 4, 1 and 4 frame times


def _items(info, **kw) -> list:
    notes: list[str] = []
    kw.setdefault("copy", set())
    kw.setdefault("decode", set())
    return list(VideoSource(info, notify=notes.append, **kw).items(lambda: False))


@pytest.fixture(scope="module")
def vfr(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("src") / "vfr.mp4", 64, 36, pts=VFR_PTS, rate=25)


def test_probe_reads_size_timing_and_colour(vfr: Path) -> None:
    info = probe(vfr)
    assert (info.width, info.height, info.pix_fmt, info.bit_depth, info.deep) == (64, 36, "yuv420p", 8, False)
    assert info.format_name.startswith("mov") and info.video_index == 0 and info.rotation == 0
    assert info.rate and info.time_base and info.frames
    assert (info.colour.matrix, info.colour.range) == (1, 1)  # BT.709, limited range: as the clip is tagged
    assert [s.type for s in info.streams] == ["video"]


def test_vfr_frames_keep_their_timestamps(vfr: Path) -> None:
    info = probe(vfr)
    frames = _items(info)
    assert all(isinstance(f, Frame) for f in frames)
    assert [f.index for f in frames] == list(range(len(VFR_PTS)))
    times = [Fraction(f.pts) * f.time_base for f in frames]
    assert times == [Fraction(p, 25) for p in VFR_PTS]
    rgb = frames[0].picture.rgb
    assert frames[0].key_frame and rgb.shape == (36, 64, 3) and rgb.dtype == np.uint8


def test_time_range_gives_the_frames_inside_it(vfr: Path) -> None:
    info = probe(vfr)
    tick = round(1 / (25 * info.time_base))  # container ticks per 1/25 s
    frames = _items(info, time_range=TimeRange(start=3 * tick, end=8 * tick))
    assert [Fraction(f.pts) * f.time_base for f in frames] == [Fraction(3, 25), Fraction(7, 25)]
    assert [f.pts for f in _items(info, time_range=TimeRange(start=8 * tick))] == [8 * tick, 12 * tick]
    with pytest.raises(ValueError, match="empty time range"):
        TimeRange(start=5, end=5)


def test_max_frames_and_planes(vfr: Path) -> None:
    info = probe(vfr)
    frames = _items(info, max_frames=2, planes=True)
    picture = frames[0].picture
    assert len(frames) == 2 and isinstance(picture, YuvPicture) and picture.format == info.yuv_format
    assert picture.format.pix_fmt == "yuv420p" and picture.format.chroma_loc == info.chroma_location
    assert [p.shape for p in picture.planes] == [(36, 64), (18, 32), (18, 32)]
    assert frames[0].batch_key == frames[1].batch_key


def test_other_streams_come_as_packets_or_decoded_audio(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "a.mkv", 64, 36, frames=5, audio=[AudioSpec(layout="mono")])
    info = probe(clip)
    assert [s.type for s in info.streams] == ["video", "audio"]
    copied = _items(info, copy={1})
    packets = [p for p in copied if not isinstance(p, Frame)]
    assert len(copied) - len(packets) == 5 and packets and all(p.stream_index == 1 for p in packets)
    decoded = [a for a in _items(info, decode={1}) if isinstance(a, AudioFrames)]
    assert decoded and all(a.stream_index == 1 and a.frame.sample_rate == 48000 for a in decoded)
    assert all(isinstance(f, Frame) for f in _items(info))  # streams not asked for are not read


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file$"):
        probe(tmp_path / "missing.mp4")
    with pytest.raises(InputError, match="not a file$"):
        probe(tmp_path)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 20)
    with pytest.raises(MediaError, match="not a media file that FFmpeg can read"):
        probe(text)
