"""Soak benchmark: upscale a long clip with the real CLI and watch the child's memory, file descriptors and threads.

    python scripts/soak.py                      # makes a 10-minute 160x96 30 fps clip with AAC audio, then runs
    python scripts/soak.py --seconds 60         # a shorter clip
    python scripts/soak.py --input FILE.mp4     # your own clip
    python scripts/soak.py --json soak.json --interval 2
    python scripts/soak.py --ext .mkv           # write Matroska: no per-packet index held until the end (docs/soak.md)

The child is `python run_pipeline.py upscale CLIP -o OUT.mp4 --model bicubic --scale 2 --no-progress` (OUT.mkv
with --ext .mkv); every --interval seconds this reads its VmRSS and Threads from /proc/PID/status and counts
/proc/PID/fd. The JSON (written atomically) holds every sample and a summary; the verdict is "growing" when the RSS
slope over the second half of the run (a least-squares line) is above GROWTH_MIB_PER_MIN, or when the second half
holds more descriptors at its peak than the first half did. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vsr.fs import write_json_atomic
from vsr.io.synth import write_pattern_clip

ROOT = Path(__file__).resolve().parents[1]
GROWTH_MIB_PER_MIN = 1.0  # RSS slope over the second half above this: "growing"
MIN_FIT_SAMPLES = 4  # fewer samples than this in the second half: no slope, verdict "too short"
UPSCALE_ARGS = ("--model", "bicubic", "--scale", "2", "--no-progress", "--overwrite")


@dataclass
class Sample:
    t_s: float  # seconds since the child started
    rss_mib: float
    fds: int
    threads: int


@dataclass
class Spread:
    first: float
    median: float
    last: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        return cls(values[0], float(statistics.median(values)), values[-1], max(values))


@dataclass
class Summary:
    samples: int
    rss_mib: Spread
    fds: Spread
    threads: Spread
    rss_slope_mib_per_min: float | None  # least-squares slope over the second half of the run
    fds_first_half_max: int
    fds_second_half_max: int
    rss_verdict: str  # flat | growing | too short
    fd_verdict: str  # flat | growing
    verdict: str  # growing if either is; else flat (or too short)
    threshold_mib_per_min: float
    exit_code: int
    wall_s: float  # the child's whole life, start-up included
    frames: int | None  # from the child's --report
    fps: float | None  # frames / wall_s
    pipeline_fps: float | None  # the child's own figure (its pipeline's wall, without start-up)
    child_peak_rss_mib: float | None  # the child's own peak RSS (its --report), to cross-check the samples


@dataclass
class SoakReport:
    input: str
    generated: bool
    clip: dict[str, object]
    command: list[str]
    interval_s: float
    machine: dict[str, object]
    summary: Summary
    samples: list[Sample] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def machine() -> dict[str, object]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": sys.version.split()[0]}


def sample(pid: int, t0: float) -> Sample | None:
    """One reading of /proc/PID; None when the process is gone (or going) meanwhile."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "VmRSS" not in fields:  # a zombie has no memory left to show
        return None
    rss_kib = int(fields["VmRSS"].split()[0])
    return Sample(round(time.monotonic() - t0, 3), round(rss_kib / 1024, 2), fds, int(fields["Threads"]))


def watch(cmd: list[str], interval: float, log: Path, timeout: float) -> tuple[int, float, list[Sample]]:
    """Run `cmd`, sampling it every `interval` s until it exits; returns its exit code, wall time and samples."""
    samples: list[Sample] = []
    with open(log, "wb") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        while True:
            s = sample(proc.pid, t0)
            if s is not None:
                samples.append(s)
            try:
                rc = proc.wait(timeout=interval)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() - t0 > timeout:
                    proc.kill()
                    rc = proc.wait()
                    break
        wall = time.monotonic() - t0
    return rc, wall, samples


def slope_per_min(samples: list[Sample]) -> float | None:
    """RSS slope (MiB per minute) of a least-squares line through the samples; None with too few of them."""
    if len(samples) < MIN_FIT_SAMPLES:
        return None
    t = np.array([s.t_s for s in samples]) / 60.0
    if np.ptp(t) <= 0:
        return None
    return float(np.polyfit(t, np.array([s.rss_mib for s in samples]), 1)[0])


