"""What a segmented run is asked to do, beyond the upscale settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class SegmentOptions:
    segments: str = "auto"  # "auto" or a count
    work_dir: Path | None = None  # default: a hidden folder beside each output
    resume: bool = False
    keep_work: bool = False
    engine: str = "local"  # where segments run: local | ray
    ray_address: str | None = None
    max_retries: int = 3
    gpus_per_segment: float = 1.0  # Ray on GPUs: a share of one GPU per segment (0.5: two segments per GPU)
