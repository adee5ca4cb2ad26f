"""scripts/gpu_check.sh: without a GPU it says so in one line and exits 2, writing nothing; its dry run
(GPU_CHECK_DRY_RUN=1) runs every step on the CPU at small sizes and writes the same three files, so the check
cannot rot unseen before a GPU machine runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from ..conftest import ROOT


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has nvidia-smi: the real check runs")
def test_gpu_check_without_a_gpu_says_so_in_one_line_and_exits_2(tmp_path):
    out = tmp_path / "out"
    r = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "OUT": str(out)}, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "no NVIDIA GPU" in r.stderr and r.stdout == ""
    assert not out.exists()


def test_gpu_check_dry_run_runs_every_step_and_brings_back_three_files(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "GPU_CHECK_DRY_RUN": "1", "PYTHON": sys.executable,
           "TMPDIR": str(tmp_path)}
    r = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["gpu_check.json", "logs.tar.gz", "summary.txt"]
    summary = (out / "summary.txt").read_text()
    assert summary.startswith("GPU: dry run on the CPU\ntargets:\n") and "CUDA tests:" in summary
    report = json.loads((out / "gpu_check.json").read_text())
    steps = {line.split(":")[0]: line for line in report["steps"]}
    for name in ("pytest", "figures", "bench", "upscale_host", "upscale_device", "live"):
        assert f"{name}: exit 0 in" in steps[name], report["steps"]
    assert report["figures"]["fidelity/ntire23/fp16"]["psnr_vs_cpu_fp32"] >= 50
    assert report["bench"]["results"][0]["pipeline_efficiency"] > 0
    assert report["upscale"]["device"]["frames"] == report["upscale"]["host"]["frames"] == 3
    assert report["live"]["processed"] > 0 and not report["live"]["error"]
    with tarfile.open(out / "logs.tar.gz") as tar:
        assert {"logs/steps.txt", "logs/figures.json", "logs/bench.json"} <= set(tar.getnames())
    assert not list(tmp_path.glob("gpu_check.*"))  # the scratch folder (videos included) is gone
