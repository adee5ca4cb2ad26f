"""Upscaling real files end to end (in-process, bicubic): what a user checks in the output."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from pipelines.common.notices import Notices
from pipelines.common.settings import UpscaleConfig
from pipelines.upscale import run_upscale

from ..conftest import SHARED
from ..media_factory import (
    AudioSpec,
    SubtitleSpec,
    corrupt_packets,
    decode_info,
    make_clip,
    quadrant_means,
    stream_packets,
    truncate,
)

MEDIA = SHARED / "media"


def upscale(src: Path, out: Path, scale: int = 2, frames: int | None = None, **encode) -> dict:
    """Bicubic in fp32 (exact and weight-free); `frames` limits big clips to their first frames."""
    cfg = UpscaleConfig()
    cfg.model.name, cfg.model.scale = "bicubic", scale
    cfg.engine.precision = "fp32"
    cfg.pipeline.max_frames = frames
    cfg.encode.preset = encode.pop("preset", "ultrafast")
    for key, value in encode.items():
        setattr(cfg.encode, key, value)
    report = run_upscale(src, out, cfg, progress=False, notices=Notices(echo=False))
    assert out.is_file()
    assert not list(out.parent.glob(".*.part*")), "temporary file left behind"
    return report.__dict__


def rescaled(pts: list[int], tb_in: Fraction, tb_out: Fraction) -> list[int]:
    """Input timestamps in the output time base, rounded to nearest as the muxer does."""
    out = []
    for p in pts:
        q = Fraction(p) * tb_in / tb_out
        out.append(int(q + Fraction(1, 2)) if q >= 0 else -int(-q + Fraction(1, 2)))
    return out


def test_mp4_keeps_frames_timestamps_audio_subtitles_metadata_rotation(tmp_path: Path) -> None:
    src = make_clip(
        tmp_path / "in.mp4", frames=20, rotation=90, metadata={"title": "Test clip"},
        audio=[AudioSpec(layout="mono"), AudioSpec(layout="5.1", metadata={"language": "fra", "title": "Surround"})],
        subtitles=[SubtitleSpec([(0, 300, "Hello"), (400, 300, "World")], {"language": "eng"})],
    )
    out = tmp_path / "out.mp4"
    report = upscale(src, out)
    a, b = decode_info(src), decode_info(out)
    assert b["frames"] == a["frames"] == 20 == report["frames"] == report["frames_in"]
    assert b["times"] == a["times"]
    assert b["size"] == (128, 72)
    assert b["rotation"] == 90
    assert b["metadata"]["title"] == "Test clip"
    assert [s[0] for s in b["streams"]] == ["video", "audio", "audio", "subtitle"]
    assert b["streams"][2][2]["language"] == "fra"
    assert b["streams"][2][2].get("name") == "Surround"
    assert b["streams"][3][2]["language"] == "eng"
    for index in (1, 2):  # mono AAC, 5.1 AAC: copied packet for packet
        assert stream_packets(out, index) == stream_packets(src, index)
    # mov_text cues copied; the MP4 muxer fills the gaps between cues with empty samples of its own.
    cues = [p for p in stream_packets(out, 3) if p != b"\x00\x00"]
    assert cues == [p for p in stream_packets(src, 3) if p != b"\x00\x00"] == [b"\x00\x05Hello", b"\x00\x05World"]
    assert abs(b["duration"] - a["duration"]) <= 1 / 25
    assert report["packets_copied"] > 0 and report["notices"] == []


def test_vfr_timestamps_survive_exactly(tmp_path: Path) -> None:
    tb = Fraction(1, 90000)
    pts = [0, 3000, 4500, 9000, 9001, 15000, 27000, 30003, 36000]
    src = make_clip(tmp_path / "vfr.mp4", pts=pts, time_base=tb)
    for ext in (".mp4", ".mkv"):
        out = tmp_path / f"vfr_out{ext}"
        upscale(src, out)
        info = decode_info(out)
        assert info["frames"] == len(pts)
        # MP4 keeps the 1/90000 base: identical; Matroska stores milliseconds: the same times rounded.
        assert info["pts"] == rescaled(pts, tb, info["time_base"])
        if ext == ".mp4":
            assert info["times"] == [p * tb for p in pts]


@pytest.mark.parametrize("full_range", [False, True], ids=["limited", "full"])
@pytest.mark.parametrize("matrix", [6, 1], ids=["bt601", "bt709"])
def test_colours_survive(tmp_path: Path, matrix: int, full_range: bool) -> None:
    src = make_clip(tmp_path / "c.mp4", frames=3, width=96, height=64, matrix=matrix, full_range=full_range)
    out = tmp_path / "c_out.mp4"
    upscale(src, out, crf=4)
    info = decode_info(out)
    assert info["colour"][0] == matrix and info["colour"][3] == (2 if full_range else 1)
    # As a player shows them (each file decoded with its own tags): the flat patches keep their colour.
    diff = np.abs(quadrant_means(out) - quadrant_means(src))
    assert diff.max() <= 2.0, diff


def test_ten_bit_stays_ten_bit(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "deep.mkv", frames=4, width=64, height=48, pix_fmt="yuv420p10le", matrix=1)
    out = tmp_path / "deep_out.mkv"
    upscale(src, out, crf=4)
    info = decode_info(out)
    assert info["pix_fmt"] == "yuv420p10le"
    assert np.abs(quadrant_means(out) - quadrant_means(src)).max() <= 2.0


def test_odd_sizes(tmp_path: Path) -> None:
    # FFV1 holds odd 4:2:0 sizes (x264 cannot).
    src = make_clip(tmp_path / "odd.mkv", frames=3, width=161, height=91, codec="ffv1", options={})
    assert decode_info(src)["size"] == (161, 91)
    out2, out3 = tmp_path / "odd_x2.mp4", tmp_path / "odd_x3.mp4"
    report2 = upscale(src, out2, scale=2)
    assert decode_info(out2)["size"] == (322, 182) and report2["notices"] == []
    report3 = upscale(src, out3, scale=3)
    # 483x273 cannot be 4:2:0: padded to even sizes, and the user is told.
    assert decode_info(out3)["size"] == (484, 274)
    assert report3["output_size"] == [483, 273]
    assert any("padded to 484x274" in n for n in report3["notices"])
    assert decode_info(out3)["frames"] == 3


def test_batches_of_frames_give_every_frame_once(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "b.mp4", frames=7)
    out = tmp_path / "b_out.mp4"
    cfg = UpscaleConfig()
    cfg.model.name, cfg.model.scale, cfg.engine.batch, cfg.encode.preset = "bicubic", 2, 3, "ultrafast"
    report = run_upscale(src, out, cfg, progress=False, notices=Notices(echo=False))
    assert report.batch == 3 and report.frames == 7
    assert decode_info(out)["times"] == decode_info(src)["times"]


def test_audio_that_does_not_fit_is_reencoded(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "a.mp4", frames=10,
                    audio=[AudioSpec(layout="mono"), AudioSpec(layout="5.1", metadata={"language": "fra"})])
    out = tmp_path / "a_out.webm"
    report = upscale(src, out, preset="ultrafast")
    info = decode_info(out)
    assert [s[:2] for s in info["streams"]] == [("video", "vp9"), ("audio", "opus"), ("audio", "opus")]
    assert info["streams"][2][2]["language"] == "fra"
    assert sum("re-encoded as libopus" in n for n in report["notices"]) == 2
    import av
    with av.open(str(out)) as c:
        assert [s.codec_context.channels for s in c.streams.audio] == [1, 6]
    assert info["frames"] == 10


@pytest.mark.parametrize("ext, codec", [(".mp4", "aac"), (".webm", "opus"), (".mov", "pcm_s16le")])
def test_pcm_audio_is_reencoded_where_the_container_cannot_write_it(tmp_path: Path, ext: str, codec: str) -> None:
    # PCM in Matroska has an unordered "2 channels" layout and a 1.5 Mb/s bit rate: both used to make the
    # AAC and Opus encoders refuse to open.
    import av

    src = make_clip(tmp_path / "pcm.mkv", frames=10, audio=[AudioSpec(codec="pcm_s16le")])
    out = tmp_path / f"pcm_out{ext}"
    upscale(src, out)
    with av.open(str(src)) as c:
        samples_in = sum(f.samples for f in c.decode(audio=0))
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == codec
        assert c.streams.audio[0].codec_context.channels == 2
        samples_out = sum(f.samples for f in c.decode(audio=0))
    # AAC adds one frame of encoder priming at most; nothing else may be lost or added
    assert samples_in <= samples_out <= samples_in + 1024


def test_shared_mkv_with_srt_subtitles(tmp_path: Path) -> None:
    src = MEDIA / "sample_with_srt.mkv"
    out = tmp_path / "srt.mkv"
    report = upscale(src, out, scale=1, frames=4)
    a, b = decode_info(src), decode_info(out)
    assert b["frames"] == 4 and b["pts"] == a["pts"][:4]  # B-frames, 1080 wide
    assert b["streams"][2][1] == "subrip" and b["streams"][2][2]["title"] == "Subs Label"
    assert b["streams"][2][2]["language"] == "eng"
    copied = stream_packets(out, 1)  # AC-3 audio
    assert copied and copied == stream_packets(src, 1)[: len(copied)]
    assert stream_packets(out, 2) == stream_packets(src, 2) == [b"This is the first subtitle."]
    assert report["notices"] == []
    # MP4 cannot hold SubRip: the cues are converted to mov_text and the user is told; AC-3 is copied.
    out_mp4 = tmp_path / "srt.mp4"
    report = upscale(src, out_mp4, scale=1, frames=3)
    assert report["notices"] == ["stream 2 (subtitle, subrip): mp4 cannot hold subrip; converted to mov_text "
                                 "(text and timing kept, styling not)"]
    info = decode_info(out_mp4)
    assert [s[:2] for s in info["streams"]] == [("video", "h264"), ("audio", "ac3"), ("subtitle", "mov_text")]
    assert info["streams"][2][2]["language"] == "eng" and info["streams"][2][2]["name"] == "Subs Label"
    assert stream_packets(out_mp4, 2)[0] == b"\x00\x1bThis is the first subtitle."
    assert info["frames"] == 3
    copied = stream_packets(out_mp4, 1)
    assert copied and copied == stream_packets(src, 1)[: len(copied)]


def test_shared_avi_with_dropped_frames(tmp_path: Path) -> None:
    src = MEDIA / "sample.avi"
    out = tmp_path / "avi.mp4"
    upscale(src, out, scale=1, frames=6)
    a, b = decode_info(src), decode_info(out)
    assert b["frames"] == 6
    assert b["times"] == a["times"][:6]  # including the gap of two missing frames after the first
    assert b["times"][1] == Fraction(3 * 1001, 24000)
    copied = stream_packets(out, 1)  # MP3
    assert copied and copied == stream_packets(src, 1)[: len(copied)]


def test_shared_full_range_and_rotated_clips(tmp_path: Path) -> None:
    src = MEDIA / "sample_with_increasing_timestamps_320w_240h_5s.mp4"
    out = tmp_path / "full.mp4"
    upscale(src, out, scale=2, frames=20)
    a, b = decode_info(src), decode_info(out)
    assert b["frames"] == 20 and b["times"] == a["times"][:20] and b["size"] == (640, 480)
    assert b["colour"] == a["colour"] == (6, 5, 6, 2)  # full range, BT.601
    assert b["streams"][1][2]["language"] == "eng"
    copied = stream_packets(out, 1)
    assert copied and copied == stream_packets(src, 1)[: len(copied)]
    src = MEDIA / "internal_emulator_transformer_output_270_rotated.mp4"
    out = tmp_path / "rot.mkv"
    upscale(src, out, scale=1, frames=6)
    a, b = decode_info(src), decode_info(out)
    assert b["frames"] == 6 and b["rotation"] == 90 and b["colour"] == (1, 1, 1, 1)
    assert b["pts"] == rescaled(a["pts"][:6], a["time_base"], b["time_base"])


def test_shared_webm(tmp_path: Path) -> None:
    src = MEDIA / "big_buck_bunny_432_433.webm"
    out = tmp_path / "bbb.webm"
    upscale(src, out, scale=1, frames=6, preset="ultrafast")
    a, b = decode_info(src), decode_info(out)
    assert b["frames"] == 6 and b["pts"] == a["pts"][:6]
    assert b["streams"][0][1] == "vp9" and b["colour"][0] == 5
    copied = stream_packets(out, 1)  # Vorbis copied
    assert copied and copied == stream_packets(src, 1)[: len(copied)]


def test_corrupt_packets_are_skipped_and_counted(tmp_path: Path) -> None:
    good = make_clip(tmp_path / "good.mkv", frames=24, width=64, height=48, codec="mpeg4", options={"g": "4"})
    bad, damaged = corrupt_packets(good, tmp_path / "bad.mkv", every=5)
    assert damaged >= 3
    out = tmp_path / "bad_out.mp4"
    report = upscale(bad, out)
    assert report["corrupt_packets"] >= 1
    assert any(n.startswith("warning:") for n in report["notices"])
    assert 24 - damaged <= decode_info(out)["frames"] == report["frames"] <= 24


def test_truncated_file_processes_what_is_there(tmp_path: Path) -> None:
    import av

    full = make_clip(tmp_path / "full.mkv", frames=30, audio=[AudioSpec(layout="mono")])
    cut = truncate(full, tmp_path / "cut.mkv", 0.6)
    decodable = 0
    with av.open(str(cut)) as c:  # what plain PyAV can get out of the cut file
        try:
            for packet in c.demux(c.streams.video[0]):
                decodable += len(packet.decode())
        except av.FFmpegError:
            pass
    assert 0 < decodable < 30
    out = tmp_path / "cut_out.mp4"
    report = upscale(cut, out)
    assert decode_info(out)["frames"] == report["frames"] >= decodable


def test_attachments_kept_in_mkv_dropped_with_notice_in_mp4(tmp_path: Path) -> None:
    import av

    plain = make_clip(tmp_path / "plain.mkv", frames=3)
    src = tmp_path / "att.mkv"
    with av.open(str(plain)) as i, av.open(str(src), "w") as o:
        vs = o.add_stream_from_template(i.streams.video[0])
        o.add_attachment("font.ttf", "application/x-truetype-font", b"not really a font" * 4)
        for packet in i.demux(i.streams.video[0]):
            if packet.size:
                packet.stream = vs
                o.mux(packet)
    out = tmp_path / "att_out.mkv"
    assert upscale(src, out)["notices"] == []
    with av.open(str(out)) as c:
        att = c.streams[1]
        assert att.type == "attachment" and att.name == "font.ttf" and bytes(att.data) == b"not really a font" * 4
    report = upscale(src, tmp_path / "att_out.mp4")
    assert report["notices"] == ["stream 1 (attachment, none): dropped: mp4 cannot hold attachments"]


def test_text_subtitles_are_converted_between_containers(tmp_path: Path) -> None:
    import av

    cues = [(0, 300, "Hello <i>there</i>"), (400, 250, "World")]
    src = make_clip(tmp_path / "subs.mp4", frames=20, subtitles=[SubtitleSpec(cues, {"language": "deu"})])
    for ext, codec in ((".mkv", "subrip"), (".webm", "webvtt")):
        out = tmp_path / f"subs{ext}"
        report = upscale(src, out)
        assert report["notices"] == [f"stream 1 (subtitle, mov_text): {out.suffix[1:].replace('mkv', 'matroska')} "
                                     f"cannot hold mov_text; converted to {codec} (text and timing kept, styling not)"]
        with av.open(str(out)) as c:
            s = c.streams[1]
            assert s.codec_context.codec.canonical_name == codec and s.metadata["language"] == "deu"
            got = [(int(p.pts * p.time_base * 1000), int(p.duration * p.time_base * 1000), bytes(p).decode())
                   for p in c.demux(s) if p.size]
        assert got == cues


def test_a_late_start_is_kept(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "late.mkv", pts=[1400, 1440, 1480, 1520, 1600], time_base=Fraction(1, 1000))
    for ext in (".mp4", ".mov"):
        out = tmp_path / f"late_out{ext}"
        upscale(src, out)
        assert decode_info(out)["times"] == [Fraction(t, 1000) for t in (1400, 1440, 1480, 1520, 1600)]
