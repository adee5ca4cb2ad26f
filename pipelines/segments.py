"""Segments: cut a video at keyframes, upscale each segment with the normal file pipeline, join them at the end.

One mechanism gives both resuming after a crash and spreading one video (or many) over many workers:

* plan: a packet scan of the video stream (no decoding) finds the keyframes; the cut points are keyframes near
  equal shares of the duration. Segment i holds the frames with `start_i <= pts < start_{i+1}`.
* run: a segment is `pipelines.file.upscale_file` on that time range, video only, into the work directory. The
  decoder starts at the segment's keyframe and runs past the next one until the first frame at or after the next
  start, so B-frames and open GOPs give exactly the frames a single pass gives (leading frames that belong to the
  previous segment are decoded and dropped).
* manifest: `manifest.json` in the work directory records the input's fingerprint, the settings, every segment's
  range and frame count, and for finished segments the size and SHA-256 of their file. A segment counts as done
  only when its file exists and matches the checksum; anything else is redone.
* join: the segments' video packets are copied one after another with their timestamps, and the input's audio,
  subtitle and data streams are muxed in once, from the input, packet for packet (re-encoded only where a single
  pass would re-encode them too).

Engines (where the segments run) live in pipelines/engines/: in this process, or as Ray tasks.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import hashlib
import heapq
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from pipelines.file import Notices, UpscaleConfig, check_input_path, check_run_settings
from vsr.errors import VSRError
from vsr.io import AtomicOutput, SourceInfo, TimeRange, VideoSink, probe
from vsr.io.sink import FORMATS, check_output_path

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
AUTO_SEGMENT_S = 60.0  # `--segments auto`: about a minute each (and at least one per worker)
_SAMPLE = 1 << 20  # bytes hashed at the start, middle and end of the input for its fingerprint


# ---- plan ------------------------------------------------------------------------------------------------
@dataclass
class Segment:
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


# ---- identity of the work: input fingerprint and settings ------------------------------------------------
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


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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


# ---- manifest --------------------------------------------------------------------------------------------
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
        data = asdict(self)
        tmp = work_dir / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, work_dir / MANIFEST)

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
    if file_sha256(path) != seg.sha256:
        return "its file does not match the checksum in the manifest"
    return None


@contextlib.contextmanager
def locked(work_dir: Path) -> Iterator[None]:
    """One run per work directory: a second run on the same output would overwrite segments under the first."""
    with (work_dir / ".lock").open("w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise VSRError(f"{work_dir}: another run is using this work directory") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ---- one segment (runs on a worker) ----------------------------------------------------------------------
@dataclass
class SegmentJob:
    """Everything a worker needs; plain data so that it pickles for Ray."""

    job: int  # which input of the batch
    segment: Segment
    src: str
    info: SourceInfo
    config: UpscaleConfig
    dest: str | None  # the segment file (a path all workers share); None: return the bytes instead


@dataclass
class SegmentResult:
    job: int
    index: int
    frames: int
    wall_s: float
    size: int
    sha256: str
    worker: str
    notices: list[str]
    data: bytes | None = None  # the file, when the job had no shared destination
    attempt: int = 1  # > 1: an earlier worker died on this segment and the engine retried it


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_segment(job: SegmentJob, engine: Callable, scale: int, labels: dict[str, str],
                on_frames: Callable[[int], None] | None = None) -> SegmentResult:
    """The normal file pipeline on the segment's time range, video only, written atomically."""
    from pipelines.file import upscale_file

    cfg, seg = job.config, job.segment
    notices = Notices(echo=False)
    with contextlib.ExitStack() as stack:
        if job.dest is not None:
            dest = Path(job.dest)
        else:
            dest = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vsr-seg-"))) / seg.file
        report = upscale_file(
            job.src, dest, engine, scale, info=job.info, encode=cfg.encode, batch=cfg.engine.batch,
            queue_frames=cfg.pipeline.queue_frames, decode_threads=cfg.pipeline.decode_threads, overwrite=True,
            progress=False, notices=notices, labels=labels, time_range=seg.time_range, video_only=True,
            on_frames=on_frames, colour=cfg.engine.colour, hwdec=cfg.pipeline.hwdec,
        )
        data = dest.read_bytes() if job.dest is None else None
        size = dest.stat().st_size
        digest = hashlib.sha256(data).hexdigest() if data is not None else file_sha256(dest)
    return SegmentResult(job.job, seg.index, report.frames, report.wall_s, size, digest, worker_name(),
                         notices.items, data)


