"""One measurement in a fresh interpreter (`python -m pipelines.bench KIND`, job on stdin, result on stdout)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pipelines.bench.config import BenchConfig, BenchJob
from vsr.engine.perf import with_malloc_tunables, without_malloc_tunables
from vsr.errors import VSRError


def child(kind: str, job: BenchJob, cfg: BenchConfig, optimised: bool) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; optimised runs get the malloc setting."""
    env = with_malloc_tunables(os.environ) if (optimised and cfg.malloc_tuning) else without_malloc_tunables(
        os.environ)
    root = Path(__file__).resolve().parents[2]  # the repository (pipelines/bench/ is two below)
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, "-m", "pipelines.bench", kind], input=json.dumps(asdict(job)),
                          capture_output=True, text=True, env=env, cwd=root)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        what = f" ({job.model} {job.size[0]}x{job.size[1]})" if job.model else ""
        raise VSRError(f"bench {kind}{what} failed: {err}")
    return json.loads(lines[-1])
