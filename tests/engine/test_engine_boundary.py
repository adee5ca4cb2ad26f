"""The engine boundary: every engine is a `FrameEngine`, the guard's repair escalates to fp64 and never quantises a
non-finite value (the one-pixel checkerboard in bf16/fp16 on the CPU), engines are freed without the cyclic
garbage collector, and the pipelines ask the engine instead of probing it."""

from __future__ import annotations

import gc
import re
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines.bench.io_only import NearestEngine
from vsr.engine.guard import OUTPUT_LIMIT, WiderModels, untrusted, wider
from vsr.engine.interface import FrameEngine
from vsr.engine.runner import Engine, EngineConfig
from vsr.metrics.quality import psnr
from vsr.models import load_model

from ..conftest import SHARED, run_pipelined
from .test_engine_frames import checkerboard, real_frames

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def safmnpp():
    return load_model(SHARED / "weights" / "ntire2024_safmnpp_x4.pth")[0]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_checkerboard_in_reduced_precision_matches_fp32_after_the_guard(safmnpp, precision):
    """SAFMN++'s exact output on a one-pixel checkerboard passes fp32's range: the fp32 recompute alone gave NaN,
    which became black (2.9 dB). The repair goes on to fp64 and gives the fp32 engine's own (fp64-repaired)
    result."""
    x = checkerboard(48)[None]
    exact = Engine(safmnpp, 4, EngineConfig("cpu", "fp32"))(x)
    engine = Engine(safmnpp, 4, EngineConfig("cpu", precision))
    out = engine(x)
    assert engine.guard_recomputes == 1
    assert psnr(out, exact) >= 40
    assert abs(float(out.mean()) - 127.5) < 40  # not the near-black of a NaN quantised to 0


def test_escalation_stops_at_the_first_finite_precision_and_never_keeps_a_non_finite_value():
    class Overflows(torch.nn.Module):
        """Finite only in fp64 (1e200 overflows fp32), or never (`always`)."""

        def __init__(self, always: bool) -> None:
            super().__init__()
            self.always = always

        def forward(self, x):
            big = torch.full_like(x, 1e200 if x.dtype == torch.float64 else float("inf"))
            return (big - big) if self.always else torch.where(torch.isfinite(big), x, big - big)

    x = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    fixed = WiderModels(Overflows(always=False), torch.device("cpu")).escalate(x, wider(torch.bfloat16))
    assert torch.equal(fixed, x.float())  # fp32 gave NaN, fp64 the value
    hopeless = WiderModels(Overflows(always=True), torch.device("cpu")).escalate(x, wider(torch.float32))
    assert torch.isfinite(hopeless).all() and (hopeless == 0).all()


def test_a_test_chart_is_not_recomputed():
    """FFmpeg's testsrc2 drives the shipped light x4 to +-18 (exactly, in fp32): within the guard's limit, so bf16
    keeps its own result instead of an fp32 recomputation of every frame (39.4 dB from fp32 on this chart of
    saturated primaries; natural frames stay above 45)."""
    import av

    from vsr.models import resolve_model

    with av.open("testsrc2=size=160x90:rate=30", format="lavfi") as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")[None]
    module = resolve_model("safmnpp-light-default-x4").module
    engine = Engine(module, 4, EngineConfig("cpu", "bf16"))
    out = engine(frame)
    assert engine.guard_recomputes == 0
    assert psnr(out, Engine(module, 4, EngineConfig("cpu", "fp32"))(frame)) >= 38


def test_guard_flags_read_the_output_in_place():
    y = torch.zeros(5, 3, 4, 4)
    y[1, 0, 0, 0], y[2, 1, 1, 1] = float("nan"), float("inf")
    y[3, 2, 2, 2], y[4, 0, 3, 3] = -OUTPUT_LIMIT - 1, OUTPUT_LIMIT
    assert untrusted(y, reduced=True).tolist() == [False, True, True, True, False]
    assert untrusted(y, reduced=False).tolist() == [False, True, True, False, False]  # fp32: only non-finite


def _engines(light):
    from vsr.engine.onnx_engine import OnnxEngine

    yield Engine(light, 4, EngineConfig("cpu", "fp32", cpu_workers=2))
    yield Engine(light, 4, EngineConfig("cpu", "fp32", cpu_workers=1))
    yield OnnxEngine(light, 4, "cpu", threads=1, notice=lambda _m: None)
    yield NearestEngine(4)


def test_every_engine_is_a_frame_engine_and_is_freed_without_the_cycle_collector():
    pytest.importorskip("onnxruntime")
    light, _ = load_model(SHARED / "weights" / "ais2024_light_safmnpp_x4.pth")
    frames = real_frames(2, (24, 16))
    gc.disable()
    try:
        for engine in _engines(light):
            assert isinstance(engine, FrameEngine), type(engine)
            out = run_pipelined(engine, [frames[:1], frames[1:]])
            assert [o.shape for o in out] == [(1, 64, 96, 3)] * 2 and engine.in_flight == 0
            assert engine.stats().depth == engine.depth >= 1
            ref = weakref.ref(engine)
            del engine, out
            assert ref() is None, "an engine <-> scheduler reference cycle keeps the engine (and its buffers)"
    finally:
        gc.enable()


def test_pipelines_ask_the_engine_instead_of_probing_it():
    probing = re.compile(r"\b(hasattr|getattr)\((self\.)?engine\b")
    found = [f"{p.relative_to(ROOT)}:{i}" for p in sorted((ROOT / "pipelines").rglob("*.py"))
             for i, line in enumerate(p.read_text().splitlines(), 1) if probing.search(line)]
    assert found == []


def test_yuv_pictures_come_back_as_pictures_in_the_target_format():
    from vsr.engine.frames import YuvPictures
    from vsr.io.colour import ColourDescription
    from vsr.io.picture import YuvPicture
    from vsr.io.planes import yuv_format

    colour = ColourDescription(matrix=1, primaries=1, trc=1, range=1)
    src, dst = yuv_format("yuv420p", 16, 8, colour, 0), yuv_format("yuv420p10le", 32, 16, colour, 0)
    rng = np.random.default_rng(0)
    pictures = [YuvPicture([np.full(s, v, np.uint8) + rng.integers(0, 3, s, dtype=np.uint8)
                            for s, v in zip(src.plane_shapes, (120, 100, 140), strict=True)], src)]
    out = Engine(torch.nn.Upsample(scale_factor=2, mode="nearest"), 2, EngineConfig("cpu", "fp32"))(
        YuvPictures(pictures, dst))
    assert isinstance(out, list) and len(out) == 1 and out[0].format == dst
    assert [p.shape for p in out[0].planes] == list(dst.plane_shapes)
    assert abs(float(out[0].planes[0].view(np.uint16).mean()) - 4 * 121) < 8  # 10-bit luma of the flat input
