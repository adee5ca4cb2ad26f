"""`vsr bench`: model-only FPS, the file pipeline's FPS and the baselines, side by side (see docs/bench.md)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure frames/s: model only, the upscale pipeline, and the baselines")
    p.add_argument("--config", default=None, help="a preset (bench_edge: the standard edge benchmark)")
    p.add_argument("--model", nargs="+", default=None, help="registry names (default ntire23-safmn-x4)")
    p.add_argument("--weights", default=None, help="a checkpoint to benchmark (label it with one --model)")
    p.add_argument("--input-size", nargs="+", default=None, metavar="WxH", help="input frame sizes (default 320x180)")
    p.add_argument("--batch", nargs="+", default=None, help="batch sizes, or best (fitted to GPU memory; 1 on CPU)")
    p.add_argument("--precision", nargs="+", default=None, help="auto|fp32|fp16|bf16 (several allowed)")
    p.add_argument("--device", default=None, help="auto|cpu|cuda[:N]")
    p.add_argument("--backend", default=None, choices=["torch", "onnxruntime", "tensorrt"],
                   help="inference backend (torch; onnxruntime: the exported graph, best provider; tensorrt: "
                        "onnxruntime's TensorRT provider, fp16, engine cache)")
    p.add_argument("--frames", type=int, default=None,
                   help="frames per timed repeat and per generated clip (at least 8 batches)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (median and spread reported)")
    p.add_argument("--input", default=None, help="a video for the pipeline/naive/I/O runs instead of a generated clip")
    p.add_argument("--tile", type=int, default=None, help="tile the optimised engine (LR pixels; 0 = off)")
    p.add_argument("--cpu-tile-area", type=int, default=None,
                   help="CPU: tile frames of more LR pixels than this (default 110592; 0: never)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--cpu-workers", type=int, default=None, metavar="N",
                   help="optimised CPU engine: frames side by side (default 0: auto, as upscale; 1: one at a time)")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile (checked against eager)")
    p.add_argument("--colour", default=None, choices=["auto", "host", "device"],
                   help="YUV <-> RGB as upscale does it: host, device (beside the model), auto (device on a GPU)")
    p.add_argument("--no-pipeline", dest="pipeline", action="store_false", default=None,
                   help="skip the file pipeline, the naive loop and the I/O-only run")
    p.add_argument("--no-io", dest="io", action="store_false", default=None,
                   help="skip the I/O-only run (the pipeline without the model: no bound_fps or pipeline_efficiency)")
    p.add_argument("--no-baselines", dest="baselines", action="store_false", default=None,
                   help="skip the plain-model and naive-loop baselines (model-only, pipeline and its bound only)")
    p.add_argument("--no-malloc-tuning", dest="malloc_tuning", action="store_false", default=None,
                   help="run the optimised engine without the process settings (glibc malloc, OMP_WAIT_POLICY)")
    p.add_argument("--json", default=None, help="write the full report here")
    p.add_argument("--plot", default=None, help="draw FPS against input size (PNG; needs matplotlib)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from pipelines.bench import BenchConfig, format_table, plot, run_bench
    from pipelines.common.config import load_config, overrides_from_args
    from vsr.errors import VSRError
    from vsr.fs import write_json_atomic

    for path in (args.json, args.plot):
        if path and not Path(path).resolve().parent.is_dir():
            raise VSRError(f"{path}: no such directory")
    overrides = overrides_from_args(args, {
        "model": "models", "weights": "weights", "input_size": "sizes", "batch": "batches",
        "precision": "precisions", "device": "device", "backend": "backend", "frames": "frames",
        "repeats": "repeats", "input": "input", "tile": "tile", "cpu_tile_area": "cpu_tile", "threads": "threads",
        "cpu_workers": "cpu_workers", "compile": "compile", "malloc_tuning": "malloc_tuning", "io": "io",
        "colour": "colour",
    })
    if args.pipeline is False:
        overrides["pipeline"] = overrides["naive"] = overrides["io"] = False
    if args.baselines is False:
        overrides["plain"] = overrides["naive"] = False
    cfg = load_config(BenchConfig, args.config, overrides)
    report = run_bench(cfg, progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(format_table(report))
    if args.json:
        write_json_atomic(args.json, report.to_dict())
    if args.plot:
        notice = plot(report, args.plot)
        if notice:
            print(f"notice: {notice}", file=sys.stderr)
    return 0
