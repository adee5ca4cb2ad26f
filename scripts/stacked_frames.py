"""Experiment (issue 24): does stacking neighbouring LR frames at SAFMN's input pay on compressed video?

    python scripts/stacked_frames.py runs/ntire23_safmn_stack1_x4_last.pth runs/ntire23_safmn_stack3_x4_last.pth \
        [--seq ../shared/data/vid4/city] [--lr clean crf25 crf35 blur] [--json runs/stacked_frames.json]

Each model is an ntire23-safmn checkpoint, single-frame or stacked (vsr/models/stacked.py; the number of frames is
read from its first conv). For each LR recipe the LR clip is made once, exactly as `eval --video --lr-degrade
--lr-codec` makes it (vsr.metrics.degrade.LrDegradation), and every model and bicubic are scored on that same clip
with `eval --video`'s own scorer (vsr.metrics.video_eval.score_sequence: Y PSNR/SSIM with a `scale` border, tOF),
so k=1 and k=3 differ in nothing but the model. A stacked model gets frames t-k//2 .. t+k//2 (an edge frame repeats
where the sequence has no neighbour). Then the model-only frames/s of each at --fps-size on this process's threads,
fp32 CPU modules (no engine), the median of --fps-runs runs, the models taking turns.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pipelines.bench.machine import machine_info
from vsr.engine.frames import frames_to_float
from vsr.metrics.degrade import LrDegradation
from vsr.metrics.evaluate import mod_crop
from vsr.metrics.report import write_json
from vsr.metrics.sequence import Sequence, open_sequence
from vsr.metrics.video_eval import SequenceScore, score_sequence
from vsr.models.stacked import StackedSAFMN, load_stacked

# name -> (--lr-degrade, --lr-codec) as eval takes them
RECIPES = {
    "clean": (None, None),
    "crf25": (None, "libx264:crf=25"),
    "crf35": (None, "libx264:crf=35"),
    "blur": ("blur:1.5", "libx264:crf=25:pix_fmt=yuv444p"),
}


class FrameList(Sequence):
    """A sequence held in memory: the LR clip made once and fed to every model."""

    def __init__(self, name: str, frames: list[np.ndarray]) -> None:
        super().__init__(name, Path(name), None)
        self._frames = frames

    def frames(self) -> Iterator[np.ndarray]:
        yield from self._frames


class WithNeighbours:
    """The Upscaler score_sequence calls with frame t alone (batch 1, in order): the model gets t's neighbours
    stacked around it, taken from the same LR clip."""

    def __init__(self, model: StackedSAFMN, lows: list[np.ndarray]) -> None:
        self.model, self.lows, self.t = model, lows, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        r, last = self.model.frames // 2, len(self.lows) - 1
        around = [min(max(i, 0), last) for i in range(self.t - r, self.t + r + 1)]
        stacked = frames_to_float(torch.from_numpy(np.concatenate([self.lows[i] for i in around], axis=2)[None]))
        if not torch.equal(stacked[:, 3 * r:3 * r + 3], x):  # the scorer's frame t is the centre we stacked
            raise RuntimeError(f"frame {self.t}: the scorer and the stack disagree on the centre frame")
        self.t += 1
        return self.model(stacked)


@dataclass
class Result:
    model: str
    frames: int
    score: SequenceScore


def score_recipe(models: dict[str, StackedSAFMN], gt: Sequence, recipe: str, scale: int) -> list[Result]:
    """Every model on one LR clip made by `recipe` from `gt` (bicubic is in each score's bicubic_* fields)."""
    degradation = LrDegradation.parse(*RECIPES[recipe])
    lows = list(degradation.lr_frames((mod_crop(f, scale) for f in gt.frames()), scale))
    lr = FrameList(gt.name, lows)
    return [Result(name, m.frames, score_sequence(WithNeighbours(m, lows), gt, scale, lr=lr))
            for name, m in models.items()]


def model_fps(models: dict[str, StackedSAFMN], size: tuple[int, int], runs: int, frames: int = 3
              ) -> dict[str, float]:
    """Model-only frames/s of each model on a (1, 3k, h, w) input: the median of `runs` timings of `frames` calls.
    The models take turns within each run, so a busy machine's load falls on all of them alike."""
    w, h = size
    inputs = {name: torch.rand(1, 3 * m.frames, h, w) for name, m in models.items()}
    rates: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for name, m in models.items():
            m(inputs[name])  # warm-up: allocations and oneDNN's first-call choices
        for _ in range(runs):
            for name, m in models.items():
                t0 = time.perf_counter()
                for _ in range(frames):
                    m(inputs[name])
                rates[name].append(frames / (time.perf_counter() - t0))
    return {name: statistics.median(r) for name, r in rates.items()}


def _tof(v: float | None) -> str:
    return f"{v:.3f}" if v is not None else "n/a"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="ntire23-safmn checkpoints, single-frame or stacked")
    p.add_argument("--seq", default="../shared/data/vid4/city", help="ground-truth sequence (folder or video)")
    p.add_argument("--lr", nargs="+", default=list(RECIPES), choices=list(RECIPES), help="LR recipes")
    p.add_argument("--fps-size", default="320x180", help="LR size of the frames/s measurement")
    p.add_argument("--fps-runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    models = {Path(m).stem: load_stacked(m) for m in args.models}
    scales = {m.scale for m in models.values()}
    if len(scales) != 1:
        raise SystemExit(f"error: the models have different scales ({sorted(scales)})")
    scale = scales.pop()
    gt = open_sequence(args.seq)
    out: dict = {"sequence": str(args.seq), "scale": scale, "models": {n: {"path": p, "frames": m.frames}
                 for (n, m), p in zip(models.items(), args.models, strict=True)}, "recipes": {}, "fps": {}}
    print(f"{'LR':<8} {'model':<34} {'k':>2} {'Y PSNR':>7} {'tOF':>6}")
    for recipe in args.lr:
        results = score_recipe(models, gt, recipe, scale)
        b = results[0].score
        print(f"{recipe:<8} {'bicubic':<34} {'':>2} {b.bicubic_psnr:>7.2f} {_tof(b.bicubic_tof):>6}")
        for r in results:
            print(f"{recipe:<8} {r.model:<34} {r.frames:>2} {r.score.psnr:>7.2f} {_tof(r.score.tof):>6}")
        out["recipes"][recipe] = {"lr": RECIPES[recipe], "bicubic": {"psnr": b.bicubic_psnr, "ssim": b.bicubic_ssim,
                                                                     "tof": b.bicubic_tof},
                                  "models": {r.model: r.score.as_dict() for r in results}}
    w, h = map(int, args.fps_size.split("x"))
    out["fps"] = model_fps(models, (w, h), args.fps_runs)
    for name, m in models.items():
        print(f"model-only fps at {w}x{h}: {name} (k={m.frames}) {out['fps'][name]:.2f}")
    info = machine_info()
    out["machine"] = {"cpu": info["cpu"], "cores": info["cpu_cores"], "torch_threads": torch.get_num_threads(),
                      "torch": info["torch"]}
    if args.json:
        write_json(args.json, out)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
