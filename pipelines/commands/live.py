"""`vsr live`: upscale a camera or live stream in real time (preview, recording, live output)."""

from __future__ import annotations

import argparse

from pipelines.commands.common import add_engine_args, add_model_args

# flag dest -> LiveConfig field (flags override the --config preset only when given).
FLAG_SETTINGS = {
    "source": "source", "realtime": "realtime", "capture_size": "capture_size", "capture_fps": "capture_fps",
    "open_timeout": "open_timeout_s", "read_timeout": "read_timeout_s", "model": "model", "weights": "weights",
    "scale": "scale", "device": "device", "precision": "precision", "target_fps": "target_fps",
    "candidates": "candidates", "max_latency_ms": "max_latency_ms", "display": "display",
    "side_by_side": "side_by_side", "outputs": "outputs", "overwrite": "overwrite", "codec": "codec",
    "preset": "preset", "crf": "crf", "duration": "duration_s", "report": "report", "audio": "audio",
    "threads": "threads", "capture_format": "capture_format", "batch": "batch", "preview_http": "preview_http",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("live", help="upscale a webcam or live stream in real time (drops frames to keep up)",
                       description="Upscale a live source in real time: the newest frame is processed, frames the "
                                   "model cannot keep up with are dropped, latency stays bounded. Stop with "
                                   "--duration, q in the preview, or Ctrl-C; outputs are finalised in every case.")
    p.add_argument("--source", help="webcam:N, /dev/videoN, rtsp/udp/rtmp/http(s)/srt URL, "
                                    "lavfi:GRAPH (e.g. lavfi:testsrc2=size=640x360:rate=30), or a file")
    p.add_argument("--config", help="a YAML preset: a path, or a shipped name (live_webcam); flags override it")
    add_model_args(p, strength=False)
    add_engine_args(p)
    p.add_argument("--display", action="store_true", default=None, help="show a preview window (q/Esc quits)")
    p.add_argument("--no-display", dest="display", action="store_false", help="no preview (overrides a preset)")
    p.add_argument("--side-by-side", action="store_true", default=None,
                   help="in the preview, show bicubic beside the model")
    p.add_argument("--preview-http", metavar="HOST:PORT",
                   help="serve a browser preview (page /, /stream.mjpg, /frame.jpg, /stats.json) on this address; "
                        "a bare :PORT or PORT listens on 127.0.0.1 only; with --side-by-side the page starts with "
                        "bicubic beside the model")
    p.add_argument("-o", "--output", dest="outputs", action="append", default=None, metavar="OUT",
                   help="a recording (.mp4/.mkv/.mov/.ts/.flv) or a stream URL (udp://HOST:PORT as MPEG-TS, "
                        "rtmp://...); repeat for several")
    p.add_argument("--overwrite", action="store_true", default=None, help="replace an existing recording")
    p.add_argument("--target-fps", type=float, help="the rate the model must sustain (default: the source's own, "
                                                    "30 when it has none); without --model/--weights the "
                                                    "best-quality candidate that reaches it is chosen at start-up")
    p.add_argument("--candidates", type=lambda s: [c.strip() for c in s.split(",") if c.strip()],
                   help="comma-separated models or checkpoint paths to choose from, best quality first (default: "
                        "the official ones already cached, the shipped defaults, bicubic)")
    p.add_argument("--max-latency-ms", type=float,
                   help="frames older than this when the model is free are dropped (default 1000)")
    p.add_argument("--batch", type=int, help="frames per model call when behind (default 1); used only if the "
                                             "predicted latency stays within --max-latency-ms")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--realtime", action="store_true", default=None,
                   help="pace a network source by its timestamps (files and lavfi always are)")
    p.add_argument("--capture-size", help="camera capture size WxH, e.g. 1280x720")
    p.add_argument("--capture-fps", type=float, help="camera capture rate")
    p.add_argument("--capture-format", help="camera pixel format, e.g. mjpeg or yuyv422 (v4l2 input_format)")
    p.add_argument("--open-timeout", type=float, help="seconds to wait for a stream to answer (default 10)")
    p.add_argument("--read-timeout", type=float, help="seconds without data before the source counts as lost "
                                                      "(default 5)")
    p.add_argument("--no-audio", dest="audio", action="store_false", default=None,
                   help="do not copy the source's audio into the outputs")
    p.add_argument("--codec", help="video encoder for outputs (default libx264)")
    p.add_argument("--preset", help="encoder preset for recordings (default veryfast; streams use ultrafast)")
    p.add_argument("--crf", type=int, help="encoder quality (default 20)")
    p.add_argument("--threads", type=int, help="CPU threads for the model (default: one per core; 1 is often "
                                               "faster for small frames on a busy machine)")
    p.add_argument("--report", help="write the totals and latency percentiles as JSON here")
    # None = not given, so a --config preset's value stands.
    p.set_defaults(func=run, model=None, device=None, precision=None)


def run(args: argparse.Namespace) -> int:
    from pipelines.common.config import load_config, overrides_from_args
    from pipelines.common.stop import Interrupted
    from pipelines.live.config import LiveConfig
    from vsr.errors import VSRError
    from vsr.io.live.preview import display_problem

    cfg = load_config(LiveConfig, args.config, overrides_from_args(args, FLAG_SETTINGS))
    if cfg.display and (problem := display_problem()):
        raise VSRError(problem)  # before the seconds that loading torch takes
    from pipelines.live import run_live, summary_lines, write_report

    result = run_live(cfg, keep_frames=False)
    report = result.report
    for line in summary_lines(report):
        print(line)
    if cfg.report:
        write_report(report, cfg.report)
    if report.error:
        raise VSRError(f"{report.stop_reason} (outputs finalised)")
    if result.signum is not None:
        raise Interrupted(result.signum, "outputs finalised")
    return 0
