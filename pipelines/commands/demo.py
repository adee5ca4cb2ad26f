"""`vsr demo`: make a short clip, upscale it through the full file pipeline and print the summary."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from pipelines.commands.common import add_engine_args, add_model_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="upscale a generated 2-second clip end to end (no input needed)")
    p.add_argument("-o", "--output", default=None,
                   help="where to write the upscaled clip (default: vsr-demo-xN.mp4 here, replaced each run)")
    p.add_argument("--seconds", type=float, default=2.0, help="length of the generated clip")
    p.add_argument("--size", default="160x90", help="size of the generated clip, WxH")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--report", default=None, metavar="FILE.json", help="write the run's figures as JSON")
    add_model_args(p)
    add_engine_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipelines.common.notices import Notices
    from pipelines.common.parsing import parse_size
    from pipelines.common.settings import UpscaleConfig
    from pipelines.upscale import run_upscale
    from vsr.errors import VSRError
    from vsr.io.synth import write_pattern_clip
    from vsr.models import resolve_model

    width, height = parse_size(args.size, "size", "160x90")
    if width < 16 or height < 16 or args.seconds <= 0:
        raise VSRError("--size must be at least 16x16 and --seconds positive")
    cfg = UpscaleConfig()
    cfg.model.name, cfg.model.weights, cfg.model.scale = args.model, args.weights, args.scale
    cfg.model.strength = args.strength
    cfg.engine.device, cfg.engine.precision = args.device, args.precision
    cfg.encode.preset = "veryfast"
    notices = Notices()
    if args.model == "auto" and args.weights is None:
        try:
            resolve_model("auto", scale=args.scale)
        except VSRError as exc:
            notices(f"{exc}: the demo uses bicubic instead")
            cfg.model.name = "bicubic"
            cfg.model.scale = args.scale or 2
    scale_hint = cfg.model.scale or 2
    out = Path(args.output) if args.output else Path(f"vsr-demo-x{scale_hint}.mp4")
    overwrite = args.overwrite or args.output is None
    with tempfile.TemporaryDirectory(prefix="vsr-demo-") as tmp:
        clip = write_pattern_clip(Path(tmp) / "demo-input.mp4", width, height, args.seconds)
        print(f"demo: generated {clip.name} ({width}x{height}, {args.seconds:g} s, testsrc2 + 440 Hz tone)",
              file=sys.stderr)
        report = run_upscale(clip, out, cfg, overwrite=overwrite, report_path=args.report, notices=notices)
    print(report.summary())
    print(f"wrote {out}")
    return 0
