"""Live mode on real sources: generated clips played at their own pace, lavfi, UDP streams, signals.

No camera or display here: a file played in real time stands in for a camera (same capture thread, same slot,
same clock), which is also what a user does to try live mode without one.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from pipelines.live import LiveConfig, run_live
from vsr.errors import VSRError
from vsr.io.live.slot import LatestSlot

from .. import media_factory
from ..conftest import SHARED, run_cli
from ..media_factory import AudioSpec

NTIRE23 = SHARED / "weights" / "ntire2023_safmn_x4.pth"


def make_clip(path: Path, width: int = 64, height: int = 36, fps: int = 30, seconds: float = 2.0,
              audio: bool = False) -> Path:
    """A clip from the shared test-media factory (moving bar over flat quadrants; a tone when `audio`)."""
    return media_factory.make_clip(path, width, height, frames=round(fps * seconds), rate=fps,
                                   audio=[AudioSpec(layout="mono")] if audio else None)


def decode_all(path: Path | str) -> tuple[list[float], tuple[int, int]]:
    """Every frame's time (s) and the size: decoding all of it is what proves a file playable."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        times = [float(f.pts * f.time_base) for f in c.decode(s)]
        return times, (s.codec_context.width, s.codec_context.height)


def live(tmp_path: Path, **kw) -> tuple:
    """run_live in this process. One model thread: on a busy shared machine two threads turn bicubic on a tiny
    frame from ~3 ms into ~70 ms (each parallel region waits for a descheduled thread)."""
    logs: list[str] = []
    kw.setdefault("threads", 1)
    cfg = LiveConfig(**kw)
    result = run_live(cfg, log=logs.append, status_stream=io.StringIO())
    return result, logs


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_slot_gives_the_newest_and_counts_the_dropped():
    slot: LatestSlot[int] = LatestSlot(1)
    assert [slot.put(i) for i in range(5)] == [0, 1, 1, 1, 1]
    assert slot.get(timeout=0) == 4 and slot.dropped == 4
    assert slot.get(timeout=0.01) is None and not slot.closed
    slot.put(5)
    slot.close()
    assert slot.get(timeout=0) == 5  # what was waiting is still handed over after close
    assert slot.get(timeout=0) is None and slot.closed


def test_preview_picture_puts_bicubic_beside_the_model_with_the_figures():
    from vsr.io.live.preview import compose_preview

    src = np.zeros((36, 64, 3), np.uint8)
    src[:, :32] = (200, 60, 40)
    up = np.full((72, 128, 3), 90, np.uint8)
    bgr = compose_preview(up, src, "captured 30.0 fps", side_by_side=True)
    assert bgr.shape == (72, 256, 3)
    # Right half: the model's picture (BGR now); left half: bicubic of the source, away from the drawn text.
    assert (bgr[40:60, 140:250] == 90).all()
    assert tuple(bgr[50, 5]) == (40, 60, 200) and tuple(bgr[50, 120]) == (0, 0, 0)
    assert (bgr[5:25, 5:100] != compose_preview(up, src, "", side_by_side=True)[5:25, 5:100]).any()
    wide = compose_preview(np.zeros((400, 1600, 3), np.uint8), src, "x", side_by_side=True, max_width=1600)
    assert wide.shape == (200, 1600, 3)


def test_display_needs_a_screen(monkeypatch):
    from vsr.io.live.preview import display_problem

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "DISPLAY and WAYLAND_DISPLAY are unset" in display_problem()
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert "this OpenCV has none" in display_problem()  # this venv has opencv-python-headless


def test_opencv_fallback_reports_a_missing_camera():
    from vsr.io.live.capture import CaptureSettings, OpenCVSource

    with pytest.raises(VSRError, match="webcam:97: no such camera, or it is busy"):
        OpenCVSource.open(97, CaptureSettings("webcam:97"), "webcam:97")


def test_slot_of_depth_n_hands_over_the_newest_n():
    slot: LatestSlot[int] = LatestSlot(3)
    for i in range(5):
        slot.put(i)
    assert slot.get_all(timeout=0) == [2, 3, 4] and slot.dropped == 2
    assert slot.get_all(timeout=0.01) == []


