"""`vsr eval`: PSNR/SSIM of a model on a folder of HR images with the standard SR protocol, or (`--video`) per-frame
PSNR/SSIM and tOF on video sequences, as video SR papers report Vid4."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.commands.common import add_engine_args, add_model_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score a model on HR images or video sequences (bicubic LR, Y PSNR/SSIM as SR "
                                    "papers do; tOF for video)")
    add_model_args(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--hr", help="folder of HR images (e.g. Set5)")
    what.add_argument("--video", nargs="+", metavar="SEQ",
                      help="ground-truth sequences: folders of frames in name order, or video files (e.g. Vid4)")
    p.add_argument("--lr", nargs="+", metavar="SEQ", default=None,
                   help="with --video: the LR sequences to upscale, one per SEQ (default: MATLAB bicubic of the GT)")
    p.add_argument("--lr-degrade", default=None, metavar="bicubic|blur:SIGMA",
                   help="with --video: how the LR is made from the GT: MATLAB bicubic (default), or a Gaussian blur "
                        "of SIGMA HR pixels then every scale-th pixel (the papers' BD)")
    p.add_argument("--lr-codec", default=None, metavar="CODEC[:KEY=VALUE...]",
                   help="with --video: then encode and decode the LR clip, e.g. libx264:crf=25 (codecs libx264, "
                        "libx265, libsvtav1; keys crf, qp, pix_fmt=yuv420p|yuv444p, preset, fps; default none)")
    p.add_argument("--protocol", default="standard", choices=["standard", "comisr"],
                   help="with --video: which frames and pixels count: ours (every frame, scale-pixel border) or "
                        "COMISR's (first/last 2 frames dropped, centred multiple-of-32 crop)")
    p.add_argument("--batch", type=int, default=1, help="with --video: frames per model call (as upscale)")
    p.add_argument("--temporal-blend", type=float, default=0.0, metavar="S",
                   help="with --video: blend each output with the previous one where the input is still "
                        "(0..1, default 0: off, exact model output; see docs/evaluation.md)")
    p.add_argument("--json", default=None, help="also write the report to this JSON file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_engine_args(p)
    p.set_defaults(func=run, precision="fp32")  # the protocol's scores are fp32; --precision fp16/bf16 to compare


def run(args: argparse.Namespace) -> int:
    from vsr.errors import VSRError
    from vsr.metrics.image_io import list_images

    # Fail on bad paths and flags before torch is imported, the model loads and the images are scored.
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise VSRError(f"cannot write {args.json}: its folder does not exist")
    if args.hr is not None:
        if (args.lr or args.batch != 1 or args.temporal_blend or args.lr_degrade or args.lr_codec
                or args.protocol != "standard"):
            raise VSRError("--lr, --lr-degrade, --lr-codec, --protocol, --batch and --temporal-blend go with --video")
        list_images(args.hr)
    sequences = _video_args(args) if args.video else None
    degradation = _degradation(args) if args.video else None
    loaded, engine = _engine(args)
    if sequences is None:
        from vsr.metrics.evaluate import evaluate_folder

        print(f"{loaded.describe()}; {engine.device} {engine.precision}; x{loaded.scale} on {args.hr}", flush=True)
        report = evaluate_folder(engine, args.hr, loaded.scale, name=loaded.name)
    else:
        report = _evaluate_video(args, loaded, engine, sequences, degradation)
    print(report.table())
    if args.json:
        from vsr.metrics.report import write_json

        write_json(args.json, report.to_dict())
        print(f"wrote {args.json}")
    return 0


def _video_args(args: argparse.Namespace) -> list[tuple]:
    """(GT sequence, LR sequence or None) pairs, checked; one-line errors for the flags."""
    from vsr.errors import VSRError
    from vsr.metrics.sequence import open_sequence

    if args.lr is not None and len(args.lr) != len(args.video):
        raise VSRError(f"--lr needs one sequence per --video sequence ({len(args.video)}), got {len(args.lr)}")
    if args.batch < 1:
        raise VSRError(f"--batch {args.batch}: expected a positive number")
    if not 0.0 <= args.temporal_blend < 1.0:
        raise VSRError(f"--temporal-blend {args.temporal_blend}: expected a weight from 0 to below 1")
    gts = [open_sequence(p) for p in args.video]
    names = [s.name for s in gts]
    if len(set(names)) != len(names):
        raise VSRError(f"two sequences have the same name ({', '.join(names)}); the report keys them by name")
    lrs = [open_sequence(p) for p in args.lr] if args.lr is not None else [None] * len(gts)
    return list(zip(gts, lrs, strict=True))


def _degradation(args: argparse.Namespace):
    """The LrDegradation of --lr-degrade / --lr-codec (None with --lr); one-line errors for bad specs."""
    from vsr.errors import VSRError
    from vsr.metrics.degrade import LrDegradation

    if args.lr is not None:
        if args.lr_degrade or args.lr_codec:
            raise VSRError("--lr-degrade and --lr-codec make the LR from the ground truth; leave out --lr")
        return None
    try:
        return LrDegradation.parse(args.lr_degrade, args.lr_codec)
    except VSRError as exc:
        raise VSRError(f"--lr-degrade/--lr-codec: {exc}") from None


def _engine(args: argparse.Namespace):
    from pipelines.common.engine_factory import build_engine, model_from_settings
    from pipelines.common.settings import EngineSettings, ModelSettings

    # `auto` on a video scores what `upscale --model auto` runs on an ordinary (compressed) file
    loaded = model_from_settings(ModelSettings(args.model, args.weights, args.scale, args.strength),
                                 compressed=args.video is not None)
    # Whole images, never tiles: SAFM's pooling sees the whole input, so tiling would change the scores.
    settings = EngineSettings(device=args.device, precision=args.precision, cpu_tile_area=0)
    return loaded, build_engine(loaded, settings).engine


def _evaluate_video(args: argparse.Namespace, loaded, engine, sequences: list[tuple], degradation):
    from pipelines.common.progress import progress_bar
    from vsr.engine.temporal import TemporalBlend
    from vsr.metrics.protocol import ScoringProtocol
    from vsr.metrics.video_eval import VideoEvalReport, mean_score, score_sequence

    temporal = TemporalBlend(args.temporal_blend) if args.temporal_blend else None
    protocol = ScoringProtocol(args.protocol)
    lengths = [gt.known_length() for gt, _ in sequences]
    total = None if None in lengths else sum(lengths)
    made = f"LR {degradation.describe()}" if degradation else "LR given"
    print(f"{loaded.describe()}; {engine.device} {engine.precision}; x{loaded.scale}, batch {args.batch}"
          f"{'; ' + temporal.describe() if temporal else ''}; {made}; protocol {protocol.name}; "
          f"{len(sequences)} sequences", flush=True)
    bar = progress_bar(total, "eval", enabled=not args.no_progress)
    try:
        scores = [score_sequence(engine, gt, loaded.scale, batch=args.batch, lr=lr, temporal=temporal,
                                 degradation=degradation, protocol=protocol, progress=bar.update)
                  for gt, lr in sequences]
    finally:
        bar.close()
    lr_record = degradation.to_dict() if degradation else {"given": [str(lr.path) for _, lr in sequences]}
    return VideoEvalReport(loaded.name, loaded.scale, temporal.describe() if temporal else "off",
                           mean_score(scores), scores, lr=lr_record, protocol=protocol.name)
