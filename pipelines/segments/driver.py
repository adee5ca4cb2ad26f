"""The driver of a segmented run: check, plan or resume each input, run the pending segments on a runner, verify,
join, report. All inputs' segments are scheduled together."""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.common.engine_factory import model_from_settings
from pipelines.common.notices import Notices
from pipelines.common.settings import UpscaleConfig
from pipelines.common.stop import Interrupted, StopFlag, as_interrupted
from pipelines.segments.join import join_segments
from pipelines.segments.manifest import (
    Manifest,
    clean_partials,
    default_work_dir,
    input_fingerprint,
    locked,
    remove_work,
    settings_changes,
    settings_hash,
    settings_of,
    verify_segment,
)
from pipelines.segments.options import SegmentOptions
from pipelines.segments.plan import auto_segment_count, plan_segments, scan_video_packets
from pipelines.segments.report import SegmentedReport, WorkerStats
from pipelines.segments.runners import Runner, make_runner
from pipelines.segments.worker import SegmentJob, SegmentResult
from pipelines.upscale.checks import check_input_path, check_run_settings
from vsr.errors import ConfigError, InputError, MediaError
from vsr.fs import sha256_file, write_bytes_atomic
from vsr.io import SourceInfo, probe
from vsr.io.file.sink import check_output_path


@dataclass
class _Job:
    """One input of the batch on the driver side."""

    src: Path
    out: Path
    work_dir: Path
    info: SourceInfo
    manifest: Manifest


@dataclass
class _Progress:
    """What this run did so far: filled in as segments finish, read by the report."""

    jobs: list[_Job]
    notices: Notices
    workers: dict[str, WorkerStats] = field(default_factory=dict)
    reused: int = 0
    processed: int = 0
    frames_processed: int = 0
    redone_corrupt: int = 0
    retried: int = 0

    def record(self, result: SegmentResult) -> None:
        """A finished segment: its file checked against the worker's checksum, then recorded in the manifest."""
        job = self.jobs[result.job]
        seg = job.manifest.segments[result.index]
        path = job.work_dir / seg.file
        if result.data is not None:  # came through the object store: write it here, atomically
            write_bytes_atomic(path, result.data)
        if sha256_file(path) != result.sha256:
            raise MediaError(f"segment {seg.index} of {job.src.name}: the file in the work directory does not "
                             "match what the worker wrote (is the work directory shared by all workers?)")
        seg.done, seg.size, seg.sha256 = True, result.size, result.sha256
        seg.frames_out, seg.wall_s, seg.worker = result.frames, result.wall_s, result.worker
        job.manifest.save(job.work_dir)
        for n in result.notices:
            self.notices(f"segment {seg.index}: {n}")
        if result.frames != seg.frames:
            self.notices(f"warning: segment {seg.index} of {job.src.name} gave {result.frames} frames, the packet "
                         f"scan counted {seg.frames} (damaged packets?)")
        st = self.workers.setdefault(result.worker, WorkerStats())
        st.segments += 1
        st.frames += result.frames
        st.busy_s += result.wall_s
        self.processed += 1
        self.frames_processed += result.frames

    def segment_counts(self) -> tuple[int, int]:
        """(finished, all) segments over every input."""
        segments = [s for j in self.jobs for s in j.manifest.segments]
        return sum(s.done for s in segments), len(segments)


def check_segmented(pairs: list[tuple[Path, Path]], cfg: UpscaleConfig, opts: SegmentOptions, overwrite: bool,
                    report_path: str | Path | None) -> None:
    """Everything that can be checked before a model loads or a byte is written."""
    if opts.segments != "auto" and (not str(opts.segments).isdigit() or int(opts.segments) < 1):
        raise ConfigError("expected auto or a positive number", setting="segments", value=opts.segments)
    for src, out in pairs:
        check_input_path(src)
        check_output_path(out, src, overwrite)
    check_run_settings(cfg, report_path)
    if opts.work_dir is not None and opts.work_dir.exists() and not opts.work_dir.is_dir():
        raise InputError("is not a directory", setting="work_dir", value=opts.work_dir)
    if opts.gpus_per_segment != 1.0 and opts.engine != "ray":
        raise ConfigError("{gpus_per_segment} shares GPUs between Ray tasks; it needs {engine} ray")
    if not 0 < opts.gpus_per_segment <= 1:
        raise ConfigError("expected a share of one GPU, above 0 and at most 1", setting="gpus_per_segment",
                          value=opts.gpus_per_segment)


