"""The `upscale` and `demo` commands as a user runs them: errors, Ctrl-C, memory, a real model, the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest
import torch

from pipelines.cli import main
from pipelines.upscale import PassOptions, upscale_file
from vsr.io import probe

from ..conftest import ROOT, SHARED, run_cli
from ..media_factory import AudioSpec, audio_frames, decode_info, make_clip

BICUBIC = ["--model", "bicubic", "--scale", "2", "--preset", "ultrafast", "--no-progress"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "in.mp4", frames=8, audio=[AudioSpec(layout="mono")])


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=48000, layout="mono")
        for frame in [*audio_frames(AudioSpec(layout="mono"), 0.5), None]:
            for packet in a.encode(frame):
                out.mux(packet)
    return path


def _error(capsys, *argv: str) -> str:
    rc = main(list(argv))
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_bad_input_and_output_give_one_line_and_write_nothing(tmp_path: Path, clip: Path, capsys) -> None:
    before = clip.read_bytes()
    out = tmp_path / "out.mp4"
    assert "no such file" in _error(capsys, "upscale", str(tmp_path / "missing.mp4"), "-o", str(out), *BICUBIC)
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 10)
    assert "not a media file" in _error(capsys, "upscale", str(text), "-o", str(out), *BICUBIC)
    audio = _audio_only(tmp_path / "audio.m4a")
    assert "no video stream" in _error(capsys, "upscale", str(audio), "-o", str(out), *BICUBIC)
    assert "unknown output extension" in _error(capsys, "upscale", str(clip), "-o", str(tmp_path / "o.xyz"), *BICUBIC)
    assert "is the input" in _error(capsys, "upscale", str(clip), "-o", str(clip), "--overwrite", *BICUBIC)
    assert "not available" in _error(capsys, "upscale", str(clip), "-o", str(out), "--codec", "nosuchcodec",
                                     *BICUBIC)
    assert list(tmp_path.iterdir()) == [text, audio] or sorted(tmp_path.iterdir()) == sorted([text, audio])
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"keep me")
    assert "--overwrite" in _error(capsys, "upscale", str(clip), "-o", str(existing), *BICUBIC)
    assert existing.read_bytes() == b"keep me"
    assert clip.read_bytes() == before
    assert "unknown setting" in _error(capsys, "upscale", str(clip), "-o", str(out), "--config",
                                       str(_yaml(tmp_path, "engine:\n  batchsize: 2\n")), *BICUBIC)
    assert "--cpu-workers" in _error(capsys, "upscale", str(clip), "-o", str(out), "--cpu-workers", "-1", *BICUBIC)
    assert "batch must be auto" in _error(capsys, "upscale", str(clip), "-o", str(out), "--batch", "many", *BICUBIC)
    assert "--compile fast" in _error(capsys, "upscale", str(clip), "-o", str(out), "--compile", "fast", *BICUBIC)
    assert "--tile -1" in _error(capsys, "upscale", str(clip), "-o", str(out), "--tile", "-1", *BICUBIC)
    assert "--tile -1" in _error(capsys, "upscale", str(clip), "-o", str(tmp_path / "segs.mp4"), "--tile", "-1",
                                 "--segments", "2", *BICUBIC)
    assert not out.exists() and not (tmp_path / "segs.mp4").exists()


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "preset.yaml"
    path.write_text(text)
    return path


def test_auto_model_without_any_model_is_a_clear_error_or_works(tmp_path: Path, clip: Path, capsys) -> None:
    out = tmp_path / "auto.mp4"
    rc = main(["upscale", str(clip), "-o", str(out), "--scale", "2", "--no-progress", "--preset", "ultrafast"])
    err = capsys.readouterr().err
    if rc == 0:  # a default or cached x2 model exists
        assert decode_info(out)["frames"] == 8
    else:
        assert rc == 2 and "no x2 model is available offline" in err and not out.exists()


def test_a_failing_stage_stops_everything_and_leaves_nothing(tmp_path: Path, clip: Path) -> None:
    from vsr.engine.runner import Engine, EngineConfig

    class ExplodesOnTheThirdBatch(torch.nn.Module):
        calls = 0

        def forward(self, x):
            type(self).calls += 1
            if type(self).calls == 3:
                raise RuntimeError("model exploded")
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")

    engine = Engine(ExplodesOnTheThirdBatch(), 2, EngineConfig("cpu", "fp32", fast_layers=False, cpu_workers=1))
    out = tmp_path / "fail.mp4"
    with pytest.raises(RuntimeError, match="model exploded"):
        upscale_file(clip, out, engine, 2, opts=PassOptions(progress=False))
    engine.close()
    assert list(tmp_path.iterdir()) == []
    time.sleep(0.3)
    assert not [t for t in threading.enumerate() if t.name.startswith("vsr-")]


def _peak_rss_kib(*args: str) -> int:
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_pipeline.py"), *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0
    return usage.ru_maxrss


def test_memory_is_bounded_by_the_queues_not_the_length(tmp_path: Path) -> None:
    rss = {}
    for n in (300, 1200):
        src = make_clip(tmp_path / f"m{n}.mp4", frames=n, audio=[AudioSpec(layout="mono")])
        rss[n] = _peak_rss_kib("upscale", str(src), "-o", str(tmp_path / f"o{n}.mp4"), *BICUBIC)
        assert decode_info(tmp_path / f"o{n}.mp4")["frames"] == n
    assert rss[1200] <= rss[300] * 1.10, rss


def test_real_checkpoint_and_json_report(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "tiny.mp4", width=48, height=32, frames=3, audio=[AudioSpec(layout="stereo")])
    out, report = tmp_path / "x4.mkv", tmp_path / "report.json"
    weights = SHARED / "weights" / "ais2024_light_safmnpp_x4.pth"
    r = run_cli("upscale", str(src), "-o", str(out), "--weights", str(weights), "--report", str(report),
                "--config", "cpu", "--no-progress")
    assert r.returncode == 0, r.stderr
    info = decode_info(out)
    assert info["frames"] == 3 and info["size"] == (192, 128)
    data = json.loads(report.read_text())
    assert data["frames"] == data["frames_in"] == 3 and data["scale"] == 4
    assert data["wall_s"] > 0 and data["fps"] > 0
    assert set(data["stages"]) == {"decode", "upscale", "encode"}
    assert all({"busy_s", "wait_s"} <= set(s) for s in data["stages"].values())
    assert data["stages"]["encode"]["items"] == 3 and data["corrupt_packets"] == 0
    assert data["device"] == "cpu"
    assert "frames in/out: 3/3" in r.stdout


def test_batch_auto_is_one_frame_on_the_cpu(tmp_path: Path, clip: Path) -> None:
    out, report = tmp_path / "auto.mp4", tmp_path / "r.json"
    assert main(["upscale", str(clip), "-o", str(out), "--batch", "auto", "--report", str(report), "--no-progress",
                 *BICUBIC]) == 0
    data = json.loads(report.read_text())
    assert data["batch"] == 1 and data["frames"] == decode_info(out)["frames"] == 8


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo.mp4"
    r = run_cli("demo", "-o", str(out), "--seconds", "1")
    assert r.returncode == 0, r.stderr
    assert "frames in/out: 25/25" in r.stdout
    info = decode_info(out)
    assert info["frames"] == 25 and info["size"][0] >= 320
    assert [s[0] for s in info["streams"]] == ["video", "audio"]
    assert info["times"][:2] == [Fraction(0), Fraction(1, 25)]
    assert probe(out).colour.matrix == 1
