"""Seeded fuzzing of `upscale`: damaged files either upscale to a playable output or fail with one line, cleanly.

The inputs are the real clips in ../shared/media, cut to their first few packets (a stream copy, so the codecs and
containers stay the real ones while the files stay small), and three clips made here with media_factory (mp4 with
AAC, mkv with subtitles, webm with VP9 + Opus). Each case takes one clip and one mutation, both picked from the case
number (CLIPS x MUTATIONS are all covered once when CASES is their product), and draws the mutation's details from
a numpy RNG seeded with SEED + case. A case is reproduced alone with `pytest tests/pipelines/test_fuzz.py -k case07`.

The contract checked for every case: exit 0 with an output that decodes (at least one frame, twice the input's
size) and nothing else in the output folder, or exit 2 with a single `error: ...` line and an empty output folder
(hidden temporary files included); never a traceback, a signal death, a hang or another exit code.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from ..conftest import run_cli
from ..media_factory import AudioSpec, SubtitleSpec, make_clip

SEED = 20241313
SHARED_CLIPS = ("big_buck_bunny_432_433.webm", "internal_emulator_transformer_output_270_rotated.mp4",
                "sample.avi", "sample_with_increasing_timestamps_320w_240h_5s.mp4", "sample_with_srt.mkv")
MADE_CLIPS = ("made_aac.mp4", "made_srt.mkv", "made_vp9_opus.webm")
CLIPS = SHARED_CLIPS + MADE_CLIPS
MUTATIONS = ("flip", "zero", "truncate", "duplicate", "shuffle")
CASES = len(CLIPS) * len(MUTATIONS)  # 40: every (clip, mutation) pair once (8 and 5 are coprime)
CUT_VIDEO_PACKETS = 10  # the shared clips are cut to this many video packets (and what is muxed between them)
# (case, seed base) pairs found by wider sweeps, kept: 2000/3 made a moov whose video codec FFmpeg cannot name.
REGRESSIONS = [(3, 2000)]
RUNS = [(case, SEED) for case in range(CASES)] + REGRESSIONS
CASE_TIMEOUT_S = 60  # a run past this is a hang
ARGS = ("--model", "bicubic", "--scale", "2", "--frames", "8", "--no-progress")


@dataclass(frozen=True)
class Base:
    path: Path
    sha256: str
    size: tuple[int, int]  # width, height of the first decoded frame
    original: Path | None = None  # the ../shared clip it was cut from
    original_sha256: str | None = None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _first_frame_size(path: Path) -> tuple[int, int] | None:
    try:
        with av.open(str(path)) as c:
            for frame in c.decode(video=0):
                return frame.width, frame.height
    except (av.FFmpegError, IndexError, ValueError):
        return None
    return None


def _cut(src: Path, dst: Path, video_packets: int = CUT_VIDEO_PACKETS) -> Path:
    """A stream copy of the start of `src`: its first `video_packets` video packets and what is muxed among them."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        streams = [s for s in inp.streams if s.type in ("video", "audio", "subtitle")]
        mapped = {s.index: out.add_stream_from_template(s) for s in streams}
        video, seen = inp.streams.video[0].index, 0
        for packet in inp.demux(streams):
            if packet.dts is None and packet.size == 0:
                continue  # the flush packet at the end of a stream
            if packet.stream.index == video:
                seen += 1
                if seen > video_packets:
                    break
            packet.stream = mapped[packet.stream.index]
            out.mux(packet)
    return dst


def _make(name: str, folder: Path) -> Path:
    path = folder / name
    subs = [SubtitleSpec([(0, 200, "first line"), (240, 200, "second line")])]
    if name == "made_aac.mp4":
        return make_clip(path, frames=10, audio=[AudioSpec(layout="mono")])
    if name == "made_srt.mkv":
        return make_clip(path, frames=10, audio=[AudioSpec()], subtitles=subs)
    return make_clip(path, frames=10, codec="libvpx-vp9", options={"deadline": "realtime", "cpu-used": "8"},
                     audio=[AudioSpec(codec="libopus")])


@pytest.fixture(scope="module")
def bases(shared: Path, tmp_path_factory) -> dict[str, Base]:
    folder = tmp_path_factory.mktemp("fuzz_bases")
    out: dict[str, Base] = {}
    for name in SHARED_CLIPS:
        original = shared / "media" / name
        original_sha = _sha256(original)
        path = _cut(original, folder / f"cut_{name}")
        out[name] = Base(path, _sha256(path), _first_frame_size(path), original, original_sha)
    for name in MADE_CLIPS:
        path = _make(name, folder)
        out[name] = Base(path, _sha256(path), _first_frame_size(path))
    return out


