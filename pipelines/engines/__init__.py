"""Where segments run: `local` (this process, one segment after another) or `ray` (Ray tasks on a cluster).

An engine is a context manager (started on enter, shut down on exit) with:
  workers        how many segments it runs at once (for `--segments auto`)
  return_bytes   True when workers cannot write into the work directory and send the files back instead
  labels         device and precision, for the report
  describe()     one line for the user
  run(jobs, record, total, initial) -> retried
                 runs the `SegmentJob`s, calls `record(SegmentResult)` on this thread as each one finishes, shows
                 one progress bar of frames over all workers, returns how many segments were retried
"""

from __future__ import annotations

from pipelines.file import Notices, UpscaleConfig
from vsr.errors import VSRError


def make_engine(opts, cfg: UpscaleConfig, notices: Notices, progress: bool):
    if opts.engine == "local":
        from pipelines.engines.local_engine import LocalEngine

        return LocalEngine(cfg, notices, progress)
    if opts.engine == "ray":
        from pipelines.engines.ray_engine import RayEngine

        return RayEngine(cfg, notices, progress, address=opts.ray_address, work_dir_given=opts.work_dir is not None,
                         max_retries=opts.max_retries)
    raise VSRError(f"--engine {opts.engine}: expected local or ray")
