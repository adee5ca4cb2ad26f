"""A segmented run on a local multi-node Ray cluster (ray.cluster_utils.Cluster, the way Ray's own tests build
clusters), optionally losing a worker node while segments run: figures for docs/segments.md.

    python scripts/ray_cluster_run.py --workers 1                     # head + 1 worker node, 1 CPU each
    python scripts/ray_cluster_run.py --workers 2 --remove-node       # head + 2, one worker node removed mid-run
    python scripts/ray_cluster_run.py --workers 2 --json cluster.json

The clip is 600 frames of 320x180 at 30 fps with AAC (a keyframe every 30 frames), upscaled x2 by bicubic in 6
segments into a shared work directory, as the issue's scenario. With --remove-node, the first worker node (not the
driver's) seen holding a segment is removed (its raylet and workers killed), like a spot instance going away. The
output is then compared with a single pass (frame count, timestamps, audio packets). Prints and writes (JSON,
atomically) the wall time, segments per second, retries and each worker's figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pipelines.common.notices import Notices
from pipelines.common.settings import UpscaleConfig
from pipelines.segments import SegmentOptions, run_segmented
from pipelines.segments.runners.ray import running_segments
from pipelines.upscale import run_upscale
from vsr.fs import write_json_atomic
from vsr.io.synth import write_pattern_clip


@dataclass
class ClusterRun:
    nodes: int  # the head (where the driver runs) and the worker nodes
    cpus_per_node: int
    segments: int
    frames: int
    removed_node: bool
    wall_s: float
    segments_per_s: float
    fps: float
    retried: int
    same_as_single_pass: bool
    workers: dict


class NodeRemover(threading.Thread):
    """Removes the first worker node seen holding a segment (its `.running` file names the node)."""

    def __init__(self, cluster, work_dir: Path) -> None:
        super().__init__(name="node-remover", daemon=True)
        self.cluster, self.work_dir = cluster, work_dir
        self.removed: str | None = None
        self.done = threading.Event()

    def run(self) -> None:
        by_id = {n.node_id: n for n in self.cluster.worker_nodes}
        while not self.done.is_set():
            held = [r for r in running_segments(self.work_dir) if r.node in by_id]
            if held:
                # Frozen first so that the segment cannot finish during the removal; then gone at once.
                with contextlib.suppress(OSError):
                    os.kill(held[0].pid, signal.SIGSTOP)
                self.cluster.remove_node(by_id[held[0].node], allow_graceful=False)
                with contextlib.suppress(OSError):
                    os.kill(held[0].pid, signal.SIGKILL)  # the machine's last process goes with it
                self.removed = held[0].node
                return
            time.sleep(0.05)


def _config() -> UpscaleConfig:
    cfg = UpscaleConfig()
    cfg.model.name, cfg.model.scale = "bicubic", 2
    cfg.engine.precision = "fp32"
    cfg.encode.preset = "ultrafast"
    return cfg


def _stream_summary(path: Path) -> tuple:
    import av

    with av.open(str(path)) as c:
        video = [(f.pts) for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = [(p.pts, bytes(p)) for p in c.demux(audio=0) if p.size]
    return len(video), video, audio


def run(workers: int, cpus: int, remove: bool, tmp: Path) -> ClusterRun:
    import ray
    from ray.cluster_utils import Cluster

    src = write_pattern_clip(tmp / "in.mp4", 320, 180, seconds=20.0, rate=30, gop=30)
    reference = tmp / "single.mkv"
    run_upscale(src, reference, _config(), progress=False, notices=Notices(echo=False))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus, "include_dashboard": False})
    try:
        for _ in range(workers):
            cluster.add_node(num_cpus=cpus)
        ray.init(address=cluster.address, log_to_driver=False)
        out, work = tmp / "out.mkv", tmp / "work"
        opts = SegmentOptions(segments="6", engine="ray", ray_address=cluster.address, work_dir=work)
        remover = NodeRemover(cluster, work)
        if remove:
            remover.start()
        start = time.perf_counter()
        try:
            report = run_segmented([(src, out)], _config(), opts, progress=False, notices=Notices(echo=False))
        finally:
            remover.done.set()
            if remove:
                remover.join()
        wall = time.perf_counter() - start
        same = _stream_summary(out) == _stream_summary(reference)
    finally:
        ray.shutdown()
        cluster.shutdown()
    return ClusterRun(1 + workers, cpus, report.segments, report.frames, remover.removed is not None,
                      round(wall, 3), round(report.segments / wall, 3), report.fps, report.retried, same,
                      report.workers)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=1, help="worker nodes besides the head (default 1)")
    p.add_argument("--cpus-per-node", type=int, default=1)
    p.add_argument("--remove-node", action="store_true", help="remove a worker node while it holds a segment")
    p.add_argument("--json", default=None, help="write the figures here")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="vsr-ray-cluster-") as tmp:
        result = run(args.workers, args.cpus_per_node, args.remove_node, Path(tmp))
    print(json.dumps(asdict(result), indent=2))
    if args.json:
        write_json_atomic(args.json, asdict(result))
    return 0 if result.same_as_single_pass else 1


if __name__ == "__main__":
    sys.exit(main())
