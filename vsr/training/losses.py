"""The paper's training objective: L1 in pixels plus lambda * L1 between the 2-D FFTs of output and target."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fft_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the stacked real and imaginary parts of the per-channel 2-D FFTs.

    As the authors' FFTLoss: a full `fft2` over (H, W) with the default (unnormalised) scaling, so the
    term grows with the patch size; lambda = 0.05 was chosen by them for this scaling. Computed in fp32
    (half-precision FFTs are restricted to power-of-two sizes and lose accuracy).
    """
    pf = torch.fft.fft2(pred.float(), dim=(-2, -1))
    tf = torch.fft.fft2(target.float(), dim=(-2, -1))
    return F.l1_loss(torch.stack([pf.real, pf.imag], dim=-1), torch.stack([tf.real, tf.imag], dim=-1))


def temporal_l1(pred: torch.Tensor, target: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Flicker: L1 between two following output frames where their ground truths are the same picture.

    `pred`, `target`: (B, 2, C, H, W), frames t and t + 1 of moving clips whose windows moved by a whole number
    of HR pixels (at most `max_shift` each way; vsr/training/degrade.py). The shift of each pair is found on the
    targets (the first one under which they agree exactly), so flips and rotations need no bookkeeping; the
    outputs are compared on that overlap. A model that re-invents detail, or copies codec artifacts that change
    from frame to frame, pays for it; one whose outputs move with the picture does not.
    """
    h, w = target.shape[-2:]
    overlaps = [_overlap(dy, dx, h, w) for dy in range(-max_shift, max_shift + 1)
                for dx in range(-max_shift, max_shift + 1)]
    losses = []
    for p, t in zip(pred, target, strict=True):
        found = next(((a, b) for a, b in overlaps if torch.equal(t[0][a], t[1][b])), None)
        if found is not None:
            a, b = found
            losses.append(F.l1_loss(p[0][a].float(), p[1][b].float()))
    return torch.stack(losses).mean() if losses else pred.new_zeros(())


def _overlap(dy: int, dx: int, h: int, w: int) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Where frame t (first) and frame t + 1 (second) show the same pixels when t + 1's window moved by (dy, dx):
    t + 1 at (y, x) is t at (y + dy, x + dx)."""
    first = (slice(None), slice(max(dy, 0), h + min(dy, 0)), slice(max(dx, 0), w + min(dx, 0)))
    second = (slice(None), slice(max(-dy, 0), h + min(-dy, 0)), slice(max(-dx, 0), w + min(-dx, 0)))
    return first, second


class L1FFTLoss(torch.nn.Module):
    """l1_weight * L1(pred, target) + fft_weight * fft_l1(pred, target); returns (total, l1, fft)."""

    def __init__(self, l1_weight: float = 1.0, fft_weight: float = 0.05) -> None:
        super().__init__()
        self.l1_weight = l1_weight
        self.fft_weight = fft_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        l1 = F.l1_loss(pred.float(), target.float())
        fft = fft_l1(pred, target) if self.fft_weight else torch.zeros((), device=pred.device)
        return self.l1_weight * l1 + self.fft_weight * fft, l1, fft
