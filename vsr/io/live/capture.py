"""Live sources: cameras, network streams, FFmpeg test sources, and files played at their own pace.

`open_source(settings)` turns a source string (the `source` setting) into a `LiveSource`: opened, size known,
described by a `LiveSourceInfo`, errors as one-line `VSRError`s. `vsr.io.live.stage.CaptureStage` reads it on
its own thread.

Source strings:
- `/dev/videoN`                   a V4L2 camera through FFmpeg (Linux)
- `webcam:N`                      camera N with the platform's FFmpeg device (v4l2, avfoundation), or OpenCV
- `rtsp://`, `udp://`, `rtmp://`, `http(s)://` (incl. HLS), `srt://`, `tcp://`, `rtp://`   network streams
- `lavfi:GRAPH`                   an FFmpeg filter-graph source, e.g. `lavfi:testsrc2=size=640x360:rate=30`
- a file path                     played at its real pace, a stand-in for a camera
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from vsr.errors import InputError, MediaError, VSRError
from vsr.io.colour import BT709, RANGE_LIMITED, SMPTE170M, ColourDescription, describe_frame, is_hd, to_rgb

NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "udp", "rtp", "srt", "tcp", "http", "https")


@dataclass
class CaptureSettings:
    source: str
    realtime: bool = False  # pace a network source by its timestamps (files and lavfi are always paced)
    size: tuple[int, int] | None = None  # requested capture size (cameras)
    fps: float | None = None  # requested capture rate (cameras)
    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    audio: bool = True
    input_format: str | None = None  # camera pixel format, e.g. mjpeg (USB cameras reach 30 fps at HD only so)


@dataclass
class CapturedFrame:
    rgb: np.ndarray  # (H, W, 3) uint8 RGB
    capture_t: float  # time.monotonic() when the frame became available
    pts_s: float | None  # the source's own timestamp, when it has one
    index: int  # position in the capture order (dropped frames included)


class CameraUnavailable(InputError):
    """The camera itself cannot be used: missing, busy, forbidden, or it cannot deliver the capture size asked
    for. Another capture backend would fail the same way, so there is no fallback to OpenCV for these."""


@dataclass
class LiveSourceInfo:
    """An opened live source: what it is, its picture and pacing, the backend reading it and its audio stream.
    (A video file probed for the file pipeline is described by `vsr.io.file.SourceInfo`.)"""

    kind: str  # camera | network | lavfi | file
    label: str
    width: int
    height: int
    fps: float | None
    paced: bool  # frames are released at their timestamps, not as fast as they decode
    backend: str  # e.g. "PyAV v4l2", "OpenCV"
    audio_stream: av.audio.AudioStream | None = None
    colour: ColourDescription | None = None


@dataclass
class AudioItem:
    packet: av.Packet
    frames: list[av.AudioFrame]  # decoded on the capture thread, which owns the demuxer's decoder


@dataclass
class VideoItem:
    frame: av.VideoFrame | np.ndarray  # a decoded PyAV frame, or an RGB array from OpenCV
    pts_s: float | None


class LiveSource:
    """An opened source; `items()` yields `VideoItem`s and audio `av.Packet`s until the source ends."""

    info: LiveSourceInfo

    def items(self) -> Iterator[VideoItem | av.Packet]:
        raise NotImplementedError

    def to_rgb(self, frame: av.VideoFrame | np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class PeekedSource(LiveSource):
    """A source whose first video frame can be looked at before capture starts (live mode measures its model
    candidates on it); `items()` still yields that frame, and the audio read before it, first."""

    def __init__(self, source: LiveSource) -> None:
        self.source = source
        self.info = source.info
        self._items = source.items()
        self._read: list[VideoItem | av.Packet] = []
        self._error: Exception | None = None  # a read that failed while peeking: raised to the capture stage

    def first_frame(self) -> np.ndarray | None:
        """The first video frame as RGB, or None when the source ends (or fails: capture reports it) before.
        Call it once, before `items()`."""
        try:
            for item in self._items:
                self._read.append(item)
                if isinstance(item, VideoItem):
                    return self.source.to_rgb(item.frame)
        except (av.error.FFmpegError, OSError) as exc:
            self._error = exc  # the capture stage reports it, as if its own read had failed
        return None

    def items(self) -> Iterator[VideoItem | av.Packet]:
        while self._read:
            yield self._read.pop(0)
        if self._error is not None:
            raise self._error
        yield from self._items

    def to_rgb(self, frame: av.VideoFrame | np.ndarray) -> np.ndarray:
        return self.source.to_rgb(frame)

    def close(self) -> None:
        self.source.close()


# --------------------------------------------------------------------------------------------- PyAV sources


class PyAVSource(LiveSource):
    def __init__(self, container: av.container.InputContainer, info: LiveSourceInfo, want_audio: bool) -> None:
        self.container = container
        self.info = info
        self.video = container.streams.video[0]
        # Slice threads, not frame threads: frame threading holds back one frame per thread, latency that the
        # capture timestamps (taken after decoding) would not even show.
        self.video.thread_type = "SLICE"
        self.audio = info.audio_stream if want_audio else None
        self._colour: ColourDescription | None = None

    def items(self) -> Iterator[VideoItem | av.Packet]:
        streams = [self.video] + ([self.audio] if self.audio is not None else [])
        for packet in self.container.demux(streams):
            if packet.stream is self.video:
                for frame in packet.decode():
                    yield VideoItem(frame, frame.time)
            elif packet.dts is not None:  # the flush packet at the end has no timestamps: nothing to copy
                yield packet

    def to_rgb(self, frame: av.VideoFrame | np.ndarray) -> np.ndarray:
        assert isinstance(frame, av.VideoFrame)
        if self._colour is None:
            self._colour = describe_frame(frame)
            self.info.colour = self._colour
        return to_rgb(frame, self._colour, deep=False)

    def close(self) -> None:
        self.container.close()


def av_error_message(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".")


def _open_pyav(url: str, fmt: str | None, options: dict[str, str], timeout: tuple[float, float] | None,
               settings: CaptureSettings, kind: str, label: str, paced: bool, backend: str) -> PyAVSource:
    try:
        container = av.open(url, format=fmt, options=options, timeout=timeout)
    except av.error.ExitError:  # the interrupt callback fired: nothing arrived within the open timeout
        raise MediaError(f"{label}: no response within {settings.open_timeout_s:g} s (unreachable or not sending)") \
            from None
    except (av.error.FFmpegError, OSError) as exc:
        raise _open_error(exc, kind, label) from None
    if not container.streams.video:
        container.close()
        raise MediaError(f"{label}: has no video stream")
    video = container.streams.video[0]
    width, height = video.codec_context.width, video.codec_context.height
    if not width or not height:
        container.close()
        raise MediaError(f"{label}: the video size could not be determined (stream not ready?)")
    rate = video.average_rate or video.guessed_rate or video.base_rate
    audio = container.streams.audio[0] if settings.audio and container.streams.audio else None
    info = LiveSourceInfo(kind, label, width, height, float(rate) if rate else None, paced, backend, audio)
    if kind == "camera":  # other sources deliver what they carry; a capture size means nothing to them
        try:
            _check_requested(info, settings)
        except VSRError:
            container.close()
            raise
    return PyAVSource(container, info, settings.audio)


def _open_error(exc: Exception, kind: str, label: str) -> VSRError:
    """The one-line error for a source FFmpeg could not open, by the OS error number it reports."""
    code = getattr(exc, "errno", None)
    msg = av_error_message(exc)
    if kind == "camera":
        if code == errno.ENOENT:
            return CameraUnavailable(f"{label}: no such camera")
        if code == errno.EBUSY:
            return CameraUnavailable(f"{label}: the camera is busy (another program is using it)")
        if code in (errno.EACCES, errno.EPERM):
            return CameraUnavailable(f"{label}: permission denied (is your user in the 'video' group?)")
        if code == errno.EINVAL:
            return MediaError(f"{label}: the camera refused the requested capture size or rate ({msg})")
        return MediaError(f"{label}: cannot open the camera ({msg})")
    if kind == "network":
        return MediaError(f"{label}: stream unreachable ({msg})")
    if kind == "lavfi":
        return MediaError(f"{label}: FFmpeg rejected the filter graph ({msg})")
    return MediaError(f"{label}: cannot open ({msg})")


def _check_requested(info: LiveSourceInfo, settings: CaptureSettings) -> None:
    """Cameras may silently hand back another size than asked for: say so instead of upscaling the wrong thing."""
    if settings.size and (info.width, info.height) != tuple(settings.size):
        w, h = settings.size
        raise CameraUnavailable(f"not supported by {info.label} (the device delivers {info.width}x{info.height})",
                                setting="capture_size", value=f"{w}x{h}")


def _camera_options(settings: CaptureSettings) -> dict[str, str]:
    opts: dict[str, str] = {}
    if settings.size:
        opts["video_size"] = f"{settings.size[0]}x{settings.size[1]}"
    if settings.fps:
        opts["framerate"] = f"{settings.fps:g}"
    if settings.input_format:
        opts["input_format"] = settings.input_format  # v4l2's name for it
    return opts


def _open_v4l2(device: str, settings: CaptureSettings, label: str | None = None) -> PyAVSource:
    label = label or device
    if not Path(device).exists():
        raise CameraUnavailable(f"{label}: no such camera")
    return _open_pyav(device, "v4l2", _camera_options(settings), (settings.open_timeout_s, settings.read_timeout_s),
                      settings, "camera", label, False, "PyAV v4l2")


def _has_format(*names: str) -> bool:
    return any(n in av.formats_available for n in names)


def _open_webcam(index: int, settings: CaptureSettings) -> LiveSource:
    """The platform's FFmpeg capture device, with OpenCV's VideoCapture where FFmpeg has none or fails.

    A camera that is missing, busy or forbidden (`CameraUnavailable`) is reported as such: OpenCV could not do
    better there.
    """
    label = f"webcam:{index}"
    try:
        if sys.platform.startswith("linux") and _has_format("v4l2", "video4linux2,v4l2"):
            device = f"/dev/video{index}"
            if not Path(device).exists():
                raise CameraUnavailable(f"{label} ({device}): no such camera")
            return _open_v4l2(device, settings, f"{label} ({device})")
        if sys.platform == "darwin" and _has_format("avfoundation"):
            opts = _camera_options(settings)
            opts.setdefault("framerate", "30")  # avfoundation refuses to open without a rate on many cameras
            if "input_format" in opts:
                opts["pixel_format"] = opts.pop("input_format")
            return _open_pyav(f"{index}:none", "avfoundation", opts, None, settings, "camera", label, False,
                              "PyAV avfoundation")
    except CameraUnavailable:
        raise
    except VSRError as exc:  # FFmpeg's device failed in another way: OpenCV may still open the camera
        try:
            return OpenCVSource.open(index, settings, label)
        except VSRError:
            raise exc from None
    # Windows (dshow wants the device's name, not an index; OpenCV enumerates by index), or no FFmpeg device.
    return OpenCVSource.open(index, settings, label)


class OpenCVSource(LiveSource):
    """A camera through OpenCV's VideoCapture: the fallback where FFmpeg has no capture device."""

    def __init__(self, cap, info: LiveSourceInfo) -> None:  # cap: cv2.VideoCapture
        self.cap = cap
        self.info = info

    @classmethod
    def open(cls, index: int, settings: CaptureSettings, label: str) -> OpenCVSource:
        import cv2

        api = cv2.CAP_DSHOW if sys.platform == "win32" else cv2.CAP_ANY
        cap = cv2.VideoCapture(index, api)
        if not cap.isOpened():
            raise CameraUnavailable(f"{label}: no such camera, or it is busy (OpenCV could not open it)")
        if settings.size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, settings.size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, settings.size[1])
        if settings.fps:
            cap.set(cv2.CAP_PROP_FPS, settings.fps)
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = cap.get(cv2.CAP_PROP_FPS) or None
        colour = ColourDescription(BT709 if is_hd(width, height) else SMPTE170M, 2, 2, RANGE_LIMITED)
        info = LiveSourceInfo("camera", label, width, height, fps, False, "OpenCV", None, colour)
        try:
            _check_requested(info, settings)
        except VSRError:
            cap.release()
            raise
        return cls(cap, info)

    def items(self) -> Iterator[VideoItem | av.Packet]:
        import cv2

        while True:
            ok, bgr = self.cap.read()
            if not ok:
                return
            yield VideoItem(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), None)

    def to_rgb(self, frame: av.VideoFrame | np.ndarray) -> np.ndarray:
        assert isinstance(frame, np.ndarray)
        return frame

    def close(self) -> None:
        self.cap.release()