@pytest.mark.skipif(not NTIRE23.is_file(), reason="shared NTIRE 2023 checkpoint missing")
def test_batches_only_when_the_latency_bound_allows(tmp_path):
    # 240 fps: frames arrive faster than the model takes them on any CPU, so batches do form
    clip = make_clip(tmp_path / "cam.mp4", 96, 54, 240, 0.5)
    rec = tmp_path / "rec.mp4"
    # A generous bound: batches of 3 frames, which reach the recording in capture order.
    result, logs = live(tmp_path, source=str(clip), weights=str(NTIRE23), batch=3, max_latency_ms=20000,
                        outputs=[str(rec)])
    r = result.report
    assert r.batch == 3 and any(line.startswith("batch 3: about") for line in logs)
    times, _ = decode_all(rec)
    assert len(times) == r.processed and times == sorted(times)
    assert [f.capture_s for f in result.frames] == sorted(f.capture_s for f in result.frames)
    # Frames that were processed together share one inference time and one ready time.
    shared = [f for f in result.frames if sum(g.inference_ms == f.inference_ms for g in result.frames) > 1]
    assert shared
    # A bound three frame intervals cannot meet: back to batch 1, and the log says why.
    clip = make_clip(tmp_path / "cam30.mp4", 96, 54, 30, 1.0)
    result, logs = live(tmp_path, source=str(clip), model="bicubic", scale=2, batch=3, max_latency_ms=60)
    assert result.report.batch == 1 and any("using batch 1" in line for line in logs)


def test_bicubic_at_small_size_drops_nothing_and_recording_follows_capture_times(tmp_path):
    clip = make_clip(tmp_path / "cam.mp4", 64, 36, 30, 2.0)
    rec = tmp_path / "rec.mp4"
    result, logs = live(tmp_path, source=str(clip), model="bicubic", scale=2, outputs=[str(rec)])
    r = result.report
    assert r.stop_reason == "source ended" and not r.error
    assert r.captured == 60 and r.processed == 60 and r.dropped == 0
    assert r.latency_ms_p95 is not None and r.latency_ms_p95 < r.max_latency_ms
    times, size = decode_all(rec)
    assert size == (128, 72)
    # The recording's timestamps are the processed frames' capture times (ms time base, so within 1 ms).
    expected = [f.capture_s for f in result.frames]
    assert len(times) == len(expected)
    assert np.abs(np.array(times) - np.array(expected)).max() < 0.0015
    # ...and capture followed the clip's own pace: frame i was captured about i/30 s after the first.
    assert abs(times[-1] - 59 / 30) < 0.15


@pytest.mark.skipif(not NTIRE23.is_file(), reason="shared NTIRE 2023 checkpoint missing")
def test_model_too_slow_for_the_source_drops_frames_and_keeps_latency_bounded(tmp_path):
    # NTIRE23 SAFMN runs at a few fps at 256x144 on a 2-core CPU, far below the clip's 30 fps.
    clip = make_clip(tmp_path / "cam.mp4", 256, 144, 30, 3.0)
    rec = tmp_path / "rec.mkv"
    # The bound is generous because this machine is shared: inference alone varies 0.1-1.5 s per frame here.
    result, _ = live(tmp_path, source=str(clip), weights=str(NTIRE23), outputs=[str(rec)], max_latency_ms=5000)
    r = result.report
    assert r.captured == 90
    assert r.dropped > 30 and r.processed + r.dropped + r.unprocessed_at_stop == r.captured
    assert r.latency_ms_p95 < r.max_latency_ms
    # What bounds latency: a frame waits at most while the model finishes the one before it (plus a frame
    # interval and scheduling slack). A queue would instead make the waits grow to seconds by the end.
    longest_inference = max(f.inference_ms for f in result.frames)
    assert max(f.wait_ms for f in result.frames) < longest_inference + 1000 / 30 + 100
    times, size = decode_all(rec)
    assert size == (1024, 576) and len(times) == r.processed
    # Dropped frames leave gaps: the recording lasts as long as the capture did instead of being sped up.
    assert times[-1] > 2.4
    gaps = np.diff(times)
    assert gaps.max() > 1.5 / 30


