"""vsr.io.live: opening live sources (lavfi, a file played at its pace), the capture thread, recordings, and the
one-line errors for sources that do not exist. Tiny frames, well under a second of capture each."""

from __future__ import annotations

import os
import queue
from pathlib import Path

import av
import pytest

from vsr.errors import InputError, MediaError, VSRError
from vsr.io.live import (
    CameraUnavailable,
    CaptureSettings,
    CaptureStage,
    LatestSlot,
    LiveSourceInfo,
    TimedWriter,
    WriterSettings,
    open_source,
)
from vsr.io.live.capture import _check_requested
from vsr.io.live.sinks import check_recording_target

from ..media_factory import make_clip

LAVFI = "lavfi:testsrc2=size=64x48:rate=10"


def _capture(source, audio: queue.Queue | None = None) -> tuple[CaptureStage, LatestSlot]:
    slot = LatestSlot(depth=64)
    stage = CaptureStage(source, slot, audio)
    stage.start()
    return stage, slot


def test_lavfi_source_reports_its_size_and_stops_cleanly() -> None:
    source = open_source(CaptureSettings(LAVFI))
    try:
        info = source.info
        assert (info.kind, info.width, info.height, info.fps, info.paced) == ("lavfi", 64, 48, 10.0, True)
        assert info.backend == "PyAV lavfi" and info.audio_stream is None
        stage, slot = _capture(source)
        first = slot.get(timeout=5)
        assert first is not None and first.rgb.shape == (48, 64, 3) and first.index == 0
        assert stage.stop(join_timeout=5)
        assert stage.end_reason == "stopped" and stage.error is None and stage.stats.captured >= 1
        assert info.colour is not None  # read from the first converted frame
    finally:
        source.close()


def test_file_source_plays_to_its_end(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "cam.mp4", 64, 36, frames=4, rate=25)
    source = open_source(CaptureSettings(str(clip)))
    try:
        assert (source.info.kind, source.info.width, source.info.height) == ("file", 64, 36)
        stage, slot = _capture(source)
        frames = []
        while (frame := slot.get(timeout=5)) is not None:  # None: the slot closed at the source's end
            frames.append(frame)
        assert stage.end_reason == "source ended" and stage.stats.captured == 4
        assert [f.pts_s for f in frames] == [0.0, 0.04, 0.08, 0.12]
    finally:
        source.close()


@pytest.mark.parametrize("spec, kind, text", [
    ("missing.mp4", InputError, "missing.mp4: no such file, and not a known source"),
    ("/dev/video97", CameraUnavailable, "/dev/video97: no such camera"),
    ("webcam:97", CameraUnavailable, "webcam:97 (/dev/video97): no such camera"),
    ("webcam:x", InputError, "source webcam:x: expected webcam:N"),
    ("gopher://x", InputError, "gopher://x: unsupported source scheme gopher://"),
    ("lavfi:nosuchfilter=1", MediaError, "lavfi:nosuchfilter=1: FFmpeg rejected the filter graph"),
])
def test_missing_or_unknown_sources_are_one_line_errors(spec: str, kind: type, text: str) -> None:
    with pytest.raises(kind) as exc:
        open_source(CaptureSettings(spec, open_timeout_s=2))
    assert str(exc.value).startswith(text) and "\n" not in str(exc.value)


def test_a_camera_delivering_another_size_is_refused() -> None:
    info = LiveSourceInfo("camera", "/dev/video0", 640, 480, 30.0, False, "PyAV v4l2")
    with pytest.raises(CameraUnavailable) as exc:  # not retried with OpenCV: it would get the same camera
        _check_requested(info, CaptureSettings("/dev/video0", size=(1280, 720)))
    assert exc.value.render({"capture_size": "--capture-size"}) == \
        "--capture-size 1280x720: not supported by /dev/video0 (the device delivers 640x480)"
    _check_requested(info, CaptureSettings("/dev/video0", size=(640, 480)))


def test_recording_is_renamed_into_place_and_an_abort_leaves_nothing(tmp_path: Path) -> None:
    source = open_source(CaptureSettings(LAVFI))
    try:
        rgb = source.to_rgb(next(item for item in source.items()).frame)
        colour = source.info.colour
    finally:
        source.close()
    rec = tmp_path / "rec.ts"
    writer = TimedWriter(str(rec), 64, 48, 10.0, colour, None, WriterSettings(preset="ultrafast"))
    for i in range(3):
        writer.write(rgb, i / 10)
    assert not rec.exists() and len(list(tmp_path.glob(f".rec.ts.{os.getpid()}-*.part.ts"))) == 1  # beside its name
    assert writer.close() == str(rec)
    with av.open(str(rec)) as c:
        assert len(list(c.decode(video=0))) == 3 and c.format.name == "mpegts"
    aborted = TimedWriter(str(tmp_path / "gone.mkv"), 64, 48, 10.0, colour, None)
    aborted.write(rgb, 0.0)
    aborted.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.ts"]


def test_recording_targets_are_checked_against_the_format_table(tmp_path: Path) -> None:
    check_recording_target(str(tmp_path / "r.flv"), overwrite=False)
    check_recording_target("udp://127.0.0.1:9", overwrite=False)
    with pytest.raises(InputError, match=r"unsupported recording extension '\.webm'"):
        check_recording_target(str(tmp_path / "r.webm"), overwrite=False)
    with pytest.raises(VSRError, match="folder .* does not exist"):
        check_recording_target(str(tmp_path / "no" / "r.mp4"), overwrite=False)
