"""Notices: what the user should know (stream dropped, audio re-encoded, packet skipped), printed and reported."""

from __future__ import annotations

import sys
import threading

from tqdm import tqdm


class Notices:
    """Collects notices from any thread; echoes each one above the progress bar unless `echo` is off."""

    def __init__(self, echo: bool = True) -> None:
        self.items: list[str] = []
        self.echo = echo
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        with self._lock:
            self.items.append(message)
        if self.echo:
            tqdm.write(message if message.startswith("warning:") else f"note: {message}", file=sys.stderr)
