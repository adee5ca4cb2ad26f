"""Exponential moving average of the model weights (the authors' `net_g_ema`, decay 0.999)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class ModelEMA:
    """ema = d * ema + (1 - d) * weights after every optimiser step; buffers are copied.

    d = min(decay, (1 + n) / (10 + n)) after n updates: the EMA starts as a copy of the untrained model, and a
    fixed 0.999 would keep 0.999**n of those random weights (37% after 1000 steps), which matters in short runs
    (the authors ran 500k steps). The ramp lets the average forget the initialisation early.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.updates = 0  # the resumable state besides the weights (the trainer sets it from the iteration)
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        self.updates += 1
        src = model.state_dict()
        for name, ema in self.module.state_dict().items():
            if ema.dtype.is_floating_point:
                ema.mul_(d).add_(src[name].detach(), alpha=1.0 - d)
            else:
                ema.copy_(src[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, sd: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(sd, strict=True)
