"""The compressed-video table of docs/evaluation.md for any models: `eval --video` of each model on each LR
(clean, libx264 CRF 15/25/35 4:2:0, blur 1.5 + 4:4:4 CRF 25), Y PSNR / tOF with bicubic's beside them.

    python scripts/codec_table.py --video ../shared/data/vid4/city --models auto ntire23-safmn-x4 runs/x.pth \
        [--scale 4] [--lr crf25 crf35] [--json table.json]

A model is a registry or shipped name, NAME@S (a robust model at --strength S), or a checkpoint path. Each
cell is one `run_pipeline.py eval --video` run (about 10 s for city x4 on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from vsr.fs import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
LRS = {
    "clean": [],
    "crf15": ["--lr-codec", "libx264:crf=15"],
    "crf25": ["--lr-codec", "libx264:crf=25"],
    "crf35": ["--lr-codec", "libx264:crf=35"],
    "blur444": ["--lr-degrade", "blur:1.5", "--lr-codec", "libx264:crf=25:pix_fmt=yuv444p"],
}


def model_args(spec: str) -> list[str]:
    if spec.endswith((".pth", ".pt")):
        return ["--weights", spec]
    name, _, strength = spec.partition("@")
    return ["--model", name] + (["--strength", strength] if strength else [])


def eval_cell(video: str, spec: str, lr: str, scale: int, out: Path) -> dict:
    cmd = [sys.executable, str(ROOT / "run_pipeline.py"), "eval", "--video", video, "--scale", str(scale),
           *model_args(spec), *LRS[lr], "--json", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{spec} on {lr}: {done.stderr.strip()}")
    report = json.loads(out.read_text())
    seqs = list(report["sequences"].values())
    keys = ("psnr", "tof", "bicubic_psnr", "bicubic_tof")
    return {"model": report["model"], **{k: sum(s[k] for s in seqs) / len(seqs) for k in keys}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", required=True)
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--lr", nargs="+", default=list(LRS), choices=list(LRS))
    p.add_argument("--json", default=None)
    args = p.parse_args()
    cells: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for lr in args.lr:
            for spec in args.models:
                cells.setdefault(lr, {})[spec] = eval_cell(args.video, spec, lr, args.scale, Path(tmp) / "r.json")
    print("| LR | bicubic | " + " | ".join(args.models) + " |")
    print("|---" * (len(args.models) + 2) + "|")
    for lr, row in cells.items():
        first = next(iter(row.values()))
        bic = f"{first['bicubic_psnr']:.2f} / {first['bicubic_tof']:.3f}"
        print(f"| {lr} | {bic} | " + " | ".join(
            f"{c['psnr']:.2f} / {c['tof']:.3f} ({c['psnr'] - c['bicubic_psnr']:+.2f})" for c in row.values()) + " |")
    if args.json:
        write_json_atomic(args.json, {"video": args.video, "scale": args.scale, "cells": cells})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
