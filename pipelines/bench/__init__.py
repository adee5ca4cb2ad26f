"""Benchmark: model-only speed, the real file pipeline, and the baselines (plain model, naive loop) in one run.

Every measurement runs in a fresh child process (`python -m pipelines.bench`, job on stdin, result on stdout):
- its peak RSS (VmHWM) is that configuration's own, not the largest seen so far;
- the optimised runs get the glibc malloc setting against page faults and OMP_WAIT_POLICY=PASSIVE (both only work
  when set before the process starts; see vsr/engine/perf.py), while the baselines run in the environment the user
  started with, as a naive program would.
Ratios are computed from the stored (rounded) figures, so a reader can check them from the JSON.

Beside the model-only and pipeline figures, an I/O-only run (the same file pipeline with a nearest-neighbour
"engine" in place of the model: decode, colour conversion, encode at the output size) gives what the pipeline
could reach at best, `bound_fps`, and `pipeline_efficiency` = pipeline / bound (see docs/bench.md).

The modules:
  config      BenchConfig, BenchJob (one measurement, sent to a child) and the shared constants
  parent      check, plan, run every configuration (`run_bench`), merge the rounds, ratios, bound, scaling
  spawn       one measurement in a fresh interpreter (`child`)
  machine     the CPU, the libraries, the GPU (torch and nvidia-smi); the `device` child
  results     BenchReport, BenchRow, Ratios, ScalingRow: what bench reports (`to_dict()` is the JSON)
  report      the text table and the plot
  workload    what a child runs: model, engine, input frames, warm-up
  measure     CPU seconds, RSS, percentiles
  model_only, pipeline, io_only, naive
              the children, one measurement each (`best_batch` beside model-only)
  __main__    `python -m pipelines.bench KIND`: the child process's entry point
"""

from __future__ import annotations

from pipelines.bench.config import DEFAULT_MODELS, MIN_BATCHES, ONNX_BACKENDS, BenchConfig, BenchJob
from pipelines.bench.io_only import NearestEngine, child_io
from pipelines.bench.machine import SMI_FALLBACK, SMI_FIELDS, child_device, machine_info, nvidia_smi, parse_nvidia_smi
from pipelines.bench.model_only import child_best_batch, child_model_only
from pipelines.bench.naive import child_naive
from pipelines.bench.parent import (
    bound_kind,
    parse_batch,
    parse_size,
    per_pixel_scaling,
    pipeline_bound,
    run_bench,
)
from pipelines.bench.pipeline import child_pipeline
from pipelines.bench.report import format_table, plot
from pipelines.bench.results import BenchReport, BenchRow, Ratios, ScalingRow

__all__ = [
    "DEFAULT_MODELS", "MIN_BATCHES", "ONNX_BACKENDS", "SMI_FALLBACK", "SMI_FIELDS", "BenchConfig", "BenchJob",
    "BenchReport", "BenchRow", "NearestEngine", "Ratios", "ScalingRow", "bound_kind", "child_best_batch",
    "child_device", "child_io", "child_model_only", "child_naive",
    "child_pipeline", "format_table", "machine_info", "nvidia_smi", "parse_batch", "parse_nvidia_smi", "parse_size",
    "per_pixel_scaling", "pipeline_bound", "plot", "run_bench",
]
