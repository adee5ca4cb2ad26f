"""The checks a file upscale makes before it loads a model or writes a byte (shared with segments)."""

from __future__ import annotations

from pathlib import Path

from pipelines.common.device_colour import COLOUR_MODES, HW_DECODERS
from pipelines.common.settings import COMPILE_MODES, UpscaleConfig
from vsr.errors import ConfigError, InputError
from vsr.io.file.pipe import STDIO, PipeOutput
from vsr.io.file.sink import check_output_path


def check_input_path(src: Path) -> None:
    if not src.exists():
        raise InputError(f"{src}: no such file")
    if src.is_dir():
        raise InputError(f"{src}: is a directory, not a video file")


def check_paths(src: Path, out: Path, overwrite: bool, stream_format: str | None) -> PipeOutput | None:
    """The input and the output of a single pass, either of which may be `-` (stdin, stdout); for stdout the
    stream it will be, in `stream_format` (checked; it is claimed when the pass starts)."""
    if src != STDIO:
        check_input_path(src)
    if out == STDIO:
        return PipeOutput(stream_format or "mkv")
    if stream_format is not None:
        raise InputError("{format} is for a stream on stdout (-o -); a file's extension picks its container")
    check_output_path(out, src, overwrite)
    return None


def check_run_settings(cfg: UpscaleConfig, report_path: str | Path | None) -> None:
    """Settings checks shared by single-pass and segmented runs."""
    if report_path is not None and not Path(report_path).resolve().parent.is_dir():
        raise InputError("no such directory", setting="report", value=report_path)
    batch = cfg.engine.batch
    if (batch != "auto" and (not isinstance(batch, int) or batch < 1)) or cfg.pipeline.queue_frames < 1:
        raise ConfigError("batch must be auto or at least 1, and queue_frames at least 1")
    if cfg.pipeline.hwdec not in HW_DECODERS and not cfg.pipeline.hwdec.startswith("cuda:"):
        raise ConfigError(f"use {', '.join(HW_DECODERS)} or cuda:N", setting="hwdec", value=cfg.pipeline.hwdec)
    if cfg.engine.colour not in COLOUR_MODES:
        raise ConfigError(f"use {', '.join(COLOUR_MODES)}", setting="colour", value=cfg.engine.colour)
    if cfg.engine.compile not in COMPILE_MODES:
        raise ConfigError(f"use one of {', '.join(m for m in COMPILE_MODES if m)}", setting="compile",
                          value=cfg.engine.compile)
    if cfg.engine.cpu_workers < 0:
        raise ConfigError("{cpu_workers} must be 0 (auto) or a number of frames computed side by side")
    if cfg.engine.tile < 0:
        raise ConfigError("must be 0 (whole frames) or a tile size in pixels", setting="tile", value=cfg.engine.tile)
    if cfg.pipeline.max_frames is not None and cfg.pipeline.max_frames < 1:
        raise ConfigError("{frames} must be at least 1")
