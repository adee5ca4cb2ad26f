"""Where live frames go besides the preview window (`vsr.io.live.preview`): a recording file, a live output stream.

Recording and stream share `TimedWriter`: each frame is stamped with its capture time (seconds since the first
captured frame), not with a frame counter, so frames dropped upstream leave gaps instead of speeding the video
up. Source audio packets are copied beside it on the same clock.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vsr.errors import InputError, MediaError
from vsr.io.atomic import AtomicOutput
from vsr.io.colour import ColourDescription, from_rgb
from vsr.io.encode import WriterSettings
from vsr.io.formats import RECORDING_FORMATS, STREAM_FORMATS
from vsr.io.live.capture import AudioItem


def is_stream_target(target: str) -> bool:
    return "://" in target


def output_format(target: str) -> str:
    """The FFmpeg muxer for an -o target; a one-line error for anything unknown."""
    if is_stream_target(target):
        scheme = target.split("://", 1)[0].lower()
        if scheme not in STREAM_FORMATS:
            raise InputError(f"{target}: unsupported output stream scheme {scheme}:// (use "
                             f"{', '.join(s + '://' for s in STREAM_FORMATS)})")
        return STREAM_FORMATS[scheme]
    ext = Path(target).suffix.lower()
    if ext not in RECORDING_FORMATS:
        raise InputError(f"{target}: unsupported recording extension {ext or '(none)'!r} (use "
                         f"{', '.join(RECORDING_FORMATS)})")
    return RECORDING_FORMATS[ext]


def check_recording_target(target: str, overwrite: bool) -> None:
    """Refuse before anything starts: unknown extension, missing folder, or an existing file."""
    output_format(target)
    if is_stream_target(target):
        return
    path = Path(target)
    if not path.parent.exists():
        raise InputError(f"{target}: folder {path.parent} does not exist")
    if path.exists() and not overwrite:
        raise InputError(f"{target}: exists", hint="pass {overwrite} to replace it")


class TimedWriter:
    """Encodes RGB frames at given times (seconds) into a file or stream, with copied source audio.

    A file is written beside its final name and renamed when closed (`vsr.io.atomic.AtomicOutput`, as the file
    pipeline's outputs), so a crash never leaves a half file under the target's name.
    """

    TIME_BASE = Fraction(1, 1000)  # capture times in milliseconds

    def __init__(self, target: str, width: int, height: int, rate: float | None, colour: ColourDescription,
                 audio: av.audio.AudioStream | None, settings: WriterSettings | None = None,
                 log=lambda msg: None) -> None:
        settings = settings or WriterSettings()
        self.target = target
        self.is_stream = is_stream_target(target)
        fmt = output_format(target)
        self.colour = colour
        self.frames = 0
        self.last_t: float | None = None
        self._last_pts = -1
        self._audio_offset: float | None = None  # source seconds that map to recording time 0
        self._audio_in_tb: Fraction | None = None
        # Encoders for 4:2:0 need even sizes: pad odd sizes by one edge column/row rather than cropping picture.
        self.width, self.height = width + width % 2, height + height % 2
        self._pad = (self.height - height, self.width - width)
        self._atomic = None if self.is_stream else AtomicOutput(target)
        try:
            self.container = av.open(self._open_target(fmt), "w", format=fmt, timeout=10.0)
        except (av.error.FFmpegError, OSError) as exc:
            if self._atomic is not None:
                self._atomic.discard()
            raise MediaError(f"{target}: cannot open for writing ({getattr(exc, 'strerror', None) or exc})") \
                from None
        rate_q = Fraction(rate).limit_denominator(1001) if rate else Fraction(30)
        self.video = self.container.add_stream(settings.codec, rate=rate_q, options=settings.live_options(rate))
        self.video.width, self.video.height = self.width, self.height
        self.video.pix_fmt = self.pix_fmt = settings.pix_fmt or "yuv420p"
        self.video.time_base = self.TIME_BASE
        self.video.codec_context.time_base = self.TIME_BASE
        cc = self.video.codec_context
        cc.colorspace, cc.color_range = colour.matrix, colour.range
        cc.color_primaries, cc.color_trc = colour.primaries, colour.trc
        self.audio = None
        self._encode_audio = False
        if audio is not None:
            self._add_audio(audio, fmt, log)

    def _open_target(self, fmt: str) -> str:
        """What the muxer opens: the temporary file of a recording, or the stream's URL."""
        if self._atomic is not None:
            return str(self._atomic.temp)
        url = self.target
        if fmt in ("mpegts", "rtp_mpegts") and url.startswith("udp://") and "pkt_size" not in url:
            url += ("&" if "?" in url else "?") + "pkt_size=1316"  # 7 TS packets: fits one Ethernet frame
        return url

    def _add_audio(self, audio: av.audio.AudioStream, fmt: str, log) -> None:
        """Copy the source's audio when the container takes its codec, else re-encode it as AAC."""
        name = audio.codec_context.codec.canonical_name
        # MP4/MOV hold Vorbis only as an extension players ignore (the same rule as the file pipeline's sink).
        if name in self.container.supported_codecs and not (name == "vorbis" and fmt in ("mp4", "mov")):
            try:
                self.audio = self.container.add_stream_from_template(audio)
                self._audio_in_tb = audio.time_base
                return
            except (av.error.FFmpegError, ValueError, TypeError):
                pass
        cc = audio.codec_context
        rate = cc.sample_rate or 48000
        self.audio = self.container.add_stream("aac", rate=rate, layout=cc.layout.name if cc.layout else "stereo")
        self.audio.time_base = Fraction(1, rate)
        self._encode_audio = True
        log(f"note: {self.target}: {fmt} cannot hold {name} audio; re-encoded as AAC")

    def write(self, rgb: np.ndarray, t: float) -> None:
        """Encode one frame shown at `t` seconds (its capture time since the first captured frame)."""
        if self._pad != (0, 0):
            rgb = np.pad(rgb, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        frame = from_rgb(rgb, self.colour, self.pix_fmt)
        # Timestamps must rise strictly; two captures within one millisecond are one tick apart.
        pts = max(round(t / self.TIME_BASE), self._last_pts + 1)
        frame.pts, frame.time_base = pts, self.TIME_BASE
        self._last_pts = pts
        self._mux(self.video.encode(frame))
        self.frames += 1
        self.last_t = t

    def set_audio_origin(self, source_seconds: float | None) -> None:
        """The source timestamp of the first captured frame: audio before it is cut, the rest keeps its offset."""
        self._audio_offset = source_seconds or 0.0

    def write_audio(self, item: AudioItem) -> None:
        if self.audio is None or self._audio_offset is None:
            return
        if self._encode_audio:
            for frame in item.frames:
                self._encode_audio_frame(frame)
            return
        packet = item.packet
        if packet.pts is None:
            return
        tb = self._audio_in_tb or packet.time_base
        shift = round(self._audio_offset / tb)
        pts = packet.pts - shift
        if pts < 0:
            return  # sound from before the first frame: nothing to show it with
        dts = packet.dts - shift if packet.dts is not None else pts
        packet.pts, packet.dts = pts, min(dts, pts)
        packet.stream = self.audio
        self._mux(packet)

    def _encode_audio_frame(self, frame: av.AudioFrame) -> None:
        if frame.time is None:
            return
        t = frame.time - (self._audio_offset or 0.0)
        if t < 0:
            return  # sound from before the first frame
        rate = self.audio.codec_context.sample_rate
        frame.pts, frame.time_base = round(t * rate), Fraction(1, rate)
        try:
            packets = self.audio.encode(frame)
        except ValueError:  # a gap in the source's sound: PyAV's re-chunking wants contiguous timestamps
            frame.pts = None
            packets = self.audio.encode(frame)
        self._mux(packets)

    def _mux(self, packets) -> None:
        """Write, turning a failure (disk full, receiver gone) into a one-line error naming the output."""
        try:
            self.container.mux(packets)
        except (av.error.FFmpegError, OSError) as exc:
            raise MediaError(f"{self.target}: writing failed ({getattr(exc, 'strerror', None) or exc})") from None

    def close(self) -> str | None:
        """Flush the encoders and finish the file (renamed into place); returns the final path for files."""
        try:
            self.container.mux(self.video.encode(None))
            if self._encode_audio:
                self.container.mux(self.audio.encode(None))
        finally:
            self.container.close()
        if self._atomic is None:
            return None
        self._atomic.commit()
        return self.target

    def abort(self) -> None:
        """Close without keeping the file (used when nothing was recorded)."""
        try:
            self.container.close()
        except Exception:  # the container may be half-open after the error that brought us here
            pass
        if self._atomic is not None:
            self._atomic.discard()


__all__ = ["TimedWriter", "WriterSettings", "check_recording_target", "is_stream_target", "output_format"]
