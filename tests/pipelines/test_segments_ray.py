"""Segments as Ray tasks on a real multi-node cluster on this machine (ray.cluster_utils.Cluster: a head, where
the driver runs, and two worker nodes, 1 CPU each), bicubic x2 on the 30-second 64x36 clip.

Losing a worker node mid-run costs only its segments; a worker killed mid-segment is retried; segment files come
back through the object store without a shared work directory; Ctrl-C of the driver frees the cluster and
`--resume` reuses the finished segments; a node that does not share the work directory (its own mount namespace
with an empty tmpfs there, i.e. another machine's disk) is a one-line error before any segment runs; a GPU node
(declared, CPU-run here) takes every GPU segment, two per GPU with --gpus-per-segment 0.5, running the model the
driver loaded although the node cannot read the weights file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipelines.common.notices import Notices
from pipelines.segments import Manifest, SegmentOptions, default_work_dir, run_segmented
from pipelines.segments.manifest import verify_segment
from pipelines.segments.runners.ray import running_segments
from vsr.errors import InputError

from ..conftest import ROOT
from ..media_factory import decode_info
from ..segment_helpers import (
    assert_same_as_single_pass,
    config,
    ctrl_c_after_a_segment,
    make_segment_clip,
    single_pass,
)

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install '.[ray]'")
from ray.cluster_utils import Cluster  # noqa: E402

SHARED_WEIGHTS = ROOT.parent / "shared" / "weights"
NODE_START_S = 90.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    d = tmp_path_factory.mktemp("ray")
    src = make_segment_clip(d / "in.mp4")
    reference = single_pass(src, d / "single.mp4")
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        for _ in range(2):
            c.add_node(num_cpus=1)
        ray.init(address=c.address, log_to_driver=False)
        yield {"cluster": c, "src": src, "reference": reference, "dir": d}
    finally:
        ray.shutdown()
        c.shutdown()


def _alive_nodes() -> dict[str, dict]:
    return {n["NodeID"]: n for n in ray.nodes() if n["Alive"]}


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class Watcher(threading.Thread):
    """Acts once on the first segment seen running (`.running` files) that `pick` accepts."""

    def __init__(self, work_dir: Path, pick: Callable, act: Callable) -> None:
        super().__init__(daemon=True)
        self.work_dir, self.pick, self.act = work_dir, pick, act
        self.hit = None
        self.done = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while not self.done.is_set() and time.monotonic() < deadline:
            for held in running_segments(self.work_dir):
                if self.pick(held):
                    try:
                        self.act(held)
                    except OSError:
                        continue  # that worker finished in the meantime: try the next one
                    self.hit = held
                    return
            time.sleep(0.01)


@contextlib.contextmanager
def watching(work_dir: Path, pick: Callable, act: Callable) -> Iterator[Watcher]:
    w = Watcher(work_dir, pick, act)
    w.start()
    try:
        yield w
    finally:
        w.done.set()
        w.join()


def test_losing_a_worker_node_costs_only_its_segments(cluster, tmp_path: Path) -> None:
    """The issue's scenario: a worker node goes away (its raylet and workers killed) while it holds a segment."""
    c, src = cluster["cluster"], cluster["src"]
    out, work = tmp_path / "lost.mp4", tmp_path / "work"
    by_id = {n.node_id: n for n in c.worker_nodes}
    opts = SegmentOptions(segments="4", engine="ray", ray_address=c.address, work_dir=work, keep_work=True)
    def lose_node(held) -> None:
        # Frozen first, so that the segment cannot finish while the node is being removed; then gone at once,
        # as a reclaimed spot instance goes.
        os.kill(held.pid, signal.SIGSTOP)
        c.remove_node(by_id[held.node], allow_graceful=False)
        os.kill(held.pid, signal.SIGKILL)  # its raylet is gone; the machine's last process goes with it

    def fresh_on_a_worker_node(held) -> bool:
        return held.node in by_id and time.time() - held.started < 0.5

    try:
        with watching(work, fresh_on_a_worker_node, lose_node) as w:
            report = run_segmented([(src, out)], config(), opts, progress=False, notices=Notices(echo=False))
        assert w.hit is not None, "no worker node was seen holding a segment"
        _wait(lambda: w.hit.node not in _alive_nodes(), 30, "the removed node to be gone")
        assert report.retried >= 1 and report.processed == 4 and report.frames == 300
        manifest = Manifest.load(work)
        assert manifest is not None and all(s.done for s in manifest.segments)
        # What the lost node left (a hidden temporary file at most) was never taken: every file is the checked one.
        assert all(verify_segment(work, s) is None for s in manifest.segments)
        assert not running_segments(work)
        assert_same_as_single_pass(src, out, cluster["reference"])
    finally:
        while len(c.worker_nodes) < 2:  # the next tests get the whole cluster again
            c.add_node(num_cpus=1)


def test_a_killed_worker_is_retried_and_the_output_equals_a_single_pass(cluster, tmp_path: Path) -> None:
    src, out = cluster["src"], tmp_path / "killed.mp4"
    work = default_work_dir(out)
    opts = SegmentOptions(segments="4", engine="ray", keep_work=True)
    with watching(work, lambda r: True, lambda r: os.kill(r.pid, signal.SIGKILL)) as w:
        report = run_segmented([(src, out)], config(), opts, progress=False, notices=Notices(echo=False))
    assert w.hit is not None, "no worker was seen working on a segment"
    assert report.retried >= 1 and report.processed == 4 and report.frames == 300
    assert sum(st["frames"] for st in report.workers.values()) == 300
    # Ray reuses worker processes, so the killed one may have finished an earlier segment; the one it held was
    # retried (`retried`), and no `.running` claim is left behind.
    assert not running_segments(work)
    assert_same_as_single_pass(src, out, cluster["reference"])


