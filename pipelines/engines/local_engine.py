"""Segments in this process, one after another: the model is loaded once and each segment is the file pipeline."""

from __future__ import annotations

import sys
from collections.abc import Callable

from tqdm import tqdm

from pipelines.file import Notices, UpscaleConfig, build_engine
from pipelines.segments import SegmentJob, SegmentResult, run_segment


class LocalEngine:
    workers = 1
    return_bytes = False

    def __init__(self, cfg: UpscaleConfig, notices: Notices, progress: bool) -> None:
        self.cfg, self.notices, self.progress = cfg, notices, progress
        self.labels: dict[str, str] = {}
        self.engine = None

    def __enter__(self) -> LocalEngine:
        self.engine, self.scale, self.labels = build_engine(self.cfg, self.notices)
        return self

    def __exit__(self, *exc) -> None:
        if self.engine is not None:
            self.engine.close()
        self.engine = None

    def describe(self) -> str:
        return f"this process ({self.labels['device']}, {self.labels['precision']})"

    def run(self, jobs: list[SegmentJob], record: Callable[[SegmentResult], None], total: int, initial: int) -> int:
        bar = tqdm(total=total, initial=initial, unit="frame", desc="segments", disable=not self.progress,
                   file=sys.stderr, dynamic_ncols=True, smoothing=0.1)
        done = initial
        try:
            for job in jobs:
                def on_frames(n: int, base: int = done) -> None:
                    bar.update(base + n - bar.n)

                result = run_segment(job, self.engine, self.scale, self.labels, on_frames)
                record(result)
                done += job.segment.frames
                bar.update(done - bar.n)
        finally:
            bar.close()
        return 0