def test_source_audio_is_copied_into_the_recording_in_sync(tmp_path):
    clip = make_clip(tmp_path / "cam.mp4", 64, 36, 30, 2.0, audio=True)
    rec = tmp_path / "rec.mp4"
    result, _ = live(tmp_path, source=str(clip), model="bicubic", scale=2, outputs=[str(rec)])
    assert result.report.processed == 60
    with av.open(str(clip)) as c:
        src_packets = {bytes(p) for p in c.demux(audio=0) if p.size}
    with av.open(str(rec)) as c:
        a = c.streams.audio[0]
        assert a.codec_context.name == "aac"
        packets = [p for p in c.demux(a) if p.size]
        audio_times = [float(p.pts * p.time_base) for p in packets]
    # Copied, not re-encoded: every recorded packet is one of the source's, byte for byte.
    assert packets and all(bytes(p) in src_packets for p in packets)
    # On the recording's clock: sound starts with the first frame and ends with the last (AAC packets are
    # 1024 samples, 21 ms at 48 kHz).
    video_times, _ = decode_all(rec)
    assert abs(audio_times[0] - video_times[0]) < 0.05
    assert abs(audio_times[-1] - video_times[-1]) < 0.1


def test_audio_the_container_cannot_hold_is_re_encoded_in_sync(tmp_path):
    # lavfi's sine is PCM, which MPEG-TS cannot carry: the recording gets AAC on the same clock.
    rec = tmp_path / "rec.ts"
    graph = "lavfi:testsrc2=size=64x36:rate=30[out0];sine=frequency=440:sample_rate=48000[out1]"
    result, logs = live(tmp_path, source=graph, model="bicubic", scale=2, outputs=[str(rec)], duration_s=1.5)
    assert result.report.stop_reason == "duration 1.5 s reached" and result.report.processed > 20
    assert any("re-encoded as AAC" in line for line in logs)
    with av.open(str(rec)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"
        audio_times = [float(p.pts * p.time_base) for p in c.demux(audio=0) if p.size]
    video_times, _ = decode_all(rec)
    assert abs(audio_times[0] - video_times[0]) < 0.05 and abs(audio_times[-1] - video_times[-1]) < 0.15


def test_live_udp_output_can_be_read_back_at_the_upscaled_size(tmp_path):
    clip = make_clip(tmp_path / "cam.mp4", 64, 36, 30, 2.0)
    port = free_udp_port()
    got: dict = {"sizes": []}

    def reader() -> None:
        try:
            with av.open(f"udp://127.0.0.1:{port}", format="mpegts", timeout=(15, 2),
                         options={"analyzeduration": "500000", "fifo_size": "1000000"}) as c:
                for f in c.decode(c.streams.video[0]):
                    got["sizes"].append((f.width, f.height))
        except av.error.ExitError:  # the read timeout after the sender stopped: the normal end here
            pass
        except Exception as exc:
            got["error"] = exc

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.5)  # UDP: the reader must be listening before the first packet goes out
    result, _ = live(tmp_path, source=str(clip), model="bicubic", scale=2, outputs=[f"udp://127.0.0.1:{port}"])
    t.join(20)
    assert "error" not in got, got.get("error")
    assert result.report.processed == 60
    assert set(got["sizes"]) == {(128, 72)} and len(got["sizes"]) >= 30


def test_source_ending_mid_stream_leaves_a_playable_recording(tmp_path):
    full = make_clip(tmp_path / "cam.ts", 64, 36, 30, 2.0)
    cut = media_factory.truncate(full, tmp_path / "cut.ts", 0.5)  # mid-packet, like a stream that stopped dead
    rec = tmp_path / "rec.mp4"
    result, _ = live(tmp_path, source=str(cut), model="bicubic", scale=2, outputs=[str(rec)])
    r = result.report
    assert r.stop_reason == "source ended" and 10 < r.processed < 60
    times, size = decode_all(rec)
    assert len(times) == r.recorded_frames == r.processed and size == (128, 72)
    assert not list(tmp_path.glob(".*.part*"))


