"""How a job learns that the user asked it to stop: `Interrupted` (raised where the job cannot poll) and `StopFlag`
(a section of a job that polls at safe points instead: the stage loop, a live step, a training iteration).

The process-wide part (handlers outside these sections, a second signal, the grace period, the exit) is
`pipelines.common.shutdown.Shutdown`.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any

from pipelines.common.held import STOP_SIGNALS

# The signals that stop a job, and how the one-line message names them.
SIGNAL_NAMES = dict(zip(STOP_SIGNALS, ("Ctrl-C", "SIGTERM", "SIGHUP"), strict=True))


def signal_name(signum: int) -> str:
    return SIGNAL_NAMES.get(signum, signal.Signals(signum).name)


class Interrupted(KeyboardInterrupt):
    """A job stopped by a signal. `detail` says what is left (e.g. which segments `--resume` reuses); the exit
    code is the shell's convention, 128 + the signal's number (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP)."""

    def __init__(self, signum: int = signal.SIGINT, detail: str = "") -> None:
        super().__init__(signum, detail)
        self.signum, self.detail = signum, detail

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def message(self) -> str:
        return f"stopped by {signal_name(self.signum)}" + (f"; {self.detail}" if self.detail else "")


def as_interrupted(exc: KeyboardInterrupt, detail: str | None = None) -> Interrupted:
    """The `Interrupted` behind a KeyboardInterrupt: a library that catches ours and raises its own (Ray's get
    does) keeps it as the cause or context. A bare KeyboardInterrupt counts as Ctrl-C."""
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, Interrupted):
        seen = seen.__cause__ or seen.__context__
    found = seen if isinstance(seen, Interrupted) else Interrupted()
    return found if detail is None else Interrupted(found.signum, detail)


class StopFlag:
    """While installed, a first SIGINT, SIGTERM or SIGHUP only sets the flag (`set`, `signum`): the job checks
    it at its safe points (`raise_if_set`) or ends its loop. A second one raises KeyboardInterrupt here; under
    the CLI the Shutdown ends the process first, removing the temporary files. Signals reach only the main
    thread: elsewhere (a Ray worker, an embedding caller) the flag installs nothing and stays clear."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message  # printed on the first signal, e.g. "stopping after this iteration"
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    @property
    def set(self) -> bool:
        return self.signum is not None

    @property
    def reason(self) -> str | None:
        return None if self.signum is None else f"stopped by {signal_name(self.signum)}"

    def finish(self) -> None:
        """The job's outputs are complete: under the CLI's Shutdown a signal from here on no longer stops it, so
        that an exit code of 128 + N always means that nothing new was written."""
        for old in self._old.values():
            if (mark := getattr(getattr(old, "__self__", None), "mark_finished", None)) is not None:
                mark()
                return

    def raise_if_set(self, detail: str = "") -> None:
        if self.signum is not None:
            raise Interrupted(self.signum, detail)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        if self.message:
            print(f"\n{self.message}", file=sys.stderr, flush=True)

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in SIGNAL_NAMES:
            self._old[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def __enter__(self) -> StopFlag:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()
