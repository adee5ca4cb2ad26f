"""A latest-frame slot: the hand-over between a live source and a slower consumer.

The producer never blocks: when the consumer has not taken the waiting frames yet, the oldest are dropped so
that the consumer always gets the newest. This is what keeps live latency bounded when inference is slower
than the source.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds at most `depth` waiting items; `put` drops the oldest instead of blocking."""

    def __init__(self, depth: int = 1) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._items: deque[T] = deque()
        self._depth = depth
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0  # items displaced before anyone took them

    def put(self, item: T) -> int:
        """Add an item; returns how many older items were dropped to make room (0 when none)."""
        with self._cond:
            dropped = 0
            while len(self._items) >= self._depth:
                self._items.popleft()
                dropped += 1
            self._items.append(item)
            self.dropped += dropped
            self._cond.notify()
            return dropped

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest waiting item (the newest when depth is 1); None on timeout or once closed and empty."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout=timeout):
                return None
            return self._items.popleft() if self._items else None

    def get_all(self, timeout: float | None = None) -> list[T]:
        """Everything waiting (oldest first, at most `depth`); [] on timeout or once closed and empty."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout=timeout):
                return []
            items = list(self._items)
            self._items.clear()
            return items

    def close(self) -> None:
        """No more items will come; a waiting `get` returns what is left, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed and not self._items
