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
