"""A real encode/decode round trip of RGB frames through PyAV: what a codec does to a clip, in memory.

Used to make compressed LR the way compressed-video SR papers do (COMISR, FTVSR, CAVSR: frames -> libx264 at a
CRF -> decoded frames) for `eval --video` and `compare`, and as the codec stage of the training degradations.

RGB uint8 frames are converted to YUV with BT.601 limited range through swscale (vsr.io.colour's accurate path, as
ffmpeg does for SD RGB input), encoded as one clip (so P- and B-frames are predicted from each other as in a real
stream), decoded, and converted back to RGB the same way. Nothing touches the disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction

import av
import numpy as np

from vsr.errors import InputError, MediaError
from vsr.io.colour import RANGE_LIMITED, SMPTE170M, ColourDescription, from_rgb, to_rgb
from vsr.io.encode import X264_PRESETS, EncodeSettings, codec_options

CODECS = {"libx264": "h264", "libx265": "hevc", "libsvtav1": "libdav1d"}  # encoder -> its decoder
PIX_FMTS = ("yuv420p", "yuv444p")
BT601_LIMITED = ColourDescription(SMPTE170M, SMPTE170M, SMPTE170M, RANGE_LIMITED)
_QP_MAX = {"libx264": 69, "libx265": 51, "libsvtav1": 63}
_KEYS = ("crf", "qp", "pix_fmt", "preset", "fps")
X265_MIN = 64  # libx265 4.x (this PyAV's) corrupts the heap on frames under 64 pixels a side (48 crashes)


@dataclass(frozen=True)
class CodecSpec:
    """One encoder setting: `codec` at a constant rate factor (`crf`) or a constant quantiser (`qp`)."""

    codec: str = "libx264"
    crf: int | None = None  # None with qp None: the codec's own default rate control
    qp: int | None = None
    pix_fmt: str = "yuv420p"
    preset: str = "medium"  # x264's names (mapped to SVT-AV1's numbers)
    fps: int = 10  # the clip's frame rate: rate control depends on it

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise InputError(f"codec {self.codec!r}: expected one of {', '.join(CODECS)}")
        if self.crf is not None and self.qp is not None:
            raise InputError("codec: give crf or qp, not both")
        top = _QP_MAX[self.codec]
        for key in ("crf", "qp"):
            v = getattr(self, key)
            if v is not None and not 0 <= v <= top:
                raise InputError(f"codec {self.codec} {key}={v}: expected 0 to {top}")
        if self.pix_fmt not in PIX_FMTS:
            raise InputError(f"codec pix_fmt={self.pix_fmt}: expected {' or '.join(PIX_FMTS)}")
        if self.codec == "libsvtav1" and self.pix_fmt != "yuv420p":
            raise InputError("codec libsvtav1 encodes 4:2:0 only (pix_fmt=yuv420p)")
        if self.preset not in X264_PRESETS:
            raise InputError(f"codec preset={self.preset}: expected one of {', '.join(X264_PRESETS)}")
        if not 1 <= self.fps <= 240:
            raise InputError(f"codec fps={self.fps}: expected 1 to 240")

    @classmethod
    def parse(cls, text: str) -> CodecSpec:
        """`CODEC[:KEY=VALUE...]`, keys crf, qp, pix_fmt, preset, fps: e.g. `libx264:crf=25:pix_fmt=yuv444p`."""
        codec, *items = text.strip().split(":")
        values: dict[str, int | str] = {}
        for item in items:
            key, sep, value = item.partition("=")
            if not sep or key not in _KEYS or not value:
                raise InputError(f"codec {text!r}: {item!r} is not KEY=VALUE with KEY one of {', '.join(_KEYS)}")
            if key in ("crf", "qp", "fps"):
                try:
                    values[key] = int(value)
                except ValueError:
                    raise InputError(f"codec {text!r}: {key}={value} is not a whole number") from None
            else:
                values[key] = value
        return cls(codec, **values)  # type: ignore[arg-type]

    def describe(self) -> str:
        rate = f"crf={self.crf}" if self.crf is not None else f"qp={self.qp}" if self.qp is not None else "default"
        return f"{self.codec}:{rate}:pix_fmt={self.pix_fmt}:preset={self.preset}:fps={self.fps}"

    def to_dict(self) -> dict:
        return asdict(self)

    def options(self) -> dict[str, str]:
        """The encoder's options (vsr.io.encode maps crf and preset per codec; qp is added here)."""
        opts = codec_options(self.codec, EncodeSettings(self.codec, self.crf, self.preset, self.pix_fmt))
        if self.crf is None:
            opts.pop("crf", None)  # codec_options fills in the project's default crf for files
        if self.qp is not None:
            opts["qp"] = str(self.qp)
        if self.codec == "libx265":
            opts["x265-params"] = "log-level=error"
        return opts


