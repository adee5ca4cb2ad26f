"""`bench` end to end on a tiny configuration: every field present, the arithmetic consistent. Nothing timed."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict

import numpy as np
import pytest

from pipelines.bench import (
    MIN_BATCHES,
    SMI_FIELDS,
    BenchConfig,
    BenchJob,
    NearestEngine,
    child_io,
    format_table,
    nvidia_smi,
    parse_nvidia_smi,
    per_pixel_scaling,
    pipeline_bound,
)
from pipelines.bench.model_only import _copy_times, _times_since
from pipelines.bench.results import BenchReport, BenchRow, Ratios
from pipelines.bench.workload import model_batch as _model_batch
from pipelines.common.config import load_config
from vsr.engine.perf import MALLOC_TUNABLES
from vsr.settings import build_settings

from ..conftest import SHARED, run_cli

LIGHT = str(SHARED / "weights" / "ais2024_light_safmnpp_x4.pth")
PART_KEYS = {"fps_median", "fps_min", "fps_max", "fps_repeats", "ms_per_frame_p50", "ms_per_frame_p95",
             "peak_mem_mib", "mem_kind", "cpu_ms_per_frame", "h2d_ms_per_frame", "d2h_ms_per_frame", "engine",
             "precision", "device"}


def _check_model_part(part: dict, repeats: int) -> None:
    assert PART_KEYS <= set(part)
    assert "frames_timed_incl_warmup" not in part  # warm-up is never part of a figure
    assert part["frames_per_repeat"] >= MIN_BATCHES * 1 and part["input"] == "uint8 RGB frames (N, H, W, 3)"
    assert len(part["fps_repeats"]) == repeats
    assert part["fps_min"] <= part["fps_median"] <= part["fps_max"]
    assert part["fps_median"] == pytest.approx(statistics.median(part["fps_repeats"]), abs=1e-4)
    assert 0 < part["ms_per_frame_p50"] <= part["ms_per_frame_p95"]
    assert part["peak_mem_mib"] > 0 and part["mem_kind"] in ("rss_peak", "cuda_max_allocated")


def test_bench_tiny_configuration_end_to_end(tmp_path):
    out = tmp_path / "bench.json"
    plot = tmp_path / "bench.png"
    r = run_cli("bench", "--model", "safmnpp-light-x4", "--weights", LIGHT, "--input-size", "32x32",
                "--frames", "3", "--repeats", "2", "--device", "cpu", "--json", str(out), "--plot", str(plot))
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    m = report["machine"]
    assert {"cpu", "cpu_cores", "torch", "pyav", "ffmpeg", "codecs", "gpu"} <= set(m)
    assert m["codecs"]["libx264"] is True
    [row] = report["results"]
    for key in ("model_only_fps", "pipeline_fps", "naive_fps", "plain_model_fps", "io_only_fps", "bound_fps",
                "pipeline_efficiency"):
        assert isinstance(row[key], float) and row[key] > 0, key
    assert row["input_size"] == [32, 32] and row["output_size"] == [128, 128] and row["batch"] == 1
    assert row["precision"] in ("fp32", "bf16") and row["random_weights"] is False
    _check_model_part(row["model_only"], 2)
    _check_model_part(row["plain_model"], 2)
    assert row["model_only"]["plain"] is False and row["plain_model"]["plain"] is True
    assert "NCHW" in row["plain_model"]["engine"] and row["plain_model"]["precision"] == "fp32"
    # the optimised child ran with the malloc setting, the plain baseline without it
    assert MALLOC_TUNABLES in row["model_only"]["malloc_tunables"]
    assert MALLOC_TUNABLES not in (row["plain_model"]["malloc_tunables"] or "")
    # the stored figures are the parts' own; the ratios are computed from them
    assert row["model_only_fps"] == row["model_only"]["fps_median"]
    assert row["plain_model_fps"] == row["plain_model"]["fps_median"]
    assert row["pipeline_fps"] == row["pipeline"]["fps"] and row["naive_fps"] == row["naive"]["fps"]
    ratios = row["ratios"]
    assert ratios["pipeline_over_model_only"] == round(row["pipeline_fps"] / row["model_only_fps"], 4)
    assert ratios["pipeline_over_naive"] == round(row["pipeline_fps"] / row["naive_fps"], 4)
    assert ratios["optimised_over_plain"] == round(row["model_only_fps"] / row["plain_model_fps"], 4)
    # the bound: model and I/O share the CPU's cores, so each frame costs both; efficiency = pipeline / bound
    assert row["io_only_fps"] == row["io_only"]["fps"] and row["bound_kind"] == "shared_cores"
    assert row["bound_fps"] == round(1 / (1 / row["model_only_fps"] + 1 / row["io_only_fps"]), 4)
    assert row["pipeline_efficiency"] == round(row["pipeline_fps"] / row["bound_fps"], 4)
    # the I/O-only run decoded, upscaled (nearest) and encoded every frame at the output size, audio copied
    io = row["io_only"]
    assert io["frames"] == io["frames_upscaled"] == 8 and io["output_size"] == [128, 128]
    assert io["bytes_written"] > 0 and io["packets_copied"] > 0 and io["codec"] == row["pipeline"]["codec"]
    assert set(io["stages"]) == {"decode", "upscale", "encode"} and len(io["fps_repeats"]) == 2
    assert row["naive"]["device"] == "cpu"  # the naive loop runs where the configuration runs
    # the video runs processed every frame of the generated clip (--frames 3 is raised to 8 batches of 1 frame,
    # as the model-only repeats are; audio copied by the pipeline)
    assert row["pipeline"]["frames"] == row["naive"]["frames"] == row["model_only"]["frames_per_repeat"] == 8
    for part in (row["pipeline"], row["naive"]):  # one run per repeat; the median run's details are reported
        assert len(part["fps_repeats"]) == 2 and part["round_fps"] in part["fps_repeats"]
        assert part["fps"] == pytest.approx(statistics.median(part["fps_repeats"]), abs=1e-4)
        assert part["fps_min"] <= part["fps"] <= part["fps_max"]
    assert row["pipeline"]["packets_copied"] > 0
    assert set(row["pipeline"]["stages"]) == {"decode", "upscale", "encode"}
    for st in row["pipeline"]["stages"].values():
        assert st["busy_s"] >= 0 and st["wait_s"] >= 0
    wall = row["pipeline"]["wall_s"]  # rounded to 1 ms, which is several % of a tiny clip's wall time
    assert row["pipeline"]["round_fps"] == pytest.approx(row["pipeline"]["frames"] / wall, rel=max(0.01, 6e-4 / wall))
    # the table names every configuration and the figures
    assert "safmnpp-light-x4" in r.stdout and "opt/plain" in r.stdout
    assert "I/O fps" in r.stdout and "bound fps" in r.stdout and "efficiency" in r.stdout
    assert f"{row['pipeline_efficiency']:.2f}" in r.stdout.splitlines()[3]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in r.stderr and not plot.exists()
    else:
        assert plot.stat().st_size > 0


def test_bench_random_weights_and_per_pixel_scaling(tmp_path, monkeypatch):
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path / "empty-cache"))
    out = tmp_path / "bench.json"
    r = run_cli("bench", "--model", "safmnpp-light-x4", "--input-size", "24x16", "48x32", "--frames", "2",
                "--repeats", "1", "--device", "cpu", "--precision", "fp32", "--no-pipeline", "--colour", "device",
                "--json", str(out))
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    rows = report["results"]
    assert [row["input_size"] for row in rows] == [[24, 16], [48, 32]]
    assert all(row["random_weights"] and row["weights"] == "random" for row in rows)
    assert all(row["pipeline_fps"] is None and row["naive_fps"] is None for row in rows)
    assert all(row["io_only"] is None and row["bound_fps"] is None and row["pipeline_efficiency"] is None
               for row in rows)  # --no-pipeline skips the I/O-only run too
    assert all(row["ratios"]["pipeline_over_model_only"] is None for row in rows)
    assert "random weights" in r.stdout
    # --colour device: the model-only run is handed YUV planes, as the pipeline hands them on a GPU
    assert all(row["model_only"]["input"].startswith("YUV planes (8-bit") for row in rows)
    [scale] = report["scaling"]
    small, large = rows
    assert scale["input_size"] == [48, 32] and scale["reference_size"] == [24, 16]
    assert small["model_only_mpix_per_s"] == round(small["model_only_fps"] * 24 * 16 / 1e6, 4)
    assert scale["per_pixel_speed_ratio"] == round(large["model_only_mpix_per_s"] / small["model_only_mpix_per_s"], 4)
    assert report["scaling"] == [asdict(s) for s in per_pixel_scaling([build_settings(BenchRow, r) for r in rows])]


def test_bench_no_io_skips_the_io_only_run(tmp_path):
    out = tmp_path / "bench.json"
    r = run_cli("bench", "--model", "bicubic", "--input-size", "24x16", "--frames", "2", "--repeats", "1",
                "--device", "cpu", "--no-io", "--json", str(out))
    assert r.returncode == 0, r.stderr
    [row] = json.loads(out.read_text())["results"]
    assert row["pipeline_fps"] > 0 and row["pipeline"]["frames"] == 8  # the pipeline still ran
    assert row["io_only"] is None and row["io_only_fps"] is None
    assert row["bound_fps"] is None and row["pipeline_efficiency"] is None
    assert "I/O only" not in r.stdout


def test_pipeline_bound_formula():
    # the same cores: 1 / (1/model + 1/io); separate devices (CUDA model, CPU I/O): the slower of the two
    assert pipeline_bound(10.0, 40.0, "cpu") == 8.0
    assert pipeline_bound(3.0, 7.0, "cpu") == round(1 / (1 / 3 + 1 / 7), 4)
    assert pipeline_bound(10.0, 40.0, "cuda:0") == 10.0 and pipeline_bound(90.0, 40.0, "cuda") == 40.0
    assert pipeline_bound(None, 40.0, "cpu") is None and pipeline_bound(10.0, None, "cuda") is None


def test_nearest_engine_keeps_dtype_and_pixels():
    engine = NearestEngine(3)
    for dtype in (np.uint8, np.uint16):
        x = np.random.default_rng(0).integers(0, 255, (2, 5, 7, 3)).astype(dtype)
        y = engine(x)
        assert y.shape == (2, 15, 21, 3) and y.dtype == dtype and y.flags.c_contiguous
        assert np.array_equal(y[:, ::3, ::3], x) and np.array_equal(y[:, 2::3, 1::3], x)
    assert engine.frames == 4


def test_nearest_engine_upscales_yuv_planes_into_the_target_format():
    batch = _model_batch(10, 6, 2, 2, on_device=True)  # what the pipeline hands a GPU engine: 4:2:0 planes
    assert batch.source.plane_shapes == ((6, 10), (3, 5), (3, 5))
    engine = NearestEngine(2)
    pictures = engine(batch)
    assert len(pictures) == 2 and engine.kinds == {"planes"}
    for src, dst in zip(batch.planes, pictures, strict=True):
        assert dst.format == batch.target
        for a, b in zip(src, dst.planes, strict=True):
            assert b.shape == (a.shape[0] * 2, a.shape[1] * 2) and np.array_equal(b[::2, ::2], a)
    assert isinstance(_model_batch(10, 6, 2, 2, on_device=False), np.ndarray)  # host colour: RGB frames


@pytest.mark.parametrize("colour", ["host", "device"])
def test_io_only_run_encodes_every_frame_at_the_output_size(tmp_path, colour):
    import av

    from vsr.io.synth import write_pattern_clip

    clip = write_pattern_clip(tmp_path / "in.mp4", 32, 18, seconds=4 / 25)
    job = BenchJob(clip=str(clip), out=str(tmp_path / "out.mp4"), scale=2, batch=1, device="cpu",
                   codec="libx264", preset="veryfast", colour=colour)
    r = child_io(job)
    assert r["frames"] == r["frames_upscaled"] == 4 and r["colour"] == colour and r["bytes_written"] > 0
    with av.open(job.out) as f:
        v = f.streams.video[0]
        assert (v.width, v.height) == (64, 36) and sum(1 for _ in f.decode(v)) == 4


def test_cuda_times_exclude_the_warm_up():
    from vsr.engine.cuda import CopyTimes
    from vsr.engine.interface import EngineStats

    class CountingEngine:  # only the counters of a CUDA engine, which this machine may not have
        times = CopyTimes(h2d_ms=1.5, compute_ms=10.0, d2h_ms=2.0, batches=2, h2d_bytes=100, d2h_bytes=1600)

        def stats(self) -> EngineStats:
            return EngineStats(2, copy_times=self.times)

    engine = CountingEngine()
    before = _copy_times(engine)  # a snapshot, not the live counters
    t = engine.times
    t.h2d_ms, t.compute_ms, t.d2h_ms, t.batches, t.h2d_bytes, t.d2h_bytes = 4.5, 30.0, 8.0, 8, 400, 6400
    delta = _times_since(before, _copy_times(engine))
    assert delta == {"h2d_ms": 3.0, "compute_ms": 20.0, "d2h_ms": 6.0, "batches": 6, "h2d_bytes": 300,
                     "d2h_bytes": 4800}
    assert _times_since(None, None) is None  # the CPU engine has no counters


def test_nvidia_smi_parsing_and_absence(monkeypatch, tmp_path):
    line = "GPU-1234, NVIDIA H200, 550.54.15, P0, 1980, 3201, 1980, 3201, 412.30, 700.00, [N/A], 143771, 1024"
    [row] = parse_nvidia_smi(line + "\n", tuple(SMI_FIELDS))
    assert row["driver"] == "550.54.15" and row["clocks_sm_mhz"] == 1980 and row["clocks_max_sm_mhz"] == 1980
    assert row["power_draw_w"] == 412.3 and row["temperature_c"] is None and row["memory_total_mib"] == 143771
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi: no data, no error
    assert nvidia_smi() is None and nvidia_smi("1234") is None


def test_table_shows_the_gpu_and_its_timed_copies():
    """format_table of a CUDA report (made up: no GPU here) names the GPU, the bound and the copy times."""
    smi = {"clocks_max_sm_mhz": 1980}
    gpu = {"name": "NVIDIA H200", "driver": "550.54.15", "cuda": "12.8", "cudnn": 91000, "memory_gib": 139.8,
           "nvidia_smi": smi}
    part = {"fps_min": 90.0, "fps_max": 110.0, "ms_per_frame_p50": 10.0, "ms_per_frame_p95": 12.0,
            "peak_mem_mib": 900.0, "h2d_ms_per_frame": 0.1, "d2h_ms_per_frame": 0.4, "gpu_compute_ms_per_frame": 8.0,
            "gpu_state": [{"clocks_sm_mhz": 1980, "clocks_mem_mhz": 3201, "power_draw_w": 412.3}]}
    bound = pipeline_bound(100.0, 40.0, "cuda")
    row = BenchRow(model="safmnpp-light-x4", weights="w.pth", random_weights=False, scale=4, input_size=[320, 180],
                   output_size=[1280, 720], batch=4, precision="fp16", device="cuda:0", backend="torch",
                   model_only=part, plain_model=None, pipeline=None, naive=None, io_only=None, model_only_fps=100.0,
                   plain_model_fps=20.0, pipeline_fps=36.0, naive_fps=9.0, io_only_fps=40.0,
                   bound_kind="separate_devices", bound_fps=bound, pipeline_efficiency=round(36.0 / bound, 4),
                   ratios=Ratios(pipeline_over_model_only=0.36, pipeline_over_naive=4.0, optimised_over_plain=5.0),
                   model_only_mpix_per_s=5.76)
    machine = {"cpu": "x", "cpu_affinity": 16, "cpu_flags": [], "gpu": gpu, "torch": "2", "pyav": "1"}
    report = BenchReport(machine=machine, settings={}, results=[row])
    text = format_table(report)
    assert "NVIDIA H200 (driver 550.54.15, CUDA 12.8, cuDNN 91000, 139.8 GiB, max SM 1980 MHz)" in text
    assert "compute 8.000 ms" in text and "SM 1980 / mem 3201 MHz 412.3 W" in text
    data = text.splitlines()[3].split()
    assert data[data.index("36.000") + 1:data.index("36.000") + 3] == ["40.000", "40.000"]  # I/O, bound (= I/O)
    assert data[-1] == "0.90"  # efficiency 36/40
    report.machine["gpu"] = {"error": "bench device failed: no driver"}
    assert "GPU ? (bench device failed: no driver)" in format_table(report)


@pytest.mark.parametrize("args,message", [
    (["--input-size", "5x5"], "too small"),
    (["--input-size", "wide"], "WIDTHxHEIGHT"),
    (["--batch", "0"], "positive integer"),
    (["--model", "nope"], "unknown model"),
    (["--precision", "int4"], "unknown precision"),
    (["--input", "/no/such.mp4"], "no such file"),
    (["--backend", "onnxruntime", "--precision", "bf16"], "use --precision fp32 or fp16"),
    (["--backend", "tensorrt", "--precision", "fp16"], "TensorrtExecutionProvider"),
    (["--cpu-workers", "-1"], "--cpu-workers must be 0 (auto) or more"),
])
def test_bench_bad_arguments_are_one_line_errors(args, message):
    r = run_cli("bench", "--frames", "1", "--repeats", "1", *args)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("error:") and message in r.stderr
    assert "Traceback" not in r.stderr


def test_edge_preset_covers_every_x4_registry_model_at_three_sizes():
    from vsr.models import REGISTRY

    cfg = load_config(BenchConfig, "bench_edge")
    x4 = {name for name, e in REGISTRY.items() if e.arch is None or e.arch.scale == 4}
    assert set(cfg.models) == x4
    assert cfg.sizes == ["320x180", "640x360", "960x540"] and cfg.batches == [1, "best"]
