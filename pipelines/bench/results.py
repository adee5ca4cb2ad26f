"""What `bench` reports: one row per configuration, the per-pixel scaling between sizes, and the whole report.

A row's measurement parts (`model_only`, `plain_model`, `pipeline`, `naive`, `io_only`) are the children's own
records (one JSON object each, merged over the rounds), kept as they came; everything the parent derives from
them is a field here. `to_dict()` is the JSON `--json` writes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Ratios:
    pipeline_over_model_only: float | None
    pipeline_over_naive: float | None
    optimised_over_plain: float | None


@dataclass
class BenchRow:
    model: str
    weights: str
    random_weights: bool
    scale: int
    input_size: list[int]
    output_size: list[int]
    batch: int
    precision: str
    device: str
    backend: str
    model_only: dict[str, Any]
    plain_model: dict[str, Any] | None
    pipeline: dict[str, Any] | None
    naive: dict[str, Any] | None
    io_only: dict[str, Any] | None
    model_only_fps: float
    plain_model_fps: float | None
    pipeline_fps: float | None
    naive_fps: float | None
    io_only_fps: float | None
    bound_kind: str  # how the model and the I/O share the machine (see parent.bound_kind)
    bound_fps: float | None  # the most the pipeline can reach from model-only and I/O-only alone
    pipeline_efficiency: float | None  # pipeline / bound
    ratios: Ratios
    model_only_mpix_per_s: float


@dataclass
class ScalingRow:
    """One size's input pixels per second relative to the smallest size's, for one model, batch and precision."""

    model: str
    batch: int
    precision: str
    input_size: list[int]
    reference_size: list[int]
    mpix_per_s: float
    reference_mpix_per_s: float
    per_pixel_speed_ratio: float | None


@dataclass
class BenchReport:
    machine: dict[str, Any]  # machine.machine_info: CPU, libraries, GPU
    settings: dict[str, Any]  # the BenchConfig, as run
    results: list[BenchRow] = field(default_factory=list)
    scaling: list[ScalingRow] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    malloc_tunables: str | None = None
    omp_wait_policy: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
