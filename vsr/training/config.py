"""The training configuration: one dataclass tree, filled from a YAML preset and then from command-line flags."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from vsr.errors import ConfigError
from vsr.settings import build_settings
from vsr.training.data import DataConfig
from vsr.training.schedule import ScheduleConfig


@dataclass
class ModelConfig:
    """The paper's efficient SAFMN by default (dim 36, 8 blocks, ffn 2.0); `arch` names any registered family."""

    arch: str = "safmn"  # a family of vsr.models.registry.FAMILIES, e.g. safmnpp-light
    scale: int = 2
    dim: int = 36
    n_blocks: int = 8
    ffn_scale: float = 2.0
    init: str | None = None  # registry name or checkpoint to start from (matching layers only)


@dataclass
class OptimConfig:
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 0.0
    grad_clip: float = 0.0  # max global gradient norm; 0 = off


@dataclass
class LossConfig:
    l1_weight: float = 1.0
    fft_weight: float = 0.05  # lambda of the FFT term (the authors' value for the efficient model)
    temporal_weight: float = 0.0  # flicker term (losses.temporal_l1); needs data.temporal_pairs


@dataclass
class ValConfig:
    folder: str | None = None  # HR images, scored with the `eval` protocol
    every: int = 500  # iterations between validations (and checkpoints)


@dataclass
class TrainConfig:
    iters: int = 1000
    seed: int = 0
    ema_decay: float = 0.999
    amp: bool = True  # mixed precision on CUDA (ignored on the CPU)
    device: str = "auto"
    threads: int = 0  # torch CPU threads; 0 = torch's default
    out: str = "runs/safmn.pth"
    log_every: int = 10  # iterations per point of the loss curve
    save_every: int = 100  # iterations between saves of the resumable last checkpoint
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    val: ValConfig = field(default_factory=ValConfig)

    def __post_init__(self) -> None:
        if self.loss.temporal_weight and not self.data.temporal_pairs:
            raise ConfigError("loss.temporal_weight compares following frames: set data.temporal_pairs: true")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def from_dict(cls: type, values: dict[str, Any], where: str = "") -> Any:
    """Build dataclass `cls` from a (YAML) mapping: vsr.settings' builder (every key and type checked)."""
    return build_settings(cls, values, f"{where}." if where else "")
