"""Shared by the segment tests: the test clip, the settings, and what a user checks in a joined output."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np

from pipelines.common.notices import Notices
from pipelines.common.settings import UpscaleConfig
from pipelines.segments import Manifest
from pipelines.upscale import run_upscale

from .conftest import ROOT
from .media_factory import AudioSpec, decode_info, frame_rgb, make_clip, stream_packets

WIDTH, HEIGHT, RATE, SECONDS = 64, 36, 10, 30
# Short open GOPs with B-frames: a keyframe every 1.5 s, and the B-frames just before it in display order come
# after it in decode order and belong to the previous segment: the hardest case for clean boundaries.
X264_OPEN_GOP = {"preset": "veryfast", "qp": "20",
                 "x264-params": "keyint=15:min-keyint=15:bframes=2:open-gop=1:scenecut=0"}


def make_segment_clip(path: Path, seconds: int = SECONDS) -> Path:
    """30 s at 10 fps, 64x36, AAC audio: 300 frames, 20 keyframes."""
    return make_clip(path, WIDTH, HEIGHT, frames=seconds * RATE, rate=RATE, audio=[AudioSpec()],
                     options=X264_OPEN_GOP)


def config(**encode) -> UpscaleConfig:
    cfg = UpscaleConfig()
    cfg.model.name, cfg.model.scale = "bicubic", 2
    cfg.engine.precision = "fp32"
    cfg.encode.preset = "ultrafast"
    for key, value in encode.items():
        setattr(cfg.encode, key, value)
    return cfg


def single_pass(src: Path, out: Path) -> Path:
    run_upscale(src, out, config(), progress=False, notices=Notices(echo=False))
    return out


def bar_positions(path: Path, scale: int = 2) -> list[int]:
    """Where the moving bar of media_factory.quadrant_frame is in each decoded frame (input pixels).

    The bar moves 3 pixels a frame, so a duplicated, missing or reordered frame anywhere shows up here.
    """
    out = []
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            rgb = frame_rgb(frame).astype(np.float64)
            rows = rgb[: max(2, HEIGHT // 8) * scale - 1].mean(axis=(0, 2))
            bright = np.flatnonzero(rows > 190)
            out.append(round((bright.min() + bright.max() + 1) / 2 / scale - WIDTH // 16))
    return out


def expected_positions(frames: int) -> list[int]:
    bar = max(2, WIDTH // 8)
    return [(i * 3) % max(1, WIDTH - bar) for i in range(frames)]


def assert_same_as_single_pass(src: Path, out: Path, reference: Path) -> None:
    """Frame count and timestamps of a single pass, audio packets of the input, every frame where it belongs."""
    a, b, ref = decode_info(src), decode_info(out), decode_info(reference)
    assert b["frames"] == ref["frames"] == a["frames"]
    assert b["pts"] == ref["pts"] and b["time_base"] == ref["time_base"]
    assert b["times"] == a["times"]
    assert b["size"] == ref["size"] == (WIDTH * 2, HEIGHT * 2)
    assert [s[:2] for s in b["streams"]] == [s[:2] for s in ref["streams"]]
    assert stream_packets(out, 1) == stream_packets(src, 1), "audio packets differ from the input's"
    assert bar_positions(out) == expected_positions(a["frames"]) == bar_positions(reference)


def video_packets(path: Path) -> list[tuple[int | None, int | None, bytes]]:
    with av.open(str(path)) as c:
        return [(p.pts, p.dts, bytes(p)) for p in c.demux(video=0) if p.size]


def ctrl_c_after_a_segment(args: list[str], work: Path) -> str:
    """Runs `run_pipeline.py ARGS`, sends Ctrl-C once the work directory's manifest shows a finished segment (the
    next one is then being upscaled), checks exit 130 and the resume hint as the last line; returns stderr."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_pipeline.py"), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            m = Manifest.load(work)
            if m is not None and any(s.done for s in m.segments):
                proc.send_signal(signal.SIGINT)
                break
            time.sleep(0.02)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("stopped by Ctrl-C; ") and last.endswith("run the same command with --resume to go on")
    return err
