"""Flags shared by the commands that run a model."""

from __future__ import annotations

import argparse


def add_model_args(p: argparse.ArgumentParser, default_model: str = "auto", strength: bool = True) -> None:
    p.add_argument("--model", default=default_model,
                   help="registry name (see `vsr models`), or auto: the best model available offline (for a "
                        "compressed video, the one trained for codec artifacts)")
    p.add_argument("--weights", default=None, help="a checkpoint path; overrides --model, architecture inferred")
    p.add_argument("--scale", type=int, default=None, help="upscale factor (picks the model under --model auto)")
    if strength:
        p.add_argument("--strength", type=float, default=None, metavar="0..1",
                       help="a model trained for compressed video, blended with its clean twin: 1 (default) "
                            "removes the most codec artifacts, 0 is the clean model (sharper on clean input)")


def add_engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto|cpu|cuda[:N] (auto: CUDA when present)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"],
                   help="auto may pick a faster precision; fp32 is exact")
