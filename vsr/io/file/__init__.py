"""File I/O: probe and decode a video file, encode and mux the upscaled result beside its other streams.

- `probe` (`vsr.io.file.probe`): a file's `SourceInfo`.
- `VideoSource` (`vsr.io.file.source`): its frames (RGB or YUV planes) and the packets of its other streams.
- `VideoSink` (`vsr.io.file.sink`): the output, written to an `AtomicOutput`'s temporary file.
"""

from vsr.io.file.probe import SourceInfo, StreamInfo, probe
from vsr.io.file.sink import SinkCounters, VideoSink, check_output_path
from vsr.io.file.source import AudioFrames, Frame, SourceCounters, TimeRange, VideoSource
from vsr.io.file.streams import StreamPlan

__all__ = ["AudioFrames", "Frame", "SinkCounters", "SourceCounters", "SourceInfo", "StreamInfo", "StreamPlan",
           "TimeRange", "VideoSink", "VideoSource", "check_output_path", "probe"]
