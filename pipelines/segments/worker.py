"""One segment, on a worker: the normal file pipeline on the segment's time range, video only.

The decoder starts at the segment's keyframe and runs past the next one until the first frame at or after the
next start, so B-frames and open GOPs give exactly the frames a single pass gives (leading frames that belong to
the previous segment are decoded and dropped). Runners (pipelines/segments/runners) import this module only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipelines.common.notices import Notices
from pipelines.common.settings import UpscaleConfig
from pipelines.common.stop import StopFlag
from pipelines.segments.plan import Segment
from pipelines.upscale.job import PassOptions, upscale_file
from vsr.fs import sha256_file
from vsr.io import SourceInfo


@dataclass
class SegmentJob:
    """Everything a worker needs; plain data so that it pickles for Ray."""

    job: int  # which input of the batch
    segment: Segment
    src: str
    info: SourceInfo
    config: UpscaleConfig
    dest: str | None  # the segment file (a path all workers share); None: return the bytes instead


@dataclass
class SegmentResult:
    job: int
    index: int
    frames: int
    wall_s: float
    size: int
    sha256: str
    worker: str
    notices: list[str]
    data: bytes | None = None  # the file, when the job had no shared destination
    attempt: int = 1  # > 1: an earlier worker died on this segment and the runner retried it


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_segment(job: SegmentJob, engine: Callable, scale: int, labels: dict[str, str],
                on_frames: Callable[[int], None] | None = None, stop: StopFlag | None = None) -> SegmentResult:
    """The normal file pipeline on the segment's time range, video only, written atomically; `stop` ends it at
    its next safe point."""
    seg = job.segment
    notices = Notices(echo=False)
    opts = PassOptions(info=job.info, overwrite=True, progress=False, labels=labels, time_range=seg.time_range,
                       video_only=True, on_frames=on_frames, stop=stop)
    with contextlib.ExitStack() as stack:
        if job.dest is not None:
            dest = Path(job.dest)
        else:
            dest = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vsr-seg-"))) / seg.file
        report = upscale_file(job.src, dest, engine, scale, job.config, opts, notices)
        data = dest.read_bytes() if job.dest is None else None
        size = dest.stat().st_size
        digest = hashlib.sha256(data).hexdigest() if data is not None else sha256_file(dest)
    return SegmentResult(job.job, seg.index, report.frames, report.wall_s, size, digest, worker_name(),
                         notices.items, data)
