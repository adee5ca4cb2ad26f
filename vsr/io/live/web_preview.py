"""The browser preview of a live run: a small HTTP server for machines without a screen.

  /             a page with the live picture and the live figures
  /stream.mjpg  the upscaled picture as multipart MJPEG (?compare=1: bicubic beside the model)
  /frame.jpg    the newest output frame (?compare=1 as above)
  /stats.json   the run's counters, the same fields as the report

The live loop only hands over references to its newest frames (`publish`); JPEG encoding happens in the client
threads, once per frame and view however many clients watch, and a slow client skips frames instead of holding
anything back. Binds loopback unless told otherwise: the picture may be a private camera.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np

from vsr.errors import ConfigError

BOUNDARY = "vsr-frame"
JPEG_QUALITY = 85
FIGURES_EVERY_S = 0.5
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vsr live: {title}</title>
<style>
body {{ background: #111; color: #ddd; font: 14px system-ui, sans-serif; margin: 0; padding: 12px; }}
img {{ max-width: 100%; display: block; background: #000; }}
#figures {{ margin-top: 8px; font-variant-numeric: tabular-nums; }}
</style></head>
<body>
<h1 style="font-size:16px;margin:0 0 8px">vsr live: {title}</h1>
<label><input type="checkbox" id="compare"{checked}> bicubic beside the model</label>
<img id="live" alt="live upscaled picture" src="/stream.mjpg{query}">
<div id="figures">waiting for the first frame</div>
<script>
const img = document.getElementById("live"), figures = document.getElementById("figures");
document.getElementById("compare").addEventListener("change", e => {{
  img.src = "/stream.mjpg" + (e.target.checked ? "?compare=1" : "");
}});
async function refresh() {{
  try {{
    const s = await (await fetch("/stats.json", {{cache: "no-store"}})).json();
    const ms = v => v === null ? "-" : v.toFixed(0) + " ms";
    figures.textContent = `${{s.model}} ${{s.precision}} | ${{s.source_size.join("x")}} -> ${{s.output_size.join("x")}}`
      + ` | processed ${{s.processed}} (${{s.processed_fps.toFixed(1)}} fps) of ${{s.captured}} captured`
      + ` | dropped ${{s.dropped}} | latency p50 ${{ms(s.latency_ms_p50)}} p95 ${{ms(s.latency_ms_p95)}}`;
  }} catch (err) {{ figures.textContent = "the live run has ended"; }}
}}
refresh(); setInterval(refresh, 1000);
</script>
</body></html>
"""


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT (or :PORT, or PORT, on loopback); a one-line ConfigError otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{{preview_http}} {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host, int(port)


class _Frames:
    """The newest published frame and its JPEGs, shared by the live loop and the client threads."""

    def __init__(self, side_by_side: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        self._cond = threading.Condition()  # the newest frame and its number (publish, wait_newer)
        self._encoding = threading.Lock()  # the JPEG cache (jpeg)
        self._side_by_side = side_by_side
        self.seq = 0
        self.closed = False
        self._frame: tuple[np.ndarray, np.ndarray] | None = None
        self._jpegs: dict[bool, tuple[int, bytes]] = {}

    def publish(self, upscaled: np.ndarray, source: np.ndarray) -> None:
        with self._cond:
            self._frame = (upscaled, source)
            self.seq += 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def wait_newer(self, seq: int, timeout: float) -> int:
        """The newest frame number once it is past `seq` (or after `timeout`: the same `seq`)."""
        with self._cond:
            self._cond.wait_for(lambda: self.seq > seq or self.closed, timeout=timeout)
            return self.seq

    def jpeg(self, compare: bool) -> tuple[int, bytes] | None:
        """(frame number, JPEG) of the newest frame in this view, encoded at most once per frame: one encoder at a
        time, so browsers asking together share one encoding (publish never waits for it)."""
        import cv2

        with self._encoding:
            with self._cond:
                if self._frame is None:
                    return None
                seq, (upscaled, source) = self.seq, self._frame
                cached = self._jpegs.get(compare)
            if cached is not None and cached[0] == seq:
                return cached
            picture = self._side_by_side(upscaled, source) if compare else np.ascontiguousarray(upscaled[..., ::-1])
            ok, buf = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                return None
            self._jpegs[compare] = (seq, buf.tobytes())
            return self._jpegs[compare]


class _Server(HTTPServer):
    """One named thread per client, all joined at close (a thread per connection: MJPEG streams are long)."""

    daemon_threads = False

    def __init__(self, address: tuple[str, int], preview: WebPreview) -> None:
        self.preview = preview
        self.clients: list[threading.Thread] = []
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)

    def process_request(self, request, client_address) -> None:
        self.clients = [t for t in self.clients if t.is_alive()]
        t = threading.Thread(target=self._serve_client, args=(request, client_address), name="vsr-preview-client")
        self.clients.append(t)
        t.start()

    def _serve_client(self, request, client_address) -> None:
        try:
            self.finish_request(request, client_address)
        except OSError:
            pass  # the browser went away
        finally:
            self.shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        for t in self.clients:
            t.join()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5.0  # a client that stops reading cannot hold its thread (or the run's end) for longer
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass  # the live status line is the log; access logs would scroll it away

    def do_GET(self) -> None:  # noqa: N802 (the base class's name)
        url = urlsplit(self.path)
        compare = parse_qs(url.query).get("compare", ["0"])[0] not in ("0", "", "false")
        preview = self.server.preview
        if url.path == "/":
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", preview.page().encode())
        elif url.path == "/stats.json":
            self._send(HTTPStatus.OK, "application/json", json.dumps(preview.current_figures()).encode())
        elif url.path == "/frame.jpg":
            jpeg = preview.frames.jpeg(compare)
            if jpeg is None:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"no frame yet\n")
            else:
                self._send(HTTPStatus.OK, "image/jpeg", jpeg[1])
        elif url.path == "/stream.mjpg":
            self._stream(compare)
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found: try / /stream.mjpg /frame.jpg /stats.json\n")

    def _send(self, status: HTTPStatus, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, compare: bool) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        frames, sent = self.server.preview.frames, 0
        while not frames.closed:
            if frames.wait_newer(sent, timeout=0.5) == sent:
                continue
            jpeg = frames.jpeg(compare)
            if jpeg is None:
                continue
            sent, body = jpeg
            self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n\r\n"
                             .encode() + body + b"\r\n")
            self.wfile.flush()


