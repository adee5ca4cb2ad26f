"""The old path of file decoding, kept as a re-export; new code imports from `vsr.io` or `vsr.io.file`."""

from vsr.io.file.probe import SourceInfo, StreamInfo, probe
from vsr.io.file.source import AudioFrames, Frame, TimeRange, VideoSource

__all__ = ["AudioFrames", "Frame", "SourceInfo", "StreamInfo", "TimeRange", "VideoSource", "probe"]
