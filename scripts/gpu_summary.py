"""Summarise a GPU check's folder (scripts/gpu_check.sh): the targets, met or not, and where each figure came from.

    python scripts/gpu_summary.py OUT_DIR      # also writes OUT_DIR/gpu_check.json (everything in one file)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _tail(path: Path, n: int = 3) -> str:
    try:
        return " | ".join(path.read_text().strip().splitlines()[-n:])
    except OSError:
        return "missing"


NO_SYNC_TEST = "test_submit_never_synchronises_with_the_device"


def _test_verdict(out: Path, name: str) -> str:
    """PASSED / FAILED / ... for one test, from pytest's -rA summary lines."""
    try:
        for line in (out / "pytest_cuda.txt").read_text().splitlines():
            if line.endswith(f"::{name}") or f"::{name} " in line:
                return line.split()[0]
    except OSError:
        pass
    return "not run"


def _target(label: str, value: Any, goal: float) -> str:
    if not isinstance(value, int | float):
        return f"  {label}: {value} (goal {goal:g}) -> NOT MEASURED"
    return f"  {label}: {value:g} (goal >= {goal:g}) -> {'met' if value >= goal else 'MISSED'}"


def main(out: Path) -> int:
    figures = _load(out / "figures.json") or {}
    bench_model, bench_pipe = _load(out / "bench_model.json"), _load(out / "bench_pipeline.json")
    upscale = {c: _load(out / f"upscale_{c}.json") for c in ("host", "device")}
    live = _load(out / "live.json")
    everything = {"figures": figures, "bench_model": bench_model, "bench_pipeline": bench_pipe,
                  "pytest": _tail(out / "pytest_cuda.txt"), "upscale": upscale, "live": live}
    (out / "gpu_check.json").write_text(json.dumps(everything, indent=1) + "\n")
    gpu = figures.get("gpu", {})
    lines = [f"GPU: {gpu.get('name', '?') if isinstance(gpu, dict) else gpu}", f"pytest: {everything['pytest']}"]
    fp16 = [v.get("psnr_vs_cpu_fp32") for k, v in figures.items() if k.startswith("fidelity/") and k.endswith("/fp16")
            and isinstance(v, dict)]
    lines.append(f"no host sync in submit (tests/engine/test_engine_cuda.py): {_test_verdict(out, NO_SYNC_TEST)}")
    lines.append("targets:")
    speed = figures.get("model_only/ntire23/320x180/batchauto", {})
    lines.append(_target("NTIRE23 fp16 320x180 model-only fps (auto batch)",
                         speed.get("fps") if isinstance(speed, dict) else speed, 1000))
    lines.append(_target("fp16 vs CPU fp32, worst family (dB)", min(fp16) if fp16 else None, 50))
    rows = (bench_pipe or {}).get("results", [])
    lines.append(_target("pipeline / bound (bench)", rows[0].get("pipeline_efficiency") if rows else None, 0.9))
    lines.append("figures:")
    for key, value in figures.items():
        lines.append(f"  {key}: {json.dumps(value)[:300]}")
    for row in (bench_model or {}).get("results", []) + rows:
        keys = ("model", "size", "batch", "precision", "model_only_fps", "pipeline_fps", "io_only_fps", "bound_fps",
                "pipeline_efficiency")
        lines.append("  bench: " + ", ".join(f"{k}={row.get(k)}" for k in keys if k in row))
    for colour, report in upscale.items():
        if report:
            lines.append(f"  upscale colour={colour}: {report.get('fps')} fps, {report.get('frames')} frames, "
                         f"notices {report.get('notices')}")
        else:
            lines.append(f"  upscale colour={colour}: failed ({_tail(out / f'upscale_{colour}.txt', 2)})")
    if live:
        lines.append(f"  live: {live.get('model')} {live.get('precision')} on {live.get('device')}: processed "
                     f"{live.get('processed_fps')} of {live.get('captured_fps')} fps, latency p95 "
                     f"{live.get('latency_ms_p95')} ms; {(live.get('selection') or {}).get('reason', '')}")
    else:
        lines.append(f"  live: failed ({_tail(out / 'live.txt', 2)})")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "gpu_check_out")))
