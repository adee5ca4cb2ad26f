"""Run an upscaling model on batches: device, precision and memory format in one place."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from vsr.engine.device import dtype_name, resolve_device, resolve_precision


@dataclass
class EngineConfig:
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool = True


class Engine:
    """Upscales float tensors (N, 3, H, W) in [0, 1]; returns float32 tensors on the CPU, clamped to [0, 1].

    fp32 runs the model as it is (exact). On CUDA, fp16/bf16 convert the weights (the normalisation layers
    compute their statistics in fp32 internally, so this is safe); on the CPU, bf16 uses autocast.
    """

    def __init__(self, module: nn.Module, scale: int, config: EngineConfig | None = None) -> None:
        config = config or EngineConfig()
        self.scale = scale
        self.device = resolve_device(config.device)
        self.dtype = resolve_precision(config.precision, self.device)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.module = module.eval().to(self.device, memory_format=self.memory_format)
        self._cast_weights = self.device.type == "cuda" and self.dtype != torch.float32
        if self._cast_weights:
            self.module = self.module.to(self.dtype)
        for p in self.module.parameters():
            p.requires_grad_(False)

    @property
    def precision(self) -> str:
        return dtype_name(self.dtype)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type == "cpu" and self.dtype != torch.float32:
            return torch.autocast("cpu", dtype=self.dtype)
        return contextlib.nullcontext()

    @torch.inference_mode()
    def forward_device(self, x: torch.Tensor) -> torch.Tensor:
        """Run on a tensor already on the device; returns the raw output on the device."""
        x = x.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        if self._cast_weights:
            x = x.to(self.dtype)
        with self._autocast():
            return self.module(x)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = self.forward_device(x)
        return y.float().clamp_(0.0, 1.0).cpu().contiguous()
