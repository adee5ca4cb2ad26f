"""The old path of file encoding, kept as a re-export; new code imports from `vsr.io` or `vsr.io.file`."""

from vsr.io.atomic import AtomicOutput
from vsr.io.encode import EncodeSettings
from vsr.io.file.sink import VideoSink, check_output_path
from vsr.io.file.streams import StreamPlan
from vsr.io.formats import FORMATS

__all__ = ["FORMATS", "AtomicOutput", "EncodeSettings", "StreamPlan", "VideoSink", "check_output_path"]
