"""`vsr export`: write a model as ONNX (dynamic batch, height and width) for onnxruntime/TensorRT (docs/bench.md)."""

from __future__ import annotations

import argparse

from pipelines.commands.common import add_model_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a model to ONNX (dynamic batch/height/width)")
    add_model_args(p)
    # Checked in run(), not by argparse, so a wrong or missing value is a one-line error like every other.
    p.add_argument("--format", default="onnx", help="export format: onnx")
    p.add_argument("-o", "--output", default=None, help="the file to write (required)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17)")
    p.add_argument("--precision", default="fp32",
                   help="fp32 (exact) or fp16 (half-precision graph for TensorRT/GPUs; float32 input and output)")
    p.add_argument("--no-check", dest="check", action="store_false",
                   help="skip running the exported file in onnxruntime against torch")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vsr.errors import VSRError

    FORMATS = ("onnx",)
    if args.format not in FORMATS:
        raise VSRError(f"unknown export format {args.format!r}; use {', '.join(FORMATS)}")
    if args.precision not in ("fp32", "fp16"):
        raise VSRError(f"export precision {args.precision!r}: use fp32 or fp16")
    if not args.output:
        raise VSRError("export needs -o FILE (the file to write)")
    if not Path(args.output).resolve().parent.is_dir():
        raise VSRError(f"{args.output}: no such directory")
    if args.check:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise VSRError("onnxruntime is not installed (pip install .[onnx]); or pass --no-check") from None
    from vsr.engine.onnx_export import DEFAULT_OPSET, export_onnx
    from vsr.models import resolve_model

    loaded = resolve_model(args.model, args.weights, args.scale, strength=args.strength)
    report = export_onnx(loaded.module, loaded.scale, args.output, args.opset or DEFAULT_OPSET, check=args.check,
                         precision=args.precision)
    check = ""
    if args.check:
        check = f", onnxruntime vs torch fp32 max abs error {report.max_abs_error:.2g}"
        if report.psnr_db is not None:
            check += f", {report.psnr_db:.1f} dB"
    print(f"wrote {report.path} ({loaded.name} x{loaded.scale}, {report.precision}, opset {report.opset}, dynamic "
          f"batch/height/width{check})")
    return 0
