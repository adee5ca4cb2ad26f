"""The codec degradation stage of training: LR crops made the way compressed video makes them.

For a crop, a short clip is cut from its HR image: `clip_frames` windows that drift by a small random step each
frame (so the encoder predicts frames from each other and P/B-frame artefacts appear, not only intra ones). Each
window (with a margin around the crop) is downscaled as evaluation does (vsr.metrics.degrade.Downscale: MATLAB
bicubic, or Gaussian blur of a random sigma then every scale-th pixel, so one model covers both), mild Gaussian
noise may be added, and the LR clip goes through a real encoder and decoder (vsr.io.roundtrip: libx264 / libx265,
4:2:0, a random CRF or QP and preset). One frame of the clip and its HR window make the training pair.

Every draw comes from the batch's RNG, so the data stream stays a function of (seed, batch index). With
`cache_slots`, clips are kept and shared: slot s of generation g (g = batch index // cache_iters) is made from its
own RNG (seed, s, g) the first time a batch asks for it, and a sample then takes a random frame of a random slot,
so a clip costs one encode for many samples and the stream still does not depend on prefetching or resuming.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import av
import numpy as np

from vsr.errors import ConfigError, VSRError
from vsr.io.encode import X264_PRESETS
from vsr.io.roundtrip import CODECS, X265_MIN, CodecSpec, roundtrip_list
from vsr.metrics.degrade import Downscale
from vsr.metrics.imresize import to_uint8

MARGIN = 4  # LR pixels encoded around the crop at least, so its borders are neither the resize's nor the codec's


@dataclass
class DegradeConfig:
    prob: float = 0.0  # chance that a training crop is made by this stage (else the clean bicubic LR); 0 = off
    blur_prob: float = 0.5  # chance of a blur-downscale instead of MATLAB bicubic
    blur_sigma: list[float] = field(default_factory=lambda: [0.8, 2.0])  # drawn uniformly, in HR pixels
    codecs: list[str] = field(default_factory=lambda: ["libx264", "libx265"])  # one drawn per clip
    crf: list[int] = field(default_factory=lambda: [18, 38])  # drawn uniformly from [low, high]
    qp_prob: float = 0.0  # chance of a constant QP drawn from `qp` instead of a CRF
    qp: list[int] = field(default_factory=lambda: [22, 40])
    presets: list[str] = field(default_factory=lambda: ["veryfast", "medium"])  # one drawn per clip
    clip_frames: int = 5  # frames per clip (the first is intra, the others predicted)
    motion: int = 3  # largest step of the window between frames, in HR pixels (sub-pixel in the LR)
    noise_prob: float = 0.5  # chance of Gaussian noise on the LR before encoding
    noise_sigma: list[float] = field(default_factory=lambda: [0.5, 3.0])  # its standard deviation on 0..255
    cache_slots: int = 0  # clips kept and shared between samples; 0 = every sample encodes its own clip
    cache_iters: int = 50  # batches a cached clip serves before its slot is made anew

    def __post_init__(self) -> None:
        def pair(name: str, low: float, high: float) -> None:
            v = getattr(self, name)
            if len(v) != 2 or not low <= v[0] <= v[1] <= high:
                raise ConfigError(f"data.degrade.{name} must be [low, high] within {low}..{high}, not {v}")

        for name in ("prob", "blur_prob", "qp_prob", "noise_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"data.degrade.{name} must be a probability (0..1), not {getattr(self, name)}")
        pair("blur_sigma", 0.1, 10.0)
        pair("crf", 0, 51)
        pair("qp", 0, 51)
        pair("noise_sigma", 0.0, 50.0)
        if not self.codecs or any(c not in ("libx264", "libx265") for c in self.codecs):
            raise ConfigError(f"data.degrade.codecs must name libx264 and/or libx265, not {self.codecs}")
        if not self.presets or any(p not in X264_PRESETS for p in self.presets):
            raise ConfigError(f"data.degrade.presets must be x264 preset names ({', '.join(X264_PRESETS)})")
        if self.clip_frames < 1 or self.motion < 0 or self.cache_slots < 0 or self.cache_iters < 1:
            raise ConfigError("data.degrade: clip_frames and cache_iters must be >= 1, motion and cache_slots >= 0")
        missing = [c for c in self.codecs if c not in av.codecs_available or CODECS[c] not in av.codecs_available]
        if self.prob > 0 and missing:
            raise ConfigError(f"data.degrade.codecs: {', '.join(missing)} not in this PyAV build")


@dataclass
class Clip:
    lr: list[np.ndarray]  # decoded LR frames, (p, p, 3) uint8
    hr: list[np.ndarray]  # their HR windows, (s*p, s*p, 3) uint8
    recipe: str  # what was done, e.g. "blur:1.3 noise 1.2 libx265:crf=30:...:preset=veryfast"


def _window_path(rng: np.random.Generator, frames: int, motion: int) -> np.ndarray:
    """(frames, 2) offsets of the window in HR pixels: a random walk of steps up to `motion`, starting at 0."""
    steps = rng.integers(-motion, motion + 1, size=(frames - 1, 2)) if frames > 1 else np.zeros((0, 2), int)
    path = np.concatenate([np.zeros((1, 2), int), np.cumsum(steps, axis=0)])
    return path - path.min(axis=0)


def make_clip(hr: np.ndarray, rng: np.random.Generator, cfg: DegradeConfig, scale: int, lr_patch: int) -> Clip:
    """A degraded clip of `cfg.clip_frames` frames from a random place in the uint8 RGB image `hr`.

    The encoder sees frames of `encoded_side` LR pixels (at least the crop plus MARGIN on each side, and never under
    libx265's 64); the crop is their centre, so neither the resize's edges nor the codec's frame border are in it."""
    p = lr_patch
    e = encoded_side(lr_patch)
    o = (e - p) // 2
    path = _window_path(rng, cfg.clip_frames, cfg.motion)
    side = e * scale
    need = side + path.max(axis=0)
    short = np.maximum(need - hr.shape[:2], 0)
    if short.any():  # a small image: mirrored out to the clip's size
        hr = np.pad(hr, ((0, short[0]), (0, short[1]), (0, 0)), mode="symmetric")
    y0 = int(rng.integers(hr.shape[0] - need[0] + 1))
    x0 = int(rng.integers(hr.shape[1] - need[1] + 1))
    if rng.random() < cfg.blur_prob:
        down = Downscale("blur", round(float(rng.uniform(*cfg.blur_sigma)), 2))
    else:
        down = Downscale("bicubic")
    sigma = float(rng.uniform(*cfg.noise_sigma)) if rng.random() < cfg.noise_prob else 0.0
    rate = {"qp": int(rng.integers(cfg.qp[0], cfg.qp[1] + 1))} if rng.random() < cfg.qp_prob else \
        {"crf": int(rng.integers(cfg.crf[0], cfg.crf[1] + 1))}
    spec = CodecSpec(cfg.codecs[int(rng.integers(len(cfg.codecs)))], preset=cfg.presets[int(rng.integers(
        len(cfg.presets)))], fps=25, **rate)
    lows, hrs = [], []
    for dy, dx in path:
        window = hr[y0 + dy:y0 + dy + side, x0 + dx:x0 + dx + side]
        low = down(window, scale).astype(np.float64)
        if sigma:
            low = low + rng.normal(0.0, sigma, low.shape)
        lows.append(to_uint8(low))
        hrs.append(np.ascontiguousarray(window[o * scale:(o + p) * scale, o * scale:(o + p) * scale]))
    recipe = f"{down.describe()}{f' noise {sigma:.1f}' if sigma else ''} {spec.describe()}"
    try:
        lows = roundtrip_list(lows, spec)
    except VSRError:  # a codec hiccup costs one clip its compression, never the run
        recipe += " (codec failed: clean)"
    return Clip([np.ascontiguousarray(lo[o:o + p, o:o + p]) for lo in lows], hrs, recipe)


def encoded_side(lr_patch: int) -> int:
    """The side of the frames the encoder gets for an LR crop of `lr_patch` (even, >= 64, >= crop + margins)."""
    side = max(lr_patch + 2 * MARGIN, X265_MIN)
    return side + side % 2


class ClipCache:
    """Clips by (slot, generation), made on first use from their own RNG; two generations kept (prefetching
    spans a generation boundary). Shared by the batch threads."""

    def __init__(self, cfg: DegradeConfig, scale: int, lr_patch: int, seed: int) -> None:
        self.cfg, self.scale, self.lr_patch, self.seed = cfg, scale, lr_patch, seed
        self._clips: dict[tuple[int, int], Clip] = {}
        self._lock = threading.Lock()
        self.made = 0  # clips encoded so far

    def clip(self, images: list[np.ndarray], slot: int, index: int) -> Clip:
        generation = index // self.cfg.cache_iters
        key = (slot, generation)
        with self._lock:
            found = self._clips.get(key)
        if found is not None:
            return found
        rng = np.random.default_rng([self.seed, 0x636C6970, slot, generation])
        clip = make_clip(images[int(rng.integers(len(images)))], rng, self.cfg, self.scale, self.lr_patch)
        with self._lock:
            self._clips.setdefault(key, clip)
            self.made += 1
            for old in [k for k in self._clips if k[1] < generation - 1]:
                del self._clips[old]
            return self._clips[key]


def degraded_pair(images: list[np.ndarray], rng: np.random.Generator, cfg: DegradeConfig, scale: int,
                  lr_patch: int, index: int, cache: ClipCache | None = None, frames: int = 1,
                  following: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One (lr, hr) pair from a degraded clip: made now, or (with `cache`) from a shared slot.

    `frames` > 1 (odd): the LR is that many frames around the centre t stacked on the channel axis, (p, p, 3 *
    frames), the HR still frame t's. Neighbours past the clip's ends repeat its edge frame, as a video's edges are
    fed at inference, so t is drawn as for one frame and the centre LR and HR are those a single-frame run gets.
    `following`: frames t and t + 1, LR and HR each stacked on the channel axis (for the temporal loss)."""
    if cache is not None:
        clip = cache.clip(images, int(rng.integers(cfg.cache_slots)), index)
    else:
        clip = make_clip(images[int(rng.integers(len(images)))], rng, cfg, scale, lr_patch)
    if following:
        t = int(rng.integers(len(clip.lr) - 1))
        return np.concatenate(clip.lr[t:t + 2], axis=2), np.concatenate(clip.hr[t:t + 2], axis=2)
    t = int(rng.integers(len(clip.lr)))
    if frames == 1:
        return clip.lr[t], clip.hr[t]
    around = np.clip(np.arange(t - frames // 2, t + frames // 2 + 1), 0, len(clip.lr) - 1)
    return np.concatenate([clip.lr[i] for i in around], axis=2), clip.hr[t]