def test_source_changing_size_mid_stream_keeps_the_output_size(tmp_path):
    # Two MPEG-TS clips back to back, like a stream switching resolution; the second continues the timestamps.
    a = media_factory.make_clip(tmp_path / "a.ts", 64, 36, frames=20, rate=30)
    b = media_factory.make_clip(tmp_path / "b.ts", 96, 54, pts=list(range(20, 40)), rate=30)
    both = tmp_path / "both.ts"
    both.write_bytes(a.read_bytes() + b.read_bytes())
    rec = tmp_path / "rec.mp4"
    result, logs = live(tmp_path, source=str(both), model="bicubic", scale=2, outputs=[str(rec)])
    assert any("changed size to 96x54" in line for line in logs)
    times, size = decode_all(rec)
    assert size == (128, 72) and len(times) == result.report.processed > 30


def test_timestamp_jump_in_a_paced_source_does_not_stall_capture(tmp_path):
    # 100 s jump half-way (a restarted stream): pacing restarts instead of waiting 100 s for the next frame.
    clip = media_factory.make_clip(tmp_path / "jump.mkv", 64, 36, rate=30,
                                   pts=list(range(30)) + list(range(3000, 3030)))
    t0 = time.monotonic()
    result, _ = live(tmp_path, source=str(clip), model="bicubic", scale=2, duration_s=20)
    assert result.report.stop_reason == "source ended" and result.report.captured == 60
    assert time.monotonic() - t0 < 10


def test_http_source_paced_with_realtime(tmp_path):
    import functools
    import http.server

    make_clip(tmp_path / "cam.mp4", 64, 36, 30, 1.5)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cam.mp4"
        t0 = time.monotonic()
        result, _ = live(tmp_path, source=url, model="bicubic", scale=2, realtime=True)
        elapsed = time.monotonic() - t0
    finally:
        server.shutdown()
        server.server_close()
    r = result.report
    assert r.source_kind == "network" and r.stop_reason == "source ended"
    # Paced by its timestamps like a camera: every frame processed, and it took the clip's duration.
    assert r.captured == r.processed == 45 and elapsed > 1.4
    frames = result.frames
    assert abs(frames[-1].capture_s - 44 / 30) < 0.15


def test_network_source_that_stops_sending_is_an_error_with_the_recording_kept(tmp_path):
    port = free_udp_port()
    rec = tmp_path / "rec.mp4"

    def sender() -> None:
        time.sleep(1.0)  # let the live command start listening first
        with av.open(f"udp://127.0.0.1:{port}?pkt_size=1316", "w", format="mpegts") as out:
            v = out.add_stream("libx264", rate=30, options={"preset": "ultrafast", "tune": "zerolatency", "g": "10"})
            v.width, v.height, v.pix_fmt = 64, 36, "yuv420p"
            for i in range(45):
                img = np.full((36, 64, 3), (i * 5) % 255, np.uint8)
                f = av.VideoFrame.from_ndarray(img, format="rgb24")
                f.pts, f.time_base = i, Fraction(1, 30)
                out.mux(v.encode(f))
                time.sleep(1 / 30)
            out.mux(v.encode(None))

    t = threading.Thread(target=sender)
    t.start()
    result, _ = live(tmp_path, source=f"udp://127.0.0.1:{port}", model="bicubic", scale=2, outputs=[str(rec)],
                     open_timeout_s=10, read_timeout_s=1.0)
    t.join()
    r = result.report
    assert r.error and r.stop_reason.startswith("source lost")
    times, size = decode_all(rec)
    assert size == (128, 72) and len(times) == r.processed > 10


