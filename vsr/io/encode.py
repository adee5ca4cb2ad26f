"""Encoder settings, shared by file outputs (`EncodeSettings`) and live recordings and streams (`WriterSettings`,
the same settings with live defaults), and how they become an encoder's options."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_CRF = {"libx264": 18, "libx265": 20, "libvpx-vp9": 31, "h264_nvenc": 21, "hevc_nvenc": 23}
X264_PRESETS = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo"]

# FFmpeg's nvenc fails to open for two different reasons that its message does not tell apart.
NVENC_HINT = (" (NVENC needs an NVIDIA GPU with an NVENC encoder and its driver's libnvidia-encode: A100, H100 and "
              "H200 have no NVENC, and Jetson's encoder is not FFmpeg's nvenc; use libx264 or libx265, which encode "
              "on the CPU beside the model on the GPU)")


@dataclass
class EncodeSettings:
    codec: str | None = None  # None: by the output extension (libx264, or libvpx-vp9 for .webm)
    crf: int | None = None  # None: the codec's default in DEFAULT_CRF (cq for NVENC)
    preset: str | None = None  # x264 names; mapped for VP9, NVENC and SVT-AV1
    pix_fmt: str | None = None  # None: 4:2:0 (or the input's subsampling), 10-bit for deep inputs


@dataclass(init=False)
class WriterSettings(EncodeSettings):
    """Encoder settings of a live recording or stream: x264 by default, fast, always 4:2:0 (`pix_fmt` None)."""

    low_latency: bool = False  # streams: zerolatency tuning, short GOP so late joiners start quickly

    # The order live callers pass them in: codec, preset, crf.
    def __init__(self, codec: str = "libx264", preset: str = "veryfast", crf: int = 20, low_latency: bool = False,
                 pix_fmt: str | None = None) -> None:
        super().__init__(codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt)
        self.low_latency = low_latency

    def live_options(self, rate: float | None) -> dict:
        """The x264-style options of a live encoder (`rate`: the source's frame rate, for the GOP of streams)."""
        options = {"preset": "ultrafast" if self.low_latency else self.preset, "crf": str(self.crf)}
        if self.low_latency:
            options["tune"] = "zerolatency"
            options["g"] = str(max(1, round(rate or 30)))  # a keyframe every second
        return options


def _vp9_speed(preset: str) -> dict[str, str]:
    i = X264_PRESETS.index(preset) if preset in X264_PRESETS else 5
    if i <= 2:
        return {"deadline": "realtime", "cpu-used": "8"}
    return {"deadline": "good", "cpu-used": str(max(0, 5 - i))}


def _nvenc_preset(preset: str) -> str:
    i = X264_PRESETS.index(preset) if preset in X264_PRESETS else 5
    return f"p{min(7, max(1, i + 1))}" if not preset.startswith("p") else preset


def _svtav1_preset(preset: str) -> str:
    """SVT-AV1 numbers its presets 0 (slowest) to 13; x264's names map onto 12 (ultrafast) to 3 (placebo)."""
    return str(max(0, 12 - X264_PRESETS.index(preset))) if preset in X264_PRESETS else preset


def codec_options(name: str, settings: EncodeSettings) -> dict[str, str]:
    """The options of encoder `name` for `settings` (crf/preset mapped for VP9, NVENC and SVT-AV1)."""
    crf = settings.crf if settings.crf is not None else DEFAULT_CRF.get(name)
    preset = settings.preset
    opts: dict[str, str] = {}
    if name == "libvpx-vp9":
        opts.update({"crf": str(crf), "b": "0", "row-mt": "1"})
        opts.update(_vp9_speed(preset or "medium"))
    elif name.endswith("_nvenc"):
        opts.update({"rc": "vbr", "cq": str(crf), "b": "0"})
        opts["preset"] = _nvenc_preset(preset or "medium")
    elif name == "libsvtav1":
        if crf is not None:
            opts["crf"] = str(crf)
        if preset:
            opts["preset"] = _svtav1_preset(preset)
    else:  # libx264, libx265 and the others that take crf/preset as they are
        if crf is not None:
            opts["crf"] = str(crf)
        if preset:
            opts["preset"] = preset
    return opts
