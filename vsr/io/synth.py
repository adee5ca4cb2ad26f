"""Make short test clips with FFmpeg's own sources (testsrc2 pattern, sine tone) through PyAV: no files needed."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import av.filter

from vsr.io.atomic import AtomicOutput


def pull_all(source: str, args: str, sink: str):
    """Every frame of an FFmpeg source filter (`testsrc2`, `sine`, `aevalsrc`, ...) through `sink`."""
    graph = av.filter.Graph()
    src = graph.add(source, args)
    out = graph.add(sink)
    src.link_to(out)
    graph.configure()
    while True:
        try:
            yield out.pull()
        except (av.error.EOFError, av.error.BlockingIOError):
            return


def write_pattern_clip(path: str | Path, width: int = 160, height: int = 90, seconds: float = 2.0, rate: int = 25,
                       tone_hz: float | None = 440.0, codec: str = "libx264", gop: int = 0) -> Path:
    """A `testsrc2` clip (moving pattern, counter) with an AAC sine tone (or Opus for .webm); `gop`: a keyframe
    every this many frames (0: the encoder's default), for clips that are cut into segments."""
    path = Path(path)
    with AtomicOutput(path) as temp, av.open(str(temp), "w") as out:
        v = out.add_stream(codec, rate=rate)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.codec_context.time_base = Fraction(1, rate)
        v.codec_context.options = {"preset": "veryfast", "crf": "18"} if codec == "libx264" else {}
        if gop:
            v.codec_context.gop_size = gop
        v.codec_context.color_range, v.codec_context.colorspace = 1, 1
        v.codec_context.color_primaries, v.codec_context.color_trc = 1, 1
        a = None
        if tone_hz:
            a = out.add_stream("libopus" if path.suffix == ".webm" else "aac", rate=48000, layout="mono")
        for frame in pull_all("testsrc2", f"size={width}x{height}:rate={rate}:duration={seconds}", "buffersink"):
            frame.colorspace, frame.color_range = 1, 1
            frame.pict_type = av.video.frame.PictureType.NONE  # lavfi marks every frame I, which x264 would obey
            for packet in v.encode(frame):
                out.mux(packet)
        for packet in v.encode(None):
            out.mux(packet)
        if a is not None:
            for frame in pull_all("sine", f"frequency={tone_hz}:sample_rate=48000:duration={seconds}",
                                   "abuffersink"):
                for packet in a.encode(frame):
                    out.mux(packet)
            for packet in a.encode(None):
                out.mux(packet)
    return path