def _encoder(spec: CodecSpec, width: int, height: int) -> av.VideoCodecContext:
    enc = av.CodecContext.create(spec.codec, "w")
    enc.width, enc.height, enc.pix_fmt = width, height, spec.pix_fmt
    enc.time_base = Fraction(1, spec.fps)
    enc.framerate = Fraction(spec.fps)
    enc.options = spec.options()
    return enc


def roundtrip(frames: Iterable[np.ndarray], spec: CodecSpec) -> Iterator[np.ndarray]:
    """Each (H, W, 3) uint8 RGB frame after encoding the whole clip with `spec` and decoding it, in order.

    Lazy: a frame comes out as soon as the decoder gives it back (the encoder holds its lookahead), so memory is a
    few dozen frames whatever the clip's length. A one-line error for frames the codec cannot take.
    """
    enc = dec = None
    size: tuple[int, int] | None = None
    sent, got = 0, 0

    def drain(packets) -> Iterator[np.ndarray]:
        nonlocal got
        for packet in packets:
            for frame in dec.decode(packet):
                got += 1
                yield to_rgb(frame, BT601_LIMITED, deep=False)

    try:
        for rgb in frames:
            if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
                raise InputError(f"codec round trip: expected (H, W, 3) uint8 RGB frames, got {rgb.dtype} "
                                 f"{rgb.shape}")
            if size is None:
                size = rgb.shape[:2]
                if spec.pix_fmt == "yuv420p" and (size[0] % 2 or size[1] % 2):
                    raise InputError(f"codec round trip: 4:2:0 needs an even width and height, not "
                                     f"{size[1]}x{size[0]} (pix_fmt=yuv444p takes any)")
                if spec.codec == "libx265" and min(size) < X265_MIN:
                    raise InputError(f"codec round trip: libx265 needs frames of at least {X265_MIN}x{X265_MIN}, not "
                                     f"{size[1]}x{size[0]} (smaller ones corrupt its memory)")
                enc = _encoder(spec, size[1], size[0])
                dec = av.CodecContext.create(CODECS[spec.codec], "r")
            elif rgb.shape[:2] != size:
                raise InputError(f"codec round trip: frame {sent + 1} is {rgb.shape[1]}x{rgb.shape[0]}, the clip "
                                 f"{size[1]}x{size[0]}")
            frame = from_rgb(np.ascontiguousarray(rgb), BT601_LIMITED, spec.pix_fmt)
            frame.pts, frame.time_base = sent, enc.time_base
            sent += 1
            yield from drain(enc.encode(frame))
        if enc is None:
            return
        yield from drain(enc.encode(None))
        yield from drain([None])
    except av.error.FFmpegError as exc:
        raise MediaError(f"codec round trip through {spec.describe()}: {exc}") from None
    if got != sent:
        raise MediaError(f"codec round trip through {spec.describe()}: {sent} frames in, {got} out")


def roundtrip_list(frames: list[np.ndarray], spec: CodecSpec) -> list[np.ndarray]:
    """`roundtrip` of a list, as a list."""
    return list(roundtrip(frames, spec))
