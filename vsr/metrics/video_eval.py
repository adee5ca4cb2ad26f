"""Video SR evaluation as video SR papers run it on Vid4: per-frame Y PSNR/SSIM and TecoGAN's tOF, for the model
and the bicubic baseline side by side.

Each ground-truth frame takes image eval's protocol unchanged (vsr/metrics/evaluate.py: crop to a multiple of the
scale, MATLAB bicubic LR unless an LR sequence is given, the model's uint8 output, Y PSNR/SSIM with a `scale`
border), so a sequence's PSNR equals image eval's mean over the same frames. LR frames go to the model in batches
of equal-size frames, as `upscale` sends them. A sequence's figures are means over its frames (tOF over its frame
pairs); the report's mean is over sequences, as papers average Vid4.

The LR can instead be made by an `LrDegradation` (vsr/metrics/degrade.py: bicubic or blur-downscale, then a real
codec round trip of the whole clip), and the frames and pixels scored follow a `ScoringProtocol`
(vsr/metrics/protocol.py: ours, or COMISR's).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from vsr.engine.temporal import TemporalBlend
from vsr.errors import InputError
from vsr.metrics.degrade import LrDegradation
from vsr.metrics.evaluate import Upscaler, mod_crop, upscale_frames
from vsr.metrics.imresize import imresize_uint8
from vsr.metrics.protocol import STANDARD, ScoringProtocol
from vsr.metrics.quality import psnr_y
from vsr.metrics.sequence import Sequence
from vsr.metrics.temporal import TofMeter

KEYS = ("psnr", "ssim", "tof", "bicubic_psnr", "bicubic_ssim", "bicubic_tof", "frames")


@dataclass
class SequenceScore:
    name: str
    frames: int
    psnr: float
    ssim: float
    tof: float | None  # None: fewer than two frames, no pair to compare
    bicubic_psnr: float
    bicubic_ssim: float
    bicubic_tof: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {k: getattr(self, k) for k in KEYS}


@dataclass
class VideoEvalReport:
    model: str
    scale: int
    temporal: str  # "off", or the temporal option's description
    mean: SequenceScore
    sequences: list[SequenceScore] = field(default_factory=list)
    lr: dict | None = None  # how the LR was made: LrDegradation.to_dict(), or {"given": [paths]}
    protocol: str = "standard"  # ScoringProtocol.name

    def to_dict(self) -> dict:
        return {"model": self.model, "scale": self.scale, "temporal": self.temporal, "lr": self.lr,
                "protocol": self.protocol, "sequences": {s.name: s.as_dict() for s in self.sequences},
                "mean": self.mean.as_dict()}

    def table(self) -> str:
        def tof(v: float | None) -> str:
            return f"{v:>7.3f}" if v is not None else f"{'n/a':>7}"

        def row(s: SequenceScore) -> str:
            return (f"{s.name:<16} {s.frames:>6} {s.bicubic_psnr:>9.2f} {s.bicubic_ssim:>7.4f} {tof(s.bicubic_tof)}"
                    f"   {s.psnr:>9.2f} {s.ssim:>7.4f} {tof(s.tof)}")

        head = (f"{'sequence':<16} {'frames':>6} {'bic PSNR':>9} {'SSIM':>7} {'tOF':>7}   {'PSNR':>9} {'SSIM':>7} "
                f"{'tOF':>7}")
        return "\n".join([head, *map(row, self.sequences), "-" * len(head), row(self.mean)])


def _pairs(gt: Sequence, lr: Sequence | None, scale: int, degradation: LrDegradation
           ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(HR cropped to a multiple of the scale, its LR) for each frame: the given LR, or `degradation`'s."""
    if lr is None:
        # The codec gives frames back a few dozen late: the HR frames wait in a queue for their LR.
        waiting: deque[np.ndarray] = deque()

        def hrs() -> Iterator[np.ndarray]:
            for frame in gt.frames():
                waiting.append(mod_crop(frame, scale))
                yield waiting[-1]

        for low in degradation.lr_frames(hrs(), scale):
            yield waiting.popleft(), low
        return
    given = lr.frames()
    for i, frame in enumerate(gt.frames()):
        hr = mod_crop(frame, scale)
        low = next(given, None)
        if low is None:
            raise InputError(f"{lr.path} has fewer frames than {gt.path} ({i})")
        if low.shape[0] * scale != hr.shape[0] or low.shape[1] * scale != hr.shape[1]:
            raise InputError(f"{lr.path} frame {i + 1}: {low.shape[1]}x{low.shape[0]} is not the x{scale} LR of "
                             f"{hr.shape[1]}x{hr.shape[0]}")
        yield hr, low


def _batches(pairs: Iterator[tuple[np.ndarray, np.ndarray]], batch: int) -> Iterator[list[tuple]]:
    """Runs of up to `batch` consecutive frames of one size (a size change starts a new batch)."""
    run: list[tuple] = []
    for pair in pairs:
        if run and (len(run) == batch or run[0][1].shape != pair[1].shape):
            yield run
            run = []
        run.append(pair)
    if run:
        yield run


def score_sequence(model: Upscaler, seq: Sequence, scale: int, *, batch: int = 1, lr: Sequence | None = None,
                   temporal: TemporalBlend | None = None, degradation: LrDegradation | None = None,
                   protocol: ScoringProtocol = STANDARD,
                   progress: Callable[[int], None] | None = None) -> SequenceScore:
    """One sequence: per-frame scores of the model and bicubic, tOF of both; `progress` gets frames done.

    The LR is `lr` when given, else `degradation`'s (default: MATLAB bicubic); `protocol` says which frames and
    pixels count."""
    names = ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim")
    per_frame: dict[str, list[float]] = {k: [] for k in names}
    tof = TofMeter(["model", "bicubic"], crop=0)
    if temporal is not None:
        temporal.reset()
    pairs = _pairs(seq, lr, scale, degradation or LrDegradation())
    for run in _batches(pairs, batch):
        outputs = upscale_frames(model, np.stack([low for _, low in run]))
        for (hr, low), sr in zip(run, outputs, strict=True):
            if sr.shape != hr.shape:
                raise InputError(f"{seq.name}: the model gave {sr.shape} for an LR of {low.shape} at x{scale}")
            if temporal is not None:
                sr = temporal(low, sr)
            bic = imresize_uint8(low, scale)
            hr_r, sr_r, bic_r = (protocol.region(x, scale) for x in (hr, sr, bic))
            for key, value in zip(names, (psnr_y(sr_r, hr_r, 0), protocol.ssim(sr_r, hr_r), psnr_y(bic_r, hr_r, 0),
                                          protocol.ssim(bic_r, hr_r)), strict=True):
                per_frame[key].append(value)
            tof.add(hr_r, {"model": sr_r, "bicubic": bic_r})
        if progress is not None:
            progress(len(run))
    frames = len(per_frame["psnr"])
    if frames == 0:
        raise InputError(f"{seq.path}: no frames")
    kept = protocol.kept(frames)
    means = {k: float(np.mean(v[kept])) for k, v in per_frame.items()}
    return SequenceScore(seq.name, len(per_frame["psnr"][kept]), tof=tof.result("model", kept),
                         bicubic_tof=tof.result("bicubic", kept), **means)


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def mean_score(scores: list[SequenceScore]) -> SequenceScore:
    """The mean over sequences (tOF over those that have one); `frames` is the total."""
    return SequenceScore("mean", sum(s.frames for s in scores),
                         **{k: _mean([getattr(s, k) for s in scores]) for k in KEYS if k != "frames"})
