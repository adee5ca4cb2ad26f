"""`upscale -` and `-o -`: streams on real OS pipes, with a PyAV process muxing into or reading from the other end
(as `ffmpeg -f nut -`, `vspipe -c y4m` or a player would): formats, timestamps, audio, subtitles, a reader that
goes away, stalled pipes and signals, and the refusals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.common.notices import Notices
from pipelines.common.settings import UpscaleConfig
from pipelines.upscale import run_upscale

from ..conftest import ROOT
from ..media_factory import AudioSpec, SubtitleSpec, decode_info, make_clip

# Muxes a file's streams into OUT ("-": stdout) in FORMAT, as ffmpeg -i SRC -c copy -f FORMAT - does; y4m is the
# decoded video alone (ffmpeg -f yuv4mpegpipe, vspipe -c y4m). Streams FORMAT cannot hold are left out.
PRODUCER = r"""
import sys, av
src, fmt, out = sys.argv[1:4]
with av.open(src) as i, av.open(sys.stdout.buffer if out == "-" else out, "w", format=fmt) as o:
    if fmt == "yuv4mpegpipe":
        v = i.streams.video[0]
        s = o.add_stream("wrapped_avframe", rate=v.average_rate)
        s.width, s.height, s.pix_fmt = v.width, v.height, v.codec_context.pix_fmt
        for f in [*i.decode(v), None]:
            for p in s.encode(f):
                o.mux(p)
    else:
        m = {}
        for st in i.streams:
            try:
                m[st.index] = o.add_stream_from_template(st)
            except ValueError:
                pass
        for p in i.demux():
            if p.size and p.stream_index in m:
                p.stream = m[p.stream_index]
                o.mux(p)
"""
# Reads the stream on stdin into a file (a player's end of the pipe); with a byte count, it closes early.
READER = r"""
import os, sys
out, limit = sys.argv[1], int(sys.argv[2])
with open(out, "wb") as f:
    while data := os.read(0, 65536 if limit < 0 else limit - f.tell()):
        f.write(data)
        if 0 <= limit <= f.tell():
            break
"""
BICUBIC = ["--model", "bicubic", "--scale", "2", "--preset", "ultrafast", "--no-progress"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("pipes") / "in.mkv", frames=12, audio=[AudioSpec()],
                     subtitles=[SubtitleSpec([(0, 200, "Hello"), (240, 160, "World")])])


def producer(src: Path, fmt: str, out: str = "-", **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PRODUCER, str(src), fmt, out], stdout=subprocess.PIPE, **kw)


def cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "run_pipeline.py"), "upscale", *args, *BICUBIC],
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, **kw)


@contextmanager
def fd_as(fd: int, target: int) -> Iterator[None]:
    """`fd` as this process's stdin or stdout (`target` 0 or 1) for an in-process run."""
    saved = os.dup(target)
    os.dup2(fd, target)
    try:
        yield
    finally:
        os.dup2(saved, target)
        os.close(saved)


def bicubic() -> UpscaleConfig:
    cfg = UpscaleConfig()
    cfg.model.name, cfg.model.scale = "bicubic", 2
    cfg.engine.precision = "fp32"
    cfg.encode.preset = "ultrafast"
    return cfg


def times(info: dict) -> list[Fraction]:
    return [round(t, 3) for t in info["times"]]


@pytest.mark.parametrize("fmt", ["nut", "matroska", "mpegts", "yuv4mpegpipe"])
def test_stdin_stream_keeps_frames_timestamps_and_other_streams(tmp_path: Path, clip: Path, fmt: str) -> None:
    """Probe and decode share the one read of the pipe: every frame comes out, at the stream's timestamps."""
    same = tmp_path / f"same.{fmt}"  # what the producer sends, written to a file to compare with
    assert producer(clip, fmt, str(same)).wait() == 0
    proc = producer(clip, fmt)
    out = tmp_path / "out.mkv"
    with fd_as(proc.stdout.fileno(), 0):
        report = run_upscale(Path("-"), out, bicubic(), progress=False, notices=Notices(echo=False))
    proc.stdout.close()
    assert proc.wait() == 0
    sent, got = decode_info(same), decode_info(out)
    assert got["frames"] == sent["frames"] == 12 and report.frames_in == 12
    assert got["size"] == (128, 72)
    if fmt == "yuv4mpegpipe":  # no timestamps in the stream: frames at its constant rate
        assert times(got) == [Fraction(i, 25) for i in range(12)]
    else:
        assert times(got) == times(sent)
    kinds = [s[0] for s in got["streams"]]
    assert kinds == [s[0] for s in decode_info(same)["streams"] if s[0] != "data"]
    assert ("audio" in kinds) == (fmt != "yuv4mpegpipe")
    assert ("subtitle" in kinds) == (fmt == "matroska")
    assert report.input == "stdin" and not list(tmp_path.glob(".*.part*"))


