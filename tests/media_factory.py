"""Generate small test clips with PyAV: exact frame content, timestamps, colour tags, audio, subtitles, metadata.

Reusable by every test that needs a real file (file upscaling, live mode, segments). Clips are tiny (a few dozen
frames of about 64x36) so that tests stay fast. Picture content is four flat colour quadrants with a moving bar
in the top rows, so colour can be measured on the flat parts and motion is still there for the encoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation

from vsr.io.hdr import HLG, PQ, ContentLight, HdrMetadata, MasteringDisplay, x26x_mastering
from vsr.io.synth import pull_all

_ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT | \
    Interpolation.FULL_CHR_H_INP

# RGB colours of the four quadrants (top-left, top-right, bottom-left, bottom-right): saturated and mid tones.
QUADRANTS = [(200, 60, 40), (40, 170, 90), (50, 70, 190), (128, 128, 128)]


@dataclass
class AudioSpec:
    codec: str = "aac"
    layout: str = "stereo"
    rate: int = 48000
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class SubtitleSpec:
    lines: list[tuple[int, int, str]]  # (start ms, duration ms, text)
    metadata: dict[str, str] = field(default_factory=dict)


def quadrant_frame(width: int, height: int, index: int, deep: bool = False) -> np.ndarray:
    """(H, W, 3) RGB: four flat quadrants, a moving white bar in the top 1/8."""
    img = np.zeros((height, width, 3), np.uint8)
    h2, w2 = height // 2, width // 2
    img[:h2, :w2], img[:h2, w2:], img[h2:, :w2], img[h2:, w2:] = QUADRANTS
    bar = max(2, width // 8)
    x = (index * 3) % max(1, width - bar)
    img[: max(2, height // 8), x: x + bar] = 255
    if deep:
        return img.astype(np.uint16) * 257
    return img


def audio_frames(spec: AudioSpec, seconds: float):
    channels = av.AudioLayout(spec.layout).nb_channels
    exprs = "|".join(f"0.3*sin({220 * (c + 1)}*2*PI*t)" for c in range(channels))
    args = f"{exprs}:channel_layout={spec.layout}:sample_rate={spec.rate}:duration={seconds}"
    yield from pull_all("aevalsrc", args, "abuffersink")


def make_clip(
    path: str | Path,
    width: int = 64,
    height: int = 36,
    frames: int = 12,
    rate: int = 25,
    *,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    matrix: int = 1,
    full_range: bool = False,
    primaries: int | None = None,
    trc: int | None = None,
    audio: list[AudioSpec] | None = None,
    subtitles: list[SubtitleSpec] | None = None,
    rotation: int | None = None,
    metadata: dict[str, str] | None = None,
    video_metadata: dict[str, str] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Write a clip. `pts` (in `time_base`, default 1/rate) gives variable frame rates; matrix is AVColorSpace."""
    path = Path(path)
    tb = time_base or Fraction(1, rate)
    pts = pts if pts is not None else [round(i / rate / tb) for i in range(frames)]
    frames = len(pts)
    deep = "10" in pix_fmt
    sws_matrix = {1: 1, 5: 5, 6: 5}.get(matrix, 1)
    rng = 2 if full_range else 1
    seconds = float(pts[-1] * tb) + 1 / rate
    with av.open(str(path), "w") as out:
        if metadata:
            out.metadata.update(metadata)
        v = out.add_stream(codec, rate=rate)
        v.width, v.height, v.pix_fmt = width, height, pix_fmt
        v.time_base = tb
        cc = v.codec_context
        cc.time_base = tb
        cc.color_range, cc.colorspace = rng, matrix
        cc.color_primaries = primaries if primaries is not None else (matrix if matrix in (1, 5, 6) else 2)
        cc.color_trc = trc if trc is not None else (matrix if matrix in (1, 6) else 2)
        cc.options = options if options is not None else (
            {"preset": "ultrafast", "qp": "4"} if codec == "libx264" else {})
        if rotation is not None:
            v.set_display_rotation(rotation)
        if video_metadata:
            v.metadata.update(video_metadata)
        a_streams = []
        for spec in audio or []:
            a = out.add_stream(spec.codec, rate=spec.rate, layout=spec.layout)
            a.metadata.update(spec.metadata)
            a_streams.append((a, spec))
        s_streams = []
        # MP4/MOV carry text subtitles as mov_text (a 2-byte length, then the text); Matroska as SubRip.
        mov_text = path.suffix.lower() in (".mp4", ".mov", ".m4v")
        for spec in subtitles or []:
            s = out.add_mux_stream("mov_text" if mov_text else "subrip")
            s.time_base = Fraction(1, 1000)
            s.metadata.update(spec.metadata)
            s_streams.append((s, spec))
        out.start_encoding()
        for i, p in enumerate(pts):
            rgb = quadrant_frame(width, height, i, deep)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le" if deep else "rgb24").reformat(
                format=pix_fmt, src_colorspace=sws_matrix, dst_colorspace=sws_matrix, src_color_range=2,
                dst_color_range=rng, interpolation=_ACCURATE)
            frame.colorspace, frame.color_range = matrix, rng
            frame.pts, frame.time_base = p, tb
            for packet in v.encode(frame):
                out.mux(packet)
        for packet in v.encode(None):
            out.mux(packet)
        for a, spec in a_streams:
            for frame in audio_frames(spec, seconds):
                for packet in a.encode(frame):
                    out.mux(packet)
            for packet in a.encode(None):
                out.mux(packet)
        for s, spec in s_streams:
            for start, duration, text in spec.lines:
                payload = text.encode()
                packet = av.Packet(len(payload).to_bytes(2, "big") + payload if mov_text else payload)
                packet.stream = s
                packet.pts = packet.dts = start
                packet.duration = duration
                packet.time_base = Fraction(1, 1000)
                out.mux(packet)
    return path


