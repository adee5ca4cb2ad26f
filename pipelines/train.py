"""Training wiring: YAML preset -> flags -> TrainConfig; data loader -> Trainer; progress bar, logs, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vsr.errors import VSRError
from vsr.training.config import TrainConfig, from_dict


def load_config(path: str | None) -> TrainConfig:
    if path is None:
        return TrainConfig()
    p = Path(path)
    if not p.is_file():
        raise VSRError(f"config not found: {p}")
    try:
        values = yaml.safe_load(p.read_text()) or {}
        return from_dict(TrainConfig, values, where=p.name)
    except yaml.YAMLError as exc:
        raise VSRError(f"{p}: not valid YAML ({' '.join(str(exc).split())[:160]})") from None
    except (TypeError, ValueError) as exc:
        raise VSRError(f"{p}: {exc}") from None


@dataclass
class Overrides:
    """The command-line flags that override the preset (None = keep the preset's value)."""

    data: list[str] | None = None
    val: str | None = None
    iters: int | None = None
    out: str | None = None
    device: str | None = None
    scale: int | None = None
    init: str | None = None
    threads: int | None = None
    seed: int | None = None


def apply_overrides(cfg: TrainConfig, o: Overrides) -> TrainConfig:
    if o.data is not None:
        cfg.data.paths = list(o.data)
    for name in ("iters", "out", "device", "threads", "seed"):
        if getattr(o, name) is not None:
            setattr(cfg, name, getattr(o, name))
    if o.val is not None:
        cfg.val.folder = o.val
    if o.scale is not None:
        cfg.model.scale = o.scale
    if o.init is not None:
        cfg.model.init = o.init
    if cfg.iters < 1:
        raise VSRError("--iters must be at least 1")
    if cfg.model.scale not in (2, 3, 4):
        raise VSRError(f"scale must be 2, 3 or 4, got {cfg.model.scale}")
    return cfg


def write_json_atomic(path: Path, obj: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


class StopFlag:
    """First Ctrl-C (or SIGTERM) asks the loop to stop after the current step and save; a second one interrupts."""

    def __init__(self) -> None:
        self.set = False
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: object) -> None:
        if self.set:
            raise KeyboardInterrupt
        self.set = True
        print("\nstopping after this iteration (again to interrupt now)", file=sys.stderr, flush=True)

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def run_training(cfg: TrainConfig, resume: str | None = None, command: str = "") -> int:
    """Train as `cfg` says; returns the exit code (0 done, 130 stopped early with the state saved)."""
    import torch
    from tqdm import tqdm

    from vsr.engine.device import resolve_device
    from vsr.metrics.image_io import list_images
    from vsr.training.checkpoint import init_from, load_training_state
    from vsr.training.data import BatchLoader, load_training_set
    from vsr.training.trainer import Trainer, build_model, output_paths

    paths = output_paths(cfg.out)
    if not paths["best"].resolve().parent.is_dir():
        raise VSRError(f"cannot write {cfg.out}: folder {paths['best'].parent} does not exist")
    if paths["best"].suffix != ".pth":
        raise VSRError(f"--out must name a .pth file, got {cfg.out}")
    if cfg.val.folder:
        list_images(cfg.val.folder)  # fail now, not at the first validation
    state = load_training_state(resume) if resume else None
    device = resolve_device(cfg.device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)

    s = cfg.model.scale
    print(f"loading training data from {', '.join(cfg.data.paths) or '(none)'} ...", flush=True)
    examples, report = load_training_set(cfg.data.paths, s, cfg.data.lr_patch, cfg.data.video_frames)
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
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: SAFMN x{s} dim {cfg.model.dim}, {cfg.model.n_blocks} blocks ({n_params / 1e3:.1f} K params); "
          f"{device}{' amp ' + str(trainer.amp_dtype).removeprefix('torch.') if trainer.amp_dtype else ''}, "
          f"{torch.get_num_threads()} threads; batch {cfg.data.batch_size} x {cfg.data.lr_patch}px LR; "
          f"{cfg.iters} iterations; out {paths['best']} (+ {paths['last'].name}, {paths['log'].name})", flush=True)

    def write_log() -> None:
        write_json_atomic(paths["log"], {
            "command": command, "config": cfg.to_dict(), "iteration": trainer.iteration,
            "seconds": round(trainer.seconds, 1), "device": str(device), "threads": torch.get_num_threads(),
            "data": {"summary": report.summary(), "skipped": report.skipped}, "init": init_msg,
            "best": trainer.best, "val_history": trainer.val_history, "loss_curve": trainer.loss_curve,
        })

    interactive = sys.stderr.isatty()
    bar = tqdm(total=cfg.iters, initial=trainer.iteration, desc=f"train x{s}", unit="it", dynamic_ncols=True,
               mininterval=0.5 if interactive else 30.0, smoothing=0.05)
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

    with StopFlag() as flag, BatchLoader(examples, cfg.data, s, cfg.seed, start=trainer.iteration) as loader:
        try:
            finished = trainer.fit(loader, paths, on_step=on_step, on_val=on_val, on_save=write_log,
                                   should_stop=lambda: flag.set)
        finally:
            bar.close()
    best = trainer.best
    if best:
        print(f"best: iteration {best['iteration']}, PSNR {best['psnr']:.3f} dB SSIM {best['ssim']:.4f} "
              f"(bicubic {best['bicubic_psnr']:.3f} / {best['bicubic_ssim']:.4f})")
    print(f"wrote {paths['best']}, {paths['last']}, {paths['log']} ({trainer.iteration} iterations, "
          f"{trainer.seconds / 60:.1f} min)")
    if not finished:
        print(f"stopped at iteration {trainer.iteration}; continue with --resume {paths['last']}", file=sys.stderr)
        return 130
    return 0
