"""Video input/output with PyAV, in two parts over shared pieces.

- `vsr.io.file`: probe and decode a file (`probe`, `SourceInfo`, `VideoSource`), encode and mux the result
  (`VideoSink`).
- `vsr.io.live`: live sources (`open_source`, `LiveSourceInfo`, `CaptureStage`), recordings and output streams
  (`TimedWriter`), the preview window.
- shared: the one container-format table (`vsr.io.formats`), encoder settings (`vsr.io.encode`: `EncodeSettings`
  and `WriterSettings` built on it), atomic outputs (`vsr.io.atomic`), colour description and conversion
  (`vsr.io.colour`), frame planes (`vsr.io.planes`), text subtitles, test-pattern clips (`vsr.io.synth`).

Knows nothing of models: frames leave and enter as RGB numpy arrays (or YUV planes) with their timestamps.
"""

from vsr.io.atomic import AtomicOutput
from vsr.io.colour import ColourDescription
from vsr.io.encode import EncodeSettings, WriterSettings
from vsr.io.file import (
    AudioFrames,
    Frame,
    SourceInfo,
    StreamPlan,
    TimeRange,
    VideoSink,
    VideoSource,
    check_output_path,
    probe,
)
from vsr.io.formats import CONTAINERS, FORMATS, ContainerFormat

__all__ = [
    "CONTAINERS", "FORMATS", "AtomicOutput", "AudioFrames", "ColourDescription", "ContainerFormat", "EncodeSettings",
    "Frame", "SourceInfo", "StreamPlan", "TimeRange", "VideoSink", "VideoSource", "WriterSettings",
    "check_output_path", "probe",
]