# ---- join ------------------------------------------------------------------------------------------------
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
                raise VSRError(f"segment {seg.index} was encoded with other codec parameters than segment 0; "
                               "cannot join (remove the work directory and run again)")
            lo = None if seg.start is None else Fraction(seg.start) * tb
            hi = None if seg.end is None else Fraction(seg.end) * tb
            for packet in _fill_dts(p for p in c.demux(vs) if p.size):
                if packet.pts is not None:
                    t = Fraction(packet.pts) * packet.time_base
                    if (lo is not None and t < lo) or (hi is not None and t >= hi):
                        raise VSRError(f"segment {seg.index} holds a frame at {float(t):.3f} s, outside its "
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
        raise VSRError(f"joining the segments into {out} failed: {exc}") from None
    finally:
        if not committed:
            sink.close(flush=False)
            atomic.discard()
    return JoinStats(sink.counters.frames, sink.counters.packets, round(time.perf_counter() - start, 3))


# ---- the command -----------------------------------------------------------------------------------------
@dataclass
class SegmentOptions:
    segments: str = "auto"  # "auto" or a count
    work_dir: Path | None = None  # default: a hidden folder beside each output
    resume: bool = False
    keep_work: bool = False
    engine: str = "local"  # local | ray
    ray_address: str | None = None
    max_retries: int = 3


@dataclass
class WorkerStats:
    segments: int = 0
    frames: int = 0
    busy_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"segments": self.segments, "frames": self.frames, "busy_s": round(self.busy_s, 3),
                "fps": round(self.frames / self.busy_s, 3) if self.busy_s > 0 else 0.0}


@dataclass
class SegmentedReport:
    inputs: list[str]
    outputs: list[str]
    engine: str
    segments: int
    reused: int
    processed: int
    redone_corrupt: int
    retried: int
    frames: int  # frames in the outputs
    frames_processed: int  # frames upscaled in this run (not the reused ones)
    wall_s: float
    fps: float  # frames upscaled in this run / wall time of processing them (all workers together)
    join_s: float
    workers: dict[str, dict[str, Any]]
    model: str
    scale: int
    device: str
    precision: str
    work_dirs: list[str]
    work_kept: bool
    notices: list[str]

    def summary(self) -> str:
        outs = self.outputs[0] if len(self.outputs) == 1 else f"{len(self.outputs)} files"
        ins = self.inputs[0] if len(self.inputs) == 1 else f"{len(self.inputs)} inputs"
        lines = [
            f"{ins} -> {outs}",
            f"  segments: {self.segments} ({self.reused} reused, {self.processed} processed"
            + (f", {self.redone_corrupt} redone after a checksum mismatch" if self.redone_corrupt else "")
            + (f", {self.retried} retried after a worker failure" if self.retried else "") + f") on {self.engine}",
            f"  frames: {self.frames} out, {self.frames_processed} upscaled now   wall {self.wall_s:.2f} s   "
            f"{self.fps:.2f} fps total   join {self.join_s:.2f} s",
            f"  {self.model} x{self.scale} ({self.device}, {self.precision})",
        ]
        for name, st in sorted(self.workers.items()):
            lines.append(f"  worker {name}: {st['segments']} segments, {st['frames']} frames, "
                         f"{st['fps']:.2f} fps")
        if self.work_kept:
            lines.append(f"  work kept in {', '.join(self.work_dirs)}")
        return "\n".join(lines)

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")


