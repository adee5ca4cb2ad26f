"""Static HDR metadata: the mastering display (SMPTE ST 2086) and content light level (MaxCLL/MaxFALL) of a stream.

Decoders put both on every frame as side data (AV_FRAME_DATA_MASTERING_DISPLAY_METADATA and
AV_FRAME_DATA_CONTENT_LIGHT_LEVEL; FFmpeg also moves a container's mdcv/clli boxes or Matroska MasteringMetadata
onto the frames). PyAV reads frame side data but cannot attach any to a frame or to an output stream, so the
values reach the output through the encoder's own options instead: x265's `master-display`/`max-cll`, x264's
`mastering-display`/`cll` and SVT-AV1's `mastering-display`/`content-light`, which write the SEI messages (HEVC,
H.264) or metadata OBUs (AV1) into the bitstream. HEVC and H.264 store the values in the same units as the
x265/x264 options (chromaticity in 1/50000, luminance in 1/10000 cd/m2), so they pass unchanged; AV1's fields
are binary fractions, so SVT-AV1 keeps them to its precision (1/65536 chromaticity, 1/256 and 1/16384 cd/m2).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction

import av

Point = tuple[Fraction, Fraction]

CHROMA_UNITS, LUMA_UNITS = 50000, 10000  # the units of HEVC/H.264 SEI, mp4 mdcv and the x265/x264 options
# AVMasteringDisplayMetadata: display_primaries[3][2] (R, G, B), white_point[2], min_luminance, max_luminance
# (each an AVRational: two int32), then has_primaries and has_luminance (int32).
_MASTERING = struct.Struct("<22i")
_LIGHT = struct.Struct("<2I")  # AVContentLightMetadata: MaxCLL, MaxFALL (unsigned)
PQ, HLG = 16, 18  # AVColorTransferCharacteristic: smpte2084, arib-std-b67
# Encoders that write the metadata into the bitstream, and the name of their parameter string option.
CARRIERS = {"libx265": "x265-params", "libx264": "x264-params", "libsvtav1": "svtav1-params"}


@dataclass(frozen=True)
class MasteringDisplay:
    """Chromaticities (x, y) of the mastering display's primaries and white point, its luminance in cd/m2."""

    red: Point
    green: Point
    blue: Point
    white_point: Point
    min_luminance: Fraction
    max_luminance: Fraction
    has_primaries: bool = True
    has_luminance: bool = True

    @property
    def complete(self) -> bool:
        """Both halves present: the SEI message and every encoder option need all of them."""
        return self.has_primaries and self.has_luminance


@dataclass(frozen=True)
class ContentLight:
    max_cll: int  # cd/m2, the brightest pixel of the stream
    max_fall: int  # cd/m2, the brightest frame average


@dataclass(frozen=True)
class HdrMetadata:
    mastering: MasteringDisplay | None = None
    light: ContentLight | None = None

    @property
    def present(self) -> bool:
        return self.mastering is not None or self.light is not None

    def describe(self) -> str:
        parts = []
        if self.mastering is not None:
            m = self.mastering
            parts.append(f"mastering display {float(m.min_luminance):g}-{float(m.max_luminance):g} cd/m2")
        if self.light is not None:
            parts.append(f"MaxCLL {self.light.max_cll}, MaxFALL {self.light.max_fall}")
        return ", ".join(parts) or "none"


def _ratio(num: int, den: int) -> Fraction:
    return Fraction(num, den) if den else Fraction(0)


def parse_mastering(data: bytes) -> MasteringDisplay:
    """An AVMasteringDisplayMetadata as FFmpeg lays it out (the bytes of a frame's side data)."""
    v = _MASTERING.unpack_from(data)
    r = [_ratio(v[i], v[i + 1]) for i in range(0, 20, 2)]
    return MasteringDisplay(red=(r[0], r[1]), green=(r[2], r[3]), blue=(r[4], r[5]), white_point=(r[6], r[7]),
                            min_luminance=r[8], max_luminance=r[9], has_primaries=bool(v[20]),
                            has_luminance=bool(v[21]))


