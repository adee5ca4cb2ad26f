"""Where live frames go: a preview window, a recording file, a live output stream.

Recording and stream share `TimedWriter`: each frame is stamped with its capture time (seconds since the first
captured frame), not with a frame counter, so frames dropped upstream leave gaps instead of speeding the video
up. Source audio packets are copied beside it on the same clock.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vsr.errors import VSRError
from vsr.io.capture import AudioItem
from vsr.io.colour import ColourDescription, from_rgb

# Container by file extension; the video codec for each.
_FILE_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".ts": "mpegts", ".flv": "flv"}
# Stream targets by URL scheme.
_STREAM_FORMATS = {"udp": "mpegts", "rtp": "rtp_mpegts", "srt": "mpegts", "tcp": "mpegts", "rtmp": "flv",
                   "rtmps": "flv", "rtsp": "rtsp"}


def is_stream_target(target: str) -> bool:
    return "://" in target


def output_format(target: str) -> str:
    """The FFmpeg muxer for an -o target; a one-line error for anything unknown."""
    if is_stream_target(target):
        scheme = target.split("://", 1)[0].lower()
        if scheme not in _STREAM_FORMATS:
            raise VSRError(f"{target}: unsupported output stream scheme {scheme}:// (use "
                           f"{', '.join(s + '://' for s in _STREAM_FORMATS)})")
        return _STREAM_FORMATS[scheme]
    ext = Path(target).suffix.lower()
    if ext not in _FILE_FORMATS:
        raise VSRError(f"{target}: unsupported recording extension {ext or '(none)'!r} (use "
                       f"{', '.join(_FILE_FORMATS)})")
    return _FILE_FORMATS[ext]


def check_recording_target(target: str, overwrite: bool) -> None:
    """Refuse before anything starts: unknown extension, missing folder, or an existing file."""
    output_format(target)
    if is_stream_target(target):
        return
    path = Path(target)
    if not path.parent.exists():
        raise VSRError(f"{target}: folder {path.parent} does not exist")
    if path.exists() and not overwrite:
        raise VSRError(f"{target}: already exists (add --overwrite to replace it)")


@dataclass
class WriterSettings:
    codec: str = "libx264"
    preset: str = "veryfast"
    crf: int = 20
    low_latency: bool = False  # streams: zerolatency tuning, short GOP so late joiners start quickly


class TimedWriter:
    """Encodes RGB frames at given times (seconds) into a file or stream, with copied source audio.

    A file is written beside its final name and renamed when closed, so a crash never leaves a half file at OUT.
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
        if self.is_stream:
            url = target
            if fmt in ("mpegts", "rtp_mpegts") and target.startswith("udp://") and "pkt_size" not in target:
                url += ("&" if "?" in target else "?") + "pkt_size=1316"  # 7 TS packets: fits one Ethernet frame
            self._tmp = None
            open_target = url
        else:
            final = Path(target)
            self._tmp = final.with_name(f".{final.stem}.partial{final.suffix}")
            open_target = str(self._tmp)
        try:
            self.container = av.open(open_target, "w", format=fmt, timeout=10.0)
        except (av.error.FFmpegError, OSError) as exc:
            raise VSRError(f"{target}: cannot open for writing ({getattr(exc, 'strerror', None) or exc})") from None
        options = {"preset": "ultrafast" if settings.low_latency else settings.preset, "crf": str(settings.crf)}
        if settings.low_latency:
            options["tune"] = "zerolatency"
            options["g"] = str(max(1, round(rate or 30)))  # a keyframe every second
        rate_q = Fraction(rate).limit_denominator(1001) if rate else Fraction(30)
        self.video = self.container.add_stream(settings.codec, rate=rate_q, options=options)
        self.video.width, self.video.height = self.width, self.height
        self.video.pix_fmt = "yuv420p"
        self.video.time_base = self.TIME_BASE
        self.video.codec_context.time_base = self.TIME_BASE
        cc = self.video.codec_context
        cc.colorspace, cc.color_range = colour.matrix, colour.range
        cc.color_primaries, cc.color_trc = colour.primaries, colour.trc
        self.audio = None
        self._encode_audio = False
        if audio is not None:
            self._add_audio(audio, fmt, log)

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
        frame = from_rgb(rgb, self.colour, "yuv420p")
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
            raise VSRError(f"{self.target}: writing failed ({getattr(exc, 'strerror', None) or exc})") from None

    def close(self) -> str | None:
        """Flush the encoders and finish the file (renamed into place); returns the final path for files."""
        try:
            self.container.mux(self.video.encode(None))
            if self._encode_audio:
                self.container.mux(self.audio.encode(None))
        finally:
            self.container.close()
        if self._tmp is None:
            return None
        os.replace(self._tmp, self.target)
        return self.target

    def abort(self) -> None:
        """Close without keeping the file (used when nothing was recorded)."""
        try:
            self.container.close()
        except Exception:  # the container may be half-open after the error that brought us here
            pass
        if self._tmp is not None and self._tmp.exists():
            self._tmp.unlink()


