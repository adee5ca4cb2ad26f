"""scripts/soak.py end to end on a 3-second clip (the real CLI as its child), and its verdict on made-up samples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..conftest import ROOT, load_script

SCRIPT = ROOT / "scripts" / "soak.py"


def test_soak_runs_the_cli_and_writes_samples_and_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "--seconds", "3", "--interval", "0.2", "--json", str(out)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict:" in result.stdout and "RSS MiB" in result.stdout
    data = json.loads(out.read_text())
    samples, summary = data["samples"], data["summary"]
    assert len(samples) >= 2 and summary["samples"] == len(samples)
    assert [s["t_s"] for s in samples] == sorted(s["t_s"] for s in samples)
    assert 30 < summary["rss_mib"]["max"] < 16384  # a Python with torch loaded: tens to hundreds of MiB
    assert summary["fds"]["max"] >= 3 and summary["threads"]["max"] >= 2
    assert summary["exit_code"] == 0 and summary["frames"] == 90 and summary["fps"] > 0
    assert summary["verdict"] in ("flat", "growing", "too short")
    assert data["clip"]["size"] == [160, 96] and data["command"][2] == "upscale"
    assert [p.name for p in tmp_path.iterdir()] == ["soak.json"]  # the clip and the output went with the temp dir


def test_the_verdict_reads_the_second_half() -> None:
    soak = load_script(SCRIPT)
    start = [soak.Sample(t, 50.0 + t, 5, 3) for t in range(0, 30, 2)]  # start-up growth: first half, ignored
    flat = start + [soak.Sample(t, 100.0 + (t % 4) * 0.1, 9, 20) for t in range(30, 600, 2)]
    summary = soak.summarise(flat, 0, 600.0, {"frames": 18000, "fps": 40.0})
    assert summary.rss_verdict == "flat" and summary.fd_verdict == "flat" and summary.verdict == "flat"
    assert abs(summary.rss_slope_mib_per_min) < 0.1 and summary.fps == 30.0
    leak = [soak.Sample(t, 100.0 + t * 0.05, 9, 20) for t in range(0, 600, 2)]  # 3 MiB per minute
    summary = soak.summarise(leak, 0, 600.0, {})
    assert summary.rss_verdict == "growing" and abs(summary.rss_slope_mib_per_min - 3.0) < 1e-6
    fd_leak = [soak.Sample(t, 100.0, 9 + t // 100, 20) for t in range(0, 600, 2)]
    assert soak.summarise(fd_leak, 0, 600.0, {}).verdict == "growing"
    assert soak.summarise(flat[:3], 0, 4.0, {}).rss_verdict == "too short"
