"""vsr.io.file.sink and the shared output pieces (format table, encoder settings, atomic outputs): tiny real
encodes, probed back."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vsr.errors import InputError, MediaError
from vsr.io import AtomicOutput, EncodeSettings, Frame, VideoSink, VideoSource, check_output_path, probe
from vsr.io.encode import WriterSettings, codec_options
from vsr.io.formats import CONTAINERS, FORMATS, RECORDING_FORMATS

from ..media_factory import AudioSpec, decode_info, make_clip

FLAGS = {"overwrite": "--overwrite", "codec": "--codec"}


def _notes() -> list[str]:
    return []


def _copy(src: Path, out: Path, settings: EncodeSettings | None = None, scale: int = 1) -> tuple[VideoSink, list]:
    """Decode `src` and encode it into `out` (frames repeated `scale` times in size), through an AtomicOutput."""
    info, notes = probe(src), _notes()
    with AtomicOutput(out) as temp:
        sink = VideoSink(temp, info, info.width * scale, info.height * scale,
                         settings or EncodeSettings(preset="ultrafast"), notes.append)
        try:
            source = VideoSource(info, sink.copy_streams, sink.encode_streams, notes.append)
            for item in source.items(lambda: False):
                if isinstance(item, Frame):
                    sink.write_frame(np.repeat(np.repeat(item.picture.rgb, scale, 0), scale, 1), item.pts)
                elif hasattr(item, "frame"):
                    sink.write_audio(item.stream_index, item.frame)
                else:
                    sink.write_packet(item)
        finally:
            sink.close()
    return sink, notes


def test_sink_writes_a_clip_with_the_size_rate_frames_and_timestamps(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", 64, 36, frames=8, rate=25)
    out = tmp_path / "out.mkv"
    sink, _ = _copy(src, out, scale=2)
    got, want = probe(out), probe(src)
    assert (got.width, got.height) == (128, 72) and got.rate == Fraction(25) and got.format_name == "matroska,webm"
    info = decode_info(out)
    assert info["frames"] == 8 == sink.counters.frames
    assert info["times"] == decode_info(src)["times"]
    assert info["colour"] == decode_info(src)["colour"] and got.colour.matrix == want.colour.matrix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mkv"]  # no temporary file left


def test_audio_is_copied_where_it_fits_and_re_encoded_where_not(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mkv", 64, 36, frames=6, audio=[AudioSpec(codec="libopus", layout="mono")])
    sink, notes = _copy(src, tmp_path / "out.mkv")
    assert [(p.index, p.action) for p in sink.plans] == [(1, "copy")] and not notes
    sink, notes = _copy(src, tmp_path / "out.mp4")
    assert [(p.type, p.action) for p in sink.plans] == [("audio", "copy")]  # MP4 holds Opus
    pcm = make_clip(tmp_path / "pcm.mov", 64, 36, frames=6, audio=[AudioSpec(codec="pcm_s16le", layout="mono")])
    sink, notes = _copy(pcm, tmp_path / "pcm.mp4")
    assert [p.action for p in sink.plans] == ["encode"] and "re-encoded as aac" in notes[0]
    assert [s[:2] for s in decode_info(tmp_path / "pcm.mp4")["streams"]] == [("video", "h264"), ("audio", "aac")]


def test_a_failed_sink_leaves_no_partial_file(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", 64, 36, frames=3)
    out = tmp_path / "out.mp4"
    with pytest.raises(MediaError) as exc:
        _copy(src, out, EncodeSettings(codec="nosuchcodec"))
    assert str(exc.value) == "codec nosuchcodec: not available in this FFmpeg build"
    assert exc.value.render(FLAGS).startswith("--codec nosuchcodec: ")
    with pytest.raises(MediaError, match="webm cannot hold libx264 video; choose another codec"):
        _copy(src, tmp_path / "out.webm", EncodeSettings(codec="libx264"))
    with pytest.raises(RuntimeError, match="boom"):  # a failure mid-way (a stage crashing, Ctrl-C)
        with AtomicOutput(out) as temp:
            assert temp.name.startswith(f".out.mp4.{os.getpid()}-") and temp.name.endswith(".part.mp4")
            temp.write_bytes(b"half a file")
            raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_output_paths_are_checked_before_anything_is_written(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", 64, 36, frames=2)
    existing = tmp_path / "old.mp4"
    existing.write_bytes(b"keep")
    with pytest.raises(InputError) as exc:
        check_output_path(existing, src, overwrite=False)
    assert str(exc.value) == f"{existing}: exists; pass overwrite to replace it"
    assert exc.value.render(FLAGS).endswith("pass --overwrite to replace it")
    check_output_path(existing, src, overwrite=True)
    with pytest.raises(InputError, match="is the input file"):
        check_output_path(src, src, overwrite=True)
    with pytest.raises(InputError, match=r"unknown output extension '\.ts'; use one of \.m4v, \.mkv"):
        check_output_path(tmp_path / "o.ts", src, overwrite=False)
    with pytest.raises(InputError, match="no such directory"):
        check_output_path(tmp_path / "no" / "o.mp4", src, overwrite=False)
    assert existing.read_bytes() == b"keep"


def test_one_format_table_for_file_outputs_and_recordings() -> None:
    assert FORMATS == {".mp4": ("mp4", "libx264"), ".m4v": ("mp4", "libx264"), ".mov": ("mov", "libx264"),
                       ".mkv": ("matroska", "libx264"), ".webm": ("webm", "libvpx-vp9")}
    assert RECORDING_FORMATS == {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".ts": "mpegts",
                                 ".flv": "flv"}
    assert all(CONTAINERS[ext].muxer == muxer for ext, muxer in RECORDING_FORMATS.items())


def test_writer_settings_are_encode_settings_with_live_defaults() -> None:
    ws = WriterSettings("libx264", "fast", 23)  # the order live callers pass them in
    assert isinstance(ws, EncodeSettings) and (ws.codec, ws.preset, ws.crf, ws.low_latency) == ("libx264", "fast", 23,
                                                                                                  False)
    assert WriterSettings() == WriterSettings("libx264", "veryfast", 20)
    assert ws.live_options(30) == {"preset": "fast", "crf": "23"} == codec_options("libx264", ws)
    assert WriterSettings(low_latency=True).live_options(25) == {"preset": "ultrafast", "crf": "20",
                                                                 "tune": "zerolatency", "g": "25"}
    assert codec_options("libvpx-vp9", EncodeSettings(preset="ultrafast"))["deadline"] == "realtime"
    assert codec_options("h264_nvenc", EncodeSettings())["cq"] == "21"


def test_x264_preset_names_map_onto_svt_av1_presets(tmp_path: Path) -> None:
    assert codec_options("libsvtav1", EncodeSettings(preset="ultrafast", crf=35)) == {"crf": "35", "preset": "12"}
    assert codec_options("libsvtav1", EncodeSettings(preset="medium"))["preset"] == "7"
    assert codec_options("libsvtav1", EncodeSettings(preset="4"))["preset"] == "4"  # its own numbers pass
    if "libsvtav1" not in av.codecs_available:
        pytest.skip("this FFmpeg has no SVT-AV1")
    out = tmp_path / "o.mkv"
    _copy(make_clip(tmp_path / "in.mp4", 64, 36, frames=3), out, EncodeSettings(codec="libsvtav1", preset="ultrafast"))
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name in ("libdav1d", "av1", "libaom-av1")
        assert len(list(c.decode(video=0))) == 3
