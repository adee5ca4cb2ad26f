"""ONNX export: the export-only pooling equals PyTorch's, each family's exported file reproduces the golden outputs
at two frame sizes and a batch of 2 in onnxruntime, and bad arguments are one-line errors."""

from __future__ import annotations

import functools
import json

import pytest
import torch
import torch.nn.functional as F

from vsr.engine.onnx_export import export_onnx
from vsr.models import load_model
from vsr.models.export_ops import adaptive_max_pool_gather
from vsr.models.layers import pooled_size

from ..conftest import SHARED, run_cli

ort = pytest.importorskip("onnxruntime")

CASES = json.loads((SHARED / "golden" / "cases.json").read_text()) if SHARED.is_dir() else []


def test_gather_pool_equals_adaptive_max_pool():
    g = torch.Generator().manual_seed(0)
    for h in range(1, 71):
        for w in (1, 37, 70):
            x = torch.randn(2, 3, h, w, generator=g)
            for factor in (2, 4, 8, 16):
                ref = F.adaptive_max_pool2d(x, pooled_size(h, w, factor))
                assert torch.equal(adaptive_max_pool_gather(x, factor), ref), (h, w, factor)


@functools.cache
def _one_case_per_family():
    """The golden cases grouped by checkpoint, one checkpoint per family (the paper SAFMN has three scales)."""
    by_family: dict[str, list[dict]] = {}
    weights_of: dict[str, str] = {}
    for c in CASES:
        family = load_model(SHARED / c["weights"])[1].family
        if weights_of.setdefault(family, c["weights"]) == c["weights"]:
            by_family.setdefault(family, []).append(c)
    return by_family


@pytest.mark.parametrize("family", ["safmn", "ntire23-safmn", "safmnpp", "safmnpp-light"])
def test_export_matches_golden_outputs(family, tmp_path):
    cases = _one_case_per_family()[family]
    path = tmp_path / "m.onnx"
    if family == "safmnpp-light":  # once through the command as a user runs it (with its own onnxruntime check)
        r = run_cli("export", "--weights", str(SHARED / cases[0]["weights"]), "--format", "onnx", "-o", str(path))
        assert r.returncode == 0, r.stderr
        assert "max abs error" in r.stdout
    else:  # the same function in-process (a fresh interpreter per family costs seconds)
        module, spec = load_model(SHARED / cases[0]["weights"])
        export_onnx(module, spec.scale, path, check=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = [torch.load(SHARED / c["case"], weights_only=True) for c in cases]
    assert len({tuple(d["input"].shape) for d in inputs}) == 2  # two frame sizes from one file: dynamic H/W
    for d in inputs:
        out = session.run(["sr"], {"lr": d["input"].numpy()})[0]
        assert out.shape == tuple(d["output"].shape)
        assert abs(out - d["output"].numpy()).max() <= 1e-4
    # a batch of 2: the first input twice, each output equal to the golden one
    x = torch.cat([inputs[0]["input"]] * 2).numpy()
    out = session.run(["sr"], {"lr": x})[0]
    assert out.shape[0] == 2
    assert abs(out - torch.cat([inputs[0]["output"]] * 2).numpy()).max() <= 1e-4


@pytest.mark.parametrize("args, message", [
    (["--model", "bicubic", "--scale", "2", "--format", "tflite", "-o", "x.onnx"], "unknown export format"),
    (["--model", "bicubic", "--scale", "2"], "needs -o"),
    (["--model", "bicubic", "--scale", "2", "-o", "/nonexistent/dir/x.onnx"], "no such directory"),
    (["--model", "bicubic", "--scale", "2", "--precision", "bf16", "-o", "x.onnx"], "use fp32 or fp16"),
])
def test_bad_arguments_are_one_line_errors(args, message, tmp_path):
    r = run_cli("export", *args, cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert not list(tmp_path.iterdir())


def test_bench_onnxruntime_backend_runs_model_only(tmp_path):
    out = tmp_path / "bench.json"
    r = run_cli("bench", "--backend", "onnxruntime", "--model", "bicubic", "--input-size", "16x12", "--frames", "2",
                "--repeats", "1", "--json", str(out))
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    (row,) = report["results"]
    assert row["backend"] == "onnxruntime" and row["precision"] == "fp32"
    assert row["model_only"]["engine"].startswith("onnxruntime") and row["model_only_fps"] > 0
    assert row["plain_model"]["engine"] != row["model_only"]["engine"]  # the baseline is still the torch model
    assert row["pipeline"] is None and row["naive"] is None
    assert row["ratios"]["optimised_over_plain"] == round(row["model_only_fps"] / row["plain_model_fps"], 4)



@pytest.mark.parametrize("family", ["safmn", "ntire23-safmn", "safmnpp", "safmnpp-light"])
def test_fp16_export_computes_in_half_precision_within_the_fidelity_bound(family, tmp_path):
    import onnx

    from vsr.engine.device import psnr_db

    cases = _one_case_per_family()[family]
    module, spec = load_model(SHARED / cases[0]["weights"])
    path = tmp_path / "m16.onnx"
    report = export_onnx(module, spec.scale, path, precision="fp16")
    assert report.precision == "fp16" and report.psnr_db >= 40
    graph = onnx.load(str(path)).graph
    # the conv kernels (GRN's gamma/beta are folded into its fp32 statistics)
    weights = [t for t in graph.initializer if len(t.dims) == 4 and t.name.endswith(".weight")]
    assert weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for c in cases:
        d = torch.load(SHARED / c["case"], weights_only=True)
        out = session.run(["sr"], {"lr": d["input"].numpy()})[0]  # float32 in and out, like the fp32 file
        assert out.dtype == "float32" and out.shape == tuple(d["output"].shape)
        assert psnr_db(torch.from_numpy(out), d["output"]) >= 40


def test_export_without_the_onnx_package_is_a_one_line_error_and_writes_nothing(tmp_path, monkeypatch):
    """torch's exporter builds the model proto with onnx (torch 2.11 fails deep inside without it)."""
    from vsr.errors import ConfigError

    monkeypatch.setitem(__import__("sys").modules, "onnx", None)  # as if not installed: `import onnx` raises
    out = tmp_path / "m.onnx"
    with pytest.raises(ConfigError, match="needs the onnx package"):
        export_onnx(torch.nn.Upsample(scale_factor=2), 2, out)
    assert list(tmp_path.iterdir()) == []
