"""Segmented upscaling on the local engine: same result as a single pass, resume after Ctrl-C, corrupt segments
redone, stale work invalidated, several inputs, bad usage. Clips are 64x36 at 10 fps (bicubic x2) so that a
30-second clip in 4 segments takes a few seconds."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from pipelines.common.notices import Notices
from pipelines.segments import Manifest, SegmentOptions, default_work_dir, run_segmented
from pipelines.segments.plan import PacketScan, plan_segments, scan_video_packets
from pipelines.upscale import run_upscale
from vsr.errors import VSRError
from vsr.io import TimeRange, VideoSource, probe

from ..conftest import run_cli
from ..media_factory import AudioSpec, SubtitleSpec, decode_info, make_clip, stream_packets
from ..segment_helpers import (
    X264_OPEN_GOP,
    assert_same_as_single_pass,
    bar_positions,
    config,
    ctrl_c_after_a_segment,
    expected_positions,
    make_segment_clip,
    single_pass,
    video_packets,
)

BICUBIC = ["--model", "bicubic", "--scale", "2", "--precision", "fp32", "--preset", "ultrafast"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> dict[str, Path]:
    """The 30-second clip with audio, its single-pass upscale, and a segmented run whose work was kept."""
    d = tmp_path_factory.mktemp("segments")
    src = make_segment_clip(d / "in.mp4")
    reference = single_pass(src, d / "single.mp4")
    out = d / "segmented.mp4"
    report = run_segmented([(src, out)], config(), SegmentOptions(segments="4", keep_work=True), progress=False,
                           notices=Notices(echo=False))
    return {"dir": d, "src": src, "reference": reference, "out": out, "work": default_work_dir(out),
            "report": report}


def _manifest(work: Path) -> Manifest:
    m = Manifest.load(work)
    assert m is not None
    return m


def test_plan_cuts_at_keyframes_and_counts_every_frame(clip) -> None:
    src = clip["src"]
    scan = scan_video_packets(src, 0)
    assert len(scan.pts) == 300 and len(scan.keyframes) == 20
    segments = plan_segments(scan, 4, decode_info(src)["time_base"], ".mp4")
    keyframe_pts = {p for p, _ in scan.keyframes}
    assert len(segments) == 4
    assert segments[0].start is None and segments[-1].end is None
    for a, b in zip(segments, segments[1:], strict=False):
        assert a.end == b.start and b.start in keyframe_pts
    assert sum(s.frames for s in segments) == 300
    # Open GOP: the two B-frames shown just before a cut come after its keyframe in decode order, yet they are
    # counted (and kept) in the segment before it.
    assert all(s.frames % 15 == 0 for s in segments)
    # More segments than keyframes: as many as there are places to cut.
    assert len(plan_segments(scan, 50, decode_info(src)["time_base"], ".mp4")) == 20
    assert len(plan_segments(PacketScan([], []), 4, decode_info(src)["time_base"], ".mp4")) == 1


def test_time_range_decodes_exactly_the_frames_in_range(clip) -> None:
    """The file pipeline's TimeRange hook: from a keyframe (open GOP, B-frames) to just before the next cut."""
    src = clip["src"]
    info = probe(src)
    scan = scan_video_packets(src, info.video_index)
    (k1, d1), (k2, d2) = scan.keyframes[3], scan.keyframes[7]
    for rng in (TimeRange(None, k1), TimeRange(k1, k2, d1), TimeRange(k2, None, d2), TimeRange(k1, k2)):
        source = VideoSource(info, set(), set(), Notices(echo=False), time_range=rng)
        got = [f.pts for f in source.items(lambda: False)]
        want = [p for p in scan.pts if (rng.start is None or p >= rng.start) and (rng.end is None or p < rng.end)]
        assert got == want


def test_four_local_segments_equal_a_single_pass(clip) -> None:
    report = clip["report"]
    assert (report.segments, report.reused, report.processed, report.frames) == (4, 0, 4, 300)
    assert_same_as_single_pass(clip["src"], clip["out"], clip["reference"])
    manifest = _manifest(clip["work"])
    assert [s.frames_out for s in manifest.segments] == [s.frames for s in manifest.segments]
    assert all(s.done and len(s.sha256) == 64 for s in manifest.segments)
    assert sum(w["frames"] for w in report.workers.values()) == 300 and report.fps > 0


