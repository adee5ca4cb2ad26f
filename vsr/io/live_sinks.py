"""The old path of the live outputs, kept as a re-export; new code imports from `vsr.io.live`."""

from vsr.io.encode import WriterSettings
from vsr.io.live.preview import PreviewWindow, compose_preview, display_problem
from vsr.io.live.sinks import TimedWriter, check_recording_target, is_stream_target, output_format

__all__ = ["PreviewWindow", "TimedWriter", "WriterSettings", "check_recording_target", "compose_preview",
           "display_problem", "is_stream_target", "output_format"]
