"""Streams on OS pipes: `PipeInput` reads a container from stdin, `PipeOutput` writes one to stdout.

A pipe is read once. `PipeInput` opens the container once and probes it (`describe`) from its first packets, which
it keeps: the decoding pass (`VideoSource(pipe=...)`) replays them to a flushed decoder before it reads on, and
the sink takes its stream layout from the same container (`VideoSink(template=...)`).

`PipeOutput` keeps fd 1 for the stream alone: the muxer writes to a duplicate of it, and fd 1 itself points at
stderr while the stream is written, so nothing any library prints can land inside the stream. Nothing is written
to a temporary file first: a reader sees the stream as it is written.

FFmpeg reads and writes through Python file objects (`PipeReader`, `PipeWriter`) that wait in short `select`
slices, not in a native read or write that nothing interrupts: a stalled producer or a stalled reader still lets a
stop of the pipeline (`cancel_on`: Ctrl-C, another stage failing) or, in the main thread, a signal end the run.
A reader that closes the pipe ends the run with `PipeClosed`.
"""

from __future__ import annotations

import contextlib
import os
import select
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import av

from vsr.errors import InputError, MediaError, PipeClosed
from vsr.io.file.probe import SourceInfo, describe, main_video
from vsr.io.formats import PIPE_FORMATS

STDIO = Path("-")  # what the command line's `-` means: stdin as the input, stdout as the output
_SLICE_S = 0.1  # how often a waiting read or write looks for a stop
_BUFFER = 1 << 20  # FFmpeg's I/O buffer: fewer, larger reads and writes than its 32 KiB default


class Cancelled(MediaError):
    """A read or write on a pipe given up because the pipeline is stopping (the stop's own error is reported)."""


class _Signalled(Exception):  # noqa: N818 (it carries a KeyboardInterrupt, it is not an error)
    """A signal's KeyboardInterrupt (the shutdown's `Interrupted`) raised inside FFmpeg's read or write callback,
    carried out as an Exception: PyAV passes those on from its callbacks, and only those. `signals_restored` turns
    it back where the main thread called into FFmpeg."""

    def __init__(self, signal: KeyboardInterrupt) -> None:
        super().__init__("signal")
        self.signal = signal


@contextlib.contextmanager
def signals_restored() -> Iterator[None]:
    try:
        yield
    except _Signalled as exc:
        raise exc.signal from None


class _PipeEnd:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._stop: threading.Event | None = None
        # A signal seen inside a callback. FFmpeg may go on after the failed call (the first signal's handler
        # raises only once): later reads find the end of the input, later writes are dropped.
        self.signal: KeyboardInterrupt | None = None

    def _signalled(self, exc: KeyboardInterrupt) -> _Signalled:
        self.signal = exc
        return _Signalled(exc)

    def cancel_on(self, event: threading.Event) -> None:
        """A read or write waiting on the pipe gives up once `event` is set."""
        self._stop = event

    def _check(self) -> None:
        if self._stop is not None and self._stop.is_set():
            raise Cancelled("stopped while waiting on a pipe")


class PipeReader(_PipeEnd):
    """FFmpeg's input: `read(n)` returns what the pipe has (at most n bytes) or waits for it; b"" at its end."""

    def readable(self) -> bool:
        return True

    def read(self, size: int) -> bytes:
        if self.signal is not None:
            return b""
        try:
            while True:
                self._check()
                ready, _, _ = select.select([self.fd], [], [], _SLICE_S)
                if ready:
                    return os.read(self.fd, size)
        except KeyboardInterrupt as exc:  # a signal in the main thread (the probe)
            raise self._signalled(exc) from None
        except OSError as exc:
            raise MediaError(f"stdin: cannot read ({exc.strerror or exc})") from None


class PipeWriter(_PipeEnd):
    """FFmpeg's output: writes all of each buffer, waiting for room in slices (the fd is non-blocking when it is a
    pipe or socket). After the reader went away or a cancel, `closed` is true and writes are dropped, so that the
    muxer's trailer and close do not fail a second time."""

    def __init__(self, fd: int) -> None:
        super().__init__(fd)
        self.closed = False

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view and not self.closed:
            try:
                self._check()
                n = os.write(self.fd, view)
            except BlockingIOError:
                select.select([], [self.fd], [], _SLICE_S)
                continue
            except BrokenPipeError:
                self.closed = True
                raise PipeClosed("output pipe closed by the reader") from None
            except Cancelled:
                self.closed = True
                raise
            except KeyboardInterrupt as exc:  # a signal in the main thread (the header)
                self.closed = True
                raise self._signalled(exc) from None
            except OSError as exc:
                self.closed = True
                raise MediaError(f"stdout: cannot write ({exc.strerror or exc})") from None
            view = view[n:]
        return len(data)


def _flush_stdout() -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()


