"""Segments as Ray tasks on a local Ray instance with 2 CPUs: same output as a single pass, a worker killed in the
middle of a segment is retried, and segment files can come back through the object store."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from pipelines.common.notices import Notices
from pipelines.segments import Manifest, SegmentOptions, default_work_dir, run_segmented

from ..segment_helpers import assert_same_as_single_pass, config, make_segment_clip, single_pass

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install '.[ray]'")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One local instance for the module (starting Ray costs ~15 s here); the engine uses it as it finds it."""
    d = tmp_path_factory.mktemp("ray")
    src = make_segment_clip(d / "in.mp4")
    reference = single_pass(src, d / "single.mp4")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield {"src": src, "reference": reference}
    finally:
        ray.shutdown()


class Killer(threading.Thread):
    """Kills (SIGKILL) the first worker seen holding a segment: its `.running` file names the process."""

    def __init__(self, work_dir: Path) -> None:
        super().__init__(daemon=True)
        self.work_dir = work_dir
        self.killed: dict | None = None
        self.done = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while not self.done.is_set() and time.monotonic() < deadline:
            for f in sorted(self.work_dir.glob("*.running")):
                try:
                    info = json.loads(f.read_text())
                    os.kill(info["pid"], signal.SIGKILL)
                except (OSError, ValueError, KeyError):
                    continue  # finished (or half-written) in the meantime: try the next one
                self.killed = {"segment": f.name, **info}
                return
            time.sleep(0.01)


def test_ray_segments_with_a_killed_worker_equal_a_single_pass(cluster, tmp_path: Path) -> None:
    src, out = cluster["src"], tmp_path / "ray.mp4"
    work = default_work_dir(out)
    killer = Killer(work)
    killer.start()
    try:
        report = run_segmented([(src, out)], config(), SegmentOptions(segments="4", engine="ray", keep_work=True),
                               progress=False, notices=Notices(echo=False))
    finally:
        killer.done.set()
        killer.join()
    assert killer.killed is not None, "no worker was seen working on a segment"
    assert report.retried >= 1 and report.processed == 4 and report.frames == 300
    assert sum(w["frames"] for w in report.workers.values()) == 300
    # The segment the killed process held was retried (`retried`; Ray reuses worker processes, so the same
    # process may have finished an earlier segment), and no `.running` claim is left behind.
    assert not list(work.glob("*.running"))
    manifest = Manifest.load(work)
    assert manifest is not None and all(s.done for s in manifest.segments)
    assert_same_as_single_pass(src, out, cluster["reference"])


def test_ray_segments_through_the_object_store(cluster, tmp_path: Path) -> None:
    """Joining a cluster without --work-dir: workers send the files back; the driver writes and verifies them."""
    src, out = cluster["src"], tmp_path / "store.mp4"
    opts = SegmentOptions(segments="4", engine="ray", ray_address="auto")
    notices = Notices(echo=False)
    report = run_segmented([(src, out)], config(), opts, progress=False, notices=notices)
    assert report.processed == 4 and report.frames == 300
    assert_same_as_single_pass(src, out, cluster["reference"])
    assert not default_work_dir(out).exists()