def _discard_if_stale(old: Manifest, src: Path, work_dir: Path, fingerprint: dict[str, Any],
                      settings: dict[str, Any], notices: Notices) -> Manifest | None:
    """The previous work, unless it was for another input or other settings (then its segments go)."""
    why = None
    if old.fingerprint != fingerprint:
        why = f"the input {src.name} changed since that work was done"
    elif old.settings_hash != settings_hash(settings):
        why = "the settings changed (" + "; ".join(settings_changes(old.settings, settings)) + ")"
    if why is None:
        return old
    notices(f"{work_dir}: {why}; its segments are discarded and the work starts over")
    for seg in old.segments:
        (work_dir / seg.file).unlink(missing_ok=True)
    return None


def _redo_unverified(job: _Job, notices: Notices, finished_only: bool) -> int:
    """Resets the segments whose file does not match the manifest; returns how many."""
    bad = 0
    for seg in job.manifest.segments:
        if finished_only and not seg.done:
            continue
        if (why := verify_segment(job.work_dir, seg)) is not None:
            notices(f"segment {seg.index} of {job.src.name}: {why}; redoing it")
            (job.work_dir / seg.file).unlink(missing_ok=True)
            seg.reset()
            bad += 1
    job.manifest.save(job.work_dir)
    return bad


def _prepare(src: Path, out: Path, work_dir: Path, info: SourceInfo, settings: dict[str, Any], opts: SegmentOptions,
             workers: int, notices: Notices) -> tuple[Manifest, int]:
    """The previous work if it is for this input and these settings, else a new plan; returns the manifest and how
    many segments failed verification (and will be redone)."""
    fingerprint = input_fingerprint(src)
    old = Manifest.load(work_dir)
    if old is not None:
        old = _discard_if_stale(old, src, work_dir, fingerprint, settings, notices)
    elif opts.resume:
        notices(f"{work_dir}: nothing to resume; starting from the beginning")
    if old is not None:
        bad = _redo_unverified(_Job(src, out, work_dir, info, old), notices, finished_only=True)
        if opts.segments != "auto" and int(opts.segments) != len(old.segments):
            notices(f"{src.name}: resuming the earlier plan of {len(old.segments)} segments "
                    f"(not {opts.segments}; remove {work_dir} to re-plan)")
        return old, bad
    wanted = auto_segment_count(info.duration_s, workers) if opts.segments == "auto" else int(opts.segments)
    segments = plan_segments(scan_video_packets(src, info.video_index), wanted, info.time_base, out.suffix.lower())
    if len(segments) < wanted:
        notices(f"{src.name}: {len(segments)} segment{'s' if len(segments) != 1 else ''} instead of {wanted} "
                "(not enough keyframes to cut at)")
    manifest = Manifest(str(src.resolve()), str(out.resolve()), fingerprint, settings,
                        [info.time_base.numerator, info.time_base.denominator], segments)
    manifest.save(work_dir)
    return manifest, 0


def _open_jobs(stack: contextlib.ExitStack, pairs: list[tuple[Path, Path]], infos: list[SourceInfo],
               cfg: UpscaleConfig, opts: SegmentOptions, loaded: Any, runner: Runner,
               notices: Notices) -> tuple[list[_Job], int]:
    """Each input's work directory locked, cleaned and planned (or resumed)."""
    jobs: list[_Job] = []
    redone = 0
    for (src, out), info in zip(pairs, infos, strict=True):
        if opts.work_dir is None:
            work_dir = default_work_dir(out)
        else:
            work_dir = opts.work_dir if len(pairs) == 1 else opts.work_dir / out.stem
        work_dir.mkdir(parents=True, exist_ok=True)
        stack.enter_context(locked(work_dir))
        clean_partials(work_dir)
        settings = settings_of(cfg, loaded.source, loaded.scale, out.suffix.lower())
        manifest, bad = _prepare(src, out, work_dir, info, settings, opts, runner.workers, notices)
        redone += bad
        jobs.append(_Job(src, out, work_dir, info, manifest))
    return jobs, redone


