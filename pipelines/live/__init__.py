"""The `live` job: a camera or live stream upscaled in real time.

  config   LiveConfig (kept free of torch so the CLI can check settings before importing it)
  session  LiveSession (open / step / close) and run_live
  model    the model (named, or chosen for --target-fps) and the batch the latency bound allows
  select   measuring candidate models at the source size
  outputs  recordings, streams and the preview window
  stats    the counters behind the status line; report: LiveReport, ProcessedFrame, LiveResult
"""

from pipelines.live.config import LiveConfig
from pipelines.live.report import LiveReport, LiveResult, ProcessedFrame, summary_lines, write_report
from pipelines.live.session import LiveSession, run_live

__all__ = ["LiveConfig", "LiveReport", "LiveResult", "LiveSession", "ProcessedFrame", "run_live", "summary_lines",
           "write_report"]
