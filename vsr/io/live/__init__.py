"""Live I/O: cameras, network streams, lavfi and paced files in; recordings, output streams and a preview out.

- `open_source` (`vsr.io.live.capture`): an opened `LiveSource` and its `LiveSourceInfo`.
- `CaptureStage` (`vsr.io.live.stage`): reads it on its own thread into a `LatestSlot` (`vsr.io.live.slot`).
- `TimedWriter` (`vsr.io.live.sinks`): a recording or an output stream; `PreviewWindow` (`vsr.io.live.preview`).

Import the submodules directly where only part is needed: the preview and the slot need no PyAV.
"""

from vsr.io.live.capture import (
    AudioItem,
    CameraUnavailable,
    CapturedFrame,
    CaptureSettings,
    LiveSource,
    LiveSourceInfo,
    OpenCVSource,
    open_source,
)
from vsr.io.live.sinks import TimedWriter, WriterSettings, check_recording_target, is_stream_target, output_format
from vsr.io.live.slot import LatestSlot
from vsr.io.live.stage import CaptureStage, CaptureStats

__all__ = ["AudioItem", "CameraUnavailable", "CaptureSettings", "CaptureStage", "CaptureStats", "CapturedFrame",
           "LatestSlot", "LiveSource", "LiveSourceInfo", "OpenCVSource", "TimedWriter", "WriterSettings",
           "check_recording_target", "is_stream_target", "open_source", "output_format"]
