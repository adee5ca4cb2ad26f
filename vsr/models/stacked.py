"""An experiment (issue 24): the NTIRE 2023 SAFMN body fed `frames` neighbouring LR frames stacked on the channel
axis, with no alignment. Only the first conv widens (3 * frames input channels); the image residual is the centre
frame's bilinear upsampling, as in the single-frame model.

Started from a single-frame checkpoint (`widen_first_conv`: the centre frame's weights copied, the neighbours'
zero), it computes exactly what the single-frame model does, so a fine-tune can only learn what the neighbours add.
Not a registered family: nothing ships it; `scripts/stacked_frames.py` measures whether it pays.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vsr.errors import ModelError
from vsr.models.checkpoint import infer_arch, read_checkpoint
from vsr.models.layers import upsample_residual
from vsr.models.safmn_ntire23 import SAFMNNtire23

FIRST_CONV = "to_feat.weight"


class StackedSAFMN(SAFMNNtire23):
    """SAFMNNtire23 on (N, 3 * frames, h, w): frames t - frames//2 .. t + frames//2 in order, centre t."""

    def __init__(self, dim: int = 36, n_blocks: int = 8, ffn_scale: float = 2.0, upscaling_factor: int = 4,
                 frames: int = 3) -> None:
        if frames < 1 or frames % 2 == 0:
            raise ModelError(f"stacked frames must be odd and >= 1, not {frames}")
        super().__init__(dim, n_blocks, ffn_scale, upscaling_factor)
        self.frames = frames
        self.to_feat = nn.Conv2d(3 * frames, dim, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = 3 * (self.frames // 2)
        residual = upsample_residual(x[:, c:c + 3], self.scale)
        feat = self.feats(self.norm(self.to_feat(x)))
        return self.to_img(feat) + residual

    def adapt_checkpoint(self, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`sd` with a single-frame first conv widened to this model's frames (vsr.training.checkpoint.init_from
        calls this before matching shapes)."""
        return widen_first_conv(sd, self.frames)


def widen_first_conv(sd: dict[str, torch.Tensor], frames: int) -> dict[str, torch.Tensor]:
    """A single-frame state dict made to compute the same thing on `frames` stacked frames: the first conv's
    weights on the centre frame's channels, zeros on the neighbours'. Other dicts come back unchanged."""
    w = sd.get(FIRST_CONV)
    if w is None or w.shape[1] != 3 or frames == 1:
        return sd
    wide = w.new_zeros(w.shape[0], 3 * frames, *w.shape[2:])
    c = 3 * (frames // 2)
    wide[:, c:c + 3] = w
    return {**sd, FIRST_CONV: wide}


def load_stacked(path: str | Path, frames: int | None = None) -> StackedSAFMN:
    """An ntire23-safmn checkpoint (single-frame or stacked) as a StackedSAFMN in eval mode, fp32, CPU.

    `frames` None: as many as the checkpoint was trained on; a single-frame checkpoint may be widened to any."""
    sd = read_checkpoint(path)
    stacked = sd[FIRST_CONV].shape[1] // 3 if FIRST_CONV in sd else 1
    frames = frames or stacked
    if stacked not in (1, frames):
        raise ModelError(f"{path}: trained on {stacked} stacked frames, not {frames}")
    narrow = {**sd, FIRST_CONV: sd[FIRST_CONV][:, :3]} if FIRST_CONV in sd else sd
    spec = infer_arch(narrow, source=str(path))  # the body's sizes; the first conv's width is not among them
    if spec.family != "ntire23-safmn":
        raise ModelError(f"{path}: a {spec.family} checkpoint; stacked frames wrap ntire23-safmn only")
    model = StackedSAFMN(spec.dim, spec.n_blocks, spec.ffn_scale, spec.scale, frames=frames)
    model.load_state_dict(widen_first_conv(sd, frames) if stacked == 1 else sd, strict=True)
    return model.eval()
