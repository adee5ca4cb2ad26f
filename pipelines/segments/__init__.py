"""Segments: cut a video at keyframes, upscale each segment with the normal file pipeline, join them at the end.

One mechanism gives both resuming after a crash and spreading one video (or many) over many workers:

  plan      a packet scan finds the keyframes; cuts near equal shares of the duration
  manifest  the work directory's record: input fingerprint, settings, segments, checksums; the lock
  worker    one segment: `upscale_file` on its time range, video only (what runners call)
  runners   where segments run: this process (local) or Ray tasks (ray, with ray_cluster: task resources,
            nodes, the file access check), behind the `Runner` protocol
  join      the segments' packets and the input's other streams into the output
  driver    check, plan or resume, run, verify, join, report (`run_segmented`)
  inputs    IN -o OUT, or several inputs / a folder with -o OUTDIR
  options   SegmentOptions; report: SegmentedReport
"""

from pipelines.segments.driver import run_segmented
from pipelines.segments.inputs import expand_inputs, output_for
from pipelines.segments.manifest import Manifest, default_work_dir
from pipelines.segments.options import SegmentOptions
from pipelines.segments.report import SegmentedReport

__all__ = ["Manifest", "SegmentOptions", "SegmentedReport", "default_work_dir", "expand_inputs", "output_for",
           "run_segmented"]
