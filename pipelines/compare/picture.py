"""One frame compared: bicubic, each model and the ground truth (when there is one), side by side, with PSNR.

The LR frame is either the input itself, or made from the ground truth by an `LrDegradation` (MATLAB bicubic as
eval's protocol by default; blur-downscale and a real codec round trip of the clip as `eval --video --lr-degrade
--lr-codec`), so that the figure shows what `eval --video` scores. The bicubic panel is the same MATLAB bicubic as the
eval's baseline; models run through the same engine as `upscale`. PSNR is eval's: Y, `scale` border cropped, on
the whole frame (not only the crop shown).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from pipelines.compare.panels import Panel, crop, side_by_side
from vsr.errors import InputError
from vsr.metrics.degrade import LrDegradation
from vsr.metrics.evaluate import Upscaler, mod_crop, upscale_frames
from vsr.metrics.image_io import write_image
from vsr.metrics.imresize import imresize_uint8
from vsr.metrics.quality import psnr_y
from vsr.metrics.sequence import Sequence


@dataclass
class NamedModel:
    name: str
    scale: int
    run: Upscaler


def frame_of(seq: Sequence, index: int) -> np.ndarray:
    frame = next(islice(seq.frames(), index, None), None)
    if frame is None:
        raise InputError(f"{seq.path} has no frame {index}")
    return frame


def _unique(name: str, taken: dict) -> str:
    """`name`, or `name (2)`, `name (3)`, ... when a panel of that name exists (the registry's bicubic model beside
    the MATLAB bicubic baseline, one checkpoint twice)."""
    n, out = 1, name
    while out in taken:
        n += 1
        out = f"{name} ({n})"
    return out


def upscaled(lr: np.ndarray, models: list[NamedModel]) -> dict[str, np.ndarray]:
    """Eval's MATLAB bicubic of `lr` and each model's output, by panel name (in that order, names made unique)."""
    outputs = {"bicubic": imresize_uint8(lr, models[0].scale)}
    for m in models:
        outputs[_unique(m.name, outputs)] = upscale_frames(m.run, lr[None])[0]
    return outputs


def compare_frame(lr: np.ndarray, gt: np.ndarray | None, models: list[NamedModel],
                  box: tuple[int, int, int, int] | None) -> tuple[np.ndarray, dict[str, float | None]]:
    """The picture and each panel's PSNR (None without a ground truth)."""
    scale = models[0].scale
    psnrs: dict[str, float | None] = {}
    panels = []
    for name, img in upscaled(lr, models).items():
        psnrs[name] = psnr_y(img, gt, scale) if gt is not None else None
        note = f"{psnrs[name]:.2f} dB" if gt is not None else ""
        panels.append(Panel(name, crop(img, box), note))
    if gt is not None:
        panels.append(Panel("ground truth", crop(gt, box)))
    return side_by_side(panels), psnrs


def degraded_frame(seq: Sequence, index: int, scale: int, degradation: LrDegradation
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(ground truth, LR) of frame `index` of `seq` degraded as one clip, as eval --video makes it (a codec's
    frame `index` is predicted from the frames around it, so the clip is encoded up to there and beyond)."""
    gt = mod_crop(frame_of(seq, index), scale)
    lows = degradation.lr_frames((mod_crop(f, scale) for f in seq.frames()), scale)
    return gt, next(islice(lows, index, None))


def write_picture(input_seq: Sequence, gt_seq: Sequence | None, degradation: LrDegradation | None, index: int,
                  models: list[NamedModel], box: tuple[int, int, int, int] | None,
                  out: Path) -> dict[str, float | None]:
    """Compares frame `index` and writes the PNG (atomically); returns each panel's PSNR. With `degradation`,
    the input is the ground truth and the LR is made from it; without, the input is the LR."""
    scale = models[0].scale
    gt = None
    if degradation is not None:
        gt, lr = degraded_frame(input_seq, index, scale, degradation)
    else:
        lr = frame_of(input_seq, index)
        if gt_seq is not None:
            gt = mod_crop(frame_of(gt_seq, index), scale)
            if gt.shape[:2] != (lr.shape[0] * scale, lr.shape[1] * scale):
                raise InputError(f"the ground truth frame is {gt.shape[1]}x{gt.shape[0]}, not x{scale} of the "
                                 f"input's {lr.shape[1]}x{lr.shape[0]}")
    picture, psnrs = compare_frame(lr, gt, models, box)
    write_image(out, picture)
    return psnrs
