"""The outputs of one live run (recordings, streams, the preview window): opened on the first processed frame,
finalised in every case."""

from __future__ import annotations

import queue
from collections.abc import Callable

import numpy as np

from pipelines.live.config import LiveConfig
from pipelines.live.rehearsal import output_settings
from vsr.io.colour import BT709, RANGE_LIMITED, SMPTE170M, ColourDescription, is_hd
from vsr.io.live.preview import PreviewWindow, compose_preview
from vsr.io.live.sinks import TimedWriter
from vsr.io.live.web_preview import WebPreview


def output_colour(info) -> ColourDescription:
    """Keep the source's colour description (tagged explicitly); a source without one gets the size's default."""
    if info.colour is not None:
        return info.colour
    return ColourDescription(BT709 if is_hd(info.width, info.height) else SMPTE170M, 2, 2, RANGE_LIMITED)


class LiveOutputs:
    def __init__(self) -> None:
        self.writers: list[TimedWriter] = []
        self.window: PreviewWindow | None = None
        self.web: WebPreview | None = None
        self.opened = False

    def bind_web(self, cfg: LiveConfig, title: str, figures: Callable[[], dict]) -> None:
        """Takes the browser preview's port (before the source opens, so a busy port is refused first)."""
        if cfg.preview_http is None:
            return
        self.web = WebPreview(cfg.preview_http, title, figures,
                              lambda up, src: compose_preview(up, src, "", side_by_side=True), cfg.side_by_side)
        self.web.bind()

    def serve_web(self, log: Callable[[str], None]) -> None:
        if self.web is not None:
            self.web.serve()
            log(f"browser preview: {self.web.url} (/stream.mjpg, /frame.jpg, /stats.json)")

    def publish(self, upscaled: np.ndarray, source: np.ndarray) -> None:
        """The newest frame, for the browser preview (a reference: encoded only when a browser asks)."""
        if self.web is not None:
            self.web.publish(upscaled, source)

    def open(self, cfg: LiveConfig, info, out_w: int, out_h: int, colour: ColourDescription,
             log: Callable[[str], None]) -> None:
        self.opened = True
        for target, ws in zip(cfg.outputs, output_settings(cfg.outputs, cfg.codec, cfg.preset, cfg.crf), strict=True):
            audio = info.audio_stream if cfg.audio else None
            self.writers.append(TimedWriter(target, out_w, out_h, info.fps, colour, audio, ws, log))
        if cfg.display:
            self.window = PreviewWindow(f"vsr live: {info.label}", cfg.side_by_side)

    def drain_audio(self, audio_q: queue.Queue) -> None:
        """Every audio frame captured so far, to every writer."""
        while True:
            try:
                item = audio_q.get_nowait()
            except queue.Empty:
                return
            for w in self.writers:
                w.write_audio(item)

    def close(self, log: Callable[[str], None]) -> list[str]:
        """Finish every output; returns the paths/URLs written. A writer failing does not stop the others."""
        saved: list[str] = []
        if self.window is not None:
            self.window.close()
        if self.web is not None:
            self.web.close()
        for w in self.writers:
            try:
                if w.frames == 0:
                    w.abort()
                    log(f"note: no frame was processed, so nothing was written to {w.target}")
                    continue
                saved.append(w.close() or w.target)
            except Exception as exc:  # one output failing must not lose the others
                log(f"warning: could not finalise {w.target}: {exc}")
        return saved

    @property
    def recorded_frames(self) -> int:
        return max((w.frames for w in self.writers), default=0)
