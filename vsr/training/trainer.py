"""The training loop: Adam on L1 + FFT, lr schedule, EMA, validation with the `eval` protocol, checkpoints.

Knows nothing of the command line: progress goes to the callbacks the caller passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vsr.errors import ConfigError, ModelError
from vsr.metrics.evaluate import evaluate_folder
from vsr.models.registry import FAMILIES, ArchSpec
from vsr.models.stacked import StackedSAFMN
from vsr.training.checkpoint import atomic_save, cpu_state, save_weights
from vsr.training.config import TrainConfig
from vsr.training.data import BatchLoader
from vsr.training.ema import ModelEMA
from vsr.training.losses import L1FFTLoss, temporal_l1
from vsr.training.schedule import learning_rate


@dataclass
class StepStats:
    iteration: int  # optimiser steps done, this one included
    loss: float
    l1: float
    fft: float
    lr: float
    data_wait: float  # seconds the model waited for this batch


@dataclass
class ValResult:
    iteration: int
    psnr: float
    ssim: float
    bicubic_psnr: float
    bicubic_ssim: float
    seconds: float


def output_paths(out: str | Path) -> dict[str, Path]:
    """out runs/x.pth -> the best weights (x.pth), the resumable last state (x_last.pth) and the log (x.json)."""
    out = Path(out)
    return {"best": out, "last": out.with_name(f"{out.stem}_last{out.suffix}"), "log": out.with_suffix(".json")}


def build_model(cfg: TrainConfig) -> nn.Module:
    m = cfg.model
    if m.arch not in FAMILIES:
        raise ConfigError(f"model.arch {m.arch!r} is not a model family (one of: {', '.join(FAMILIES)})")
    if cfg.data.stacked_frames > 1:  # the experiment of vsr/models/stacked.py
        if m.arch != "ntire23-safmn":
            raise ConfigError(f"data.stacked_frames > 1 wraps model.arch ntire23-safmn only, not {m.arch}")
        return StackedSAFMN(m.dim, m.n_blocks, m.ffn_scale, m.scale, frames=cfg.data.stacked_frames)
    return ArchSpec(m.arch, m.dim, m.n_blocks, m.ffn_scale, m.scale).build()


class Trainer:
    def __init__(self, cfg: TrainConfig, model: nn.Module, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device
        self.model = model.to(device).train()
        self.ema = ModelEMA(self.model, cfg.ema_decay)
        o = cfg.optim
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=o.lr, betas=tuple(o.betas),
                                          weight_decay=o.weight_decay)
        self.criterion = L1FFTLoss(cfg.loss.l1_weight, cfg.loss.fft_weight)
        self.amp_dtype: torch.dtype | None = None
        if cfg.amp and device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.iteration = 0
        self.best: dict[str, Any] | None = None  # the best validation so far (asdict of a ValResult)
        self.val_history: list[dict[str, Any]] = []
        self.loss_curve: list[dict[str, float]] = []  # mean loss over every log_every steps
        self._window: list[float] = []
        self.seconds = 0.0  # training wall time so far, over all resumed segments

    # -- one step --------------------------------------------------------------------------------------------------
    def step(self, lr_batch: torch.Tensor, hr_batch: torch.Tensor, data_wait: float = 0.0) -> StepStats:
        lr_now = learning_rate(self.cfg.optim.lr, self.iteration, self.cfg.iters, self.cfg.schedule)
        for group in self.optimizer.param_groups:
            group["lr"] = lr_now
        x = lr_batch.to(self.device, non_blocking=True)
        y = hr_batch.to(self.device, non_blocking=True)
        autocast = torch.autocast("cuda", dtype=self.amp_dtype) if self.amp_dtype else nullcontext()
        if self.cfg.data.temporal_pairs:  # (B, 6, h, w): frames t and t + 1 -> (2B, 3, h, w)
            x, y = x.unflatten(1, (2, 3)).flatten(0, 1), y.unflatten(1, (2, 3)).flatten(0, 1)
        with autocast:
            out = self.model(x)
        loss, l1, fft = self.criterion(out, y)
        if self.cfg.loss.temporal_weight:
            flicker = temporal_l1(out.unflatten(0, (-1, 2)), y.unflatten(0, (-1, 2)), self.cfg.data.degrade.motion)
            loss = loss + self.cfg.loss.temporal_weight * flicker
        if not torch.isfinite(loss):
            raise ConfigError(f"the loss became {loss.item()} at iteration {self.iteration + 1}",
                              hint="lower optim.lr or set optim.grad_clip")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.optim.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.ema.update(self.model)
        self.iteration += 1
        stats = StepStats(self.iteration, loss.item(), l1.item(), fft.item(), lr_now, data_wait)
        self._window.append(stats.loss)
        if len(self._window) >= self.cfg.log_every:
            self.loss_curve.append({"iteration": self.iteration, "loss": sum(self._window) / len(self._window)})
            self._window = []
        return stats

    # -- validation ------------------------------------------------------------------------------------------------
    def validate(self) -> ValResult:
        """Score the EMA weights on the validation folder exactly as `eval` does."""
        module = self.ema.module.eval()
        frames = self.cfg.data.stacked_frames  # a stacked model sees a still image as that many equal frames

        def upscale(x: torch.Tensor) -> torch.Tensor:
            x = x.repeat(1, frames, 1, 1) if frames > 1 else x
            return module(x.to(self.device)).float().cpu()

        t0 = time.perf_counter()
        report = evaluate_folder(upscale, self.cfg.val.folder, self.cfg.model.scale, name="ema")
        m = report.mean
        res = ValResult(self.iteration, m.psnr, m.ssim, m.bicubic_psnr, m.bicubic_ssim, time.perf_counter() - t0)
        self.val_history.append(asdict(res))
        return res

    # -- state -----------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "params": cpu_state(self.model.state_dict()),
            "params_ema": cpu_state(self.ema.state_dict()),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "iteration": self.iteration,
            "torch_rng": torch.get_rng_state(),
            "best": self.best,
            "val_history": self.val_history,
            "loss_curve": self.loss_curve,
            "seconds": self.seconds,
            "config": self.cfg.to_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            self.model.load_state_dict(state["params"], strict=True)
            self.ema.load_state_dict(state["params_ema"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            detail = " ".join(str(exc).split())[:200]
            raise ModelError(f"{{resume}}: the state does not fit this model/config: {detail}") from None
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.iteration = int(state["iteration"])
        self.ema.updates = self.iteration
        torch.set_rng_state(state["torch_rng"])
        self.best = state.get("best")
        self.val_history = list(state.get("val_history") or [])
        self.loss_curve = list(state.get("loss_curve") or [])
        self.seconds = float(state.get("seconds") or 0.0)

    def save_last(self, path: str | Path) -> None:
        atomic_save(self.state_dict(), path)

    def save_best(self, path: str | Path) -> None:
        save_weights(path, self.model.state_dict(), self.ema.state_dict())

    # -- the loop --------------------------------------------------------------------------------------------------
    def fit(self, loader: BatchLoader, paths: dict[str, Path], until: int | None = None,
            on_step: Callable[[StepStats], None] | None = None,
            on_val: Callable[[ValResult, bool], None] | None = None,
            on_save: Callable[[], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> bool:
        """Train from self.iteration to `until` (default cfg.iters); validate every val.every steps, keeping the best
        weights; save the resumable state every save_every steps, at each validation and at the end.

        `should_stop` is polled between steps (e.g. set by Ctrl-C): the state is saved and False returned, so
        a stop never leaves a half-updated model on disk. Returns True when `until` was reached.
        """
        end = self.cfg.iters if until is None else min(until, self.cfg.iters)
        val_every = self.cfg.val.every if self.cfg.val.folder else 0
        t_seg = time.perf_counter()
        seconds0 = self.seconds
        while self.iteration < end:
            t0 = time.perf_counter()
            lr_b, hr_b = loader.next()
            stats = self.step(lr_b, hr_b, time.perf_counter() - t0)
            self.seconds = seconds0 + time.perf_counter() - t_seg
            if on_step:
                on_step(stats)
            stop = should_stop is not None and should_stop()
            validate = val_every and (self.iteration % val_every == 0 or self.iteration == self.cfg.iters)
            if validate:
                res = self.validate()
                improved = self.best is None or res.psnr > self.best["psnr"]
                if improved:
                    self.best = asdict(res)
                    self.save_best(paths["best"])
                if on_val:
                    on_val(res, improved)
            if validate or stop or self.iteration == end or self.iteration % self.cfg.save_every == 0:
                if not val_every:  # nothing to rank by: the "best" is the latest
                    self.save_best(paths["best"])
                self.save_last(paths["last"])
                if on_save:
                    on_save()
            if stop:
                return False
        return True