def open_source(settings: CaptureSettings) -> LiveSource:
    """Open the source named by `settings.source`; every failure is a one-line `VSRError`."""
    src = settings.source.strip()
    timeout = (settings.open_timeout_s, settings.read_timeout_s)
    if src.startswith("webcam:"):
        try:
            index = int(src.split(":", 1)[1])
        except ValueError:
            raise InputError("expected webcam:N with N a camera number, e.g. webcam:0", setting="source",
                             value=src) from None
        return _open_webcam(index, settings)
    if src.startswith("/dev/video"):
        return _open_v4l2(src, settings)
    if src.startswith("lavfi:"):
        graph = src[len("lavfi:"):]
        if "lavfi" not in av.formats_available:
            raise MediaError("this FFmpeg build has no lavfi input; lavfi: sources are unavailable")
        # lavfi renders as fast as it can: pace it like a file so it behaves like a camera.
        return _open_pyav(graph, "lavfi", {}, timeout, settings, "lavfi", src, True, "PyAV lavfi")
    scheme = src.split("://", 1)[0].lower() if "://" in src else ""
    if scheme:
        if scheme not in NETWORK_SCHEMES:
            raise InputError(f"{src}: unsupported source scheme {scheme}:// (use one of "
                             f"{', '.join(NETWORK_SCHEMES)}, webcam:N, /dev/videoN, lavfi:GRAPH or a file)")
        options = {"fflags": "nobuffer"} if scheme in ("udp", "rtp", "srt", "tcp") else {}
        return _open_pyav(src, None, options, timeout, settings, "network", src, settings.realtime,
                          "PyAV network")
    path = Path(src)
    if not path.exists():
        raise InputError(f"{src}: no such file, and not a known source (webcam:N, /dev/videoN, URL, lavfi:GRAPH)")
    if not path.is_file() or not os.access(path, os.R_OK):
        raise InputError(f"{src}: not a readable file")
    return _open_pyav(str(path), None, {}, timeout, settings, "file", src, True, "PyAV file")


__all__ = ["AudioItem", "CameraUnavailable", "CaptureSettings", "CapturedFrame", "LiveSource", "LiveSourceInfo",
           "OpenCVSource", "PyAVSource", "VideoItem", "av_error_message", "open_source"]
