"""The old path of live capture, kept as a re-export; new code imports from `vsr.io.live`."""

from vsr.io.live.capture import AudioItem, CapturedFrame, CaptureSettings, LiveSource, OpenCVSource, open_source
from vsr.io.live.stage import CaptureStage

__all__ = ["AudioItem", "CaptureSettings", "CaptureStage", "CapturedFrame", "LiveSource", "OpenCVSource",
           "open_source"]
