"""fp16 and bf16 hold for every model family: finite, and close to fp32, on normal and extreme inputs (CPU).

fp16 is run the way the CUDA engine runs it (weights and input converted with .half()); bf16 both ways the engine
runs it: converted weights (CUDA) and CPU autocast (through the Engine). Inputs are tiny because half-precision
convolutions on the CPU are slow.
"""

from __future__ import annotations

import json

import pytest
import torch

from vsr.engine.guard import WiderModels, guarded
from vsr.engine.runner import Engine, EngineConfig
from vsr.models import load_model

from ..conftest import SHARED

CASES = json.loads((SHARED / "golden" / "cases.json").read_text())
# One checkpoint per family (the paper's x2/x3 share the x4 architecture and only add minutes on a CPU).
CHECKPOINTS = sorted({(c["weights"], c["case"]) for c in CASES
                      if c["case"].endswith("_a.pt") and "paper_safmn_x2" not in c["case"]
                      and "paper_safmn_x3" not in c["case"]})
N = 12


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of two outputs as the pipeline delivers them: clamped to [0, 1]."""
    mse = (a.float().clamp(0, 1) - b.float().clamp(0, 1)).pow(2).mean().item()
    return float("inf") if mse == 0 else -10.0 * torch.log10(torch.tensor(mse)).item()


def run_all(model: torch.nn.Module, scale: int, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each precision with the engine's numeric guard (vsr/engine/guard.py) applied to the raw output."""
    wider = WiderModels(model, torch.device("cpu"))
    with torch.inference_mode():
        out = {"fp32": guarded(wider, x, model(x), reduced=False)}
        out["fp16"] = guarded(wider, x, model.half()(x.half()).float(), reduced=True)
        out["bf16"] = guarded(wider, x, model.to(torch.bfloat16)(x.to(torch.bfloat16)).float(), reduced=True)
        model.float()
    out["bf16-autocast"] = Engine(model, scale, EngineConfig("cpu", "bf16", fast_layers=False))(x)
    return out


def extreme_inputs() -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(N), torch.arange(N), indexing="ij")
    checker = ((yy + xx) % 2).float().expand(3, N, N)
    return torch.stack([torch.ones(3, N, N), torch.zeros(3, N, N), checker])


@pytest.mark.parametrize("weights,case", CHECKPOINTS, ids=[w.split("/")[-1] for w, _ in CHECKPOINTS])
def test_half_precision_is_finite_and_close_to_fp32(weights, case):
    model, arch = load_model(SHARED / weights)
    golden = torch.load(SHARED / case, weights_only=True)["input"][..., :N, :N]
    extreme = extreme_inputs()
    # golden and the flat images in one batch (they never need the fallback); the checkerboard alone, since it
    # may be recomputed and a recomputation covers its whole batch
    for label, x in [("golden+white+black", torch.cat([golden, extreme[:2]])), ("checkerboard", extreme[2:])]:
        out = run_all(model, arch.scale, x)
        for name, y in out.items():
            assert torch.isfinite(y).all(), f"{name} {label}: not finite"
        assert psnr(out["fp16"], out["fp32"]) >= 50, f"{label} fp16: {psnr(out['fp16'], out['fp32']):.1f} dB"
        for name in ("bf16", "bf16-autocast"):
            assert psnr(out[name], out["fp32"]) >= 40, f"{label} {name}: {psnr(out[name], out['fp32']):.1f} dB"
        if label.startswith("golden"):
            # the reduced precisions really ran (no fallback to fp32): close to fp32, not equal
            assert psnr(out["fp16"], out["fp32"]) < 200 and psnr(out["bf16"], out["fp32"]) < 200


def test_exploding_checkerboard_is_recomputed_not_nan():
    """SAFMN++ squares its features block after block: on a one-pixel checkerboard the exact output is ~1e40,
    beyond even fp32. The engine's guard recomputes that frame in fp64 (fp32 engine) or fp32 (reduced precision);
    all give the same saturated picture, and the model itself stays as it is (training sees it unguarded)."""
    model, _ = load_model(SHARED / "weights" / "ntire2024_safmnpp_x4.pth")
    yy, xx = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    x = ((yy + xx) % 2).float().expand(1, 3, 32, 32)
    with torch.inference_mode():
        exact = model.double()(x.double())
        model.float()
        assert exact.abs().max() > 1e30  # the model really explodes here
        assert not torch.isfinite(model(x)).all()  # no guard inside the model
    engine = Engine(model, 4, EngineConfig("cpu", "fp32"))
    fp32 = engine(x)
    assert engine.guard_recomputes == 1
    assert torch.isfinite(fp32).all() and 0 <= fp32.min() and fp32.max() <= 1
    assert psnr(fp32, exact) >= 60
    frames = (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()  # the same through the frames path
    assert engine(frames).dtype == frames.dtype and engine.guard_recomputes == 2
    assert abs(engine(frames).astype(float) / 255 - fp32.permute(0, 2, 3, 1).numpy()).max() <= 0.5 / 255 + 1e-6
