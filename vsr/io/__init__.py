"""Video input/output with PyAV: probe and decode a file, convert colour, encode and mux the result.

Knows nothing of models: frames leave and enter as RGB numpy arrays with their timestamps.
"""

from vsr.io.colour import ColourDescription
from vsr.io.sink import AtomicOutput, EncodeSettings, StreamPlan, VideoSink, check_output_path
from vsr.io.source import AudioFrames, Frame, SourceInfo, TimeRange, VideoSource, probe

__all__ = [
    "AtomicOutput", "AudioFrames", "ColourDescription", "EncodeSettings", "Frame", "SourceInfo", "StreamPlan",
    "TimeRange", "VideoSink", "VideoSource", "check_output_path", "probe",
]