def test_work_dir_removed_after_success_unless_kept(clip, tmp_path: Path) -> None:
    src = make_clip(tmp_path / "short.mp4", frames=30, rate=10, options={"preset": "ultrafast", "qp": "20",
                                                                      "g": "10"})
    out = tmp_path / "short-x2.mp4"
    report = run_segmented([(src, out)], config(), SegmentOptions(segments="3"), progress=False,
                           notices=Notices(echo=False))
    assert report.segments == 3 and decode_info(out)["frames"] == 30
    assert not default_work_dir(out).exists()
    assert clip["work"].is_dir()  # the module's run used keep_work
    # A --work-dir that holds other files: only the run's own files go.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "notes.txt").write_text("mine")
    out.unlink()
    run_segmented([(src, out)], config(), SegmentOptions(segments="3", work_dir=scratch), progress=False,
                  notices=Notices(echo=False))
    assert [p.name for p in scratch.iterdir()] == ["notes.txt"]


def test_segments_keep_streams_metadata_rotation_and_colour_like_a_single_pass(tmp_path: Path) -> None:
    """Two audio tracks, a subtitle track (converted mov_text -> SubRip for MKV), titles, rotation, BT.709."""
    src = make_clip(tmp_path / "rich.mp4", frames=60, rate=10, rotation=90, metadata={"title": "T"},
                    audio=[AudioSpec(layout="mono"), AudioSpec(layout="5.1", metadata={"language": "fra"})],
                    subtitles=[SubtitleSpec([(0, 300, "Hello"), (2400, 300, "World")], {"language": "eng"})],
                    options=X264_OPEN_GOP)
    reference, out = tmp_path / "single.mkv", tmp_path / "segmented.mkv"
    n1, n2 = Notices(echo=False), Notices(echo=False)
    run_upscale(src, reference, config(), progress=False, notices=n1)
    report = run_segmented([(src, out)], config(), SegmentOptions(segments="3"), progress=False, notices=n2)
    assert report.segments == 3
    assert decode_info(out) == decode_info(reference)
    assert n2.items == n1.items  # the same notices (the subtitle conversion), once
    for index in (1, 2, 3):
        assert stream_packets(out, index) == stream_packets(reference, index)


@pytest.mark.parametrize("ext,encode", [(".webm", {}), (".mkv", {"codec": "libx265"})])
def test_other_containers_and_codecs_match_a_single_pass(tmp_path: Path, ext: str, encode: dict) -> None:
    """WebM cannot hold AAC: the join re-encodes it from the input as a single pass does, to the last packet.
    HEVC with B-frames in Matroska: segment files without stored decode timestamps still join."""
    src = make_clip(tmp_path / "aac.mp4", frames=40, rate=10, audio=[AudioSpec()], options=X264_OPEN_GOP)
    reference, out = tmp_path / f"single{ext}", tmp_path / f"segmented{ext}"
    run_upscale(src, reference, config(**encode), progress=False, notices=Notices(echo=False))
    run_segmented([(src, out)], config(**encode), SegmentOptions(segments="2"), progress=False,
                  notices=Notices(echo=False))
    assert decode_info(out) == decode_info(reference)
    assert stream_packets(out, 1) == stream_packets(reference, 1)
    assert bar_positions(out) == expected_positions(40)


def test_segment_starts_between_two_milliseconds_join_in_matroska(tmp_path: Path) -> None:
    """At 30 fps a segment that starts at frame 10 starts at 1/3 s; Matroska keeps milliseconds, so its first
    frame reads 0.333 s, a little before the start. It still belongs to the segment: the join must take it."""
    src = make_clip(tmp_path / "in.mp4", frames=30, rate=30, audio=[AudioSpec()],
                    options={"preset": "veryfast", "x264-params": "keyint=10:min-keyint=10:scenecut=0"})
    reference, out = tmp_path / "single.mkv", tmp_path / "segmented.mkv"
    run_upscale(src, reference, config(), progress=False, notices=Notices(echo=False))
    report = run_segmented([(src, out)], config(), SegmentOptions(segments="3"), progress=False,
                           notices=Notices(echo=False))
    assert report.segments == 3
    assert decode_info(out) == decode_info(reference)
    assert stream_packets(out, 1) == stream_packets(reference, 1)


