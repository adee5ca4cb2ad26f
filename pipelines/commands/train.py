"""`vsr train`: train or fine-tune SAFMN with the paper's L1 + FFT loss."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train or fine-tune SAFMN (L1 + FFT loss, EMA, validation, resumable)")
    p.add_argument("--config", default=None,
                   help="a YAML preset: a path, or a shipped name (train/safmn_x2, ...); flags override it")
    p.add_argument("--data", nargs="+", default=None, metavar="DIR_OR_VIDEO",
                   help="image folders (recursive), images and video files to train on")
    p.add_argument("--val", default=None, help="folder of HR images scored like `eval` every val.every iterations")
    p.add_argument("--iters", type=int, default=None, help="total optimiser steps")
    p.add_argument("--out", default=None, help="best weights FILE.pth (also FILE_last.pth, resumable, and FILE.json)")
    p.add_argument("--resume", default=None, metavar="FILE_last.pth", help="continue a run exactly where it stopped")
    p.add_argument("--init", default=None, metavar="NAME_OR_PATH",
                   help="start from a registry model or checkpoint (matching layers; to_img skipped across scales)")
    p.add_argument("--scale", type=int, default=None, help="upscale factor to train")
    p.add_argument("--device", default=None, help="auto|cpu|cuda[:N]")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the preset's, else torch's)")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from pipelines.common.config import overrides_from_args
    from pipelines.train import FLAG_SETTINGS, load_config, run_training

    cfg = load_config(args.config, overrides_from_args(args, FLAG_SETTINGS))
    command = "python run_pipeline.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return run_training(cfg, resume=args.resume, command=command)
