"""Plan: where a video is cut. A packet scan of the video stream (no decoding) finds the keyframes; the cut points
are keyframes near equal shares of the duration. Segment i holds the frames with `start_i <= pts < start_{i+1}`."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vsr.io import TimeRange

AUTO_SEGMENT_S = 60.0  # `--segments auto`: about a minute each (and at least one per worker)


@dataclass
class Segment:
    """One segment's range and, once done, what was made (the manifest stores these as they are)."""

    index: int
    start: int | None  # first pts (video stream time base); None: from the beginning of the file
    end: int | None  # first pts of the next segment; None: to the end
    seek: int | None  # dts of the keyframe at `start`: where decoding begins
    frames: int  # video packets with pts in [start, end): the frames a single pass decodes there
    file: str  # name inside the work directory
    done: bool = False
    size: int | None = None
    sha256: str | None = None
    frames_out: int | None = None
    wall_s: float | None = None
    worker: str | None = None

    @property
    def time_range(self) -> TimeRange:
        return TimeRange(self.start, self.end, self.seek)

    def reset(self) -> None:
        self.done = False
        self.size = self.sha256 = self.frames_out = self.wall_s = self.worker = None


@dataclass
class PacketScan:
    pts: list[int]  # sorted presentation timestamps of every video packet
    keyframes: list[tuple[int, int]]  # (pts, dts) of keyframe packets, in file order


def scan_video_packets(path: Path, video_index: int) -> PacketScan:
    """Timestamps and keyframes of the video stream from its packets alone (demux only; nothing is decoded)."""
    pts: list[int] = []
    keys: list[tuple[int, int]] = []
    try:
        with av.open(str(path)) as c:
            for packet in c.demux(c.streams[video_index]):
                if packet.size == 0:
                    continue
                if packet.pts is None:
                    return PacketScan([], [])  # no timestamps to cut at: one segment
                pts.append(packet.pts)
                if packet.is_keyframe and packet.dts is not None:
                    keys.append((packet.pts, packet.dts))
    except av.FFmpegError:
        pass  # a truncated file: plan with what could be read; the last segment decodes to the end anyway
    pts.sort()
    return PacketScan(pts, keys)


def plan_segments(scan: PacketScan, wanted: int, time_base: Fraction, ext: str) -> list[Segment]:
    """Up to `wanted` segments cut at keyframes nearest to equal shares of the duration."""
    pts = scan.pts
    if not pts:
        return [Segment(0, None, None, None, 0, f"seg0000{ext}")]
    first, last = pts[0], pts[-1]
    # A keyframe at the very first frame is no cut; later ones must increase (a broken file may repeat them).
    keys = sorted({k for k in scan.keyframes if k[0] > first})
    cuts: list[tuple[int, int]] = []
    for k in range(1, max(1, wanted)):
        if not keys:
            break
        target = first + (last - first) * k / wanted
        i = bisect.bisect_left([p for p, _ in keys], target)
        best = min((c for c in (i - 1, i) if 0 <= c < len(keys)), key=lambda c: abs(keys[c][0] - target))
        if not cuts or keys[best][0] > cuts[-1][0]:
            cuts.append(keys[best])
    starts: list[tuple[int | None, int | None]] = [(None, None), *cuts]
    segments = []
    for i, (start, seek) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else None
        lo = 0 if start is None else bisect.bisect_left(pts, start)
        hi = len(pts) if end is None else bisect.bisect_left(pts, end)
        segments.append(Segment(i, start, end, seek, hi - lo, f"seg{i:04d}{ext}"))
    return segments


def auto_segment_count(duration_s: float | None, workers: int) -> int:
    by_length = round((duration_s or 0.0) / AUTO_SEGMENT_S)
    return max(1, workers, by_length)

