"""What a video file holds: `probe(path)` reads its header and first video frame into a `SourceInfo`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vsr.errors import InputError, MediaError
from vsr.io.colour import ColourDescription, bit_depth, describe_frame
from vsr.io.hdr import HdrMetadata, read_hdr
from vsr.io.picture import YuvFormat
from vsr.io.planes import chroma_location, supported_pix_fmt, yuv_format

# Video codecs that keep every pixel (an x264 stream at qp 0 is lossless too, but cannot be told from its header).
LOSSLESS_CODECS = frozenset({
    "rawvideo", "ffv1", "ffvhuff", "huffyuv", "utvideo", "magicyuv", "png", "apng", "qtrle", "v210", "v410",
    "r210", "v308", "v408", "yuv4", "ayuv", "bmp", "tiff", "zlib", "lagarith", "none"})


@dataclass
class StreamInfo:
    index: int
    type: str  # video, audio, subtitle, data, attachment
    codec: str
    metadata: dict[str, str]


@dataclass
class SourceInfo:
    """A probed video file: its container, the video stream that is upscaled (size, timing, colour, depth,
    rotation, tags) and the list of all its streams. (A live source is described by
    `vsr.io.live.LiveSourceInfo`.)"""

    path: Path
    format_name: str
    width: int
    height: int
    time_base: Fraction
    rate: Fraction | None
    frames: int | None  # from the header, or estimated from the duration; None if unknown
    duration_s: float | None
    colour: ColourDescription
    bit_depth: int
    pix_fmt: str
    sample_aspect_ratio: Fraction | None
    display_matrix: list[int] | None
    rotation: int
    metadata: dict[str, str]
    video_metadata: dict[str, str]
    video_index: int
    streams: list[StreamInfo] = field(default_factory=list)
    chroma_location: int = 0  # AVChromaLocation of the decoded frames (vsr.io.planes.chroma_location)
    hdr: HdrMetadata = field(default_factory=HdrMetadata)  # mastering display and light level of the first frame

    @property
    def deep(self) -> bool:
        return self.bit_depth > 8

    @property
    def video_codec(self) -> str:
        return next((s.codec for s in self.streams if s.index == self.video_index), "none")

    @property
    def lossy(self) -> bool:
        """Whether the video was compressed by a lossy codec (H.264, HEVC, AV1, VP9, MPEG-4 ...): an ordinary
        video, whose codec artifacts `--model auto` answers with a model trained for them."""
        return self.video_codec not in LOSSLESS_CODECS

    @property
    def yuv_format(self) -> YuvFormat | None:
        """The format of the decoded frames' YUV planes (None where they cannot be handed out as planes)."""
        return yuv_format(self.pix_fmt, self.width, self.height, self.colour, self.chroma_location)


def open_input(path: Path) -> av.container.InputContainer:
    """The file opened for reading; a missing, unreadable or non-media file is a one-line error."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable")
    try:
        return av.open(str(path), "r")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path}: not a media file that FFmpeg can read ({exc.__class__.__name__})") from None


def _display_matrix(frame: av.VideoFrame) -> list[int] | None:
    for sd in frame.side_data:
        if str(sd.type).endswith("DISPLAYMATRIX"):
            return [int(v) for v in np.frombuffer(bytes(sd), dtype=np.int32)]
    return None


def main_video(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The picture, not cover art or thumbnails (attached pictures are video streams too)."""
    movies = [v for v in container.streams.video
              if not v.disposition & (av.stream.Disposition.attached_pic | av.stream.Disposition.timed_thumbnails)]
    return movies[0] if movies else container.streams.video[0]


def _first_frame(container: av.container.InputContainer, vs: av.video.stream.VideoStream,
                 keep: list[av.Packet] | None = None) -> av.VideoFrame | None:
    """The first decodable frame. `keep` (an input read once, a pipe): every stream is read and each packet read
    is appended to it, for the decoding pass to replay."""
    try:
        for packet in container.demux() if keep is not None else container.demux(vs):
            if keep is not None:
                if packet.size:  # not the demuxer's end-of-stream marker: the decoding pass gets its own
                    keep.append(packet)
                if packet.stream_index != vs.index:
                    continue
            try:
                frames = vs.codec_context.decode(packet)
            except av.FFmpegError:
                continue
            if frames:
                return frames[0]
    except av.FFmpegError:
        pass
    return None


def probe(path: str | Path) -> SourceInfo:
    """Read the header and the first video frame (colour, depth, rotation and HDR metadata live on the frames)."""
    path = Path(path)
    with open_input(path) as container:
        return describe(container, path)


def describe(container: av.container.InputContainer, path: Path, name: str | None = None,
             keep: list[av.Packet] | None = None) -> SourceInfo:
    """The `SourceInfo` of an opened input, read from its header and first video frame. `name`: what errors call
    it (default the path); `keep`: see `_first_frame` (an input that can be read only once)."""
    name = name or str(path)
    if not container.streams.video:
        raise MediaError(f"{name}: has no video stream")
    vs = main_video(container)
    cc = vs.codec_context
    if cc is None:  # a damaged header: FFmpeg could not tell the codec
        raise MediaError(f"{name}: video stream {vs.index} has an unknown codec (damaged or unsupported file)")
    first = _first_frame(container, vs, keep)
    if first is None:
        raise MediaError(f"{name}: no decodable video frame in stream {vs.index} ({cc.name})")
    tb = Fraction(vs.time_base) if vs.time_base else Fraction(1, 90000)
    rate = vs.guessed_rate or vs.average_rate
    rate = Fraction(rate) if rate else None
    duration_s = None
    if vs.duration is not None:
        duration_s = float(vs.duration * tb)
    elif container.duration is not None:
        duration_s = container.duration / av.time_base
    frames = vs.frames or None
    if frames is None and duration_s and rate:
        frames = max(1, round(duration_s * rate))
    streams = [
        StreamInfo(s.index, s.type, s.codec_context.codec.canonical_name if s.codec_context else "none",
                   dict(s.metadata))
        for s in container.streams
    ]
    return SourceInfo(
        path=path, format_name=container.format.name, width=first.width, height=first.height, time_base=tb,
        rate=rate, frames=frames, duration_s=duration_s, colour=describe_frame(first),
        bit_depth=bit_depth(first), pix_fmt=first.format.name,
        sample_aspect_ratio=Fraction(cc.sample_aspect_ratio) if cc.sample_aspect_ratio else None,
        display_matrix=_display_matrix(first), rotation=int(first.rotation or 0),
        metadata=dict(container.metadata), video_metadata=dict(vs.metadata), video_index=vs.index,
        streams=streams, chroma_location=chroma_location(first) if supported_pix_fmt(first.format.name) else 0,
        hdr=read_hdr(first),
    )