class WebPreview:
    """The preview server: `bind()` takes the port (so a busy one is refused before the camera opens), `serve()`
    answers on its own thread, `publish()` hands it the newest frame, `close()` ends every stream and joins every
    thread."""

    def __init__(self, address: str, title: str, figures: Callable[[], dict],
                 side_by_side: Callable[[np.ndarray, np.ndarray], np.ndarray], compare_default: bool = False) -> None:
        self.host, self.port = parse_address(address)
        self.title = title
        self.figures = figures
        self.compare_default = compare_default
        self.frames = _Frames(side_by_side)
        self._figures_lock = threading.Lock()
        self._figures: tuple[float, dict] | None = None  # (when, figures): computed at most every FIGURES_EVERY_S
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def bind(self) -> None:
        try:
            self._server = _Server((self.host, self.port), self)
        except OSError as exc:
            raise ConfigError(f"{{preview_http}} {self.host}:{self.port}: cannot listen there ({exc.strerror})",
                              hint="pick another port, or free this one") from None
        self.port = self._server.server_address[1]  # port 0: the one the system chose

    def serve(self) -> None:
        """Answers requests from now on (those that came since `bind` waited in the listen queue)."""
        assert self._server is not None, "bind() first"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="vsr-preview-http")
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def page(self) -> str:
        import html

        return PAGE.format(title=html.escape(self.title), checked=" checked" if self.compare_default else "",
                           query="?compare=1" if self.compare_default else "")

    def publish(self, upscaled: np.ndarray, source: np.ndarray) -> None:
        self.frames.publish(upscaled, source)

    def current_figures(self) -> dict:
        """The run's figures, shared by every browser for FIGURES_EVERY_S (the percentiles cover the whole run)."""
        with self._figures_lock:
            now = time.monotonic()
            if self._figures is None or now - self._figures[0] >= FIGURES_EVERY_S:
                self._figures = (now, self.figures())
            return self._figures[1]

    def close(self) -> None:
        self.frames.close()
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
                self._thread.join()
                self._thread = None
            self._server.server_close()
            self._server = None
