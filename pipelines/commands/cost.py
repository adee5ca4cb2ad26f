"""`vsr cost`: parameters, MACs, activations and peak memory of a model at one input size (no weights needed)."""

from __future__ import annotations

import argparse
import re


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cost", help="count parameters, MACs (per layer), activations and peak memory of a model")
    p.add_argument("--model", default="safmn-x4", help="registry name (see `vsr models`); no weights are loaded")
    p.add_argument("--weights", default=None, help="or a checkpoint: its architecture is inferred from it")
    p.add_argument("--scale", type=int, default=None, help="scale of the bicubic model")
    p.add_argument("--input-size", required=True, help="LR input WxH, e.g. 320x180 (x4 to 1280x720)")
    p.add_argument("--json", default=None, help="also write the report (with every layer) to this JSON file")
    p.add_argument("--layers", action="store_true", help="print every layer, not only the totals per block")
    p.add_argument("--no-memory", dest="memory", action="store_false",
                   help="skip the peak-memory measurement (a second forward pass in a fresh process)")
    p.add_argument("--memory-device", default="cpu", help="where to measure peak memory: cpu or cuda[:N]")
    p.set_defaults(func=run)


def parse_size(text: str) -> tuple[int, int]:
    from vsr.errors import VSRError

    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise VSRError(f"--input-size {text!r}: expected WIDTHxHEIGHT, e.g. 320x180")
    return int(m.group(1)), int(m.group(2))


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict
    from pathlib import Path

    from vsr.errors import VSRError

    w, h = parse_size(args.input_size)
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise VSRError(f"cannot write {args.json}: its folder does not exist")

    from vsr.engine.device import resolve_device
    from vsr.metrics.cost import count_cost, measure_peak_memory
    from vsr.metrics.report import write_json
    from vsr.models import SHIPPED, get_entry, infer_arch, read_checkpoint, resolve_model
    from vsr.models.bicubic import Bicubic

    if args.weights:
        arch, label = infer_arch(read_checkpoint(args.weights), source=args.weights), Path(args.weights).stem
    elif args.model in SHIPPED:  # the width and depth are the file's
        arch, label = resolve_model(args.model).arch, args.model
    else:
        arch, label = get_entry(args.model).arch, args.model
    module = arch.build() if arch else Bicubic(args.scale or 2)
    report = count_cost(module, (1, 3, h, w), name=label)
    if args.memory and arch is not None:
        device = resolve_device(args.memory_device)
        report.peak_memory = measure_peak_memory(asdict(arch), (1, 3, h, w), str(device))

    print(f"{label}: {arch.describe() if arch else 'bicubic'}; input {w}x{h} -> "
          f"output {report.output_shape[-1]}x{report.output_shape[-2]}")
    print(_table(report, per_layer=args.layers))
    print(f"params       {report.params:>16,}")
    print(f"MACs         {report.macs:>16,}  ({report.macs / 1e9:.2f} G; fvcore/paper 'FLOPs' = MACs)")
    print(f"conv layers  {report.conv_layers:>16}")
    print(f"activations  {report.activations:>16,}  ({report.activations / 1e6:.1f} M conv output elements)")
    print(f"norm elems   {report.norm_elements:>16,}   activation-fn elems {report.activation_fn_elements:,}")
    if report.peak_memory:
        mem = report.peak_memory
        if "bytes" in mem:
            print(f"peak memory  {mem['bytes'] / 2**20:>16.1f} MiB  ({mem['method']}, fp32, one forward)")
        else:
            print(f"peak memory  not measured: {mem.get('error', mem['method'])}")
    if args.json:
        write_json(args.json, report.to_dict())
        print(f"wrote {args.json}")
    return 0


def _table(report, per_layer: bool) -> str:
    """Per layer, or summed per top-level block (to_feat, feats.0, ..., to_img)."""
    rows: dict[str, list[int]] = {}
    for lc in report.layers:
        key = lc.name if per_layer else _block_of(lc.name)
        r = rows.setdefault(key, [0, 0, 0])
        r[0] += lc.params
        r[1] += lc.macs
        r[2] += lc.elements if lc.category == "conv" else 0
    lines = [f"{'layer' if per_layer else 'block':<28} {'params':>10} {'MACs':>16} {'conv outputs':>14}"]
    lines += [f"{k or '(model)':<28} {p:>10,} {m:>16,} {a:>14,}" for k, (p, m, a) in rows.items()]
    return "\n".join(lines)


def _block_of(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "feats" and len(parts) > 1 else parts[0]
