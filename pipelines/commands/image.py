"""`vsr image`: upscale one still image."""

from __future__ import annotations

import argparse

from pipelines.commands.common import add_engine_args, add_model_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("image", help="upscale one image (PNG, JPEG, ...; 8 or 16 bit, colour or gray)")
    p.add_argument("input", help="the image to upscale")
    p.add_argument("-o", "--output", required=True, help="where to write the result (type from the extension)")
    add_model_args(p)
    add_engine_args(p)
    p.add_argument("--tile", type=int, default=0,
                   help="run in tiles of N LR pixels (with overlap) to bound memory; 0: the engine decides")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipelines.image import check_image_paths
    from vsr.errors import VSRError
    from vsr.metrics.image_io import read_image

    # Every check that needs no model comes first (and before torch is imported: bad paths fail fast).
    src, dst = Path(args.input), Path(args.output)
    check_image_paths(src, dst)
    if args.tile < 0:
        raise VSRError(f"--tile {args.tile}: must be 0 (automatic) or a tile size in LR pixels")
    img = read_image(src)

    from pipelines.common.engine_factory import build_engine, model_from_settings
    from pipelines.common.notices import Notices
    from pipelines.common.settings import EngineSettings, ModelSettings
    from pipelines.image import upscale_image_file

    loaded = model_from_settings(ModelSettings(args.model, args.weights, args.scale, args.strength))
    settings = EngineSettings(device=args.device, precision=args.precision, tile=args.tile)
    engine = build_engine(loaded, settings, Notices()).engine
    result = upscale_image_file(engine, img, dst)
    (w, h), (ow, oh) = result.input_size, result.output_size
    print(f"{src} {w}x{h} -> {dst} {ow}x{oh} with {loaded.describe()} ({engine.describe()}, {result.seconds:.2f} s)")
    return 0
