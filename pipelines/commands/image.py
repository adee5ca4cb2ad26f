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
    import time
    from pathlib import Path

    from vsr.errors import VSRError
    from vsr.metrics.image_io import check_output_path, read_image, write_image

    # Every check that needs no model comes first (and before torch is imported: bad paths fail fast).
    src, dst = Path(args.input), Path(args.output)
    if dst.resolve() == src.resolve():
        raise VSRError(f"output {dst} is the input; the input is never overwritten, choose another name")
    check_output_path(dst)
    if args.tile < 0:
        raise VSRError(f"--tile {args.tile}: must be 0 (automatic) or a tile size in LR pixels")
    img = read_image(src)

    from pipelines.common.engine_factory import build_engine, model_from_settings
    from pipelines.common.notices import Notices
    from pipelines.common.settings import EngineSettings, ModelSettings
    from vsr.metrics.evaluate import upscale_image

    loaded = model_from_settings(ModelSettings(args.model, args.weights, args.scale))
    settings = EngineSettings(device=args.device, precision=args.precision, tile=args.tile)
    engine = build_engine(loaded, settings, Notices()).engine
    start = time.perf_counter()
    out = upscale_image(engine, img)
    seconds = time.perf_counter() - start
    write_image(dst, out)  # a temporary file beside dst, renamed into place: a failure leaves nothing
    h, w = img.shape[:2]
    print(f"{src} {w}x{h} -> {dst} {out.shape[1]}x{out.shape[0]} with {loaded.describe()} "
          f"({engine.describe()}, {seconds:.2f} s)")
    return 0
