"""Segments as Ray tasks: one GPU (or a share of one) each where the cluster has GPUs, else one CPU each.

A local Ray instance is started on demand (and shut down after), or `--ray-address` joins an existing cluster.
Workers read the input from its path and write segment files into the work directory, so on a cluster both must
be at the same path on every node (a shared file system); ray_cluster.py checks that on every node before the
first segment. When joining a cluster without `--work-dir`, workers return the segment file's bytes through Ray's
object store instead and the driver writes them.

Nothing a run needs lives only on a worker node: the model goes into the object store once (each node fetches it
once, whatever the number of its segments), and the one small actor that sums frame counts for the progress bar
is pinned to the driver's node. A task whose worker dies (killed, out of memory, node lost) is retried by Ray on
the nodes left (`max_retries`); errors raised by the pipeline itself (bad input) are not retried, they would fail
again. A segment a dead worker left half-written is only ever a hidden temporary file; the driver checks every
finished file against the worker's checksum.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.common.engine_factory import build_engine
from pipelines.common.notices import Notices
from pipelines.common.progress import progress_bar
from pipelines.common.settings import UpscaleConfig
from pipelines.common.stop import StopFlag
from pipelines.segments.runners.ray_cluster import Node, check_node_access, segment_nodes, task_resources
from pipelines.segments.worker import SegmentJob, SegmentResult, run_segment, worker_name
from vsr.errors import ConfigError, VSRError
from vsr.fs import write_json_atomic
from vsr.models import LoadedModel

INSTALL_HINT = "pip install '.[ray]' in the project folder (or pip install ray)"
_PROGRESS_EVERY_S = 0.5


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("{engine} ray needs Ray", hint=INSTALL_HINT) from None
    return ray


class _Progress:
    """Frames written per segment (a retry starts its segment at 0 again) and how often each segment started."""

    def __init__(self) -> None:
        self.frames: dict[str, int] = {}
        self.starts: dict[str, int] = {}

    def start(self, key: str) -> int:
        self.starts[key] = self.starts.get(key, 0) + 1
        self.frames[key] = 0
        return self.starts[key]

    def update(self, key: str, frames: int) -> None:
        self.frames[key] = frames

    def total(self) -> int:
        return sum(self.frames.values())


def _count(n: float, what: str) -> str:
    return f"{n:g} {what}" + ("" if n == 1 else "s")


@dataclass
class RunningSegment:
    """One `.running` file: which worker (host:pid, on which Ray node) holds a segment now."""

    file: str  # the segment's file name
    worker: str
    pid: int
    node: str
    started: float


def running_segments(work_dir: Path) -> list[RunningSegment]:
    """The segments being written into `work_dir` right now, for people (and tests) watching a cluster."""
    out = []
    for f in sorted(work_dir.glob("*.running")):
        try:
            info = json.loads(f.read_text())
            out.append(RunningSegment(f.name.removesuffix(".running"), info["worker"], info["pid"], info["node"],
                                      info["started"]))
        except (OSError, ValueError, KeyError):
            continue  # finished (removed) or being replaced in the meantime
    return out


def _segment_task(job: SegmentJob, loaded: LoadedModel, progress: Any) -> SegmentResult:
    """The body of a Ray task: the driver's model (from this node's object store), the segment, frames reported as
    they are written."""
    import ray

    key = f"{job.job}:{job.segment.index}"
    attempt = ray.get(progress.start.remote(key))  # waited for: a worker killed after this counts as a retry
    node = ray.get_runtime_context().get_node_id()
    running = None
    if job.dest is not None:
        # Which worker holds which segment: for people watching a cluster (and for the node-loss tests).
        running = Path(f"{job.dest}.running")
        write_json_atomic(running, {"worker": worker_name(), "pid": os.getpid(), "node": node,
                                    "started": time.time()})
    built = build_engine(loaded, job.config.engine, Notices(echo=False))
    last = [0.0]

    def on_frames(n: int) -> None:
        now = time.monotonic()
        if now - last[0] >= _PROGRESS_EVERY_S:
            last[0] = now
            progress.update.remote(key, n)

    try:
        result = run_segment(job, built.engine, built.scale, built.labels, on_frames)
    finally:
        built.engine.close()
    result.attempt, result.worker = attempt, f"{result.worker} node {node[:12]}"
    progress.update.remote(key, result.frames)
    if running is not None:
        running.unlink(missing_ok=True)
    return result


@contextlib.contextmanager
def _keeping_signal_handlers() -> Iterator[None]:
    """ray.init replaces SIGTERM's handler with a sys.exit and shutdown leaves the default (kill) behind: the
    tool's own shutdown path (pipelines/common/shutdown.py) must stay in charge of every signal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in kept.items():
            if handler is not None:
                signal.signal(sig, handler)