def test_lavfi_source_through_the_cli(tmp_path):
    report = tmp_path / "r.json"
    p = run_cli("live", "--source", "lavfi:testsrc2=size=64x36:rate=25", "--model", "bicubic", "--scale", "2",
                "--duration", "1.5", "--threads", "1", "--report", str(report))
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == "duration 1.5 s reached"
    data = json.loads(report.read_text())
    for key in ("captured", "processed", "dropped", "latency_ms_p50", "latency_ms_p95"):
        assert key in data
    assert 30 <= data["captured"] <= 40 and data["output_size"] == [128, 72]


@pytest.mark.parametrize("source, message", [
    ("/dev/video97", "/dev/video97: no such camera"),
    ("webcam:97", "webcam:97 (/dev/video97): no such camera"),
    ("rtsp://127.0.0.1:9/none", "stream unreachable"),
    ("lavfi:nosuchfilter=1", "FFmpeg rejected the filter graph"),
    ("missing.mp4", "missing.mp4: no such file"),
    ("gopher://x", "unsupported source scheme"),
])
def test_bad_sources_are_one_line_errors(tmp_path, source, message):
    with pytest.raises(VSRError) as exc:
        live(tmp_path, source=source, model="bicubic", scale=2, open_timeout_s=2)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_bad_outputs_are_refused_before_the_source_opens(tmp_path):
    clip = make_clip(tmp_path / "cam.mp4", seconds=0.5)
    before = clip.read_bytes()
    cases = [
        ({"outputs": [str(clip)], "overwrite": True}, "is the source"),
        ({"outputs": [str(tmp_path / "rec.avi")]}, "unsupported recording extension '.avi'"),
        ({"outputs": [str(tmp_path / "no" / "rec.mp4")]}, "does not exist"),
        ({"outputs": [str(clip)]}, "exists; pass overwrite to replace it"),
        ({"outputs": ["gopher://x"]}, "unsupported output stream scheme"),
        ({"report": str(tmp_path / "no" / "r.json")}, "folder"),
        ({"capture_size": "wide"}, "capture_size 'wide': expected WIDTHxHEIGHT"),
        ({"max_latency_ms": 0}, "max_latency_ms must be positive"),
    ]
    for extra, message in cases:
        with pytest.raises(VSRError, match=re.escape(message)):
            live(tmp_path, source=str(clip), model="bicubic", scale=2, **extra)
    assert clip.read_bytes() == before


def test_unreachable_output_stream_is_a_one_line_error_and_leaves_no_partial_file(tmp_path):
    clip = make_clip(tmp_path / "cam.mp4", seconds=1.0)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec = tmp_path / "rec.mp4"
    # FFmpeg connects when the first packet goes out, so this surfaces at the first frame, not at start-up.
    with pytest.raises(VSRError, match=rf"tcp://127.0.0.1:{port}: .*\(Connection refused\)$"):
        live(tmp_path, source=str(clip), model="bicubic", scale=2, outputs=[str(rec), f"tcp://127.0.0.1:{port}"])
    assert not list(tmp_path.glob(".*.part*"))
    if rec.exists():  # what was recorded before the failure is kept, finalised
        assert decode_all(rec)[1] == (128, 72)


def test_silent_udp_source_times_out(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(VSRError, match="no response within 1 s"):
        live(tmp_path, source=f"udp://127.0.0.1:{free_udp_port()}", model="bicubic", scale=2, open_timeout_s=1)
    assert time.monotonic() - t0 < 5


def test_cli_errors_are_one_line_with_non_zero_exit(tmp_path):
    clip = make_clip(tmp_path / "cam.mp4")
    env = dict(os.environ, DISPLAY=":0")  # even with a display named, headless OpenCV has no windows
    p = run_cli("live", "--source", str(clip), "--model", "bicubic", "--scale", "2", "--display", env=env)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("error: --display needs")
    p = run_cli("live", "--source", str(clip), "--model", "bicubic", "--scale", "2", "--capture-size", "wide")
    assert p.returncode == 2 and p.stderr == "error: --capture-size 'wide': expected WIDTHxHEIGHT, e.g. 1280x720\n"
