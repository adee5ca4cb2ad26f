"""`bench` end to end on a tiny configuration: every field present, the arithmetic consistent. Nothing timed."""

from __future__ import annotations

import json
import statistics

import pytest

from pipelines.bench import BenchConfig, per_pixel_scaling
from pipelines.config import load_config
from vsr.engine.perf import MALLOC_TUNABLES

from .conftest import SHARED, run_cli

LIGHT = str(SHARED / "weights" / "ais2024_light_safmnpp_x4.pth")
PART_KEYS = {"fps_median", "fps_min", "fps_max", "fps_repeats", "ms_per_frame_p50", "ms_per_frame_p95",
             "peak_mem_mib", "mem_kind", "cpu_ms_per_frame", "h2d_ms_per_frame", "d2h_ms_per_frame", "engine",
             "precision", "device"}


def _check_model_part(part: dict, repeats: int) -> None:
    assert PART_KEYS <= set(part)
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
    for key in ("model_only_fps", "pipeline_fps", "naive_fps", "plain_model_fps"):
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
    # both video runs processed every frame of the generated clip (3 frames, with audio copied by the pipeline)
    assert row["pipeline"]["frames"] == row["naive"]["frames"] == 3
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
                "--repeats", "1", "--device", "cpu", "--precision", "fp32", "--no-pipeline", "--json", str(out))
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    rows = report["results"]
    assert [row["input_size"] for row in rows] == [[24, 16], [48, 32]]
    assert all(row["random_weights"] and row["weights"] == "random" for row in rows)
    assert all(row["pipeline_fps"] is None and row["naive_fps"] is None for row in rows)
    assert all(row["ratios"]["pipeline_over_model_only"] is None for row in rows)
    assert "random weights" in r.stdout
    [scale] = report["scaling"]
    small, large = rows
    assert scale["input_size"] == [48, 32] and scale["reference_size"] == [24, 16]
    assert small["model_only_mpix_per_s"] == round(small["model_only_fps"] * 24 * 16 / 1e6, 4)
    assert scale["per_pixel_speed_ratio"] == round(large["model_only_mpix_per_s"] / small["model_only_mpix_per_s"], 4)
    assert report["scaling"] == per_pixel_scaling(rows)


@pytest.mark.parametrize("args,message", [
    (["--input-size", "5x5"], "too small"),
    (["--input-size", "wide"], "WIDTHxHEIGHT"),
    (["--batch", "0"], "positive integer"),
    (["--model", "nope"], "unknown model"),
    (["--precision", "int4"], "unknown precision"),
    (["--input", "/no/such.mp4"], "no such file"),
    (["--backend", "onnxruntime", "--precision", "bf16"], "use --precision fp32 or fp16"),
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