def summarise(samples: list[Sample], rc: int, wall: float, report: dict) -> Summary:
    if not samples:
        raise SystemExit("soak: the child exited before a single sample was taken")
    half = samples[-1].t_s / 2
    first = [s for s in samples if s.t_s < half] or samples[:1]
    second = [s for s in samples if s.t_s >= half]
    slope = slope_per_min(second)
    fd_first, fd_second = max(s.fds for s in first), max(s.fds for s in second)
    rss_verdict = "too short" if slope is None else ("growing" if slope > GROWTH_MIB_PER_MIN else "flat")
    fd_verdict = "growing" if fd_second > fd_first else "flat"
    verdict = "growing" if "growing" in (rss_verdict, fd_verdict) else rss_verdict
    frames = report.get("frames")
    return Summary(
        samples=len(samples),
        rss_mib=Spread.of([s.rss_mib for s in samples]),
        fds=Spread.of([float(s.fds) for s in samples]),
        threads=Spread.of([float(s.threads) for s in samples]),
        rss_slope_mib_per_min=None if slope is None else round(slope, 4),
        fds_first_half_max=fd_first, fds_second_half_max=fd_second,
        rss_verdict=rss_verdict, fd_verdict=fd_verdict, verdict=verdict,
        threshold_mib_per_min=GROWTH_MIB_PER_MIN, exit_code=rc, wall_s=round(wall, 2), frames=frames,
        fps=round(frames / wall, 2) if frames and wall > 0 else None, pipeline_fps=report.get("fps"),
        child_peak_rss_mib=report.get("peak_rss_mib"),
    )


def table(rep: SoakReport) -> str:
    s = rep.summary
    rows = [f"soak: {s.frames} frames of {rep.input} in {s.wall_s:.1f} s ({s.fps} fps with start-up, "
            f"{s.pipeline_fps} in the pipeline), exit {s.exit_code}; {s.samples} samples every {rep.interval_s:g} s",
            f"{'':10}{'first':>10}{'median':>10}{'last':>10}{'max':>10}"]
    for name, spread in (("RSS MiB", s.rss_mib), ("fds", s.fds), ("threads", s.threads)):
        rows.append(f"{name:10}" + "".join(f"{getattr(spread, k):>10.1f}" for k in ("first", "median", "last", "max")))
    slope = "n/a" if s.rss_slope_mib_per_min is None else f"{s.rss_slope_mib_per_min:+.3f}"
    rows.append(f"RSS slope over the second half: {slope} MiB/min (growing above {s.threshold_mib_per_min:g}): "
                f"{s.rss_verdict}")
    rows.append(f"fds at peak: first half {s.fds_first_half_max}, second half {s.fds_second_half_max}: {s.fd_verdict}")
    rows.append(f"verdict: {s.verdict}")
    return "\n".join(rows)


def make_clip(folder: Path, args: argparse.Namespace) -> Path:
    clip = folder / "soak_in.mp4"
    t = time.monotonic()
    write_pattern_clip(clip, args.width, args.height, args.seconds, args.fps)
    print(f"soak: made a {args.seconds:g} s {args.width}x{args.height} {args.fps} fps clip with AAC audio "
          f"in {time.monotonic() - t:.1f} s", flush=True)
    return clip


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", type=Path, help="a clip to upscale (default: make one)")
    p.add_argument("--seconds", type=float, default=600.0, help="length of the made clip (default 600)")
    p.add_argument("--width", type=int, default=160)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--interval", type=float, default=2.0, help="seconds between samples (default 2)")
    p.add_argument("--json", type=Path, default=Path("soak.json"), help="where the results go (default soak.json)")
    p.add_argument("--ext", default=".mp4", choices=(".mp4", ".mkv", ".mov"), help="output container (default .mp4)")
    p.add_argument("--timeout", type=float, default=4 * 3600, help="kill the child after this many seconds")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (clip, output, child's log)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    folder = Path(tempfile.mkdtemp(prefix="vsr_soak_"))
    try:
        clip = args.input.resolve() if args.input else make_clip(folder, args)
        report_path, log = folder / "report.json", folder / "child.log"
        out = folder / f"out{args.ext}"
        cmd = [sys.executable, str(ROOT / "run_pipeline.py"), "upscale", str(clip), "-o", str(out), *UPSCALE_ARGS,
               "--report", str(report_path)]
        rc, wall, samples = watch(cmd, args.interval, log, args.timeout)
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
        if rc != 0:
            print(log.read_text(errors="replace")[-2000:], file=sys.stderr)
        rep = SoakReport(
            input=str(args.input or clip.name), generated=args.input is None,
            clip={"size": report.get("input_size"), "seconds": None if args.input else args.seconds,
                  "fps": None if args.input else args.fps, "frames": report.get("frames_in")},
            command=cmd, interval_s=args.interval, machine=machine(),
            summary=summarise(samples, rc, wall, report), samples=samples)
        write_json_atomic(args.json, rep.to_dict())
        print(table(rep))
        print(f"soak: wrote {args.json}" + (f"; files kept in {folder}" if args.keep else ""))
        return 0 if rc == 0 else 1
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
