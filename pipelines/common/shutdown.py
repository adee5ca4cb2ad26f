"""The one shutdown path of the CLI: every job (upscale, segments, live, bench, train, eval, ...) stops the same way
on SIGINT (Ctrl-C), SIGTERM (kill, timeout, systemd, Docker, Kubernetes, Ray) and SIGHUP (a closed terminal).

- First signal: outside a `StopFlag` section the main thread gets `Interrupted` wherever it is (probe, model
  load, a write), so every `finally` runs: the stages stop and are joined, temporary files are removed. Inside a
  section (the stage loop, live, training) the job stops at its next safe point. Either way the CLI exits with
  128 + the signal (130, 143, 129) and one line saying what happened.
- A second signal, or the first one's grace period running out (a native call that does not return), ends the
  process at once from the watcher thread, which sees every signal even while the main thread is inside a
  native call: this process's temporary files are removed first (`vsr.fs.PARTIAL_FILES`), then `os._exit`.
- At the end the tool's threads ("vsr-*": decoder, model workers, encoder, capture) are joined before the
  interpreter exits; one still inside a native call after the grace period ends the process with `os._exit`
  rather than let the interpreter finalise under it (that is what aborted with "terminate called without an
  active exception").
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from pipelines.common.stop import SIGNAL_NAMES, Interrupted, signal_name
from vsr.fs import PARTIAL_FILES

GRACE_S = 8.0  # under Docker's and Kubernetes' 10 s before SIGKILL
_OWN_THREADS = "vsr-"
_JOIN_S = 3.0  # how long the exit waits for the tool's threads once the job has returned


class Shutdown:
    """Installed by the CLI's entry point for the whole run (`with Shutdown() as s:`), in the main thread."""

    def __init__(self, grace_s: float = GRACE_S) -> None:
        self.grace_s = grace_s
        self.first_at: float | None = None  # monotonic time of the first signal (set by the watcher)
        self.signals: list[int] = []
        self._raised = False
        self._finished = False  # the job's outputs are complete: a signal no longer stops it
        self._old: dict[int, Any] = {}
        self._old_wakeup = -1
        self._pipe: tuple[int, int] | None = None
        self._stop_r, self._stop_w = -1, -1
        self._watcher: threading.Thread | None = None

    def install(self) -> None:
        r, w = os.pipe()
        os.set_blocking(w, False)
        self._pipe = (r, w)
        self._stop_r, self._stop_w = os.pipe()
        self._old_wakeup = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        for sig in SIGNAL_NAMES:
            self._old[sig] = signal.signal(sig, self._handle)
        self._watcher = threading.Thread(target=self._watch, name="shutdown-watcher", daemon=True)
        self._watcher.start()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNAL_NAMES)  # a held one is handled from here on

    def mark_finished(self) -> None:
        self._finished = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # Later ones are the watcher's: the cleanup that the first one started must not be cut short.
        if not self._raised and not self._finished:
            self._raised = True
            raise Interrupted(signum)

    def _watch(self) -> None:
        assert self._pipe is not None
        while True:
            timeout = None if self.first_at is None else max(0.0, self.first_at + self.grace_s - time.monotonic())
            ready, _, _ = select.select([self._pipe[0], self._stop_r], [], [], timeout)
            if self._stop_r in ready:
                return
            if not ready:
                self._hard_exit(self.signals[0], f"did not stop within {self.grace_s:g} s of {{name}}")
            for signum in os.read(self._pipe[0], 64):
                self.signals.append(signum)
                if self.first_at is None:
                    self.first_at = time.monotonic()
                else:
                    self._hard_exit(signum, "stopped by {name} again: quit without waiting")

    @staticmethod
    def _hard_exit(signum: int, message: str) -> None:
        removed = PARTIAL_FILES.remove_all()
        note = f" ({removed} temporary file{'s' if removed != 1 else ''} removed)" if removed else ""
        with contextlib.suppress(OSError):
            os.write(2, f"\n{message.format(name=signal_name(signum))}{note}\n".encode())
        os._exit(128 + signum)

    def restore(self) -> None:
        """Stops the watcher and puts the previous handlers back (for a caller that goes on in-process)."""
        if self._watcher is not None:
            os.write(self._stop_w, b"x")
            self._watcher.join()
            self._watcher = None
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()
        signal.set_wakeup_fd(self._old_wakeup)
        for fd in (*(self._pipe or ()), self._stop_r, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._pipe = None

    def join_threads(self, code: int) -> int:
        """The last step of a run: waits a little for the tool's threads and returns `code` with the signals
        ignored from then on, or ends the process with `code` when a thread is still running."""
        # Short of the watcher's deadline, so that this ends the process (quietly) before the watcher would, and
        # at most a few seconds: a thread still running now is stuck or idle (an engine nobody closed).
        deadline = min(time.monotonic() + _JOIN_S, (self.first_at or time.monotonic()) + self.grace_s - 0.5)
        for t in threading.enumerate():
            if t.name.startswith(_OWN_THREADS) and t is not threading.current_thread():
                t.join(timeout=max(0.0, deadline - time.monotonic()))
        if any(t.name.startswith(_OWN_THREADS) and t.is_alive() for t in threading.enumerate()):
            PARTIAL_FILES.remove_all()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        for sig in SIGNAL_NAMES:  # the job is over: the interpreter's own exit would reset the handlers to kill
            signal.signal(sig, signal.SIG_IGN)
        return code

    def __enter__(self) -> Shutdown:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()
