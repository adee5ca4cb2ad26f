"""Where segments run: `local` (this process, one segment after another) or `ray` (Ray tasks on a cluster).

Runners import the worker (pipelines/segments/worker.py) and nothing of the driver that calls them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pipelines.common.notices import Notices
from pipelines.common.settings import UpscaleConfig
from pipelines.segments.options import SegmentOptions
from pipelines.segments.worker import SegmentJob, SegmentResult
from vsr.errors import ConfigError
from vsr.models import LoadedModel


class Runner(Protocol):
    """A context manager (started on enter, shut down on exit) that runs segment jobs."""

    workers: int  # how many segments it runs at once (for `--segments auto`)
    return_bytes: bool  # True when workers cannot write into the work directory and send the files back instead
    labels: dict[str, str]  # device and precision, for the report

    def __enter__(self) -> Runner: ...

    def __exit__(self, *exc: object) -> None: ...

    def describe(self) -> str:
        """One line for the user."""
        ...

    def check_access(self, work_dirs: list[Path], inputs: list[Path]) -> None:
        """Before the first segment: raises a one-line error when a worker cannot read an input or write a work
        directory (shared with the driver)."""
        ...

    def run(self, jobs: list[SegmentJob], record: Callable[[SegmentResult], None], total: int, initial: int) -> int:
        """Runs the jobs, calls `record` on this thread as each one finishes, shows one progress bar of frames over
        all workers; returns how many segments were retried."""
        ...


def make_runner(opts: SegmentOptions, cfg: UpscaleConfig, notices: Notices, progress: bool,
                loaded: LoadedModel) -> Runner:
    """`loaded`: the model the driver resolved (the local runner runs it; Ray sends it to every node once)."""
    if opts.engine == "local":
        from pipelines.segments.runners.local import LocalRunner

        return LocalRunner(cfg, notices, progress, loaded)
    if opts.engine == "ray":
        from pipelines.segments.runners.ray import RayRunner

        return RayRunner(cfg, notices, progress, loaded, address=opts.ray_address,
                         work_dir_given=opts.work_dir is not None, max_retries=opts.max_retries,
                         gpus_per_segment=opts.gpus_per_segment)
    raise ConfigError("expected local or ray", setting="engine", value=opts.engine)
