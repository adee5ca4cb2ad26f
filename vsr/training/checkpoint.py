"""Checkpoint files in the authors' layout, `{"params": ..., "params_ema": ...}`, and the resumable training state.

Weights files load by path alone here (`vsr.models.load_model`) and in the authors' BasicSR code. The resumable
`*_last.pth` is the same layout with extra keys (optimiser, iteration, RNG, curves), so it loads the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vsr.errors import ModelError
from vsr.fs import atomic_path
from vsr.models.checkpoint import load_file, read_checkpoint
from vsr.models.registry import get_entry
from vsr.models.shipped import SHIPPED
from vsr.models.stacked import StackedSAFMN
from vsr.models.weights import fetch_weights

STATE_KEYS = ("iteration", "optimizer", "torch_rng")


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save to a temporary file beside `path`, then rename: a crash never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def cpu_state(sd: dict[str, torch.Tensor], dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).clone() for k, v in sd.items()}


def save_weights(path: str | Path, params: dict[str, torch.Tensor], params_ema: dict[str, torch.Tensor] | None
                 ) -> None:
    """Authors' layout. Without a separate EMA, `params_ema` is `params` (torch.save stores shared tensors once)."""
    p = cpu_state(params)
    e = cpu_state(params_ema) if params_ema is not None else p
    atomic_save({"params": p, "params_ema": e}, path)


def save_ema_only(path: str | Path, params_ema: dict[str, torch.Tensor], dtype: torch.dtype = torch.float32
                  ) -> None:
    """The compact file shipped in the package: the EMA weights under both keys, stored once (half the size);
    fp16 halves it again (a model loads them into its fp32 parameters)."""
    e = cpu_state(params_ema, dtype)
    atomic_save({"params": e, "params_ema": e}, path)


def load_training_state(path: str | Path) -> dict[str, Any]:
    """A `*_last.pth` written by `train`, checked to hold the resumable state."""
    state = load_file(path, setting="resume")
    missing = [k for k in ("params", "params_ema", *STATE_KEYS) if not isinstance(state, dict) or k not in state]
    if missing:
        raise ModelError(f"holds no training state (missing {', '.join(missing)})", setting="resume", value=path,
                         hint="resume from the *_last.pth that train writes, or use {init} to fine-tune from weights")
    return state


@dataclass
class InitReport:
    source: str
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "key (reason)"

    def describe(self) -> str:
        msg = f"initialised {len(self.loaded)}/{len(self.loaded) + len(self.skipped)} tensors from {self.source}"
        if self.skipped:
            groups = sorted({s.split(".")[0] for s in self.skipped})
            msg += f"; not loaded (trained from scratch): {', '.join(groups)} ({len(self.skipped)} tensors)"
        return msg


def init_from(model: nn.Module, source: str) -> InitReport:
    """Load every tensor of `source` (a checkpoint path or registry name) whose name and shape match `model`.

    A model of another scale shares everything but `to_img`, which then starts from its random initialisation.
    """
    if Path(source).is_file():
        sd = read_checkpoint(source, setting="init")
    elif source in SHIPPED:
        sd = read_checkpoint(SHIPPED[source].path, setting="init")
    else:
        entry = get_entry(source)  # a one-line ModelError for unknown names
        if entry.arch is None:
            raise ModelError("has no weights to start from", setting="init", value=source)
        sd = read_checkpoint(fetch_weights(entry))
    if isinstance(model, StackedSAFMN):  # its input conv is wider than the single-frame checkpoint's, not different
        sd = model.adapt_checkpoint(sd)
    own = model.state_dict()
    report = InitReport(source)
    take = {}
    for key, value in own.items():
        if key not in sd:
            report.skipped.append(f"{key} (absent)")
        elif sd[key].shape != value.shape:
            report.skipped.append(f"{key} (shape {tuple(sd[key].shape)} vs {tuple(value.shape)})")
        else:
            take[key] = sd[key]
            report.loaded.append(key)
    if not take:
        raise ModelError("shares no layer with this model (is it a SAFMN of the same size?)", setting="init",
                         value=source)
    model.load_state_dict(take, strict=False)
    return report


def export_ema(src: str | Path, dst: str | Path, dtype: torch.dtype = torch.float32) -> None:
    """Write the compact, shippable copy of a checkpoint: its EMA weights (else its params), under both keys."""
    save_ema_only(dst, read_checkpoint(src), dtype)