def parse_light(data: bytes) -> ContentLight:
    max_cll, max_fall = _LIGHT.unpack_from(data)
    return ContentLight(max_cll, max_fall)


def read_hdr(frame: av.VideoFrame) -> HdrMetadata:
    """The static HDR metadata on a decoded frame's side data (none: an empty `HdrMetadata`)."""
    mastering = light = None
    for sd in frame.side_data:
        name = sd.type.name
        if name == "MASTERING_DISPLAY_METADATA" and len(bytes(sd)) >= _MASTERING.size:
            mastering = parse_mastering(bytes(sd))
        elif name == "CONTENT_LIGHT_LEVEL" and len(bytes(sd)) >= _LIGHT.size:
            light = parse_light(bytes(sd))
    return HdrMetadata(mastering, light)


def _units(value: Fraction, units: int) -> int:
    return round(value * units)


def x26x_mastering(m: MasteringDisplay) -> str:
    """x265's `master-display` / x264's `mastering-display`: G, B, R, white point in 1/50000, L(max,min) in
    1/10000 cd/m2 (the order and units of the SEI message)."""
    def xy(p: Point) -> str:
        return f"({_units(p[0], CHROMA_UNITS)},{_units(p[1], CHROMA_UNITS)})"
    lum = f"L({_units(m.max_luminance, LUMA_UNITS)},{_units(m.min_luminance, LUMA_UNITS)})"
    return f"G{xy(m.green)}B{xy(m.blue)}R{xy(m.red)}WP{xy(m.white_point)}{lum}"


def svt_mastering(m: MasteringDisplay) -> str:
    """SVT-AV1's `mastering-display`: the same layout, as decimal chromaticities and cd/m2."""
    def xy(p: Point) -> str:
        return f"({float(p[0]):.6f},{float(p[1]):.6f})"
    lum = f"L({float(m.max_luminance):.6f},{float(m.min_luminance):.6f})"
    return f"G{xy(m.green)}B{xy(m.blue)}R{xy(m.red)}WP{xy(m.white_point)}{lum}"


def _params(codec: str, hdr: HdrMetadata) -> list[str]:
    params = []
    if hdr.mastering is not None and hdr.mastering.complete:
        key = {"libx265": "master-display", "libx264": "mastering-display"}.get(codec, "mastering-display")
        value = svt_mastering(hdr.mastering) if codec == "libsvtav1" else x26x_mastering(hdr.mastering)
        params.append(f"{key}={value}")
    if hdr.light is not None:
        key = {"libx265": "max-cll", "libx264": "cll"}.get(codec, "content-light")
        params.append(f"{key}={hdr.light.max_cll},{hdr.light.max_fall}")
    return params


@dataclass(frozen=True)
class HdrPlan:
    """What the encoder gets (`options` to merge into its options) and what the user is told (`notice`)."""

    options: dict[str, str]
    notice: str | None = None


def hdr_plan(codec: str, hdr: HdrMetadata) -> HdrPlan:
    """How encoder `codec` carries the source's static HDR metadata, or the notice that it cannot."""
    if not hdr.present:
        return HdrPlan({})
    if codec not in CARRIERS:
        return HdrPlan({}, f"HDR metadata of the input ({hdr.describe()}) is not written: {codec} cannot carry it "
                           f"here (libx265, libx264 and libsvtav1 write it into the video)")
    notice = None
    if hdr.mastering is not None and not hdr.mastering.complete:
        notice = (f"the input's mastering display metadata lacks its "
                  f"{'primaries' if not hdr.mastering.has_primaries else 'luminance'}; it is not written")
    params = _params(codec, hdr)
    return HdrPlan({CARRIERS[codec]: ":".join(params)} if params else {}, notice)


def merge_options(options: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """`options` with `extra` added; a parameter string (x265-params, ...) present in both is joined with ':'."""
    merged = dict(options)
    for key, value in extra.items():
        merged[key] = f"{merged[key]}:{value}" if merged.get(key) else value
    return merged
