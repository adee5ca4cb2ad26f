"""Segments in this process, one after another: the model is loaded once and each segment is the file pipeline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipelines.common.engine_factory import build_engine
from pipelines.common.notices import Notices
from pipelines.common.progress import progress_bar
from pipelines.common.settings import UpscaleConfig
from pipelines.common.stop import StopFlag
from pipelines.segments.worker import SegmentJob, SegmentResult, run_segment
from vsr.models import LoadedModel


class LocalRunner:
    workers = 1
    return_bytes = False

    def __init__(self, cfg: UpscaleConfig, notices: Notices, progress: bool, loaded: LoadedModel) -> None:
        self.cfg, self.notices, self.progress, self.loaded = cfg, notices, progress, loaded
        self.labels: dict[str, str] = {}
        self.engine = None

    def __enter__(self) -> LocalRunner:
        built = build_engine(self.loaded, self.cfg.engine, self.notices)
        self.engine, self.scale, self.labels = built.engine, built.scale, built.labels
        return self

    def __exit__(self, *exc: object) -> None:
        if self.engine is not None:
            self.engine.close()
        self.engine = None

    def describe(self) -> str:
        return f"this process ({self.labels['device']}, {self.labels['precision']})"

    def check_access(self, work_dirs: list[Path], inputs: list[Path]) -> None:
        """This process opened the inputs and the work directories already."""

    def run(self, jobs: list[SegmentJob], record: Callable[[SegmentResult], None], total: int, initial: int) -> int:
        bar = progress_bar(total, "segments", enabled=self.progress, initial=initial)
        done = initial
        stop = StopFlag()  # each segment stops at its pipeline's safe points, as a single pass does
        try:
            stop.install()
            for job in jobs:
                def on_frames(n: int, base: int = done) -> None:
                    bar.update(base + n - bar.n)

                stop.raise_if_set()
                result = run_segment(job, self.engine, self.scale, self.labels, on_frames, stop)
                record(result)
                done += job.segment.frames
                bar.update(done - bar.n)
        finally:
            stop.restore()
            bar.close()
        return 0
