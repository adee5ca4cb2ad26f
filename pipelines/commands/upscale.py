"""`vsr upscale IN -o OUT`: upscale a video file with a model, keeping its audio, subtitles, timing and colour."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.commands.common import add_engine_args, add_model_args

# flag -> setting in pipelines.common.settings.UpscaleConfig (flags override the --config preset only when given)
FLAG_SETTINGS = {
    "model": "model.name", "weights": "model.weights", "scale": "model.scale", "strength": "model.strength",
    "device": "engine.device", "precision": "engine.precision", "batch": "engine.batch", "tile": "engine.tile",
    "cpu_workers": "engine.cpu_workers", "compile": "engine.compile", "colour": "engine.colour",
    "hwdec": "pipeline.hwdec",
    "codec": "encode.codec", "crf": "encode.crf", "preset": "encode.preset", "frames": "pipeline.max_frames",
}


def batch_arg(text: str) -> int | str:
    """A number, or the text as given (auto; anything else is refused with the other settings' checks)."""
    try:
        return int(text)
    except ValueError:
        return text


def add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="a YAML preset: a path, or a shipped name (quality, fast, cpu)")
    p.add_argument("--batch", type=batch_arg, default=None, metavar="N|auto",
                   help="frames per model call (default 1; auto: as many as fit the GPU's and the host's memory)")
    p.add_argument("--colour", default=None, metavar="auto|host|device",
                   help="where YUV <-> RGB runs: host (swscale), device (beside the model: YUV crosses to the GPU, "
                        "half of RGB's bytes); auto: the device on a GPU")
    p.add_argument("--hwdec", default=None, metavar="auto|none|cuda[:N]",
                   help="decode with NVDEC (cuda), on the CPU (none), or auto: NVDEC when the model runs on a GPU "
                        "(falls back to the CPU with a notice)")
    p.add_argument("--compile", nargs="?", const="default", default=None, metavar="MODE",
                   help="torch.compile the model (checked against eager); MODE reduce-overhead replays CUDA graphs")
    p.add_argument("--tile", type=int, default=None, help="upscale in tiles of N input pixels (0: whole frames)")
    p.add_argument("--cpu-workers", type=int, default=None, metavar="N",
                   help="CPU: frames computed side by side, the threads shared among them (0: auto = 2, 1: one "
                        "frame at a time)")
    p.add_argument("--codec", default=None,
                   help="video encoder: libx264 (default), libx265, libvpx-vp9 (default for .webm), h264_nvenc, "
                        "hevc_nvenc")
    p.add_argument("--crf", type=int, default=None, help="quality (lower is better; cq for NVENC)")
    p.add_argument("--preset", default=None, help="encoder speed: x264 names (ultrafast ... veryslow)")
    p.add_argument("--frames", type=int, default=None, metavar="N", help="upscale only the first N frames (a preview)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--format", default=None, metavar="mkv|nut|y4m",
                   help="the stream's container with -o - (stdout): mkv (default) or nut (audio and subtitles "
                        "kept), y4m (raw video alone)")
    p.add_argument("--report", default=None, metavar="FILE.json", help="write the run's figures as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_segment_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("segments (resume after a crash, scale out with Ray; see docs/segments.md)")
    g.add_argument("--segments", default=None, metavar="auto|N",
                   help="cut at keyframes into N segments (auto: about a minute each, at least one per worker)")
    g.add_argument("--work-dir", default=None, metavar="DIR",
                   help="segment files + manifest (default: a hidden folder beside OUT); Ray: a path all nodes share")
    g.add_argument("--resume", action="store_true", help="reuse the finished, verified segments of an earlier run")
    g.add_argument("--keep-work", action="store_true", help="keep the work directory after success")
    g.add_argument("--engine", default="local", choices=["local", "ray"], help="where segments run (default local)")
    g.add_argument("--ray-address", default=None, metavar="auto|ADDR",
                   help="an existing Ray cluster (default: start a local instance)")
    g.add_argument("--gpus-per-segment", type=float, default=None, metavar="F",
                   help="Ray on GPUs: the share of a GPU each segment asks for (0.5: two segments per GPU; "
                        "default 1)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("upscale", help="upscale a video file (audio, subtitles, timestamps and colour kept)")
    p.add_argument("input", nargs="+", help="the video file to upscale (several files or a folder: -o is a folder; "
                   "-: a stream on stdin)")
    p.add_argument("-o", "--output", required=True, help="the file to write (.mp4, .mkv, .mov, .m4v or .webm; "
                   "-: a stream on stdout, see --format)")
    add_model_args(p)
    add_engine_args(p)
    add_output_args(p)
    add_segment_args(p)
    # None = "not given", so a --config preset's values stand unless a flag overrides them.
    p.set_defaults(func=run, model=None, device=None, precision=None)


def run(args: argparse.Namespace) -> int:
    from pipelines.common.config import load_config, overrides_from_args
    from pipelines.common.settings import UpscaleConfig
    from pipelines.upscale import run_upscale

    cfg = load_config(UpscaleConfig, args.config, overrides_from_args(args, FLAG_SETTINGS))
    inputs = [Path(i) for i in args.input]
    segment_flags = (args.segments, args.work_dir, args.ray_address, args.resume or None, args.keep_work or None,
                     args.gpus_per_segment)
    if any(f is not None for f in segment_flags) or args.engine != "local" or len(inputs) > 1 or inputs[0].is_dir():
        return _run_segmented(args, inputs, cfg)
    report = run_upscale(inputs[0], Path(args.output), cfg, overwrite=args.overwrite, report_path=args.report,
                         progress=not args.no_progress, stream_format=args.format)
    print(report.summary(), file=sys.stderr if args.output == "-" else sys.stdout)  # stdout carries the stream
    return 0


def _run_segmented(args: argparse.Namespace, inputs: list[Path], cfg) -> int:
    """`upscale ... --segments ...` (or several inputs, or a folder)."""
    from pipelines.segments import SegmentOptions, expand_inputs, run_segmented
    from vsr.errors import ConfigError, InputError

    if "-" in args.input or args.output == "-":
        raise InputError("segments, --resume, --engine ray and several inputs need files: a pipe is read (or "
                         "written) once, in one pass", hint="upscale a pipe alone, without the segment flags")
    if args.format is not None:
        raise InputError("{format} is for a stream on stdout (-o -)")
    if cfg.pipeline.max_frames is not None:
        raise ConfigError("{frames} previews a single pass; it cannot be combined with segments or several inputs")
    opts = SegmentOptions(segments=args.segments or "auto", work_dir=Path(args.work_dir) if args.work_dir else None,
                          resume=args.resume, keep_work=args.keep_work, engine=args.engine,
                          ray_address=args.ray_address,
                          gpus_per_segment=1.0 if args.gpus_per_segment is None else args.gpus_per_segment)
    report = run_segmented(expand_inputs(inputs, Path(args.output)), cfg, opts, overwrite=args.overwrite,
                           report_path=args.report, progress=not args.no_progress)
    print(report.summary())
    return 0
