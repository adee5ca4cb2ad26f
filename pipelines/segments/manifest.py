"""The manifest: what a work directory holds and for which input and settings, so that a run can resume.

`manifest.json` records the input's fingerprint, the settings, every segment's range and frame count, and for
finished segments the size and SHA-256 of their file. A segment counts as done only when its file exists and
matches the checksum; anything else is redone.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipelines.common.settings import UpscaleConfig
from pipelines.segments.plan import Segment
from vsr.errors import InputError
from vsr.fs import sha256_file, write_json_atomic

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_SAMPLE = 1 << 20  # bytes hashed at the start, middle and end of the input for its fingerprint


def input_fingerprint(path: Path) -> dict[str, Any]:
    """Size plus a hash of 1 MiB at the start, middle and end: cheap for hours of video, and a different encode
    or a cut file changes it. (Not the modification time: a copied file must still resume.)"""
    size = path.stat().st_size
    h = hashlib.sha256()
    with path.open("rb") as f:
        for offset in sorted({0, max(0, size // 2 - _SAMPLE // 2), max(0, size - _SAMPLE)}):
            f.seek(offset)
            h.update(f.read(_SAMPLE))
    return {"size": size, "sample_sha256": h.hexdigest()}



def settings_of(cfg: UpscaleConfig, model_source: str, scale: int, ext: str) -> dict[str, Any]:
    """What decides the output's pixels and format. Batch, queues, threads and the device do not: a segment
    may run on any worker."""
    settings: dict[str, Any] = {
        "format_version": FORMAT_VERSION, "model": cfg.model.name, "weights": cfg.model.weights, "scale": scale,
        "model_source": model_source, "precision": cfg.engine.precision, "tile": cfg.engine.tile,
        "encode": asdict(cfg.encode), "container": ext,
    }
    source = Path(model_source)
    if source.is_file():  # a retrained default or a replaced checkpoint must not mix with old segments
        stat = source.stat()
        settings["model_file"] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return settings


def settings_hash(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def settings_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    a, b = _flat(old), _flat(new)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]



@dataclass
class Manifest:
    input: str
    output: str
    fingerprint: dict[str, Any]
    settings: dict[str, Any]
    time_base: list[int]
    segments: list[Segment] = field(default_factory=list)
    format_version: int = FORMAT_VERSION
    settings_hash: str = ""  # SHA-256 of `settings` (canonical JSON): tells two work directories apart at a glance

    def __post_init__(self) -> None:
        self.settings_hash = settings_hash(self.settings)

    def save(self, work_dir: Path) -> None:
        """Atomically: a crash while saving leaves the previous manifest."""
        write_json_atomic(work_dir / MANIFEST, asdict(self), indent=1)

    @classmethod
    def load(cls, work_dir: Path) -> Manifest | None:
        path = work_dir / MANIFEST
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            data["segments"] = [Segment(**s) for s in data["segments"]]
            return cls(**data)
        except (ValueError, TypeError, KeyError):
            return None  # unreadable: treated as no previous work

    @property
    def reused_frames(self) -> int:
        return sum(s.frames for s in self.segments if s.done)


def default_work_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.vsr-work"


def verify_segment(work_dir: Path, seg: Segment) -> str | None:
    """None when the segment's file is complete and matches the manifest; else why not."""
    if not seg.done:
        return "not finished"
    path = work_dir / seg.file
    if not path.is_file():
        return "its file is missing"
    if seg.size is not None and path.stat().st_size != seg.size:
        return f"its file has {path.stat().st_size} bytes, the manifest says {seg.size} (checksum mismatch)"
    if sha256_file(path) != seg.sha256:
        return "its file does not match the checksum in the manifest"
    return None


@contextlib.contextmanager
def locked(work_dir: Path) -> Iterator[None]:
    """One run per work directory: a second run on the same output would overwrite segments under the first."""
    with (work_dir / ".lock").open("w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{work_dir}: another run is using this work directory") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def clean_partials(work_dir: Path) -> None:
    """Temporary files of a run that was killed (the lock says no run is active)."""
    for p in [*work_dir.glob(".*.part"), *work_dir.glob(".*.part.*"), *work_dir.glob("seg*.running")]:
        p.unlink(missing_ok=True)


def remove_work(work_dir: Path, manifest: Manifest) -> None:
    """Only the files this work made (a --work-dir may hold other things), then the folder if that emptied it."""
    clean_partials(work_dir)
    for seg in manifest.segments:
        (work_dir / seg.file).unlink(missing_ok=True)
    for name in (MANIFEST, ".lock"):
        (work_dir / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        work_dir.rmdir()
