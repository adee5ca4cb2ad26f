"""Live benchmark: the real `live` command on a lavfi source, as a user starts it, a few times; figures + JSON.

    python scripts/live_bench.py                           # 320x180 at 30 fps, x2, model chosen as by default
    python scripts/live_bench.py --size 640x360 --scale 4 --runs 5 --seconds 30
    python scripts/live_bench.py --json live.json -- --model safmnpp-light-default-x2   # extra `live` flags

Each run is `python run_pipeline.py live --source lavfi:testsrc2=size=WxH:rate=FPS --scale S --duration SECONDS
-o rec.mkv --report r.json` in a fresh process (start-up, model choice and all), with a recording so the encoder's
cost is in the loop as a user's would be. The summary is the median over runs of each run's processed fps, latency
p50/p95 and drops, beside the chosen model and the machine; `meets` says whether the medians reach --min-fps and
--max-p95-ms (the live targets: 25 fps, 100 ms).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipelines.bench.machine import machine_info
from vsr.fs import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class LiveRun:
    model: str
    precision: str
    captured_fps: float
    processed_fps: float
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    dropped: int
    captured: int
    recorded_frames: int
    selection_reason: str


@dataclass
class LiveBench:
    source: str
    scale: int
    seconds: float
    extra_args: list[str]
    machine: dict
    runs: list[LiveRun] = field(default_factory=list)
    median_processed_fps: float = 0.0
    median_latency_ms_p50: float = 0.0
    median_latency_ms_p95: float = 0.0
    median_dropped: float = 0.0
    meets: bool = False


def run_once(source: str, scale: int, seconds: float, extra: list[str], work: Path) -> LiveRun:
    report, rec = work / "r.json", work / "rec.mkv"
    cmd = [sys.executable, str(ROOT / "run_pipeline.py"), "live", "--source", source, "--scale", str(scale),
           "--duration", str(seconds), "-o", str(rec), "--overwrite", "--report", str(report), *extra]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    if p.returncode != 0:
        raise SystemExit(f"live failed ({p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
    r = json.loads(report.read_text())
    sel = r.get("selection") or {}
    return LiveRun(r["model"], r["precision"], r["captured_fps"], r["processed_fps"], r["latency_ms_p50"],
                   r["latency_ms_p95"], r["dropped"], r["captured"], r["recorded_frames"], sel.get("reason", ""))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--min-fps", type=float, default=25.0)
    ap.add_argument("--max-p95-ms", type=float, default=100.0)
    ap.add_argument("--json", help="write the full result here")
    ap.add_argument("extra", nargs="*", help="flags passed on to `live` (after --)")
    args = ap.parse_args(argv)
    source = f"lavfi:testsrc2=size={args.size}:rate={args.fps:g}"
    m = machine_info()
    bench = LiveBench(source, args.scale, args.seconds, args.extra, m)
    print(f"machine: {m['cpu']} ({m['cpu_affinity']} cores usable), torch {m['torch']}")
    with tempfile.TemporaryDirectory(prefix="vsr-live-bench-") as tmp:
        for i in range(args.runs):
            run = run_once(source, args.scale, args.seconds, args.extra, Path(tmp))
            bench.runs.append(run)
            print(f"run {i + 1}: {run.model} {run.precision}: processed {run.processed_fps:.1f} fps of "
                  f"{run.captured_fps:.1f} captured, latency p50 {run.latency_ms_p50:.0f} ms p95 "
                  f"{run.latency_ms_p95:.0f} ms, dropped {run.dropped}, recorded {run.recorded_frames}", flush=True)
    bench.median_processed_fps = statistics.median(r.processed_fps for r in bench.runs)
    bench.median_latency_ms_p50 = statistics.median(r.latency_ms_p50 or 0.0 for r in bench.runs)
    bench.median_latency_ms_p95 = statistics.median(r.latency_ms_p95 or 0.0 for r in bench.runs)
    bench.median_dropped = statistics.median(r.dropped for r in bench.runs)
    bench.meets = bench.median_processed_fps >= args.min_fps and bench.median_latency_ms_p95 <= args.max_p95_ms
    print(f"{source} x{args.scale}, {args.runs} runs of {args.seconds:g} s: median processed "
          f"{bench.median_processed_fps:.1f} fps, latency p50 {bench.median_latency_ms_p50:.0f} ms p95 "
          f"{bench.median_latency_ms_p95:.0f} ms, dropped {bench.median_dropped:g}; "
          f"{'meets' if bench.meets else 'misses'} >= {args.min_fps:g} fps and p95 <= {args.max_p95_ms:g} ms")
    print(f"chosen: {bench.runs[0].selection_reason or bench.runs[0].model}")
    if args.json:
        write_json_atomic(args.json, asdict(bench))
    return 0


if __name__ == "__main__":
    sys.exit(main())
