"""Downloading official weights into the cache, from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

from vsr.errors import VSRError
from vsr.fs import sha256_file
from vsr.models import REGISTRY, resolve_model
from vsr.models.weights import fetch_weights

from ..conftest import SHARED, run_cli

ENTRY = REGISTRY["safmnpp-light-x4"]
FILENAME = ENTRY.url.rsplit("/", 1)[-1]  # light_safmnpp.pth, as the mirror serves it


class Server:
    """http.server in a thread, serving one folder; records the paths requested. `truncate` sends a valid
    Content-Length but only half of the bytes, then closes the connection."""

    def __init__(self, root: Path, truncate: bool = False) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                if not truncate:
                    return super().do_GET()
                data = (root / self.path.lstrip("/")).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("VSR_CACHE_DIR", str(path))
    return path


def serve_dir(tmp_path: Path, source: Path, cut: int | None = None) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    data = source.read_bytes()
    (root / FILENAME).write_bytes(data if cut is None else data[:cut])
    return root


def test_first_use_downloads_and_verifies_then_the_cache_serves(tmp_path, cache, monkeypatch):
    root = serve_dir(tmp_path, SHARED / "weights" / "ais2024_light_safmnpp_x4.pth")
    with Server(root) as server:
        monkeypatch.setenv("VSR_WEIGHTS_URL", server.url)
        path = fetch_weights(ENTRY)
        assert server.requests == [f"/{FILENAME}"]
        assert path.parent == cache and sha256_file(path) == ENTRY.sha256
        assert sorted(p.name for p in cache.iterdir()) == [path.name]  # no temporary left behind
        again = resolve_model("safmnpp-light-x4")  # by name: from the cache, no second request
        assert server.requests == [f"/{FILENAME}"]
        assert again.source == str(path) and again.arch == ENTRY.arch


@pytest.mark.parametrize("case", ["wrong file", "short file", "connection cut"])
def test_bad_downloads_leave_nothing_and_give_one_line(tmp_path, cache, case):
    light = SHARED / "weights" / "ais2024_light_safmnpp_x4.pth"
    if case == "wrong file":  # a valid checkpoint, but not the published one
        root = serve_dir(tmp_path, SHARED / "weights" / "ntire2023_safmn_x4.pth")
    elif case == "short file":  # the server sends fewer bytes, and says so
        root = serve_dir(tmp_path, light, cut=100_000)
    else:
        root = serve_dir(tmp_path, light)
    with Server(root, truncate=case == "connection cut") as server:
        with pytest.raises(VSRError) as exc:
            fetch_weights(ENTRY, url=f"{server.url}/{FILENAME}")
    message = str(exc.value)
    assert "\n" not in message and server.url in message
    assert ("sha256" in message) if case != "connection cut" else ("cannot download" in message)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_offline_is_a_one_line_error_naming_the_address_and_weights(tmp_path, cache):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, VSR_CACHE_DIR=str(cache), VSR_WEIGHTS_URL=f"http://127.0.0.1:{port}")
    out = tmp_path / "out.png"
    result = run_cli("image", str(SHARED / "data" / "set5" / "bird.png"), "-o", str(out),
                     "--model", "safmnpp-light-x4", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"http://127.0.0.1:{port}/{FILENAME}" in lines[0] and "--weights" in lines[0]
    assert not out.exists()
    assert not cache.exists() or list(cache.iterdir()) == []
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