def _is_pipe(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class PipeInput:
    """stdin (or `fd`) opened once as a container and probed: `info`, the `container` the decoding pass and the
    sink use, and the packets the probe read (`packets` replays them first). Close it when the pass is done."""

    def __init__(self, fd: int = 0, name: str = "stdin", threads: int = 0) -> None:
        if os.isatty(fd):
            raise InputError(f"{name} is a terminal", hint="pipe a video stream into it")
        self.name = name
        self.reader = PipeReader(fd)
        self._head: list[av.Packet] = []
        try:
            with signals_restored():
                self.container = av.open(self.reader, "r", buffer_size=_BUFFER)
        except (av.FFmpegError, UnicodeDecodeError) as exc:
            self._raise_signal()
            raise MediaError(f"{name}: not a stream that FFmpeg can read ({exc.__class__.__name__})") from None
        try:
            self.info: SourceInfo = self._probe(threads)
        except BaseException:
            self.container.close()
            self._raise_signal()
            raise
        if self.reader.signal is not None:  # (FFmpeg went on after the failed read)
            self.close()
            self._raise_signal()

    def _raise_signal(self) -> None:
        """A signal that came while FFmpeg read (and that FFmpeg may have turned into a read error) stops the run."""
        if self.reader.signal is not None:
            raise self.reader.signal from None

    def _probe(self, threads: int) -> SourceInfo:
        if self.container.streams.video:
            # The probe's decoder is the pass's decoder (a codec's threads are set before it opens).
            cc = main_video(self.container).codec_context
            if cc is not None:
                cc.thread_type = "AUTO"
                if threads:
                    cc.thread_count = threads
        try:
            with signals_restored():
                return describe(self.container, STDIO, self.name, keep=self._head)
        except MediaError as exc:
            if "mp4" not in self.container.format.name:
                raise
            # MP4/MOV keep their index apart from the frames (often after them): a pipe cannot seek to them.
            raise MediaError(f"{self.name}: an MP4/MOV stream whose frames cannot be reached without seeking",
                             hint="give the file itself, or pass it on as NUT: ffmpeg -i IN -c copy -f nut -") from exc

    def cancel_on(self, event: threading.Event) -> None:
        self.reader.cancel_on(event)

    def packets(self, streams: list) -> Iterator[av.Packet]:
        """The packets of `streams`: those the probe read, then the rest of the input (like `container.demux`)."""
        wanted = {s.index for s in streams}
        head, self._head = self._head, []
        self.container.streams[self.info.video_index].codec_context.flush_buffers()  # the probe decoded the head
        yield from (p for p in head if p.stream_index in wanted)
        yield from self.container.demux(streams)

    def close(self) -> None:
        self._head = []
        self.container.close()

    def __enter__(self) -> PipeInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PipeOutput:
    """stdout as a stream in `format` (a name in `vsr.io.formats.PIPE_FORMATS`). As a context manager it claims
    fd 1 (see the module's docstring) and gives it back at the end."""

    def __init__(self, format: str = "mkv", fd: int = 1) -> None:
        spec = PIPE_FORMATS.get(format)
        if spec is None:
            raise InputError(f"use one of {', '.join(PIPE_FORMATS)}", setting="format", value=format)
        if os.isatty(fd):
            raise InputError("stdout is a terminal", hint="pipe the stream into a player or a program, or "
                             "redirect it to a file")
        try:
            same = os.path.sameopenfile(fd, 2)
        except OSError:
            raise InputError("stdout or stderr is closed") from None
        if same:
            raise InputError("stderr goes to the same place as stdout", hint="keep the messages apart from the "
                             "stream (2>FILE)")
        self.format, self.muxer, self.video_codec = format, spec.muxer, spec.video_codec
        self.options = dict(spec.options)
        self.fd = fd
        self.writer: PipeWriter | None = None
        self._saved = -1
        self._was_blocking = True

    def cancel_on(self, event: threading.Event) -> None:
        assert self.writer is not None
        self.writer.cancel_on(event)

    def open(self) -> av.container.OutputContainer:
        """The muxer for the stream (once claimed)."""
        assert self.writer is not None
        return av.open(self.writer, "w", format=self.muxer, options=self.options, buffer_size=_BUFFER)

    def __enter__(self) -> PipeOutput:
        stream = os.dup(self.fd)
        self._saved = os.dup(self.fd)
        os.dup2(2, self.fd)  # prints to fd 1 go to stderr while fd 1 carries the stream
        _flush_stdout()
        self._was_blocking = os.get_blocking(stream)
        if _is_pipe(stream):
            os.set_blocking(stream, False)
        self.writer = PipeWriter(stream)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        assert self.writer is not None
        _flush_stdout()  # what was printed meanwhile goes to stderr, not after the stream
        self.writer.closed = True
        os.set_blocking(self.writer.fd, self._was_blocking)
        os.close(self.writer.fd)
        os.dup2(self._saved, self.fd)
        os.close(self._saved)
        if exc is not None and self.writer.signal is not None:  # a signal while the main thread wrote (the header)
            raise self.writer.signal from None