@pytest.mark.parametrize("fmt,pix_fmt", [("mkv", "yuv420p"), ("nut", "yuv420p"), ("y4m", "yuv420p"),
                                         ("y4m", "yuv420p10le")])
def test_stdout_stream_in_each_format(tmp_path: Path, fmt: str, pix_fmt: str) -> None:
    """`-o -` writes the stream as it goes into the pipe (no temporary file), read by another process."""
    deep = "10" in pix_fmt
    src = make_clip(tmp_path / "in.mkv", frames=6, codec="libx265" if deep else "libx264", pix_fmt=pix_fmt,
                    audio=[AudioSpec()], subtitles=[SubtitleSpec([(0, 200, "Hi")])],
                    options={"preset": "ultrafast", "x265-params": "log-level=error"} if deep else None)
    got = tmp_path / f"got.{fmt}"
    r, w = os.pipe()
    reader = subprocess.Popen([sys.executable, "-c", READER, str(got), "-1"], stdin=r)
    os.close(r)
    try:
        with fd_as(w, 1):
            report = run_upscale(src, Path("-"), bicubic(), progress=False, notices=Notices(echo=False),
                                 stream_format=fmt)
    finally:
        os.close(w)
    assert reader.wait() == 0
    info = decode_info(got)
    assert info["frames"] == 6 and info["size"] == (128, 72) and info["pix_fmt"] == pix_fmt
    assert report.output == "stdout" and sorted(os.listdir(tmp_path)) == sorted(["in.mkv", got.name])
    kinds = [s[0] for s in info["streams"]]
    if fmt == "y4m":
        header = got.read_bytes()[:80].split(b"\n")[0].split()
        assert b"F25:1" in header and (b"C420p10" in header) == deep and kinds == ["video"]
    else:
        # (NUT stores no negative timestamps: AAC's priming before 0 shifts every stream alike, as in FFmpeg)
        shift = info["times"][0] if fmt == "nut" else 0
        assert [t - shift for t in times(info)] == times(decode_info(src)) and kinds[:2] == ["video", "audio"]
        assert ("subtitle" in kinds) == (fmt == "mkv")  # NUT cannot hold SubRip: dropped with a notice


def test_ffmpeg_style_chain_nut_in_nut_out(tmp_path: Path, clip: Path) -> None:
    """`ffmpeg -i in -f nut - | vsr upscale - -o - --format nut | ffmpeg -i - ...`: the stream alone on stdout,
    the summary on stderr."""
    got = tmp_path / "got.nut"
    src = producer(clip, "nut")
    reader_in = subprocess.PIPE
    vsr = cli("-", "-o", "-", "--format", "nut", stdin=src.stdout, stdout=reader_in)
    src.stdout.close()
    reader = subprocess.Popen([sys.executable, "-c", READER, str(got), "-1"], stdin=vsr.stdout)
    vsr.stdout.close()
    err = vsr.stderr.read()
    assert vsr.wait(timeout=120) == 0, err
    assert reader.wait() == 0 and src.wait() == 0
    assert "stdin -> stdout" in err and "Traceback" not in err
    info = decode_info(got)
    assert info["frames"] == 12 and [s[0] for s in info["streams"]] == ["video", "audio"]


def test_reader_that_goes_away_ends_the_run_with_one_line(tmp_path: Path) -> None:
    """`| head -c 1000`: the run ends at the first write that finds the pipe closed, with its own exit code."""
    src = make_clip(tmp_path / "long.mkv", frames=60)  # 60 raw frames: far more than a pipe holds
    r, w = os.pipe()
    reader = subprocess.Popen([sys.executable, "-c", READER, str(tmp_path / "head.y4m"), "1000"], stdin=r)
    vsr = cli(str(src), "-o", "-", "--format", "y4m", stdout=w)
    os.close(r)
    os.close(w)
    err = vsr.stderr.read()
    assert vsr.wait(timeout=120) == 141, err
    assert err.strip().splitlines()[-1] == "error: output pipe closed by the reader"
    assert "Traceback" not in err and "Exception ignored" not in err
    assert reader.wait() == 0 and (tmp_path / "head.y4m").stat().st_size == 1000