# --------------------------------------------------------------------------------------------- preview window


def display_problem() -> str | None:
    """Why a preview window cannot open here, or None when it can."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "--display needs a screen, but DISPLAY and WAYLAND_DISPLAY are unset (headless?); record with -o"
    import cv2

    gui = [line for line in cv2.getBuildInformation().splitlines() if line.strip().startswith("GUI:")]
    if gui and "NONE" in gui[0].upper():
        return ("--display needs OpenCV with GUI support, but this OpenCV has none (opencv-python-headless); "
                "install opencv-python")
    return None


def compose_preview(upscaled: np.ndarray, source: np.ndarray, text: str, side_by_side: bool = False,
                    max_width: int = 1920) -> np.ndarray:
    """The BGR picture the preview shows: [bicubic | model] when side by side, the figures drawn on top."""
    import cv2

    img = upscaled
    if side_by_side:
        h, w = upscaled.shape[:2]
        img = np.hstack([cv2.resize(source, (w, h), interpolation=cv2.INTER_CUBIC), upscaled])
    if img.shape[1] > max_width:
        f = max_width / img.shape[1]
        img = cv2.resize(img, (max_width, round(img.shape[0] * f)), interpolation=cv2.INTER_AREA)
    bgr = np.ascontiguousarray(img[..., ::-1])
    for colour, thick in (((0, 0, 0), 3), ((255, 255, 255), 1)):  # outlined so it reads on any picture
        cv2.putText(bgr, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55, colour, thick, cv2.LINE_AA)
    if side_by_side:
        cv2.putText(bgr, "bicubic | model", (8, bgr.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return bgr


class PreviewWindow:
    """An OpenCV window with the upscaled picture (optionally beside a bicubic upscale) and the live figures."""

    def __init__(self, title: str = "vsr live", side_by_side: bool = False, max_width: int = 1920) -> None:
        import cv2

        self.cv2 = cv2
        self.title = title
        self.side_by_side = side_by_side
        self.max_width = max_width
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise VSRError(f"cannot open a preview window ({str(exc).strip().splitlines()[-1]})") from None

    def show(self, upscaled: np.ndarray, source: np.ndarray, text: str) -> bool:
        """Draw one frame; returns False when the user asked to quit (q, Esc, or closed the window)."""
        cv2 = self.cv2
        cv2.imshow(self.title, compose_preview(upscaled, source, text, self.side_by_side, self.max_width))
        return self.poll()

    def poll(self) -> bool:
        """Handle window events (also between frames, so a slow model leaves the window responsive);
        False when the user asked to quit."""
        cv2 = self.cv2
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), ord("Q"), 27):
            return False
        return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        try:
            self.cv2.destroyWindow(self.title)
            self.cv2.waitKey(1)
        except self.cv2.error:
            pass