# The mastering display and light levels of `make_hdr_clip`: a P3-D65 display of 4000 / 0.0005 cd/m2, in the
# units of the HEVC SEI (chromaticity in 1/50000, luminance in 1/10000 cd/m2), each value distinct so that a
# swapped primary or min/max shows.
HDR_MASTERING = MasteringDisplay(
    red=(Fraction(34000, 50000), Fraction(16000, 50000)), green=(Fraction(13250, 50000), Fraction(34500, 50000)),
    blue=(Fraction(7500, 50000), Fraction(3000, 50000)), white_point=(Fraction(15635, 50000), Fraction(16450, 50000)),
    min_luminance=Fraction(5, 10000), max_luminance=Fraction(4000))
HDR_LIGHT = ContentLight(max_cll=1234, max_fall=567)


def make_hdr_clip(path: str | Path, transfer: str = "pq", hdr: HdrMetadata | None = None, frames: int = 6,
                  width: int = 64, height: int = 36) -> Path:
    """A 10-bit BT.2020 HEVC clip (libx265): transfer "pq" (smpte2084) or "hlg" (arib-std-b67), limited range.

    `hdr` is written as SEI messages (the decoder puts them on every frame as side data); by default a PQ clip
    has `HDR_MASTERING` and `HDR_LIGHT` and an HLG clip has none."""
    trc = {"pq": PQ, "hlg": HLG}[transfer]
    if hdr is None:
        hdr = HdrMetadata(HDR_MASTERING, HDR_LIGHT) if transfer == "pq" else HdrMetadata()
    params = ["log-level=error"]
    if hdr.mastering is not None:
        params.append(f"master-display={x26x_mastering(hdr.mastering)}")
    if hdr.light is not None:
        params.append(f"max-cll={hdr.light.max_cll},{hdr.light.max_fall}")
    return make_clip(path, width, height, frames, codec="libx265", pix_fmt="yuv420p10le", matrix=9, primaries=9,
                     trc=trc, options={"preset": "ultrafast", "x265-params": ":".join(params)})


def truncate(src: str | Path, dst: str | Path, fraction: float) -> Path:
    """A copy of `src` cut after `fraction` of its bytes (a download that stopped)."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)


def corrupt_packets(src: str | Path, dst: str | Path, every: int = 4, seed: int = 0) -> tuple[Path, int]:
    """A copy of `src` with the payload of every `every`-th video packet (after the first) overwritten with noise.

    The container structure stays intact, so the file opens and demuxes; only those packets are damaged.
    Returns the path and how many packets were damaged.
    """
    data = bytearray(Path(src).read_bytes())
    rng = np.random.default_rng(seed)
    damaged = 0
    with av.open(str(src)) as c:
        for i, packet in enumerate(c.demux(c.streams.video[0])):
            if packet.size == 0 or packet.pos is None or packet.pos < 0 or i == 0 or i % every:
                continue
            start = packet.pos + 4  # keep the first bytes (length prefix / NAL header) so the packet stays one
            n = max(0, packet.size - 4)
            data[start: start + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
            damaged += 1
    Path(dst).write_bytes(bytes(data))
    return Path(dst), damaged


def decode_info(path: str | Path) -> dict:
    """What a user would check in a file: frames, timestamps, sizes, colour tags, rotation, streams, metadata."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = list(c.decode(v))
        first = frames[0]
        return {
            "frames": len(frames),
            "pts": [f.pts for f in frames],
            "time_base": Fraction(v.time_base),
            "times": [Fraction(f.pts) * Fraction(v.time_base) for f in frames],
            "size": (first.width, first.height),
            "pix_fmt": first.format.name,
            "colour": (int(first.colorspace), int(first.color_primaries), int(first.color_trc),
                       int(first.color_range)),
            "rotation": int(first.rotation or 0),
            "metadata": dict(c.metadata),
            "video_metadata": dict(v.metadata),
            "streams": [(s.type, s.codec_context.codec.canonical_name if s.codec_context else "none", dict(s.metadata))
                        for s in c.streams],
            "duration": float(c.duration / av.time_base) if c.duration else None,
        }


def stream_packets(path: str | Path, index: int) -> list[bytes]:
    """The payload bytes of every packet of one stream, in order."""
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams[index]) if p.size]


def frame_rgb(frame: av.VideoFrame) -> np.ndarray:
    """RGB as a player shows it: converted with the matrix and range the frame is tagged with."""
    matrix = {1: 1, 5: 5, 6: 5}.get(int(frame.colorspace), 5)
    rng = int(frame.color_range) or 1
    return frame.to_ndarray(format="rgb24", src_colorspace=matrix, src_color_range=rng, dst_colorspace=matrix,
                            dst_color_range=2, interpolation=_ACCURATE)


def quadrant_means(path: str | Path, index: int = -1) -> np.ndarray:
    """Mean RGB of the centre of each quadrant (4, 3), from frame `index` as a player decodes it."""
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    rgb = frame_rgb(frames[index]).astype(np.float64)
    h, w = rgb.shape[:2]
    out = []
    for y0, x0 in ((0, 0), (0, w // 2), (h // 2, 0), (h // 2, w // 2)):
        # the centre half of the quadrant, below the moving bar and away from edges
        ys, xs = slice(y0 + h // 8 + 2, y0 + h // 2 - h // 8), slice(x0 + w // 8, x0 + w // 2 - w // 8)
        out.append(rgb[ys, xs].reshape(-1, 3).mean(axis=0))
    return np.array(out)
