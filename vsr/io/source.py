"""Open a video file and stream its contents: decoded video frames as RGB, other streams' packets untouched.

One demuxer pass reads every stream, so the packets of audio/subtitle streams come out in the file's own
interleaving order next to the video frames; the muxer then re-interleaves them by dts. (A second demuxer for
the other streams would need its own pacing against the video and a second file handle; one pass is simpler
and keeps memory bounded by the pipeline's queues.)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.codec.hwaccel import HWAccel

from vsr.errors import VSRError
from vsr.io.colour import ColourDescription, bit_depth, describe_frame, to_rgb
from vsr.io.planes import chroma_location, planes_from_frame, same_layout, supported_pix_fmt

Notify = Callable[[str], None]


@dataclass
class Frame:
    """A decoded video frame with its timing: RGB `rgb` (H, W, 3) uint8, or uint16 for deep inputs; or, where the
    conversion runs beside the model (`VideoSource(planes=True)`), its YUV `planes` [Y, U, V] in `pix_fmt` and
    `rgb` None."""

    rgb: np.ndarray | None
    pts: int
    time_base: Fraction
    index: int
    key_frame: bool = False
    planes: list[np.ndarray] | None = None
    pix_fmt: str = ""

    @property
    def batch_key(self) -> tuple:
        """Frames with equal keys can share a batch: the same kind, size and format."""
        if self.planes is not None:
            return (self.pix_fmt, *(p.shape for p in self.planes))
        assert self.rgb is not None
        return ("rgb", self.rgb.shape, self.rgb.dtype)


@dataclass
class AudioFrames:
    """Decoded audio of a stream that must be re-encoded (its codec does not fit the output container)."""

    stream_index: int
    frame: av.AudioFrame


@dataclass(frozen=True)
class TimeRange:
    """The video frames with `start <= pts < end` (video stream time base; None = open end).

    Decoding starts at the keyframe found by seeking backward to `seek` (default `start`: pass the keyframe's
    dts to land exactly on it), so B-frames and open GOPs decode correctly; frames before `start` are decoded and
    dropped, and reading stops at the first frame at or after `end`. Other streams' packets are passed as they
    come between those two points: for a clean cut of the whole file, use it for video only.
    """

    start: int | None = None
    end: int | None = None
    seek: int | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"empty time range [{self.start}, {self.end})")


@dataclass
class StreamInfo:
    index: int
    type: str  # video, audio, subtitle, data, attachment
    codec: str
    metadata: dict[str, str]


@dataclass
class SourceInfo:
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

    @property
    def deep(self) -> bool:
        return self.bit_depth > 8


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise VSRError(f"{path}: no such file")
    if not path.is_file():
        raise VSRError(f"{path}: not a file")
    if not os.access(path, os.R_OK):
        raise VSRError(f"{path}: not readable")
    try:
        return av.open(str(path), "r")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise VSRError(f"{path}: not a media file that FFmpeg can read ({exc.__class__.__name__})") from None


def _display_matrix(frame: av.VideoFrame) -> list[int] | None:
    for sd in frame.side_data:
        if str(sd.type).endswith("DISPLAYMATRIX"):
            return [int(v) for v in np.frombuffer(bytes(sd), dtype=np.int32)]
    return None


def probe(path: str | Path) -> SourceInfo:
    """Read the header and the first video frame (colour, depth and rotation live on the frames)."""
    path = Path(path)
    with _open(path) as container:
        if not container.streams.video:
            raise VSRError(f"{path}: has no video stream")
        # The picture, not cover art or thumbnails (attached pictures are video streams too).
        movies = [v for v in container.streams.video
                  if not v.disposition & (av.stream.Disposition.attached_pic | av.stream.Disposition.timed_thumbnails)]
        vs = movies[0] if movies else container.streams.video[0]
        cc = vs.codec_context
        first = None
        try:
            for packet in container.demux(vs):
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    continue
                if frames:
                    first = frames[0]
                    break
        except av.FFmpegError:
            pass
        if first is None:
            raise VSRError(f"{path}: no decodable video frame in stream {vs.index} ({cc.name})")
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
        )


@dataclass
class SourceCounters:
    frames: int = 0
    packets_passed: int = 0
    corrupt_packets: int = 0
    decode_errors: int = 0
    truncated: bool = False


class VideoSource:
    """Streams a file: `Frame`s of the first video stream plus the packets (or decoded audio) of other streams.

    `copy` are stream indices whose packets are passed on as they are; `decode` are audio stream indices whose
    frames are passed on for re-encoding. Everything else is not read. Corrupt packets are skipped with a
    warning; a read error (a truncated file) ends the stream after flushing what was decoded.
    """

    def __init__(self, info: SourceInfo, copy: set[int], decode: set[int], notify: Notify,
                 threads: int = 0, time_range: TimeRange | None = None, max_frames: int | None = None,
                 planes: bool = False, hwdec: str | None = None) -> None:
        self.info = info
        self.hwdec = hwdec  # "cuda" or "cuda:N": decode with NVDEC (frames come back to host memory, as nv12/p010)
        # YUV planes instead of RGB, for conversion beside the model: frames in the stream's own format only
        # (a mid-stream format change falls back to RGB for those frames).
        self.planes = planes and supported_pix_fmt(info.pix_fmt)
        self.range = time_range or TimeRange()
        self.copy, self.decode = set(copy), set(decode)
        self.notify = notify
        self.counters = SourceCounters()
        self._threads = threads
        self.max_frames = max_frames
        self._last_pts: int | None = None
        self._pts_fixed = 0

    def _frame(self, frame: av.VideoFrame) -> Frame:
        info = self.info
        if frame.width != info.width or frame.height != info.height:
            # The encoder has one size; a mid-stream size change is scaled back to the first size (as ffmpeg does).
            frame = frame.reformat(width=info.width, height=info.height)
        pts = frame.pts
        if pts is None:  # no timestamp: one frame after the previous one
            step = round(1 / (info.rate * info.time_base)) if info.rate else 1
            pts = 0 if self._last_pts is None else self._last_pts + max(1, step)
        if self._last_pts is not None and pts <= self._last_pts:
            # Encoders need strictly increasing timestamps; broken inputs repeat them.
            pts = self._last_pts + 1
            self._pts_fixed += 1
            if self._pts_fixed == 1:
                self.notify(f"frame {self.counters.frames}: timestamp not increasing; moved to the next tick")
        self._last_pts = pts
        if self.planes and same_layout(frame.format.name, info.pix_fmt):
            out = Frame(None, pts, info.time_base, self.counters.frames, bool(frame.key_frame),
                        planes=planes_from_frame(frame), pix_fmt=info.pix_fmt)
        else:
            out = Frame(to_rgb(frame, info.colour, info.deep), pts, info.time_base, self.counters.frames,
                        bool(frame.key_frame))
        self.counters.frames += 1
        return out

    def _open_for_decoding(self) -> av.container.InputContainer:
        """The input opened with NVDEC when asked and possible, else for decoding on the CPU (one notice)."""
        if self.hwdec:
            _, _, index = self.hwdec.partition(":")
            accel = HWAccel(device_type="cuda", device=index or None, allow_software_fallback=True)
            try:  # (the path was opened by probe() already: only the device can fail here)
                return av.open(str(self.info.path), "r", hwaccel=accel)
            except (av.FFmpegError, OSError) as exc:  # no driver, no device, an FFmpeg without CUDA
                self.notify(f"NVDEC unavailable ({exc.__class__.__name__}: {exc}); decoding on the CPU")
                self.hwdec = None
        return _open(self.info.path)

    def _decode(self, codec_context, packet) -> list:
        try:
            return codec_context.decode(packet)
        except av.error.EOFError:  # a flush after the decoder was already drained
            return []
        except av.FFmpegError as exc:
            self.counters.decode_errors += 1
            self.counters.corrupt_packets += 1
            where = f" at {float(packet.pts * packet.time_base):.3f}s" if packet and packet.pts is not None else ""
            self.notify(f"warning: skipped a corrupt packet in stream {packet.stream_index if packet else '?'}"
                        f"{where} ({exc.__class__.__name__}: {getattr(exc, 'strerror', exc)})")
            return []

    def items(self, should_stop: Callable[[], bool]) -> Iterator[Frame | av.Packet | AudioFrames]:
        info = self.info
        with self._open_for_decoding() as container:
            vs = container.streams[info.video_index]
            vs.codec_context.thread_type = "AUTO"  # frame + slice threads: decode runs beside the model
            if self._threads:
                vs.codec_context.thread_count = self._threads
            wanted = [vs] + [container.streams[i] for i in sorted(self.copy | self.decode)]
            start, end = self.range.start, self.range.end
            if start is not None:
                seek = self.range.seek if self.range.seek is not None else start
                container.seek(seek, backward=True, any_frame=False, stream=vs)
            first_seen = False
            demux = container.demux(wanted)
            while not should_stop():
                try:
                    packet = next(demux)
                except StopIteration:
                    break
                except av.FFmpegError as exc:
                    self.counters.truncated = True
                    self.notify(f"warning: input ends early ({exc.__class__.__name__}); "
                                "processing everything decoded so far")
                    break
                index = packet.stream_index
                if index == info.video_index:
                    if packet.is_corrupt:
                        self.counters.corrupt_packets += 1
                        self.notify(f"warning: packet flagged corrupt in the video stream at dts {packet.dts}")
                    for frame in self._decode(vs.codec_context, packet):
                        if self.hwdec and not vs.codec_context.is_hwaccel:
                            self.notify(f"NVDEC does not decode this {vs.codec_context.name} stream; decoding on "
                                        "the CPU")
                            self.hwdec = None
                        if start is not None or end is not None:
                            pts = frame.pts
                            if start is not None and not first_seen and pts is not None and pts > start:
                                raise VSRError(f"{info.path}: seeking to {start} landed after it (first frame at "
                                               f"{pts}); the file's index is unusable for time ranges")
                            first_seen = True
                            if start is not None and pts is not None and pts < start:
                                continue  # decoded only as a reference for the frames in range
                            if end is not None and pts is not None and pts >= end:
                                return  # the next range's first frame: this range is complete
                        yield self._frame(frame)
                        if self.max_frames is not None and self.counters.frames >= self.max_frames:
                            return  # a preview of the first frames: the other streams end here too
                elif index in self.copy:
                    if packet.size == 0:  # the demuxer's end-of-stream marker, not data
                        continue
                    self.counters.packets_passed += 1
                    yield packet
                elif index in self.decode:
                    for frame in self._decode(container.streams[index].codec_context, packet):
                        yield AudioFrames(index, frame)
            if should_stop():
                return
            # Drain the decoders: after a clean end demux already sent flush packets, but after a read error not.
            if self.counters.truncated:
                for frame in self._decode(vs.codec_context, None):
                    yield self._frame(frame)
