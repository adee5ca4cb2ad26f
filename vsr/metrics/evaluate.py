"""The standard SR evaluation protocol on a folder of HR images.

For each HR image: crop it to a multiple of the scale, make the LR with MATLAB's bicubic imresize(1/scale)
(resized in float on the 0..255 values, then rounded to uint8, as MATLAB does for uint8 images), upscale the
LR with the model, round the output to uint8, and score PSNR/SSIM on Y with `scale` border pixels cropped.
The bicubic baseline is the same LR upscaled by imresize(scale), rounded the same way.

A gray HR image is replicated to RGB first (R = G = B, as BasicSR's cv2.imread with IMREAD_COLOR reads it) and
then takes the colour path unchanged: RGB LR, RGB model output, Y = 16 + 219/255 gray (docs/evaluation.md).
16-bit images are reduced to 8 bits first (the protocol is defined on 8-bit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from vsr.engine.frames import float_to_frames, frames_to_float
from vsr.metrics.image_io import as_rgb, list_images, read_image
from vsr.metrics.imresize import imresize_uint8, to_uint8
from vsr.metrics.quality import psnr_y, ssim_y

# Anything that maps float32 (N, 3, h, w) in [0, 1] to (N, 3, s*h, s*w): an Engine, or a module.
Upscaler = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class ImageScore:
    name: str
    psnr: float
    ssim: float
    bicubic_psnr: float
    bicubic_ssim: float


@dataclass
class MeanScore:
    psnr: float
    ssim: float
    bicubic_psnr: float
    bicubic_ssim: float


@dataclass
class EvalReport:
    model: str
    scale: int
    mean: MeanScore
    images: list[ImageScore] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"model": self.model, "scale": self.scale, "mean": asdict(self.mean),
                "images": [asdict(s) for s in self.images]}

    def table(self) -> str:
        """A per-image table, the means last."""
        def row(s: ImageScore) -> str:
            return f"{s.name:<20} {s.bicubic_psnr:>12.2f} {s.bicubic_ssim:>7.4f}   {s.psnr:>10.2f} {s.ssim:>7.4f}"

        head = f"{'image':<20} {'bicubic PSNR':>12} {'SSIM':>7}   {'model PSNR':>10} {'SSIM':>7}"
        rows = [row(s) for s in self.images]
        return "\n".join([head, *rows, "-" * len(head), row(ImageScore("mean", **asdict(self.mean)))])


def to_8bit(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint16:
        return to_uint8(img.astype(np.float64) / 257.0)
    return img


def make_lr(hr: np.ndarray, scale: int) -> np.ndarray:
    """The protocol's LR image: uint8 HR (already a multiple of `scale`) -> uint8 MATLAB bicubic 1/scale."""
    return imresize_uint8(hr, 1.0 / scale)


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def upscale_frames(model: Upscaler, frames: np.ndarray, gray: bool = False) -> np.ndarray:
    """Run `model` on a batch of RGB frames (N, h, w, 3), uint8 or uint16; the output quantised to the input's
    dtype the way the engine quantises video frames (vsr/engine/frames.py: round half to even, as BasicSR's
    tensor2img does). `gray`: the output's channels averaged before quantisation (R = G = B)."""
    t = torch.from_numpy(np.ascontiguousarray(frames))
    with torch.inference_mode():
        y = model(frames_to_float(t)).float().cpu()
        if gray:
            y = y.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
        return float_to_frames(y, t.dtype).numpy()


def upscale_image(model: Upscaler, img: np.ndarray) -> np.ndarray:
    """`upscale_frames` for one uint8 or uint16, RGB or gray image.

    Gray (for `vsr image`, which writes gray back; eval only passes RGB) is replicated to RGB for the model and its
    output averaged back to one channel before quantisation.
    """
    gray = img.ndim == 2
    out = upscale_frames(model, as_rgb(img)[None], gray=gray)[0]
    return out[..., 0].copy() if gray else out


def score_image(model: Upscaler, hr: np.ndarray, scale: int, name: str = "") -> ImageScore:
    hr = mod_crop(as_rgb(to_8bit(hr)), scale)
    lr = make_lr(hr, scale)
    sr = upscale_image(model, lr)
    if sr.shape != hr.shape:
        raise ValueError(f"{name}: the model gave {sr.shape} for an LR of {lr.shape} at x{scale}, expected {hr.shape}")
    bic = imresize_uint8(lr, scale)
    return ImageScore(name, psnr_y(sr, hr, scale), ssim_y(sr, hr, scale), psnr_y(bic, hr, scale),
                      ssim_y(bic, hr, scale))


def evaluate_folder(model: Upscaler, hr_dir: str | Path, scale: int, name: str = "model",
                    progress: Callable[[ImageScore], None] | None = None) -> EvalReport:
    """Score `model` on every image in `hr_dir` with the SR protocol at `scale`; `progress` sees each score."""
    scores = []
    for path in list_images(hr_dir):
        s = score_image(model, read_image(path), scale, path.stem)
        scores.append(s)
        if progress is not None:
            progress(s)
    mean = MeanScore(*(float(np.mean([getattr(s, k) for s in scores]))
                       for k in ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim")))
    return EvalReport(name, scale, mean, scores)
