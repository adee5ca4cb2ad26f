"""Learning rate as a pure function of the iteration: linear warm-up, then cosine or multi-step decay.

Being a function of the iteration alone, the schedule needs no state of its own to resume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class ScheduleConfig:
    kind: str = "cosine"  # cosine | multistep | constant
    warmup_iters: int = 0
    eta_min: float = 1e-7  # cosine: the lr reached at the last iteration
    milestones: list[int] = field(default_factory=list)  # multistep: iterations where lr *= gamma
    gamma: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in ("cosine", "multistep", "constant"):
            raise ValueError(f"schedule.kind must be cosine, multistep or constant, got {self.kind!r}")


def learning_rate(base_lr: float, it: int, total: int, cfg: ScheduleConfig) -> float:
    """The lr for optimiser step `it` (0-based) of a run of `total` steps."""
    if cfg.warmup_iters > 0 and it < cfg.warmup_iters:
        return base_lr * (it + 1) / cfg.warmup_iters
    if cfg.kind == "cosine":
        span = max(1, total - cfg.warmup_iters - 1)
        t = min(1.0, (it - cfg.warmup_iters) / span)
        return cfg.eta_min + (base_lr - cfg.eta_min) * 0.5 * (1.0 + math.cos(math.pi * t))
    if cfg.kind == "multistep":
        return base_lr * cfg.gamma ** sum(1 for m in cfg.milestones if it >= m)
    return base_lr
