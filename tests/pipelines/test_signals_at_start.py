"""A signal in the first instant: both entry points (`python run_pipeline.py` and the `vsr` console script) hold
SIGINT, SIGTERM and SIGHUP as their first step, before the program's imports and its re-execution with the
allocator settings, so a signal sent then ends the run like any later one: 128 + N and the one line, never a
KeyboardInterrupt traceback (docs/stopping.md). Before the interpreter runs the entry point's first line a signal
kills the process like any program's; the hold coming first is checked on the real import order.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipelines.common.held import STOP_SIGNALS
from tests.conftest import ROOT
from tests.pipelines.test_signals import check_stopped

VSR_SCRIPT = Path(sys.executable).parent / "vsr"
HELD_MASK = sum(1 << (s - 1) for s in STOP_SIGNALS)  # their bits in /proc/PID/status SigBlk
MOMENTS = [0.0, 0.005, 0.02, 0.05]  # seconds after the hold: the imports, the re-exec, the second image's start


def entry_points() -> dict[str, list[str]]:
    assert VSR_SCRIPT.is_file(), f"no console script at {VSR_SCRIPT}: pip install -e ."
    assert "pipelines.entry" in VSR_SCRIPT.read_text(), f"{VSR_SCRIPT} is stale: pip install -e ."
    return {"run_pipeline.py": [sys.executable, str(ROOT / "run_pipeline.py")], "vsr": [str(VSR_SCRIPT)]}


def wait_for_hold(proc: subprocess.Popen, timeout: float = 30.0) -> bool:
    """Until the process blocks the stop signals (its entry point's first step); False if it ended first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return False
        blocked = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigBlk"))
        if blocked & HELD_MASK == HELD_MASK:
            return True
        assert time.monotonic() < deadline, "the process never held its signals"
        time.sleep(0.0003)
    return False


def signal_after_hold(command: list[str], sig: int, delay: float, tries: int = 5) -> tuple[int, str]:
    """Start `command models`, send `sig` `delay` seconds after its hold; (exit code, stderr). On a busy machine the
    poll can miss the held window (the run installs its handlers and ends first): that start is tried again."""
    for _ in range(tries):
        proc = subprocess.Popen([*command, "models"], cwd=ROOT, text=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            if not wait_for_hold(proc):
                proc.communicate(timeout=60)
                continue
            time.sleep(delay)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
            return proc.returncode, err
        finally:
            if proc.poll() is None:
                proc.kill()
    raise AssertionError(f"{command}: the poll never saw the signals held in {tries} starts")


def test_a_signal_in_the_first_milliseconds_stops_the_run_the_one_way() -> None:
    cases = [(name, command, STOP_SIGNALS[i % 3], delay)
             for name, command in entry_points().items() for i, delay in enumerate(MOMENTS)]

    def one(case: tuple[str, list[str], int, float]) -> tuple[str, int, str, int]:
        name, command, sig, delay = case
        rc, err = signal_after_hold(command, sig, delay)
        return f"{name}: {signal.Signals(sig).name} {delay * 1000:g} ms after the hold", rc, err, sig

    with ThreadPoolExecutor(2) as pool:
        for case, rc, err, sig in pool.map(one, cases):
            check_stopped(rc, err, sig, case)
            assert "KeyboardInterrupt" not in err, f"{case}\n{err}"


def imported_before_the_hold(command: list[str]) -> set[str]:
    """The modules (as `-X importtime` lists them, in the order they finish) loaded before the hold's module."""
    env = {**os.environ, "VSR_NO_MALLOC_TUNING": "1", "PYTHONPROFILEIMPORTTIME": "1"}
    p = subprocess.run([*command, "models"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    names = re.findall(r"^import time:\s*\d+ \|\s*\d+ \|\s*(\S+)$", p.stderr, flags=re.M)
    assert "pipelines.common.held" in names, p.stderr[-2000:]
    return set(names[:names.index("pipelines.common.held")])


def test_the_hold_is_the_entry_points_first_step() -> None:
    started = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], capture_output=True, text=True)
    interpreter = set(re.findall(r"\|\s*(\S+)$", started.stderr, flags=re.M))  # start-up and site
    for name, command in entry_points().items():
        extra = imported_before_the_hold(command) - interpreter
        assert extra <= {"pipelines", "pipelines.common", "signal"}, f"{name} loads {sorted(extra)} first"
