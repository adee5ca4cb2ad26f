"""StopFlag: how a long loop (live, train) learns that the user asked it to stop."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any

_SIGNALS = ((signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM"))


class StopFlag:
    """The first Ctrl-C or SIGTERM asks for a clean stop (the loop checks `set` between steps); a second one
    interrupts at once (KeyboardInterrupt). Signals reach only the main thread: elsewhere (an embedding caller)
    the flag installs nothing and the caller stops the loop its own way."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message  # printed on the first signal, e.g. "stopping after this iteration"
        self.reason: str | None = None
        self._old: dict[int, Any] = {}

    @property
    def set(self) -> bool:
        return self.reason is not None

    def _handle(self, name: str, signum: int, frame: FrameType | None) -> None:
        if self.reason is not None:
            raise KeyboardInterrupt
        self.reason = f"stopped by {name}"
        if self.message:
            print(f"\n{self.message}", file=sys.stderr, flush=True)

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, name in _SIGNALS:
            self._old[sig] = signal.signal(sig, lambda s, f, name=name: self._handle(name, s, f))

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def __enter__(self) -> StopFlag:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()