class RayRunner:
    def __init__(self, cfg: UpscaleConfig, notices: Notices, progress: bool, loaded: LoadedModel, *,
                 address: str | None, work_dir_given: bool, max_retries: int = 3,
                 gpus_per_segment: float = 1.0) -> None:
        self.cfg, self.notices, self.progress, self.loaded = cfg, notices, progress, loaded
        self.address = address
        self.return_bytes = address is not None and not work_dir_given
        self.max_retries = max_retries
        self.gpus_per_segment = gpus_per_segment
        self.ray = _import_ray()
        self.labels: dict[str, str] = {}
        self.workers = 1
        self._started = False

    def __enter__(self) -> RayRunner:
        ray = self.ray
        if not ray.is_initialized():
            if self.progress:
                print("starting Ray" + (f" (joining {self.address})" if self.address else " (a local instance)"),
                      file=sys.stderr)
            with _keeping_signal_handlers():
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING, configure_logging=True)
            self._started = True
        self.resources = task_resources(ray.cluster_resources(), self.cfg.engine.device, self.gpus_per_segment)
        nodes = self._nodes()
        self.workers = sum(self.resources.per_node(n.resources) for n in nodes)
        gpus = sum(n.resources.get("GPU", 0.0) for n in nodes) if self.resources.num_gpus else 0
        cpus = sum(n.resources.get("CPU", 0.0) for n in nodes)
        self.labels = {"device": _count(gpus, "GPU") if gpus else _count(cpus, "CPU"),
                       "precision": self.cfg.engine.precision}
        return self

    def __exit__(self, *exc) -> None:
        if self._started:
            with _keeping_signal_handlers():
                self.ray.shutdown()

    def _nodes(self) -> list[Node]:
        nodes = segment_nodes(self.ray.nodes(), self.resources)
        if not nodes:
            raise ConfigError(f"no node of the Ray cluster can run a segment (each asks for "
                              f"{self.resources.describe()})", hint="add nodes, or lower --gpus-per-segment")
        return nodes

    def describe(self) -> str:
        where = f"Ray cluster {self.address}" if self.address else "a local Ray instance"
        how = "segment files returned through the object store" if self.return_bytes else "work directory shared"
        return (f"{where}, {self.workers} segments at a time ({self.labels['device']}, "
                f"{self.resources.describe()} each; {how})")

    def check_access(self, work_dirs: list[Path], inputs: list[Path]) -> None:
        check_node_access(self.ray, self._nodes(), [] if self.return_bytes else work_dirs, inputs)

    def run(self, jobs: list[SegmentJob], record: Callable[[SegmentResult], None], total: int, initial: int) -> int:
        ray = self.ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # On the driver's node: losing any other node must not lose the run's bookkeeping.
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        progress = ray.remote(num_cpus=0)(_Progress).options(scheduling_strategy=here).remote()
        model = ray.put(self.loaded)  # once; each node fetches it once into its object store
        task = ray.remote(_segment_task).options(max_retries=self.max_retries, retry_exceptions=False,
                                                 **self.resources.options())
        refs = {task.remote(job, model, progress): job for job in jobs}
        bar = progress_bar(total, "segments", enabled=self.progress, initial=initial)
        retried = 0
        stop = StopFlag()  # polled: Ray's wait turns a handler's exception into a bare KeyboardInterrupt
        try:
            stop.install()
            while refs:
                stop.raise_if_set()
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.25)
                for ref in ready:
                    job = refs.pop(ref)
                    result = self._result(ref, job)
                    retried += result.attempt - 1
                    record(result)
                bar.update(initial + ray.get(progress.total.remote()) - bar.n)
        except BaseException:
            for ref in refs:  # Ctrl-C or a failed segment: stop the others too
                ray.cancel(ref, force=True)
            raise
        finally:
            stop.restore()
            bar.close()
        return retried

    def _result(self, ref: Any, job: SegmentJob) -> SegmentResult:
        ray = self.ray
        seg = f"segment {job.segment.index} of {Path(job.src).name}"
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, VSRError):
                raise type(cause)(f"{seg}: {cause.message}", hint=cause.hint, setting=cause.setting,
                                  value=cause.value) from None
            raise VSRError(f"{seg} failed on a Ray worker: {cause!r}") from None
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
            raise VSRError(f"{seg}: its worker died {self.max_retries + 1} times; giving up "
                           f"({exc.__class__.__name__})") from None
        except ray.exceptions.RayError as exc:  # the result lost with its node, and Ray could not redo it
            raise VSRError(f"{seg}: Ray lost it ({exc.__class__.__name__}); run the same command with --resume "
                           "to redo only what is missing") from None
