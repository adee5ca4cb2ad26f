"""SIGINT, SIGTERM and SIGHUP at many moments of a real run: exit 128 + N with one line, nothing new written (or
exit 0 with the complete output when the run finished first), never a traceback, an abort or a core dump.

The moments are spread from the instant the process has its handlers (read from /proc: before that a signal
kills any program) to past the end of an uninterrupted run, so they hit the probe, the model load, the first
batch, the muxer's flush and the rename.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import pytest

from tests.conftest import ROOT
from tests.media_factory import make_clip

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}
RUNS = 21  # moments, the three signals in turn


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "run_pipeline.py"), *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_handlers(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Until the process catches SIGHUP (bit 0 of SigCgt): its first Python lines ran."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except FileNotFoundError:
            return
        caught = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt"))
        if caught & 1:
            return
        time.sleep(0.002)
    assert proc.poll() is not None, "the process never installed its signal handlers"


def after_handlers(delay: float):
    """A `ready` for interrupt_when: `delay` seconds after the process installed its handlers."""
    since: list[float] = []

    def ready(proc: subprocess.Popen) -> bool:
        if not since:
            wait_for_handlers(proc)
            since.append(time.monotonic())
        return time.monotonic() - since[0] >= delay
    return ready


def interrupt(args: list[str], sig: int, delay: float) -> tuple[int, str]:
    return interrupt_when(args, sig, after_handlers(delay), timeout=delay + 120)


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def frames_in(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def check_stopped(rc: int, err: str, sig: int, case: str) -> None:
    assert rc == 128 + sig, f"{case}: exit {rc}\n{err}"
    assert "Traceback" not in err and "terminate called" not in err, f"{case}\n{err}"
    stopped = [line for line in err.splitlines() if line.startswith("stopped by")]
    assert len(stopped) == 1 and stopped[0].startswith(f"stopped by {NAMES[sig]}"), f"{case}\n{err}"
    assert err.strip().splitlines()[-1] == stopped[0], f"{case}: the last line says what happened\n{err}"


def test_upscale_stops_cleanly_on_every_signal_at_every_moment(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", width=160, height=96, frames=60)
    args = ["--model", "bicubic", "--scale", "4", "--preset", "medium", "--no-progress"]
    base = tmp_path / "base"
    base.mkdir()
    began = time.monotonic()
    rc, err = interrupt(["upscale", str(src), "-o", str(base / "o.mp4"), *args], signal.SIGINT, 300)
    whole = time.monotonic() - began
    assert rc == 0 and frames_in(base / "o.mp4") == 60, err

    def one(i: int) -> tuple[str, int, str, Path]:
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        sig, delay = SIGNALS[i % 3], whole * 1.1 * i / (RUNS - 1)
        out = folder / "o.mp4"
        rc, err = interrupt(["upscale", str(src), "-o", str(out), *args, "--report", str(folder / "r.json")],
                            sig, delay)
        return f"{NAMES[sig]} at {delay:.2f} s", rc, err, folder

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(one, range(RUNS)))
    stopped = 0
    for i, (case, rc, err, folder) in enumerate(results):
        if rc == 0:  # finished before the signal took effect: complete, with its report
            assert listing(folder) == ["o.mp4", "r.json"] and frames_in(folder / "o.mp4") == 60, case
            assert json.loads((folder / "r.json").read_text())["frames"] == 60
        else:
            check_stopped(rc, err, SIGNALS[i % 3], case)
            assert listing(folder) == [], f"{case}: left {listing(folder)}"
            stopped += 1
    assert stopped >= RUNS // 2, "most moments fall inside the run"


def test_a_second_signal_quits_at_once_and_still_removes_the_temporary_files(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", width=160, height=96, frames=300)
    out = tmp_path / "out" / "o.mp4"
    out.parent.mkdir()
    proc = start("upscale", str(src), "-o", str(out), "--model", "bicubic", "--scale", "4", "--preset", "medium",
                 "--no-progress")
    try:
        deadline = time.monotonic() + 60
        while not list(out.parent.glob(".o.mp4.*.part.mp4")):
            assert proc.poll() is None and time.monotonic() < deadline, "never started writing"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (130, 143) and "Traceback" not in err, err
    assert listing(out.parent) == []


def finished_segments(work: Path) -> int:
    try:
        return sum(1 for s in json.loads((work / "manifest.json").read_text())["segments"] if s["done"])
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def interrupt_when(args: list[str], sig: int, ready, timeout: float = 120.0) -> tuple[int, str]:
    """Sends `sig` once `ready(proc)` is true (polled); returns the exit code and stderr."""
    proc = start(*args)
    try:
        deadline = time.monotonic() + timeout
        while proc.poll() is None and not ready(proc):
            assert time.monotonic() < deadline, "never got ready"
            time.sleep(0.005)
        if proc.poll() is None:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


def test_a_segmented_run_keeps_finished_segments_for_resume(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", width=160, height=96, frames=240,
                    options={"x264-params": "keyint=20:min-keyint=20:scenecut=0"})
    out, work = tmp_path / "o.mp4", tmp_path / "work"
    args = ["upscale", str(src), "-o", str(out), "--model", "bicubic", "--scale", "4", "--preset", "medium",
            "--no-progress", "--segments", "12", "--work-dir", str(work), "--resume"]
    for sig in SIGNALS:  # each run finishes one more segment, then is stopped
        before = finished_segments(work)
        rc, err = interrupt_when(args, sig, lambda _, before=before: finished_segments(work) > before)
        check_stopped(rc, err, sig, NAMES[sig])
        assert err.strip().endswith("segments finished; run the same command with --resume to go on")
        assert not out.exists() and not [p.name for p in work.iterdir() if p.name.startswith(".") and
                                         p.name != ".lock"]
        assert finished_segments(work) > before
    kept = finished_segments(work)
    report = tmp_path / "r.json"
    p = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), *args, "--report", str(report)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert json.loads(report.read_text())["reused"] == kept >= 3 and frames_in(out) == 240


@pytest.mark.parametrize("sig", SIGNALS)
def test_live_stops_on_every_signal_with_a_playable_recording(tmp_path: Path, sig: int) -> None:
    rec, report = tmp_path / "rec.mp4", tmp_path / "report.json"
    proc = start("live", "--source", "lavfi:testsrc2=size=64x36:rate=30", "--model", "bicubic", "--scale", "2",
                 "--threads", "1", "-o", str(rec), "--report", str(report))
    try:
        deadline = time.monotonic() + 60
        assert proc.stderr is not None
        for line in proc.stderr:  # the first status line: by then frames are being recorded
            if line.startswith("captured") or time.monotonic() > deadline:
                break
        time.sleep(0.5)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err
    assert err.strip().splitlines()[-1] == f"stopped by {NAMES[sig]}; outputs finalised"
    assert out.splitlines()[0] == f"stopped by {NAMES[sig]}"
    data = json.loads(report.read_text())
    assert frames_in(rec) == data["processed"] > 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mp4", "report.json"]
    assert os.path.getsize(rec) > 0


def test_after_sigkill_only_a_hidden_temporary_file_is_left_and_the_next_run_removes_it(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", width=160, height=96, frames=200)
    folder = tmp_path / "out"
    folder.mkdir()
    args = ["upscale", str(src), "-o", str(folder / "o.mp4"), "--model", "bicubic", "--scale", "4", "--preset",
            "medium", "--no-progress"]
    rc, _ = interrupt_when(args, signal.SIGKILL, lambda _: bool(list(folder.glob(".o.mp4.*.part.mp4"))))
    assert rc == -signal.SIGKILL
    left = listing(folder)
    assert len(left) == 1 and left[0].startswith(".o.mp4.") and left[0].endswith(".part.mp4"), left
    p = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert listing(folder) == ["o.mp4"] and frames_in(folder / "o.mp4") == 200


def test_sigterm_during_a_ray_run_stops_it_with_the_resume_hint(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install '.[ray]'")
    src = make_clip(tmp_path / "in.mp4", width=160, height=96, frames=400,
                    options={"x264-params": "keyint=50:min-keyint=50:scenecut=0"})
    out, work = tmp_path / "o.mp4", tmp_path / "work"
    args = ["upscale", str(src), "-o", str(out), "--model", "bicubic", "--scale", "4", "--preset", "medium",
            "--no-progress", "--segments", "8", "--engine", "ray", "--work-dir", str(work)]
    # Ray's own handler (a sys.exit) and its wait (a bare KeyboardInterrupt) must not decide the exit.
    rc, err = interrupt_when(args, signal.SIGTERM, lambda _: bool(list(work.glob("seg*.running"))))
    check_stopped(rc, err, signal.SIGTERM, "SIGTERM during Ray")
    assert err.strip().endswith("run the same command with --resume to go on") and not out.exists()


def test_training_stops_after_the_iteration_with_its_state_saved(tmp_path: Path) -> None:
    from tests.pipelines.test_train import small_images, tiny_config, write_yaml

    out = tmp_path / "run" / "m.pth"
    out.parent.mkdir()
    cfg = write_yaml(tmp_path / "c.yaml", tiny_config(small_images(tmp_path / "data"), out, iters=100000))
    rc, err = interrupt_when(["train", "--config", str(cfg)], signal.SIGHUP,
                             lambda _: out.with_name("m_last.pth").exists())
    check_stopped(rc, err, signal.SIGHUP, "SIGHUP during training")
    assert f"continue with --resume {out.with_name('m_last.pth')}" in err.strip().splitlines()[-1]
    saved = json.loads(out.with_suffix(".json").read_text())["iteration"]
    assert 10 <= saved < 100000
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".")]
