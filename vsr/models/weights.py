"""Weights cache: download once, verify, write atomically; a user's path always wins."""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from vsr.errors import ConfigError, InputError, ModelError
from vsr.fs import atomic_path, sha256_file
from vsr.models.checkpoint import extract_state_dict, load_file
from vsr.models.registry import ModelEntry

CACHE_ENV = "VSR_CACHE_DIR"
# A mirror (or a local server in tests): each official file is fetched by its file name from this base address.
MIRROR_ENV = "VSR_WEIGHTS_URL"
_BLOCK = 1 << 20


def cache_dir() -> Path:
    """$VSR_CACHE_DIR, else $XDG_CACHE_HOME/vsr/weights, else ~/.cache/vsr/weights."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vsr" / "weights"


def cached_path(entry: ModelEntry) -> Path:
    return cache_dir() / entry.filename


def is_cached(entry: ModelEntry) -> bool:
    return entry.url is not None and cached_path(entry).is_file()


def download_url(entry: ModelEntry) -> str | None:
    """The official address of `entry`'s weights, or the same file name under $VSR_WEIGHTS_URL when set."""
    mirror = os.environ.get(MIRROR_ENV)
    if entry.url is None or not mirror:
        return entry.url
    return f"{mirror.rstrip('/')}/{entry.url.rsplit('/', 1)[-1]}"


def fetch_weights(entry: ModelEntry, url: str | None = None, timeout_s: float = 30.0) -> Path:
    """Return the cached file for `entry`, downloading it first if needed.

    The download goes to a temporary file in the cache directory and is renamed into place only after its
    checksum (where known) and its contents (a loadable state dict) are verified, so an interrupted or bad
    download never leaves a file that later loads as a model.
    """
    url = url or download_url(entry)
    if url is None:
        raise ModelError(f"model {entry.name!r} has no weights to download")
    target = cached_path(entry)
    if target.is_file():
        return target
    hint = f"set {CACHE_ENV} elsewhere"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write to the weights cache {target.parent} ({exc.strerror or exc})",
                          hint=hint) from None
    try:
        with atomic_path(target) as tmp:  # renamed over `target` only if the block ends without an error
            _download(entry, url, tmp, timeout_s)
            _verify(entry, url, tmp)
    except InputError as exc:  # from atomic_path: the cache folder cannot be written to
        raise ConfigError(f"cannot write to the weights cache: {exc.message}", hint=hint) from None
    return target


def _download(entry: ModelEntry, url: str, dest: Path, timeout_s: float) -> None:
    """`url` into `dest`; any network failure, a short body included, is one error naming the address."""
    received, expected = 0, None
    try:
        with open(dest, "wb") as out, urllib.request.urlopen(url, timeout=timeout_s) as resp:
            expected = resp.headers.get("Content-Length")
            while block := resp.read(_BLOCK):
                out.write(block)
                received += len(block)
        if expected is not None and expected.isdigit() and received < int(expected):
            raise http.client.IncompleteRead(b"", int(expected) - received)
    # http.client.HTTPException covers a connection closed before Content-Length bytes (IncompleteRead).
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(exc, http.client.IncompleteRead):
            reason = f"the connection closed after {received:,} of {expected} bytes"
        raise ModelError(f"cannot download {entry.name} from {url} ({reason})",
                         hint="download it yourself and pass {weights} PATH") from None


def _verify(entry: ModelEntry, url: str, path: Path) -> None:
    """The published checksum (where known), then a loadable state dict."""
    if entry.sha256 and (got := sha256_file(path)) != entry.sha256:
        raise ModelError(
            f"download of {entry.name} from {url} has sha256 {got[:12]}..., expected {entry.sha256[:12]}..."
        )
    try:
        obj = load_file(path)
    except ModelError:
        raise ModelError(f"download of {entry.name} from {url} is not a PyTorch checkpoint") from None
    extract_state_dict(obj, source=url)