@dataclass
class _Job:
    """One input of the batch on the driver side."""

    src: Path
    out: Path
    work_dir: Path
    info: SourceInfo
    manifest: Manifest


def _prepare(src: Path, out: Path, work_dir: Path, info: SourceInfo, settings: dict[str, Any], opts: SegmentOptions,
             workers: int, notices: Notices) -> tuple[Manifest, int]:
    """Load the previous work if it is for this input and these settings, else plan afresh; returns the manifest
    and how many segments failed verification (and will be redone)."""
    ext = out.suffix.lower()
    fingerprint = input_fingerprint(src)
    old = Manifest.load(work_dir)
    if old is not None:
        why = None
        if old.fingerprint != fingerprint:
            why = f"the input {src.name} changed since that work was done"
        elif old.settings_hash != settings_hash(settings):
            why = "the settings changed (" + "; ".join(settings_changes(old.settings, settings)) + ")"
        if why:
            notices(f"{work_dir}: {why}; its segments are discarded and the work starts over")
            for seg in old.segments:
                (work_dir / seg.file).unlink(missing_ok=True)
            old = None
    elif opts.resume:
        notices(f"{work_dir}: nothing to resume; starting from the beginning")
    if old is not None:
        bad = 0
        for seg in old.segments:
            if seg.done and (why := verify_segment(work_dir, seg)) is not None:
                notices(f"segment {seg.index} of {src.name}: {why}; redoing it")
                (work_dir / seg.file).unlink(missing_ok=True)
                seg.reset()
                bad += 1
        if opts.segments != "auto" and int(opts.segments) != len(old.segments):
            notices(f"{src.name}: resuming the earlier plan of {len(old.segments)} segments "
                    f"(not {opts.segments}; remove {work_dir} to re-plan)")
        old.save(work_dir)
        return old, bad
    wanted = auto_segment_count(info.duration_s, workers) if opts.segments == "auto" else int(opts.segments)
    segments = plan_segments(scan_video_packets(src, info.video_index), wanted, info.time_base, ext)
    if len(segments) < wanted:
        notices(f"{src.name}: {len(segments)} segment{'s' if len(segments) != 1 else ''} instead of {wanted} "
                "(not enough keyframes to cut at)")
    manifest = Manifest(str(src.resolve()), str(out.resolve()), fingerprint, settings,
                        [info.time_base.numerator, info.time_base.denominator], segments)
    manifest.save(work_dir)
    return manifest, 0


def _clean_partials(work_dir: Path) -> None:
    """Temporary files of a run that was killed (the lock says no run is active)."""
    for p in [*work_dir.glob(".*.partial-*"), *work_dir.glob("seg*.running")]:
        p.unlink(missing_ok=True)


def _remove_work(work_dir: Path, manifest: Manifest) -> None:
    """Only the files this work made (a --work-dir may hold other things), then the folder if that emptied it."""
    _clean_partials(work_dir)
    for seg in manifest.segments:
        (work_dir / seg.file).unlink(missing_ok=True)
    for name in (MANIFEST, f".{MANIFEST}.tmp", ".lock"):
        (work_dir / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        work_dir.rmdir()


def output_for(src: Path, out_dir: Path) -> Path:
    ext = src.suffix.lower() if src.suffix.lower() in FORMATS else ".mkv"
    return out_dir / f"{src.stem}{ext}"


def expand_inputs(inputs: list[Path], output: Path) -> list[tuple[Path, Path]]:
    """IN -o OUT, or several inputs / a folder with -o OUTDIR."""
    if len(inputs) == 1 and not inputs[0].is_dir():
        return [(inputs[0], output)]
    files: list[Path] = []
    for p in inputs:
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and not q.name.startswith(".")
                           and q.suffix.lower() in {*FORMATS, ".avi", ".ts", ".mts", ".m2ts", ".flv", ".wmv", ".mpg",
                                                    ".mpeg", ".y4m", ".ogv", ".3gp"})
            if not found:
                raise VSRError(f"{p}: no video files in this folder")
            files.extend(found)
        else:
            check_input_path(p)
            files.append(p)
    if not output.is_dir():
        raise VSRError(f"{output}: with several inputs or a folder, -o must be an existing folder")
    pairs = [(f, output_for(f, output)) for f in files]
    names = [o for _, o in pairs]
    if len(set(names)) != len(names):
        raise VSRError("two inputs would be written to the same output name; upscale them separately")
    return pairs