def test_segments_come_back_through_the_object_store(cluster, tmp_path: Path) -> None:
    """Joining a cluster without --work-dir: workers send the files back; the driver writes and verifies them."""
    src, out = cluster["src"], tmp_path / "store.mp4"
    opts = SegmentOptions(segments="4", engine="ray", ray_address=cluster["cluster"].address)
    report = run_segmented([(src, out)], config(), opts, progress=False, notices=Notices(echo=False))
    assert report.processed == 4 and report.frames == 300
    assert_same_as_single_pass(src, out, cluster["reference"])
    assert not default_work_dir(out).exists()


def test_ctrl_c_of_the_driver_frees_the_cluster_and_resume_reuses_finished_segments(cluster, tmp_path) -> None:
    c, src = cluster["cluster"], cluster["src"]
    out, work = tmp_path / "o.mp4", tmp_path / "work"
    cpus = ray.cluster_resources()["CPU"]
    ctrl_c_after_a_segment(["upscale", str(src), "-o", str(out), "--model", "bicubic", "--scale", "2",
                            "--precision", "fp32", "--preset", "ultrafast", "--no-progress", "--segments", "12",
                            "--engine", "ray", "--ray-address", c.address, "--work-dir", str(work)], work)
    assert not out.exists()
    # The driver's tasks were cancelled: every CPU of the cluster is free again.
    _wait(lambda: ray.available_resources().get("CPU", 0) == cpus, 30, "the cluster's CPUs to be free")
    finished = sum(s.done for s in Manifest.load(work).segments)
    opts = SegmentOptions(segments="12", engine="ray", ray_address=c.address, work_dir=work, resume=True)
    report = run_segmented([(src, out)], config(), opts, progress=False, notices=Notices(echo=False))
    assert report.reused == finished >= 1 and report.processed == 12 - finished
    assert_same_as_single_pass(src, out, cluster["reference"])


@contextlib.contextmanager
def node_that_cannot_see(address: str, hidden: Path, log: Path, *flags: str) -> Iterator[str]:
    """A worker node (`ray start`) in its own mount namespace, where `hidden` is an empty tmpfs: what a machine
    that does not share that folder with the driver sees. Yields its node ID."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to give a Ray node its own view of a folder")
    before = set(_alive_nodes())
    ray_cli = Path(sys.executable).with_name("ray")
    script = 'mount -t tmpfs tmpfs "$1" && shift && exec "$@"'
    cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(hidden), str(ray_cli), "start",
           "--address", address, "--object-store-memory", str(100 * 1024 * 1024), "--block",
           "--disable-usage-stats", *flags]
    with open(log, "w") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait(lambda: proc.poll() is not None or set(_alive_nodes()) - before, NODE_START_S, "the node to join")
        assert proc.poll() is None, f"the node did not start: {log.read_text()[-2000:]}"
        (node,) = set(_alive_nodes()) - before
        yield node
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        _wait(lambda: not set(_alive_nodes()) - before, 60, "the node to leave")


def test_a_node_that_does_not_share_the_work_dir_is_a_clear_error_before_any_segment(cluster, tmp_path) -> None:
    src, out, work = cluster["src"], tmp_path / "o.mp4", tmp_path / "work"
    work.mkdir()
    opts = SegmentOptions(segments="4", engine="ray", ray_address=cluster["cluster"].address, work_dir=work)
    with node_that_cannot_see(cluster["cluster"].address, work, tmp_path / "node.log", "--num-cpus", "1") as node:
        with pytest.raises(InputError) as caught:
            run_segmented([(src, out)], config(), opts, progress=False, notices=Notices(echo=False))
    message = str(caught.value)
    assert f"id {node[:12]}" in message and f"does not share the work directory {work} with the driver" in message
    assert "\n" not in message
    assert not list(work.glob("seg*")) and not out.exists()


def test_gpu_segments_run_on_the_gpu_node_only_with_the_drivers_model(cluster, tmp_path: Path) -> None:
    """A node declaring one GPU (run on its CPU here) and hiding ../shared/weights: GPU tasks, half a GPU each,
    all land there, two at a time, and the model they run is the one the driver loaded from the weights file."""
    weights = SHARED_WEIGHTS / "ais2024_light_safmnpp_x4.pth"
    if not weights.exists():
        pytest.skip(f"{weights} is not here")
    src, out = cluster["src"], tmp_path / "gpu.mp4"
    cfg = config()
    cfg.model.name, cfg.model.weights, cfg.model.scale = "auto", str(weights), None
    opts = SegmentOptions(segments="2", engine="ray", ray_address=cluster["cluster"].address, gpus_per_segment=0.5,
                          work_dir=tmp_path / "work")
    flags = ("--num-cpus", "2", "--num-gpus", "1")
    with node_that_cannot_see(cluster["cluster"].address, SHARED_WEIGHTS, tmp_path / "node.log", *flags) as node:
        report = run_segmented([(src, out)], cfg, opts, progress=False, notices=Notices(echo=False))
    assert report.processed == 2 and report.frames == 300 and report.device == "1 GPU"
    assert report.workers and all(w.endswith(f"node {node[:12]}") for w in report.workers)
    info = decode_info(out)
    assert info["frames"] == 300 and info["size"] == (64 * 4, 36 * 4)
    assert info["times"] == decode_info(src)["times"]
