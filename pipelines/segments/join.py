"""Joining: the segments' video packets are copied one after another with their timestamps, and the input's audio,
subtitle and data streams are muxed in once, from the input, packet for packet (re-encoded only where a single
pass would re-encode them too)."""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from pipelines.common.notices import Notices
from pipelines.common.settings import UpscaleConfig
from pipelines.segments.plan import Segment
from vsr.errors import MediaError
from vsr.io import AtomicOutput, SourceInfo, VideoSink


@dataclass
class JoinStats:
    frames: int
    packets_copied: int
    wall_s: float


def _packet_time(packet: av.Packet) -> Fraction:
    ts = packet.dts if packet.dts is not None else packet.pts
    return Fraction(ts) * packet.time_base if ts is not None else Fraction(-(10**9))


def _fill_dts(packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
    """Decode timestamps for the packets that have none (one segment file, one time base).

    Matroska and WebM store no decode timestamps: the demuxer derives them and leaves the first few of a stream with
    B-frames empty. The muxer of the joined file needs increasing ones, so each gap takes the ticks just before the
    next known one (for Matroska output their values are not even stored; MP4/MOV segments have them all).
    """
    pending: list[av.Packet] = []
    last: int | None = None
    for packet in packets:
        if packet.dts is None:
            pending.append(packet)
            continue
        for i, q in enumerate(pending):
            q.dts = packet.dts - (len(pending) - i)
        yield from pending
        pending = []
        last = packet.dts
        yield packet
    for i, q in enumerate(pending):  # none known after them: right after the last known one, or their own pts
        q.dts = last + 1 + i if last is not None else q.pts
        yield q


def _segment_packets(work_dir: Path, segments: list[Segment], tb: Fraction) -> Iterator[av.Packet]:
    """The segments' video packets in order, checked: same codec parameters, and every frame in its range."""
    extradata: bytes | None = None
    for seg in segments:
        with av.open(str(work_dir / seg.file)) as c:
            vs = c.streams.video[0]
            ed = bytes(vs.codec_context.extradata or b"")
            if extradata is None:
                extradata = ed
            elif ed != extradata:
                raise MediaError(f"segment {seg.index} was encoded with other codec parameters than segment 0; "
                               "cannot join (remove the work directory and run again)")
            lo = None if seg.start is None else Fraction(seg.start) * tb
            hi = None if seg.end is None else Fraction(seg.end) * tb
            # One tick of the segment file's clock: Matroska keeps milliseconds, so a frame at exactly the start
            # (100/30 s) reads 3.333 s, a little before it; frames are many ticks apart, so this tells no wrong one.
            tick = Fraction(vs.time_base)
            for packet in _fill_dts(p for p in c.demux(vs) if p.size):
                if packet.pts is not None:
                    t = Fraction(packet.pts) * packet.time_base
                    if (lo is not None and t < lo - tick) or (hi is not None and t >= hi - tick):
                        raise MediaError(f"segment {seg.index} holds a frame at {float(t):.3f} s, outside its "
                                       "range; cannot join (remove the work directory and run again)")
                yield packet


def join_segments(src: Path, out: Path, info: SourceInfo, scale: int, cfg: UpscaleConfig, work_dir: Path,
                  segments: list[Segment], notices: Notices) -> JoinStats:
    """Copy the segments' video and the input's other streams into OUT (atomically)."""
    start = time.perf_counter()
    atomic = AtomicOutput(out)
    with av.open(str(work_dir / segments[0].file)) as first:
        sink = VideoSink(atomic.temp, info, info.width * scale, info.height * scale, cfg.encode, notices,
                         video_from=first.streams.video[0])
    committed = False
    try:
        with av.open(str(src)) as inp:
            copy, decode = sink.copy_streams, sink.encode_streams
            wanted = [inp.streams[i] for i in sorted(copy | decode)]

            def others() -> Iterator[av.Packet]:
                if not wanted:
                    return
                try:
                    yield from inp.demux(wanted)
                except av.FFmpegError as exc:  # a truncated input: everything read so far, as a single pass does
                    notices(f"warning: input ends early ({exc.__class__.__name__}); other streams end there")

            # Merged by time so the muxer's interleaving buffer stays small (it would hold a whole stream else).
            video = ((None, p) for p in _segment_packets(work_dir, segments, info.time_base))
            other = ((p.stream_index, p) for p in others())
            for index, packet in heapq.merge(video, other, key=lambda item: _packet_time(item[1])):
                if index is None:
                    sink.write_video_packet(packet)
                elif index in copy:
                    if packet.size:
                        sink.write_packet(packet)
                elif index in decode:
                    try:
                        frames = inp.streams[index].codec_context.decode(packet if packet.size else None)
                    except av.error.EOFError:
                        frames = []
                    except av.FFmpegError as exc:
                        notices(f"warning: skipped a corrupt packet in stream {index} ({exc.__class__.__name__})")
                        frames = []
                    for frame in frames:
                        sink.write_audio(index, frame)
        sink.close(flush=True)
        atomic.commit()
        committed = True
    except av.FFmpegError as exc:
        raise MediaError(f"joining the segments into {out} failed: {exc}") from None
    finally:
        if not committed:
            sink.close(flush=False)
            atomic.discard()
    return JoinStats(sink.counters.frames, sink.counters.packets, round(time.perf_counter() - start, 3))
