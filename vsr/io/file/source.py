"""Stream a video file (probed by `vsr.io.file.probe`): decoded video frames as RGB, other streams' packets
untouched.

One demuxer pass reads every stream, so the packets of audio/subtitle streams come out in the file's own
interleaving order next to the video frames; the muxer then re-interleaves them by dts. (A second demuxer for
the other streams would need its own pacing against the video and a second file handle; one pass is simpler
and keeps memory bounded by the pipeline's queues.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
from av.codec.hwaccel import HWAccel

from vsr.errors import MediaError
from vsr.io.colour import to_rgb
from vsr.io.file.pipe import PipeInput
from vsr.io.file.probe import SourceInfo, StreamInfo, open_input, probe
from vsr.io.picture import Picture, RgbPicture, YuvPicture
from vsr.io.planes import planes_from_frame, same_layout

Notify = Callable[[str], None]


@dataclass
class Frame:
    """A decoded video frame with its timing and its picture: RGB pixels, or, where colour is converted beside
    the model (`VideoSource(planes=True)`), its YUV planes in their format (vsr/io/picture.py)."""

    picture: Picture
    pts: int
    time_base: Fraction
    index: int
    key_frame: bool = False

    @property
    def batch_key(self) -> tuple:
        """Frames with equal keys can share a batch: the same kind, size and format."""
        return self.picture.batch_key


# What NVDEC's frames are downloaded as: semi-planar for 4:2:0 (8, 10, 16 bit), planar for 4:4:4.
NVDEC_FORMATS = frozenset({"nv12", "p010le", "p016le", "yuv444p", "yuv444p16le"})


def nvdec_decoded(frame_format: str, is_hwaccel: bool) -> bool:
    """Whether NVDEC decoded a frame. PyAV's `is_hwaccel` stays true when NVDEC fails to start (libnvcuvid
    missing, say) and FFmpeg decodes in software, so the decoded frame's format decides: a software decoder gives
    4:2:0 as planar yuv420p*, never NVDEC's nv12/p010le. (8-bit 4:4:4 is yuv444p either way: taken as NVDEC.)"""
    return is_hwaccel and frame_format in NVDEC_FORMATS


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
                 planes: bool = False, hwdec: str | None = None, pipe: PipeInput | None = None) -> None:
        self.info = info
        self.pipe = pipe  # an input read once (stdin): its opened container, and the packets its probe read
        self.hwdec = hwdec  # "cuda" or "cuda:N": decode with NVDEC (frames come back to host memory, as nv12/p010)
        # YUV planes instead of RGB, for conversion beside the model: frames in the stream's own format only
        # (a mid-stream format change falls back to RGB for those frames).
        self.planes = info.yuv_format if planes else None
        self.range = time_range or TimeRange()
        self.copy, self.decode = set(copy), set(decode)
        self.notify = notify
        self.counters = SourceCounters()
        self._threads = threads
        self.max_frames = max_frames
        self._last_pts: int | None = None
        self._pts_fixed = 0
        self._first_seen = False  # a frame of the time range was decoded (the seek landed before the start)

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
        picture: Picture
        if self.planes is not None and same_layout(frame.format.name, info.pix_fmt):
            picture = YuvPicture(planes_from_frame(frame), self.planes)
        else:
            picture = RgbPicture(to_rgb(frame, info.colour, info.deep))
        out = Frame(picture, pts, info.time_base, self.counters.frames, bool(frame.key_frame))
        self.counters.frames += 1
        return out

    def _open_for_decoding(self) -> contextlib.AbstractContextManager[av.container.InputContainer]:
        """The input opened with NVDEC when asked and possible, else for decoding on the CPU (one notice)."""
        if self.pipe is not None:  # opened by its probe, closed by its owner
            if self.hwdec:
                self.notify("NVDEC decodes files, not pipes; decoding on the CPU")
                self.hwdec = None
            return contextlib.nullcontext(self.pipe.container)
        if self.hwdec:
            _, _, index = self.hwdec.partition(":")
            accel = HWAccel(device_type="cuda", device=index or None, allow_software_fallback=True)
            try:  # (the path was opened by probe() already: only the device can fail here)
                return av.open(str(self.info.path), "r", hwaccel=accel)
            except (av.FFmpegError, OSError) as exc:  # no driver, no device, an FFmpeg without CUDA
                self.notify(f"NVDEC unavailable ({exc.__class__.__name__}: {exc}); decoding on the CPU")
                self.hwdec = None
        return open_input(self.info.path)

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

    def _in_range(self, frame: av.VideoFrame) -> bool | None:
        """Whether a decoded frame is in the time range: True, False (before it: skip), None (after it: stop)."""
        start, end, pts = self.range.start, self.range.end, frame.pts
        if start is None and end is None:
            return True
        if start is not None and not self._first_seen and pts is not None and pts > start:
            raise MediaError(f"{self.info.path}: seeking to {start} landed after it (first frame at {pts}); the "
                             "file's index is unusable for time ranges")
        self._first_seen = True
        if pts is None:
            return True
        if start is not None and pts < start:
            return False  # decoded only as a reference for the frames in range
        if end is not None and pts >= end:
            return None  # the next range's first frame: this range is complete
        return True

    def _video_frames(self, vs: av.video.stream.VideoStream, packet: av.Packet) -> Iterator[Frame | None]:
        """The frames of one video packet that are in range; a None at the end means the stream is complete
        (the range's end or the frame limit reached)."""
        if packet.is_corrupt:
            self.counters.corrupt_packets += 1
            self.notify(f"warning: packet flagged corrupt in the video stream at dts {packet.dts}")
        for frame in self._decode(vs.codec_context, packet):
            if self.hwdec and not nvdec_decoded(frame.format.name, vs.codec_context.is_hwaccel):
                self.notify(f"NVDEC did not decode this {vs.codec_context.name} stream (frames came as "
                            f"{frame.format.name}); decoding on the CPU")
                self.hwdec = None
            keep = self._in_range(frame)
            if keep is None:
                yield None
                return
            if not keep:
                continue
            yield self._frame(frame)
            if self.max_frames is not None and self.counters.frames >= self.max_frames:
                yield None  # a preview of the first frames: the other streams end here too
                return

    def _packets(self, container: av.container.InputContainer, wanted: list,
                 should_stop: Callable[[], bool]) -> Iterator[av.Packet]:
        """The demuxed packets until the end, a stop request or a read error (a truncated file: noted)."""
        demux = self.pipe.packets(wanted) if self.pipe is not None else container.demux(wanted)
        while not should_stop():
            try:
                yield next(demux)
            except StopIteration:
                return
            except av.FFmpegError as exc:
                self.counters.truncated = True
                self.notify(f"warning: input ends early ({exc.__class__.__name__}); "
                            "processing everything decoded so far")
                return

    def items(self, should_stop: Callable[[], bool]) -> Iterator[Frame | av.Packet | AudioFrames]:
        info = self.info
        with self._open_for_decoding() as container:
            vs = container.streams[info.video_index]
            if not vs.codec_context.is_open:  # (a pipe's was opened, with threads, by its probe)
                vs.codec_context.thread_type = "AUTO"  # frame + slice threads: decode runs beside the model
                if self._threads:
                    vs.codec_context.thread_count = self._threads
            wanted = [vs] + [container.streams[i] for i in sorted(self.copy | self.decode)]
            if self.range.start is not None:
                if self.pipe is not None:
                    raise MediaError(f"{self.pipe.name}: a pipe cannot seek")
                seek = self.range.seek if self.range.seek is not None else self.range.start
                container.seek(seek, backward=True, any_frame=False, stream=vs)
            self._first_seen = False
            for packet in self._packets(container, wanted, should_stop):
                index = packet.stream_index
                if index == info.video_index:
                    for item in self._video_frames(vs, packet):
                        if item is None:
                            return
                        yield item
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


__all__ = ["AudioFrames", "Frame", "SourceCounters", "SourceInfo", "StreamInfo", "TimeRange", "VideoSource",
           "probe"]
