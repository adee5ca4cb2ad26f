"""The `upscale` job: one video file through decode -> model -> encode, everything but the video kept.

  job      upscale_file (one pass over a file or a time range of it) and run_upscale (the command's job)
  stages   the decode, upscale and encode stages
  checks   what is checked before a model loads or a byte is written
  report   FileReport
"""

from pipelines.upscale.job import PassOptions, run_upscale, upscale_file
from pipelines.upscale.report import FileReport

__all__ = ["FileReport", "PassOptions", "run_upscale", "upscale_file"]