def run_segmented(pairs: list[tuple[Path, Path]], cfg: UpscaleConfig, opts: SegmentOptions, *,
                  overwrite: bool = False, report_path: str | Path | None = None, progress: bool = True,
                  notices: Notices | None = None) -> SegmentedReport:
    """Upscale each (input, output) in segments on the chosen engine; all segments are scheduled together."""
    from pipelines.engines import make_engine
    from vsr.models import resolve_model

    notices = notices if notices is not None else Notices()
    if opts.segments != "auto" and (not str(opts.segments).isdigit() or int(opts.segments) < 1):
        raise VSRError(f"--segments {opts.segments}: expected auto or a positive number")
    for src, out in pairs:
        check_input_path(src)
        check_output_path(out, src, overwrite)
    check_run_settings(cfg, report_path)
    if opts.work_dir is not None and opts.work_dir.exists() and not opts.work_dir.is_dir():
        raise VSRError(f"--work-dir {opts.work_dir}: is not a directory")
    infos = [probe(src) for src, _ in pairs]
    loaded = resolve_model(cfg.model.name, weights=cfg.model.weights, scale=cfg.model.scale)
    scale = loaded.scale

    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        engine = stack.enter_context(make_engine(opts, cfg, notices, progress))
        jobs: list[_Job] = []
        redone_corrupt = 0
        for (src, out), info in zip(pairs, infos, strict=True):
            if opts.work_dir is None:
                work_dir = default_work_dir(out)
            else:
                work_dir = opts.work_dir if len(pairs) == 1 else opts.work_dir / out.stem
            work_dir.mkdir(parents=True, exist_ok=True)
            stack.enter_context(locked(work_dir))
            _clean_partials(work_dir)
            settings = settings_of(cfg, loaded.source, scale, out.suffix.lower())
            manifest, bad = _prepare(src, out, work_dir, info, settings, opts, engine.workers, notices)
            redone_corrupt += bad
            jobs.append(_Job(src, out, work_dir, info, manifest))

        total = sum(s.frames for j in jobs for s in j.manifest.segments)
        reused_segments = sum(s.done for j in jobs for s in j.manifest.segments)
        if progress:
            print(f"{len(jobs)} input{'s' if len(jobs) > 1 else ''}, "
                  f"{sum(len(j.manifest.segments) for j in jobs)} segments ({reused_segments} reused) on "
                  f"{engine.describe()}; {loaded.name} x{scale}", file=sys.stderr)

        workers: dict[str, WorkerStats] = {}
        processed = 0
        frames_processed = 0

        def record(result: SegmentResult) -> None:
            nonlocal processed, frames_processed
            job = jobs[result.job]
            seg = job.manifest.segments[result.index]
            path = job.work_dir / seg.file
            if result.data is not None:  # came through the object store: write it here, atomically
                tmp = job.work_dir / f".{seg.file}.partial-{os.getpid()}{path.suffix}"
                tmp.write_bytes(result.data)
                os.replace(tmp, path)
            if file_sha256(path) != result.sha256:
                raise VSRError(f"segment {seg.index} of {job.src.name}: the file in the work directory does not "
                               "match what the worker wrote (is the work directory shared by all workers?)")
            seg.done, seg.size, seg.sha256 = True, result.size, result.sha256
            seg.frames_out, seg.wall_s, seg.worker = result.frames, result.wall_s, result.worker
            job.manifest.save(job.work_dir)
            for n in result.notices:
                notices(f"segment {seg.index}: {n}")
            if result.frames != seg.frames:
                notices(f"warning: segment {seg.index} of {job.src.name} gave {result.frames} frames, the packet "
                        f"scan counted {seg.frames} (damaged packets?)")
            st = workers.setdefault(result.worker, WorkerStats())
            st.segments += 1
            st.frames += result.frames
            st.busy_s += result.wall_s
            processed += 1
            frames_processed += result.frames

        retried = 0
        join_s = 0.0
        process_start = time.perf_counter()  # after the engine started: FPS is the processing rate
        try:
            for _attempt in range(2):  # a segment that fails verification right before the join is redone once
                pending = [SegmentJob(i, s, str(j.src), j.info, cfg, None if engine.return_bytes
                                      else str(j.work_dir / s.file))
                           for i, j in enumerate(jobs) for s in j.manifest.segments if not s.done]
                if pending:
                    retried += engine.run(pending, record, total=total, initial=total - sum(
                        p.segment.frames for p in pending))
                bad = 0
                for job in jobs:
                    for seg in job.manifest.segments:
                        if (why := verify_segment(job.work_dir, seg)) is not None:
                            notices(f"segment {seg.index} of {job.src.name}: {why}; redoing it")
                            (job.work_dir / seg.file).unlink(missing_ok=True)
                            seg.reset()
                            bad += 1
                    job.manifest.save(job.work_dir)
                redone_corrupt += bad
                if not bad:
                    break
            else:
                raise VSRError("segment files keep failing verification; is the work directory's disk healthy?")
        except KeyboardInterrupt:
            done = sum(s.done for j in jobs for s in j.manifest.segments)
            count = sum(len(j.manifest.segments) for j in jobs)
            print(f"interrupted with {done} of {count} segments finished; run the same command with --resume "
                  "to go on", file=sys.stderr)
            raise
        process_wall = time.perf_counter() - process_start
        frames_out = 0
        for job in jobs:
            stats = join_segments(job.src, job.out, job.info, scale, cfg, job.work_dir, job.manifest.segments,
                                  notices)
            frames_out += stats.frames
            join_s += stats.wall_s
        labels = engine.labels
    wall = time.perf_counter() - start
    if not opts.keep_work:
        for job in jobs:
            _remove_work(job.work_dir, job.manifest)
    report = SegmentedReport(
        inputs=[str(j.src) for j in jobs], outputs=[str(j.out) for j in jobs], engine=opts.engine,
        segments=sum(len(j.manifest.segments) for j in jobs), reused=reused_segments, processed=processed,
        redone_corrupt=redone_corrupt, retried=retried, frames=frames_out, frames_processed=frames_processed,
        wall_s=round(wall, 3), fps=round(frames_processed / process_wall, 3) if process_wall > 0 else 0.0,
        join_s=round(join_s, 3), workers={k: v.as_dict() for k, v in workers.items()},
        model=loaded.name, scale=scale, device=labels.get("device", "?"), precision=labels.get("precision", "?"),
        work_dirs=[str(j.work_dir) for j in jobs], work_kept=opts.keep_work, notices=list(notices.items),
    )
    if report_path is not None:
        report.write_json(report_path)
    return report


def run_segmented_command(args: Any, inputs: list[Path], cfg: UpscaleConfig) -> int:
    """`upscale ... --segments ...` (or several inputs): the flags of pipelines/commands/upscale.py."""
    if cfg.pipeline.max_frames is not None:
        raise VSRError("--frames previews a single pass; it cannot be combined with segments or several inputs")
    opts = SegmentOptions(segments=args.segments or "auto", work_dir=Path(args.work_dir) if args.work_dir else None,
                          resume=args.resume, keep_work=args.keep_work, engine=args.engine,
                          ray_address=args.ray_address)
    pairs = expand_inputs(inputs, Path(args.output))
    report = run_segmented(pairs, cfg, opts, overwrite=args.overwrite, report_path=args.report,
                           progress=not args.no_progress)
    print(report.summary())
    return 0
