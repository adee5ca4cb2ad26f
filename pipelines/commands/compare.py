"""`vsr compare`: an A/B picture (or video) of bicubic, one or more models and the ground truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.commands.common import add_engine_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="A/B picture (PNG) or video of bicubic, models and the ground truth")
    p.add_argument("input", help="an image, a folder of frames or a video: the LR to upscale (or, with --degrade, "
                                 "the ground truth to make the LR from)")
    p.add_argument("-o", "--output", required=True, help="the picture (.png) or, with --video, the video (.mp4/.mkv)")
    p.add_argument("--models", nargs="+", required=True, metavar="MODEL",
                   help="registry names (see `vsr models`; NAME@S: a model trained for compressed video at "
                        "--strength S) or checkpoint files, one panel each")
    p.add_argument("--scale", type=int, default=None, help="upscale factor (for registry names that need one)")
    p.add_argument("--gt", default=None, help="the ground truth (image, folder or video) for PSNR and a panel")
    p.add_argument("--degrade", action="store_true",
                   help="INPUT is the ground truth: make the LR with eval's MATLAB bicubic (as eval --video)")
    p.add_argument("--lr-degrade", default=None, metavar="bicubic|blur:SIGMA",
                   help="with --degrade: MATLAB bicubic (default) or Gaussian blur then every scale-th pixel")
    p.add_argument("--lr-codec", default=None, metavar="CODEC[:KEY=VALUE...]",
                   help="with --degrade: encode and decode the LR clip as eval --video --lr-codec (e.g. "
                        "libx264:crf=25)")
    p.add_argument("--frame", type=int, default=0, help="which frame of a folder or video (default 0, the first)")
    p.add_argument("--crop", default=None, metavar="X,Y,W,H", help="show this region (output pixels) only")
    p.add_argument("--video", action="store_true", help="compare every frame of INPUT (a video) into a video")
    p.add_argument("--layout", default="side", choices=["side", "split"],
                   help="--video: panels side by side, or a split screen of bicubic and the first model")
    p.add_argument("--frames", type=int, default=None, help="--video: only the first N frames")
    add_engine_args(p)
    p.set_defaults(func=run, precision="fp32")


def _box(text: str | None) -> tuple[int, int, int, int] | None:
    from vsr.errors import VSRError

    if text is None:
        return None
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise VSRError(f"--crop {text}: expected X,Y,W,H in output pixels, e.g. 100,80,256,192") from None
    if min(x, y) < 0 or min(w, h) < 1:
        raise VSRError(f"--crop {text}: expected X, Y >= 0 and W, H >= 1")
    return x, y, w, h


def _check(args: argparse.Namespace) -> None:
    from vsr.errors import VSRError

    out = Path(args.output)
    if not out.resolve().parent.is_dir():
        raise VSRError(f"cannot write {out}: its folder does not exist")
    if args.video:
        if out.suffix.lower() not in (".mp4", ".mkv", ".mov"):
            raise VSRError(f"--video writes .mp4, .mkv or .mov, not {out.name}")
        if args.gt or args.degrade or args.crop:
            raise VSRError("--gt, --degrade and --crop are for pictures; --video compares a clip as it is")
    elif out.suffix.lower() != ".png":
        raise VSRError(f"the picture is written as PNG: name it .png, not {out.name}")
    if args.layout == "split" and not args.video:
        raise VSRError("--layout split is for --video")
    if args.degrade and args.gt:
        raise VSRError("--degrade takes INPUT as the ground truth; leave out --gt")
    if (args.lr_degrade or args.lr_codec) and not args.degrade:
        raise VSRError("--lr-degrade and --lr-codec say how --degrade makes the LR; add --degrade")
    if Path(args.input).resolve() == out.resolve():
        raise VSRError(f"output {out} is the input; the input is never overwritten, choose another name")


def _degradation(args: argparse.Namespace):
    from vsr.errors import VSRError
    from vsr.metrics.degrade import LrDegradation

    if not args.degrade:
        return None
    try:
        return LrDegradation.parse(args.lr_degrade, args.lr_codec)
    except VSRError as exc:
        raise VSRError(f"--lr-degrade/--lr-codec: {exc}") from None


def _models(args: argparse.Namespace):
    from pipelines.common.engine_factory import build_engine, model_from_settings
    from pipelines.common.notices import Notices
    from pipelines.common.settings import EngineSettings, ModelSettings
    from pipelines.compare import NamedModel
    from vsr.errors import VSRError

    settings = EngineSettings(device=args.device, precision=args.precision, cpu_tile_area=0)
    models = []
    for spec in args.models:
        is_file = Path(spec).suffix in (".pth", ".pt", ".safetensors") or Path(spec).is_file()
        name, _, strength = spec.rpartition("@") if "@" in spec and not is_file else (spec, "", "")
        try:
            chosen = ModelSettings("auto", spec, None) if is_file else \
                ModelSettings(name, None, args.scale, float(strength) if strength else None)
        except ValueError:
            raise VSRError(f"--models {spec}: expected NAME@STRENGTH with a number from 0 to 1") from None
        loaded = model_from_settings(chosen)
        name = Path(spec).stem if is_file else loaded.name
        models.append(NamedModel(name, loaded.scale, build_engine(loaded, settings, Notices()).engine))
    if len({m.scale for m in models}) > 1:
        raise VSRError("the models upscale by different factors (" + ", ".join(f"{m.name} x{m.scale}" for m in models)
                       + "); compare models of one scale")
    return models


def run(args: argparse.Namespace) -> int:
    from pipelines.common.progress import progress_bar
    from pipelines.compare import write_picture, write_video
    from vsr.metrics.sequence import open_sequence

    _check(args)
    box = _box(args.crop)
    degradation = _degradation(args)
    src = open_sequence(args.input)
    gt = open_sequence(args.gt) if args.gt else None
    models = _models(args)
    out = Path(args.output)
    if args.video:
        bar = progress_bar(args.frames, "compare", enabled=True)
        try:
            n = write_video(src.path, models, args.layout, out, args.frames, on_frame=lambda: bar.update(1))
        finally:
            bar.close()
        print(f"wrote {out}: {n} frames, {args.layout} ({', '.join(['bicubic'] + [m.name for m in models])})")
        return 0
    psnrs = write_picture(src, gt, degradation, args.frame, models, box, out)
    shown = ", ".join(f"{k} {v:.2f} dB" if v is not None else k for k, v in psnrs.items())
    print(f"wrote {out}: frame {args.frame}, {shown}")
    return 0
