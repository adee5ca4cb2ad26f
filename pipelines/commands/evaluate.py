"""`vsr eval`: PSNR/SSIM of a model on a folder of HR images with the standard SR protocol."""

from __future__ import annotations

import argparse

from pipelines.commands.common import add_engine_args, add_model_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score a model on HR images (bicubic LR, Y-channel PSNR/SSIM, as SR papers do)")
    add_model_args(p)
    p.add_argument("--hr", required=True, help="folder of HR images (e.g. Set5)")
    p.add_argument("--json", default=None, help="also write the report to this JSON file")
    add_engine_args(p)
    p.set_defaults(func=run, precision="fp32")  # the protocol's scores are fp32; --precision fp16/bf16 to compare


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vsr.errors import VSRError
    from vsr.metrics.image_io import list_images
    from vsr.metrics.report import write_json

    # Fail on bad paths before torch is imported, the model loads and the images are scored.
    list_images(args.hr)
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise VSRError(f"cannot write {args.json}: its folder does not exist")

    from pipelines.common.engine_factory import build_engine, model_from_settings
    from pipelines.common.settings import EngineSettings, ModelSettings
    from vsr.metrics.evaluate import evaluate_folder

    loaded = model_from_settings(ModelSettings(args.model, args.weights, args.scale))
    # Whole images, never tiles: SAFM's pooling sees the whole input, so tiling would change the scores.
    settings = EngineSettings(device=args.device, precision=args.precision, cpu_tile_area=0)
    engine = build_engine(loaded, settings).engine
    print(f"{loaded.describe()}; {engine.device} {engine.precision}; x{loaded.scale} on {args.hr}", flush=True)
    report = evaluate_folder(engine, args.hr, loaded.scale, name=loaded.name)
    print(report.table())
    if args.json:
        write_json(args.json, report.to_dict())
        print(f"wrote {args.json}")
    return 0
