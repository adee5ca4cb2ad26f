"""The `train` job: YAML preset -> flags -> TrainConfig; data loader -> Trainer; progress bar, logs, Ctrl-C."""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.common.config import load_config as load_settings
from pipelines.common.progress import progress_bar
from pipelines.common.stop import Interrupted, StopFlag
from vsr.errors import ConfigError, InputError
from vsr.fs import write_json_atomic
from vsr.training.config import TrainConfig

# flag dest -> TrainConfig setting (flags override the preset only when given)
FLAG_SETTINGS = {"data": "data.paths", "val": "val.folder", "iters": "iters", "out": "out", "device": "device",
                 "scale": "model.scale", "init": "model.init", "threads": "threads", "seed": "seed"}


def load_config(path: str | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The preset (if any) with `overrides` ({dotted.setting: value}) on top, checked."""
    cfg = load_settings(TrainConfig, path, overrides)
    if cfg.iters < 1:
        raise ConfigError("{iters} must be at least 1")
    if cfg.model.scale not in (2, 3, 4):
        raise ConfigError(f"must be 2, 3 or 4, got {cfg.model.scale}", setting="scale", value=cfg.model.scale)
    return cfg


@dataclass
class _Run:
    """What one training run is made of, for the log and the messages."""

    cfg: TrainConfig
    paths: dict[str, Path]
    trainer: Any  # vsr.training.trainer.Trainer
    device: Any
    data_report: Any
    init_msg: str | None
    command: str
    examples: list

    def write_log(self) -> None:
        import torch

        t = self.trainer
        write_json_atomic(self.paths["log"], {
            "command": self.command, "config": self.cfg.to_dict(), "iteration": t.iteration,
            "seconds": round(t.seconds, 1), "device": str(self.device), "threads": torch.get_num_threads(),
            "data": {"summary": self.data_report.summary(), "skipped": self.data_report.skipped},
            "init": self.init_msg, "best": t.best, "val_history": t.val_history, "loss_curve": t.loss_curve,
        }, indent=1)


def _check_outputs(cfg: TrainConfig) -> dict[str, Path]:
    from vsr.metrics.image_io import list_images
    from vsr.training.trainer import output_paths

    paths = output_paths(cfg.out)
    if not paths["best"].resolve().parent.is_dir():
        raise InputError(f"cannot write {cfg.out}: folder {paths['best'].parent} does not exist")
    if paths["best"].suffix != ".pth":
        raise InputError(f"{{out}} must name a .pth file, got {cfg.out}")
    if cfg.val.folder:
        list_images(cfg.val.folder)  # fail now, not at the first validation
    return paths


def _prepare(cfg: TrainConfig, resume: str | None, command: str) -> _Run:
    """Checks, data, model and trainer (resumed or initialised), each step told to the user."""
    import torch

    from vsr.engine.device import resolve_device
    from vsr.training.checkpoint import init_from, load_training_state
    from vsr.training.data import load_training_set
    from vsr.training.trainer import Trainer, build_model

    paths = _check_outputs(cfg)
    state = load_training_state(resume) if resume else None
    device = resolve_device(cfg.device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    print(f"loading training data from {', '.join(cfg.data.paths) or '(none)'} ...", flush=True)
    examples, report = load_training_set(cfg.data.paths, cfg.model.scale, cfg.data.lr_patch, cfg.data.video_frames)
    print(f"data: {report.summary()}", flush=True)
    model = build_model(cfg)
    init_msg = None
    if cfg.model.init and state is None:
        init_msg = init_from(model, cfg.model.init).describe()
        print(init_msg, flush=True)
    trainer = Trainer(cfg, model, device)
    if state is not None:
        trainer.load_state_dict(state)
        print(f"resumed from {resume} at iteration {trainer.iteration}", flush=True)
    run = _Run(cfg, paths, trainer, device, report, init_msg, command, examples)
    print(_describe(run, sum(p.numel() for p in model.parameters())), flush=True)
    return run


def _describe(run: _Run, n_params: int) -> str:
    import torch

    cfg, t, paths = run.cfg, run.trainer, run.paths
    amp = f" amp {str(t.amp_dtype).removeprefix('torch.')}" if t.amp_dtype else ""
    stacked = f", {cfg.data.stacked_frames} stacked frames" if cfg.data.stacked_frames > 1 else ""
    return (f"model: {cfg.model.arch} x{cfg.model.scale} dim {cfg.model.dim}, {cfg.model.n_blocks} blocks{stacked} "
            f"({n_params / 1e3:.1f} K params); {run.device}{amp}, {torch.get_num_threads()} threads; batch "
            f"{cfg.data.batch_size} x {cfg.data.lr_patch}px LR; {cfg.iters} iterations; out {paths['best']} "
            f"(+ {paths['last'].name}, {paths['log'].name})")


def _fit(run: _Run) -> int | None:
    """The training loop under a progress bar; the signal that stopped it early, None when it reached the end."""
    from vsr.training.data import BatchLoader

    cfg, trainer = run.cfg, run.trainer
    bar = progress_bar(cfg.iters, f"train x{cfg.model.scale}", enabled=True, unit="it", initial=trainer.iteration,
                       smoothing=0.05, mininterval=0.5 if sys.stderr.isatty() else 30.0)
    ema_loss: list[float] = []

    def on_step(st) -> None:
        ema_loss.append(st.loss if not ema_loss else 0.98 * ema_loss[-1] + 0.02 * st.loss)
        bar.set_postfix(loss=f"{ema_loss[-1]:.4f}", lr=f"{st.lr:.2e}", wait=f"{st.data_wait * 1e3:.0f}ms",
                        refresh=False)
        bar.update(1)

    def on_val(res, improved: bool) -> None:
        bar.write(f"[{res.iteration}] val PSNR {res.psnr:.3f} dB SSIM {res.ssim:.4f} (bicubic {res.bicubic_psnr:.3f} / "
                  f"{res.bicubic_ssim:.4f}){'  best' if improved else ''}  [{res.seconds:.1f}s, "
                  f"train {trainer.seconds / 60:.1f} min, loss {ema_loss[-1] if ema_loss else float('nan'):.4f}]")
        sys.stdout.flush()

    with StopFlag("stopping after this iteration (again to quit now)") as flag, \
            BatchLoader(run.examples, cfg.data, cfg.model.scale, cfg.seed, start=trainer.iteration) as loader:
        try:
            finished = trainer.fit(loader, run.paths, on_step=on_step, on_val=on_val, on_save=run.write_log,
                                   should_stop=lambda: flag.set)
            return None if finished else flag.signum or signal.SIGINT
        finally:
            bar.close()


def run_training(cfg: TrainConfig, resume: str | None = None, command: str = "") -> int:
    """Train as `cfg` says; returns 0; stopped early by a signal (the state saved): Interrupted."""
    run = _prepare(cfg, resume, command)
    stopped_by = _fit(run)
    trainer, paths = run.trainer, run.paths
    if best := trainer.best:
        print(f"best: iteration {best['iteration']}, PSNR {best['psnr']:.3f} dB SSIM {best['ssim']:.4f} "
              f"(bicubic {best['bicubic_psnr']:.3f} / {best['bicubic_ssim']:.4f})")
    print(f"wrote {paths['best']}, {paths['last']}, {paths['log']} ({trainer.iteration} iterations, "
          f"{trainer.seconds / 60:.1f} min)")
    if stopped_by is not None:
        raise Interrupted(stopped_by, f"at iteration {trainer.iteration}; continue with --resume {paths['last']}")
    return 0