def _process(run: _Progress, runner: Runner, cfg: UpscaleConfig) -> None:
    """Run every pending segment; a segment that fails verification right before the join is redone once."""
    total = sum(s.frames for j in run.jobs for s in j.manifest.segments)
    try:
        for _attempt in range(2):
            pending = [SegmentJob(i, s, str(j.src), j.info, cfg, None if runner.return_bytes
                                  else str(j.work_dir / s.file))
                       for i, j in enumerate(run.jobs) for s in j.manifest.segments if not s.done]
            if pending:
                initial = total - sum(p.segment.frames for p in pending)
                run.retried += runner.run(pending, run.record, total=total, initial=initial)
            bad = sum(_redo_unverified(job, run.notices, finished_only=False) for job in run.jobs)
            run.redone_corrupt += bad
            if not bad:
                return
        raise MediaError("segment files keep failing verification; is the work directory's disk healthy?")
    except KeyboardInterrupt as exc:
        raise _with_resume_hint(exc, run) from None


def _with_resume_hint(exc: KeyboardInterrupt, run: _Progress) -> Interrupted:
    done, count = run.segment_counts()
    return as_interrupted(exc, f"{done} of {count} segments finished; run the same command with --resume to go on")


def run_segmented(pairs: list[tuple[Path, Path]], cfg: UpscaleConfig, opts: SegmentOptions, *,
                  overwrite: bool = False, report_path: str | Path | None = None, progress: bool = True,
                  notices: Notices | None = None) -> SegmentedReport:
    """Upscale each (input, output) in segments on the chosen runner."""
    notices = notices if notices is not None else Notices()
    check_segmented(pairs, cfg, opts, overwrite, report_path)
    infos = [probe(src) for src, _ in pairs]
    loaded = model_from_settings(cfg.model, compressed=any(info.lossy for info in infos))
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        runner = stack.enter_context(make_runner(opts, cfg, notices, progress, loaded))
        jobs, redone = _open_jobs(stack, pairs, infos, cfg, opts, loaded, runner, notices)
        runner.check_access([j.work_dir for j in jobs], [j.src for j in jobs])
        run = _Progress(jobs, notices, redone_corrupt=redone)
        run.reused = run.segment_counts()[0]
        if progress:
            print(f"{len(jobs)} input{'s' if len(jobs) > 1 else ''}, {run.segment_counts()[1]} segments "
                  f"({run.reused} reused) on {runner.describe()}; {loaded.name} x{loaded.scale}", file=sys.stderr)
        process_start = time.perf_counter()  # after the runner started: FPS is the processing rate
        _process(run, runner, cfg)
        process_wall = time.perf_counter() - process_start
        # The joins only remux: from the first one on the job completes, so that 128 + N means no output.
        stop = stack.enter_context(StopFlag())
        stop.raise_if_set("all segments finished; run the same command with --resume to join them")
        stop.finish()
        joins = [join_segments(j.src, j.out, j.info, loaded.scale, cfg, j.work_dir, j.manifest.segments, notices)
                 for j in jobs]
        labels = runner.labels
    if not opts.keep_work:
        for job in jobs:
            remove_work(job.work_dir, job.manifest)
    report = SegmentedReport(
        inputs=[str(j.src) for j in jobs], outputs=[str(j.out) for j in jobs], engine=opts.engine,
        segments=run.segment_counts()[1], reused=run.reused, processed=run.processed,
        redone_corrupt=run.redone_corrupt, retried=run.retried, frames=sum(s.frames for s in joins),
        frames_processed=run.frames_processed, wall_s=round(time.perf_counter() - start, 3),
        fps=round(run.frames_processed / process_wall, 3) if process_wall > 0 else 0.0,
        join_s=round(sum(s.wall_s for s in joins), 3), workers={k: v.as_dict() for k, v in run.workers.items()},
        model=loaded.name, scale=loaded.scale, device=labels.get("device", "?"),
        precision=labels.get("precision", "?"), work_dirs=[str(j.work_dir) for j in jobs],
        work_kept=opts.keep_work, notices=list(notices.items),
    )
    if report_path is not None:
        report.write_json(report_path)
    return report

