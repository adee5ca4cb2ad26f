"""Files and live sources from Python: `upscale_file`, `open_live` and `run_live`.

Each builds its settings as the command does (a shipped or YAML preset, then the keyword arguments on top, named
as the command's flags: `crf=18` is `--crf 18`) and runs the command's own job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO

import numpy as np

from pipelines.common.config import load_config, overrides_from_args
from pipelines.common.notices import Notices
from pipelines.common.settings import UpscaleConfig
from pipelines.live import LiveConfig, LiveResult, LiveSession
from pipelines.upscale import FileReport, run_upscale
from vsr.errors import ConfigError
from vsr_safmn.frames import split_model

Progress = Callable[[int, int | None], None]


def settings_overrides(flags: dict[str, str], given: dict[str, Any]) -> dict[str, Any]:
    """{dotted.setting: value} for the keyword arguments given (not None), named as the command's flags in
    `flags`; an unknown name is a one-line ConfigError."""
    unknown = sorted(set(given) - set(flags))
    if unknown:
        raise ConfigError(f"unknown setting {', '.join(unknown)} (known: {', '.join(sorted(flags))})")
    return overrides_from_args(SimpleNamespace(**given), flags)


def upscale_file(src: str | Path, out: str | Path, *, model: str | Path | None = None,
                 weights: str | Path | None = None, scale: int | None = None, config: str | Path | None = None,
                 progress: Progress | None = None, overwrite: bool = False, report: str | Path | None = None,
                 verbose: bool = False, **settings: Any) -> FileReport:
    """Upscale the video file `src` into `out` as `vsr upscale SRC -o OUT` does (audio, subtitles, timestamps,
    colour and 10-bit kept; written to a temporary file, renamed when complete) and return its `FileReport`.

    `model`/`weights`/`scale`: as `load_model` (None: the preset's, else `auto` at x2). `config`: a shipped
    preset (`quality`, `fast`, `cpu`) or a YAML file. `settings`: the command's flags as keywords, over the
    preset: strength, device, precision, batch, tile, cpu_workers, compile, colour, hwdec, codec, crf, preset (the
    encoder's speed), frames (only the first N). `progress(frames_written, total)` is called from this thread
    as frames are written (`total`: the frames expected, None when the file does not say). `report`: also
    write the report as JSON there. `verbose`: the command's progress bar and notices on stderr (the notices
    are in the report either way). Bad input raises a `vsr.errors.VSRError` with a one-line message.
    """
    from pipelines.commands.upscale import FLAG_SETTINGS

    name, path = split_model(model, weights)
    given = {"model": name, "weights": path, "scale": scale, **settings}
    cfg = load_config(UpscaleConfig, config, settings_overrides(FLAG_SETTINGS, given))
    return run_upscale(Path(src), Path(out), cfg, overwrite=overwrite, report_path=report, progress=verbose,
                       notices=Notices(echo=verbose), on_progress=progress)


def open_live(source: str, *, model: str | Path | None = None, weights: str | Path | None = None,
              scale: int | None = None, record: str | Path | Iterable[str | Path] | None = None,
              duration: float | None = None, config: str | Path | None = None,
              log: Callable[[str], None] | None = None, status: TextIO | None = None, keep_frames: bool = True,
              on_frame: Callable[[np.ndarray, np.ndarray], None] | None = None, **settings: Any) -> LiveSession:
    """A live session on `source` as `vsr live --source SOURCE` runs it (webcam:N, /dev/videoN, a stream URL,
    `lavfi:GRAPH` or a file played in real time), not yet opened.

    `with open_live(...) as live:` opens it (the capture starts, the model is chosen or loaded), `live.step()`
    processes what has arrived (False once the run ends: `duration` seconds, the source's end, Ctrl-C), leaving
    the `with` finalises every output; `live.result()` is then the `LiveResult` (`.report`, `.frames`).
    `live.run()` does all of that. `model`: None chooses the best model that keeps up with the source on this
    machine; a name or a checkpoint path uses that one. `record`: a file or stream URL (or several) to write the
    upscaled video to. `on_frame(output, source)`: sees each processed frame (RGB uint8 arrays). `log`: receives
    the session's messages (default: none); `status`: a stream for the status line each second. `settings`:
    the command's other flags as keywords (target_fps, max_latency_ms, batch, device, precision, threads, codec,
    crf, preset, overwrite, report, audio, preview_http, ...).
    """
    from pipelines.commands.live import FLAG_SETTINGS

    name, path = split_model(model, weights)
    outputs = None if record is None else [str(r) for r in ([record] if isinstance(record, str | Path) else record)]
    given = {"source": str(source), "model": name, "weights": path, "scale": scale, "outputs": outputs,
             "duration": duration, **settings}
    cfg = load_config(LiveConfig, config, settings_overrides(FLAG_SETTINGS, given))
    return LiveSession(cfg, log or _quiet, status, keep_frames, on_frame)


def run_live(source: str, **kwargs: Any) -> LiveResult:
    """Run a live session until it ends (set `duration`, or stop with Ctrl-C) and return its `LiveResult`; the
    arguments are `open_live`'s. The outputs are finalised in every case."""
    return open_live(source, **kwargs).run()


def _quiet(message: str) -> None:
    """The default log of a live session from Python: nothing."""
