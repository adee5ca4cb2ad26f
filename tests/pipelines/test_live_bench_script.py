"""scripts/live_bench.py end to end: the real `live` CLI as its child, figures and JSON from the child's report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..conftest import ROOT

SCRIPT = ROOT / "scripts" / "live_bench.py"


def test_live_bench_runs_the_cli_and_summarises_its_reports(tmp_path: Path) -> None:
    out = tmp_path / "live.json"
    p = subprocess.run([sys.executable, str(SCRIPT), "--runs", "2", "--seconds", "1.5", "--size", "64x36",
                        "--json", str(out), "--", "--model", "bicubic", "--threads", "1"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    data = json.loads(out.read_text())
    assert len(data["runs"]) == 2 and data["source"] == "lavfi:testsrc2=size=64x36:rate=30"
    for run in data["runs"]:
        assert run["model"] == "bicubic" and 35 <= run["captured"] <= 55
        assert run["recorded_frames"] >= 0.8 * run["captured"]
    fps = sorted(r["processed_fps"] for r in data["runs"])
    assert data["median_processed_fps"] == sum(fps) / 2
    assert data["meets"] == (data["median_processed_fps"] >= 25 and data["median_latency_ms_p95"] <= 100)
    assert "median processed" in p.stdout and data["machine"]["cpu"]
    assert list(tmp_path.iterdir()) == [out]  # its recordings lived in a temporary folder