def _handlers_installed(proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        if next(int(x.split()[1], 16) for x in status.splitlines() if x.startswith("SigCgt")) & 1:
            return
        time.sleep(0.01)
    pytest.fail("the process never installed its signal handlers")


def _stopped(proc: subprocess.Popen, sig: int) -> str:
    proc.send_signal(sig)
    start = time.monotonic()
    err = proc.stderr.read()
    assert proc.wait(timeout=30) == 128 + sig, err
    assert time.monotonic() - start < 4, "a stalled pipe held the stop up"
    assert err.strip().splitlines()[-1] == f"stopped by {'Ctrl-C' if sig == signal.SIGINT else 'SIGTERM'}", err
    assert "Traceback" not in err
    return err


def test_stalled_pipes_still_stop_cleanly(tmp_path: Path, clip: Path) -> None:
    """A producer that sends nothing (the probe waits), one that stalls mid-stream (the decoder waits) and a
    reader that stops reading (the encoder waits): a signal still ends each run at once, nothing left behind."""
    y4m = tmp_path / "in.y4m"  # raw frames: 40 kB (within a pipe's buffer) hold the probe's frame and a few more
    assert producer(make_clip(tmp_path / "long.mkv", frames=60), "yuv4mpegpipe", str(y4m)).wait() == 0
    out = tmp_path / "out" / "o.mkv"
    out.parent.mkdir()
    for sent in (b"", y4m.read_bytes()[:40_000]):
        r, w = os.pipe()
        os.write(w, sent)
        vsr = cli("-", "-o", str(out), stdin=r)
        os.close(r)
        _handlers_installed(vsr)
        deadline = time.monotonic() + 60
        while sent and not list(out.parent.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)  # until the sink's temporary file exists: the stages are waiting for more input
        time.sleep(0.5)
        _stopped(vsr, signal.SIGINT)
        os.close(w)
        assert list(out.parent.iterdir()) == []
    r, w = os.pipe()  # nobody reads r
    vsr = cli(str(y4m), "-o", "-", "--format", "y4m", stdout=w)
    _handlers_installed(vsr)
    time.sleep(2.0)
    _stopped(vsr, signal.SIGTERM)
    os.close(r)
    os.close(w)


def test_refusals_are_one_line(tmp_path: Path, clip: Path, capsys) -> None:
    def error(*argv: str) -> str:
        assert main(["upscale", *argv, *BICUBIC]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err
        return err

    assert "need files" in error("-", "-o", str(tmp_path / "o.mkv"), "--segments", "2")
    assert "need files" in error(str(clip), "-o", "-", "--resume")
    assert "--format is for a stream on stdout" in error(str(clip), "-o", str(tmp_path / "o.mkv"), "--format", "nut")
    assert "--format mp4: use one of mkv, nut, y4m" in error(str(clip), "-o", "-", "--format", "mp4")
    r, w = os.pipe()
    os.write(w, b"this is not a video\n" * 20)
    os.close(w)
    with fd_as(r, 0):
        assert "stdin: not a stream that FFmpeg can read" in error("-", "-o", str(tmp_path / "o.mkv"))
    os.close(r)
    # An MP4 whose index follows 166 kB of frames: the demuxer would have to seek back to them.
    (tmp_path / "mp4").mkdir()
    mp4 = make_clip(tmp_path / "mp4" / "in.mp4", width=640, height=360, frames=150,
                    options={"preset": "ultrafast", "qp": "0"})
    cat = subprocess.Popen([sys.executable, "-c", "import shutil, sys; shutil.copyfileobj(open(sys.argv[1], 'rb'), "
                            "sys.stdout.buffer)", str(mp4)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    with fd_as(cat.stdout.fileno(), 0):
        assert "an MP4/MOV stream whose frames cannot be reached" in error("-", "-o", str(tmp_path / "o.mkv"))
    cat.stdout.close()
    cat.wait()
    assert [p.name for p in tmp_path.iterdir()] == ["mp4"]