def test_ctrl_c_then_resume_redoes_only_unfinished_segments(clip, tmp_path: Path) -> None:
    src, out = clip["src"], tmp_path / "resumed.mp4"
    work = default_work_dir(out)
    err = ctrl_c_after_a_segment(["upscale", str(src), "-o", str(out), "--segments", "4", *BICUBIC,
                                  "--no-progress"], work)
    assert "of 4 segments finished" in err.strip().splitlines()[-1]
    assert not out.exists() and not list(tmp_path.glob(".*.part*"))
    interrupted = _manifest(work)
    finished = sum(s.done for s in interrupted.segments)
    assert 1 <= finished < 4

    r = run_cli("upscale", str(src), "-o", str(out), "--segments", "4", "--resume", *BICUBIC, "--no-progress",
                "--report", str(tmp_path / "report.json"))
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert (report["reused"], report["processed"]) == (finished, 4 - finished)
    assert f"{finished} reused, {4 - finished} processed" in r.stdout
    assert report["frames"] == 300
    assert report["frames_processed"] == sum(s.frames for s in interrupted.segments if not s.done)
    assert_same_as_single_pass(src, out, clip["reference"])
    assert not work.exists()


def test_corrupted_segment_is_detected_and_redone_never_joined(clip, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(clip["work"], work)
    seg = _manifest(work).segments[2]
    data = bytearray((work / seg.file).read_bytes())
    middle = len(data) // 2
    data[middle: middle + 64] = bytes(64)  # a bad sector: same size, other bytes
    (work / seg.file).write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    notices = Notices(echo=False)
    report = run_segmented([(clip["src"], out)], config(), SegmentOptions(segments="4", work_dir=work, resume=True),
                           progress=False, notices=notices)
    assert (report.reused, report.processed, report.redone_corrupt) == (3, 1, 1)
    assert any("segment 2" in n and "checksum" in n for n in notices.items)
    # The redone segment is encoded exactly as before: the output's video equals the first run's, byte for byte.
    assert video_packets(out) == video_packets(clip["out"])
    assert_same_as_single_pass(clip["src"], out, clip["reference"])
    assert not work.exists()


def test_changed_settings_or_input_invalidate_old_work(clip, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(clip["work"], work)
    notices = Notices(echo=False)
    out = tmp_path / "crf.mp4"
    report = run_segmented([(clip["src"], out)], config(crf=30), SegmentOptions(segments="4", work_dir=work,
                                                                                   resume=True, keep_work=True),
                           progress=False, notices=notices)
    assert report.reused == 0 and report.processed == 4
    assert any("settings changed" in n and "encode.crf: None -> 30" in n for n in notices.items), notices.items

    src = make_clip(tmp_path / "small.mp4", frames=20, rate=10, options={"preset": "ultrafast", "g": "5"})
    out2 = tmp_path / "small-x2.mp4"
    opts = SegmentOptions(segments="2", work_dir=tmp_path / "work2", keep_work=True)
    run_segmented([(src, out2)], config(), opts, progress=False, notices=Notices(echo=False))
    make_clip(src, frames=25, rate=10, options={"preset": "ultrafast", "g": "5"})  # the input is replaced
    out2.unlink()
    notices = Notices(echo=False)
    report = run_segmented([(src, out2)], config(), opts, progress=False, notices=notices)
    assert report.reused == 0 and decode_info(out2)["frames"] == 25
    assert any("input small.mp4 changed" in n for n in notices.items), notices.items


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    """The command line in this process (a subprocess would spend seconds importing torch)."""
    from pipelines.cli import main

    rc = main(["upscale", *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_folder_of_inputs_to_output_folder(tmp_path: Path, capsys) -> None:
    folder, out_dir = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out_dir.mkdir()
    for name, frames in (("a.mp4", 20), ("b.mkv", 30)):
        make_clip(folder / name, frames=frames, rate=10, options={"preset": "ultrafast", "g": "5"})
    rc, out, err = _cli(capsys, str(folder), "-o", str(out_dir), "--segments", "2", *BICUBIC, "--no-progress")
    assert rc == 0, err
    assert "2 inputs" in out and "segments: 4" in out
    assert decode_info(out_dir / "a.mp4")["times"] == decode_info(folder / "a.mp4")["times"]
    assert decode_info(out_dir / "b.mkv")["times"] == decode_info(folder / "b.mkv")["times"]
    assert decode_info(out_dir / "b.mkv")["size"] == (128, 72)
    assert not list(out_dir.glob(".*"))


def test_bad_segment_usage_is_one_line_error(clip, tmp_path: Path, capsys) -> None:
    src = clip["src"]
    rc, _, err = _cli(capsys, str(src), "-o", str(tmp_path / "o.mp4"), "--segments", "0", *BICUBIC)
    assert rc == 2 and err.strip().splitlines() == ["error: --segments 0: expected auto or a positive number"]
    rc, _, err = _cli(capsys, str(src), str(src), "-o", str(tmp_path / "o.mp4"), *BICUBIC)
    assert rc == 2 and "must be an existing folder" in err
    rc, _, err = _cli(capsys, str(src), "-o", str(tmp_path / "o.mp4"), "--segments", "2", "--frames", "5", *BICUBIC)
    assert rc == 2 and "--frames" in err
    (tmp_path / "file").write_text("x")
    rc, _, err = _cli(capsys, str(src), "-o", str(tmp_path / "o.mp4"), "--work-dir", str(tmp_path / "file"), *BICUBIC)
    assert rc == 2 and err.strip() == f"error: --work-dir {tmp_path / 'file'}: is not a directory"
    (tmp_path / "file").unlink()
    rc, _, err = _cli(capsys, str(src), "-o", str(tmp_path / "o.mp4"), "--gpus-per-segment", "0.5", *BICUBIC)
    assert rc == 2 and err.strip() == ("error: --gpus-per-segment shares GPUs between Ray tasks; it needs "
                                       "--engine ray")
    rc, _, err = _cli(capsys, str(src), "-o", str(tmp_path / "o.mp4"), "--engine", "ray", "--gpus-per-segment",
                      "1.5", *BICUBIC)
    assert rc == 2 and err.strip() == ("error: --gpus-per-segment 1.5: expected a share of one GPU, above 0 and "
                                       "at most 1")
    assert not list(tmp_path.iterdir())


def test_ray_missing_gives_install_hint(clip, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(VSRError, match=r"pip install '\.\[ray\]'"):
        run_segmented([(clip["src"], tmp_path / "o.mp4")], config(), SegmentOptions(segments="4", engine="ray"),
                      progress=False, notices=Notices(echo=False))
    assert not list(tmp_path.iterdir())


def test_ray_tasks_ask_for_what_the_cluster_has_and_cpu_nodes_take_no_gpu_segment() -> None:
    from pipelines.segments.runners.ray_cluster import TaskResources, segment_nodes, task_resources
    from vsr.errors import ConfigError

    gpu_cluster = {"CPU": 24.0, "GPU": 2.0}
    half = task_resources(gpu_cluster, "auto", 0.5)
    assert half == TaskResources(num_cpus=1.0, num_gpus=0.5)
    assert half.per_node({"CPU": 8.0, "GPU": 2.0}) == 4 and half.per_node({"CPU": 3.0, "GPU": 2.0}) == 3
    assert half.per_node({"CPU": 16.0}) == 0  # a CPU-only node of a GPU run
    assert task_resources(gpu_cluster, "cpu", 0.5) == TaskResources(num_cpus=1.0, num_gpus=0.0)
    assert task_resources({"CPU": 4.0}, "auto", 1.0).per_node({"CPU": 4.0}) == 4
    with pytest.raises(ConfigError, match="the Ray cluster has no GPUs"):
        task_resources({"CPU": 4.0}, "cuda", 1.0)
    nodes = [{"NodeID": "a" * 56, "Alive": True, "Resources": {"CPU": 8.0, "GPU": 1.0}},
             {"NodeID": "b" * 56, "Alive": True, "Resources": {"CPU": 8.0}},
             {"NodeID": "c" * 56, "Alive": False, "Resources": {"CPU": 8.0, "GPU": 1.0}}]
    assert [n.node_id[0] for n in segment_nodes(nodes, half)] == ["a"]
    assert [n.node_id[0] for n in segment_nodes(nodes, TaskResources(1.0, 0.0))] == ["a", "b"]
