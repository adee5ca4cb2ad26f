"""vsr-safmn from Python: SAFMN super-resolution for scripts and notebooks (docs/api.md).

    import vsr_safmn

    model = vsr_safmn.load_model("safmn-default-x2")          # a name, or a checkpoint's path
    with vsr_safmn.Upscaler("safmn-default-x2") as up:        # frames, batches, tensors, image files
        big = up(frame)                                        # (H, W, 3) uint8 -> (2H, 2W, 3) uint8
        up.image("in.png", "out.png")
    report = vsr_safmn.upscale_file("in.mp4", "out.mp4", config="quality", crf=18,
                                    progress=lambda done, total: print(done, total))
    result = vsr_safmn.run_live("lavfi:testsrc2=size=320x180:rate=30", duration=5, record="live.mp4")

Every function runs the command's own job (`vsr image`, `vsr upscale`, `vsr live`): the same checks, settings,
outputs and reports. Bad input raises a `VSRError` (`InputError`, `MediaError`, `ModelError`, `ConfigError`)
whose `str()` is the one line the command prints after `error:`.
"""

from pipelines.image import ImageResult
from pipelines.live import LiveReport, LiveResult, LiveSession
from pipelines.upscale import FileReport
from vsr.errors import ConfigError, InputError, MediaError, ModelError, VSRError
from vsr.models import LoadedModel
from vsr_safmn.frames import Upscaler, load_model
from vsr_safmn.jobs import open_live, run_live, upscale_file

__all__ = [
    "ConfigError", "FileReport", "ImageResult", "InputError", "LiveReport", "LiveResult", "LiveSession",
    "LoadedModel", "MediaError", "ModelError", "Upscaler", "VSRError", "load_model", "open_live", "run_live",
    "upscale_file",
]
