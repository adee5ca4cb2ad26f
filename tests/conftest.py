"""Shared fixtures: paths to ../shared (reference weights, golden outputs, media) and small helpers."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vsr.engine.interface import run_pipelined  # noqa: F401  (the tests' name for it)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found beside the project (looked in {SHARED})")
    return SHARED


def load_script(path: Path):
    """A script of scripts/ imported as a module (its name: the file's stem), to call its functions."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 600):
    """Run `python run_pipeline.py ARGS` as a user would; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, str(ROOT / "run_pipeline.py"), *args],
        capture_output=True, text=True, env=env, cwd=cwd or ROOT, timeout=timeout,
    )
