"""The browser preview of live mode (--preview-http): a real server on loopback, read by a plain HTTP client and
rendered by headless Chromium.

The source is a flat colour, so every check of the picture is exact up to JPEG: bicubic of a flat colour is that
colour, and the screenshot must show it where the page puts the picture.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipelines.live.report import LiveReport
from vsr.errors import ConfigError
from vsr.io.live.web_preview import WebPreview, parse_address

from ..conftest import ROOT, run_cli

GREEN = (0x20, 0xC0, 0x40)  # RGB of the source
SOURCE = f"lavfi:color=c=0x{GREEN[0]:02x}{GREEN[1]:02x}{GREEN[2]:02x}:size=160x90:rate=30"


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_live(tmp_path: Path, port: int, duration: float, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run_pipeline.py"), "live", "--source", SOURCE, "--model", "bicubic",
         "--scale", "2", "--threads", "1", "--duration", str(duration), "--preview-http", f"127.0.0.1:{port}",
         "--report", str(tmp_path / "report.json"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)


def get(url: str, timeout: float = 5.0) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def wait_for_frames(base: str, proc: subprocess.Popen, limit_s: float = 60.0) -> None:
    """Until the preview has a frame (start-up imports torch first)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if get(base + "frame.jpg", timeout=1.0)[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise AssertionError("the preview never served a frame")


def decode_jpeg(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a JPEG"
    return img[..., ::-1]  # RGB


def assert_green(rgb: np.ndarray) -> None:
    assert np.abs(rgb.reshape(-1, 3).astype(int) - GREEN).max() <= 6


def read_mjpeg_parts(port: int, n: int) -> list[bytes]:
    """The first `n` JPEGs of /stream.mjpg, parsed by their part headers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/stream.mjpg")
    r = conn.getresponse()
    assert r.status == 200
    kind = r.getheader("Content-Type")
    assert kind.startswith("multipart/x-mixed-replace; boundary=")
    boundary = kind.split("boundary=")[1].encode()
    parts = []
    while len(parts) < n:
        assert r.readline().strip() == b"--" + boundary
        headers = {}
        while (line := r.readline().strip()):
            key, value = line.decode().split(":", 1)
            headers[key.lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        parts.append(r.read(int(headers["content-length"])))
        assert r.read(2) == b"\r\n"
    conn.close()
    return parts


def test_preview_serves_page_frames_stream_and_figures_then_closes(tmp_path):
    port = free_tcp_port()
    proc = start_live(tmp_path, port, 8.0)
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_for_frames(base, proc)
        status, kind, page = get(base)
        assert status == 200 and kind.startswith("text/html")
        assert b"/stream.mjpg" in page and b"/stats.json" in page and SOURCE.encode() in page

        status, kind, jpeg = get(base + "frame.jpg")
        assert kind == "image/jpeg"
        frame = decode_jpeg(jpeg)
        assert frame.shape == (180, 320, 3)  # the upscaled output, not the source
        assert_green(frame)
        side = decode_jpeg(get(base + "frame.jpg?compare=1")[2])
        assert side.shape == (180, 640, 3)  # bicubic | model

        parts = read_mjpeg_parts(port, 3)
        for part in parts:
            assert decode_jpeg(part).shape == (180, 320, 3)

        first = json.loads(get(base + "stats.json")[2])
        assert set(first) == {f.name for f in dataclasses.fields(LiveReport)}  # the report's own counters
        assert first["model"] == "bicubic" and first["output_size"] == [320, 180]
        time.sleep(1.0)
        second = json.loads(get(base + "stats.json")[2])
        assert second["processed"] > first["processed"] > 0
        assert second["captured"] >= second["processed"]

        assert get(base + "nothing-here")[0] == 404

        # A browser that keeps a stream open must not hold the run's end: the stream ends with the run.
        lingering = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        lingering.request("GET", "/stream.mjpg")
        response = lingering.getresponse()
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        response.read()  # returns: the server closed the stream
        lingering.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "browser preview: http://127.0.0.1:" in err
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["processed"] >= second["processed"]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_headless_chromium_shows_the_live_picture(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs Debian's chromium (.ci/run); it is missing")
        pytest.skip("no chromium here (apt-get install chromium)")
    port = free_tcp_port()
    proc = start_live(tmp_path, port, 20.0)
    shot = tmp_path / "shot.png"
    try:
        wait_for_frames(f"http://127.0.0.1:{port}/", proc)
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=800,600",
                        "--virtual-time-budget=3000", f"--user-data-dir={tmp_path / 'profile'}",
                        f"--screenshot={shot}", f"http://127.0.0.1:{port}/"],
                       capture_output=True, timeout=60, check=True)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    img = cv2.imread(str(shot))[..., ::-1]
    green = np.all(np.abs(img.astype(int) - GREEN) <= 8, axis=-1)
    ys, xs = np.nonzero(green)
    # The page shows the 320x180 output at its size: a green rectangle of that size and nothing green elsewhere.
    assert xs.max() - xs.min() + 1 == pytest.approx(320, abs=2)
    assert ys.max() - ys.min() + 1 == pytest.approx(180, abs=2)
    assert green.sum() == pytest.approx(320 * 180, rel=0.03)


def test_preview_binds_loopback_unless_a_host_is_named():
    assert parse_address("8080") == ("127.0.0.1", 8080)
    assert parse_address(":8080") == ("127.0.0.1", 8080)
    assert parse_address("0.0.0.0:81") == ("0.0.0.0", 81)
    assert parse_address("[::1]:81") == ("::1", 81)
    for bad in ("host:", "host:port", "1:99999"):
        with pytest.raises(ConfigError, match="expected HOST:PORT"):
            parse_address(bad)
    preview = WebPreview(":0", "t", dict, lambda a, b: a)
    preview.bind()
    try:
        assert preview._server.server_address[0] == "127.0.0.1" and preview.port > 0
    finally:
        preview.close()


def test_busy_port_is_refused_before_the_source_opens(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        p = run_cli("live", "--source", SOURCE, "--model", "bicubic", "--duration", "1", "--preview-http",
                    f"127.0.0.1:{port}", "-o", str(tmp_path / "rec.mp4"), timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        f"error: --preview-http 127.0.0.1:{port}: cannot listen there (Address already in use); pick another port, "
        "or free this one"]
    assert list(tmp_path.iterdir()) == []


def test_bad_preview_address_is_a_one_line_error(tmp_path):
    p = run_cli("live", "--source", SOURCE, "--model", "bicubic", "--preview-http", "localhost:http", timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "error: --preview-http 'localhost:http': expected HOST:PORT, e.g. 127.0.0.1:8080"]
