"""The old path of the latest-frame slot, kept as a re-export; new code imports `vsr.io.live.slot`."""

from vsr.io.live.slot import LatestSlot

__all__ = ["LatestSlot"]