def _span(rng: np.random.Generator, n: int, low: int, high: int) -> tuple[int, int]:
    """A random [start, end) inside n bytes, its length in [low, high]."""
    length = int(rng.integers(low, max(low + 1, min(high, n // 2) + 1)))
    start = int(rng.integers(0, max(1, n - length)))
    return start, start + length


def mutate(data: bytes, kind: str, rng: np.random.Generator) -> tuple[bytes, str]:
    """`data` damaged one way; returns the damaged bytes and a description that says exactly what was done."""
    buf = bytearray(data)
    n = len(buf)
    if kind == "flip":
        where = np.sort(rng.choice(n, size=int(rng.integers(1, 33)), replace=False))
        for pos in where:
            buf[pos] ^= int(rng.integers(1, 256))
        return bytes(buf), f"flip {len(where)} bytes at {where.tolist()}"
    if kind == "zero":
        a, b = _span(rng, n, 16, 4096)
        buf[a:b] = bytes(b - a)
        return bytes(buf), f"zero [{a}, {b})"
    if kind == "truncate":
        end = int(rng.integers(1, n))
        return bytes(buf[:end]), f"truncate to {end} of {n} bytes"
    if kind == "duplicate":
        a, b = _span(rng, n, 64, 8192)
        at = int(rng.integers(0, n))
        return bytes(buf[:at] + buf[a:b] + buf[at:]), f"duplicate [{a}, {b}) at {at}"
    if kind == "shuffle":
        a, b = _span(rng, n, 1024, 32768)
        pieces = int(rng.integers(3, 9))
        cuts = np.linspace(a, b, pieces + 1).astype(int)
        order = rng.permutation(pieces)
        while (order == np.arange(pieces)).all():
            order = rng.permutation(pieces)
        chunks = [buf[cuts[i]: cuts[i + 1]] for i in range(pieces)]
        buf[a:b] = b"".join(chunks[i] for i in order)
        return bytes(buf), f"shuffle [{a}, {b}) in {pieces} chunks, order {order.tolist()}"
    raise ValueError(kind)


def _check_output(out: Path, expected: set[tuple[int, int]], why: str) -> None:
    assert [p.name for p in out.parent.iterdir()] == [out.name], f"{why}: extra files beside the output"
    try:
        with av.open(str(out)) as c:
            sizes = [(f.width, f.height) for f in c.decode(video=0)]
    except av.FFmpegError as exc:
        pytest.fail(f"{why}: exit 0 but the output does not decode: {exc}")
    assert sizes, f"{why}: exit 0 but the output has no frames"
    assert set(sizes) <= expected, f"{why}: output frames {sorted(set(sizes))}, expected one of {sorted(expected)}"


def _check_failure(result: subprocess.CompletedProcess, out: Path, why: str) -> None:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.rstrip().splitlines()[-1] == errors[0], \
        f"{why}: exit 2 without exactly one final `error:` line"
    assert not out.exists(), f"{why}: exit 2 but the output exists"
    left = sorted(p.name for p in out.parent.iterdir())
    assert left == [], f"{why}: exit 2 left files in the output folder: {left}"


@pytest.mark.parametrize("case, seed_base", RUNS, ids=[f"case{i:02d}-{CLIPS[i % len(CLIPS)]}-"
                                                      f"{MUTATIONS[i % len(MUTATIONS)]}-{b}" for i, b in RUNS])
def test_a_damaged_file_upscales_or_fails_cleanly(case: int, seed_base: int, bases: dict[str, Base],
                                                  tmp_path: Path) -> None:
    name, kind, seed = CLIPS[case % len(CLIPS)], MUTATIONS[case % len(MUTATIONS)], seed_base + case
    base = bases[name]
    data, what = mutate(base.path.read_bytes(), kind, np.random.default_rng(seed))
    src = tmp_path / f"mut{base.path.suffix}"
    src.write_bytes(data)
    src_sha = _sha256(src)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "OUT.mp4"
    why = f"case {case} (seed {seed}): {name}, {what}"
    try:
        result = run_cli("upscale", str(src), "-o", str(out), *ARGS, timeout=CASE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{why}: no answer within {CASE_TIMEOUT_S} s (a hang)")
    why = f"{why}; rc {result.returncode}; stderr:\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, why
    assert result.returncode in (0, 2), why
    if result.returncode == 0:
        sizes = {base.size, _first_frame_size(src)} - {None}
        _check_output(out, {(2 * w, 2 * h) for w, h in sizes}, why)
    else:
        _check_failure(result, out, why)
    assert _sha256(src) == src_sha, f"{why}: the input was modified"
    assert _sha256(base.path) == base.sha256, f"{why}: the clip it was copied from was modified"
    if base.original is not None:
        assert _sha256(base.original) == base.original_sha256, f"{why}: {base.original} was modified"


def test_the_mutations_are_reproducible_and_change_the_bytes() -> None:
    data = bytes(range(256)) * 200
    for kind in MUTATIONS:
        first = mutate(data, kind, np.random.default_rng(SEED))
        assert first == mutate(data, kind, np.random.default_rng(SEED)), kind
        assert first[0] != data, kind
