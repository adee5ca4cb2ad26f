"""Summarise a GPU check (scripts/gpu_check.sh): every target met or missed first, then the figures behind them.

    python scripts/gpu_summary.py LOGS_DIR OUT_DIR   # writes OUT_DIR/summary.txt and OUT_DIR/gpu_check.json

Run after every step of the check, so a step cut off by its limit leaves the summary of the others.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

NO_SYNC_TEST = "test_submit_never_synchronises_with_the_device"
MODEL_ONLY = "model_only/ntire23/320x180/batchauto"


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _pytest(logs: Path) -> dict[str, Any]:
    """The CUDA tests' outcome: pytest's closing line, the failed tests, and the no-sync test's verdict."""
    text = _text(logs / "pytest.txt")
    lines = text.strip().splitlines()
    closing = next((ln.strip("= ") for ln in reversed(lines) if re.search(r"\d+ (passed|failed|error)", ln)), "")
    failed = [ln.split()[1] for ln in lines if ln.startswith(("FAILED ", "ERROR "))]
    verdict = next((ln.split()[0] for ln in lines if ln.endswith(f"::{NO_SYNC_TEST}")), "not run")
    return {"closing": closing or "no summary (cut off?)", "failed": failed, "no_sync": verdict}


def _target(label: str, value: Any, goal: float, at_most: bool = False) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return f"NOT MEASURED  {label}: {value} (goal {'<=' if at_most else '>='} {goal:g})"
    ok = value <= goal if at_most else value >= goal
    return f"{'met   ' if ok else 'MISSED'}        {label}: {value:g} (goal {'<=' if at_most else '>='} {goal:g})"


def _fidelity(figures: dict[str, Any]) -> tuple[float | None, int | None]:
    """The worst fp16/bf16 PSNR against CPU fp32 over the families, and the guard recomputes on those frames."""
    rows = [v for k, v in figures.items() if k.startswith("fidelity/") and not k.endswith("/fp32")
            and isinstance(v, dict)]
    if not rows:
        return None, None
    return min(r["psnr_vs_cpu_fp32"] for r in rows), sum(r["guard_recomputes"] for r in rows)


def targets(figures: dict[str, Any], bench: Any, tests: dict[str, Any]) -> list[str]:
    speed = figures.get(MODEL_ONLY)
    worst, recomputes = _fidelity(figures)
    row = ((bench or {}).get("results") or [{}])[0]
    oom = figures.get("oom_fallback")
    return [
        _target("NTIRE23 fp16 320x180 model-only frames/s (auto batch)", (speed or {}).get("fps")
                if isinstance(speed, dict) else speed, 1000),
        _target("fp16/bf16 vs CPU fp32, worst family (dB, real frames)", worst, 50),
        _target("guard recomputes on real frames", recomputes, 0, at_most=True),
        f"{'met   ' if tests['no_sync'] == 'PASSED' else 'MISSED'}        no host sync in submit: {tests['no_sync']}",
        _target("pipeline / bound (bench, colour auto)", row.get("pipeline_efficiency"), 0.9),
        _target("out of memory: frames back in tiles (of 2)", oom.get("frames") if isinstance(oom, dict) else oom, 2),
        f"{'met   ' if tests['closing'] and not tests['failed'] and 'passed' in tests['closing'] else 'MISSED'}"
        f"        CUDA tests: {tests['closing']}",
    ]


def main(logs: Path, out: Path) -> int:
    figures = _load(logs / "figures.json") or {}
    bench = _load(logs / "bench.json")
    upscale = {c: _load(logs / f"upscale_{c}.json") for c in ("host", "device")}
    live = _load(logs / "live.json")
    tests = _pytest(logs)
    steps = _text(logs / "steps.txt").strip().splitlines()
    everything = {"env": _text(logs / "env.txt").strip().splitlines()[-2:], "steps": steps, "tests": tests,
                  "figures": figures, "bench": bench, "upscale": upscale, "live": live}
    (out / "gpu_check.json").write_text(json.dumps(everything, indent=1) + "\n")
    gpu = figures.get("gpu", {})
    lines = [f"GPU: {gpu.get('name', '?') if isinstance(gpu, dict) else gpu}", "targets:"]
    lines += ["  " + t for t in targets(figures, bench, tests)]
    lines.append("steps: " + "; ".join(steps))
    lines += [f"  FAILED test {t}" for t in tests["failed"]]
    lines += [f"  ERROR {k}: {v[:200]}" for k, v in figures.items() if isinstance(v, str) and v.startswith("ERROR")]
    lines.append("figures:")
    lines += [f"  {k}: {json.dumps(v)[:300]}" for k, v in figures.items()]
    for colour, report in upscale.items():
        lines.append(f"  upscale colour={colour}: " + (f"{report.get('fps')} fps, {report.get('frames')} frames, "
                                                        f"notices {report.get('notices')}" if report else "failed"))
    if live:
        lines.append(f"  live: {live.get('model')} {live.get('precision')} on {live.get('device')}: processed "
                     f"{live.get('processed_fps')} of {live.get('captured_fps')} fps, latency p95 "
                     f"{live.get('latency_ms_p95')} ms")
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
