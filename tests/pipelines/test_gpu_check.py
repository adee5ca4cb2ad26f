"""scripts/gpu_check.sh on a machine without an NVIDIA GPU: one line, exit 2, nothing written."""

from __future__ import annotations

import shutil
import subprocess

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
