"""The engine's frames interface (integer NHWC in, integer NHWC out), one quantisation, the guard's flags, and the
math flags a model call runs under. On the CPU; the CUDA path shares every piece but the copies."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsr.engine.device import probe_frames
from vsr.engine.forward import read_math_flags
from vsr.engine.frames import float_to_frames, frames_to_float
from vsr.engine.runner import Engine, EngineConfig
from vsr.models import load_model

from ..conftest import SHARED, run_pipelined

LIGHT = SHARED / "weights" / "ais2024_light_safmnpp_x4.pth"
FAMILIES = ["ais2024_light_safmnpp_x4.pth", "ntire2023_safmn_x4.pth", "ntire2024_safmnpp_x4.pth"]


def real_frames(n: int = 2, size: tuple[int, int] = (40, 24)) -> np.ndarray:
    """`n` decoded frames of a real clip, cropped small (uint8 NHWC)."""
    with av.open(str(SHARED / "media" / "sample_with_increasing_timestamps_320w_240h_5s.mp4")) as c:
        out = [f.to_ndarray(format="rgb24") for _, f in zip(range(n), c.decode(video=0), strict=False)]
    w, h = size
    return np.stack(out)[:, 100:100 + h, 140:140 + w].copy()


def checkerboard(size: int) -> np.ndarray:
    """A one-pixel full-contrast checkerboard (size, size, 3) uint8: the input on which some models explode."""
    yy, xx = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return np.repeat((((yy + xx) % 2) * 255).astype(np.uint8)[..., None], 3, axis=2)


def test_quantisation_rounds_half_to_even_and_clamps():
    levels = torch.tensor([0.5, 1.5, 2.5, 253.5, -3.0, 300.0])
    y = (levels / 255).reshape(1, 1, 1, -1).expand(1, 3, 1, -1)
    exact = (y * 255 == levels.clamp(0, 255)).all(dim=1)[0, 0]  # the ties that survive float32 division
    q = float_to_frames(y, torch.uint8)[0, 0, :, 0]
    expect = torch.tensor([0, 2, 2, 254, 0, 255], dtype=torch.uint8)
    assert torch.equal(q[exact], expect[exact]) and exact[:3].any()
    assert torch.equal(q[4:], expect[4:])
    deep = float_to_frames(torch.full((1, 3, 2, 2), 0.5), torch.uint16)
    assert deep.dtype == torch.uint16 and int(deep[0, 0, 0, 0]) == 32768  # 32767.5 -> even


def test_frames_path_equals_the_float_path_quantised():
    module, _ = load_model(LIGHT)
    engine = Engine(module, 4, EngineConfig("cpu", "fp32"))
    frames = real_frames()
    out = engine(frames)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == (2, 96, 160, 3)
    via_float = float_to_frames(engine(frames_to_float(torch.from_numpy(frames))), torch.uint8).numpy()
    assert np.array_equal(out, via_float)
    as_tensor = engine(torch.from_numpy(frames))
    assert isinstance(as_tensor, torch.Tensor) and np.array_equal(as_tensor.numpy(), out)


def test_deep_frames_come_back_16_bit():
    module, _ = load_model(LIGHT)
    engine = Engine(module, 4, EngineConfig("cpu", "fp32"))
    frames8 = real_frames(1)
    frames16 = frames8.astype(np.uint16) * 257  # the same picture on the 16-bit scale
    out16, out8 = engine(frames16), engine(frames8)
    assert out16.dtype == np.uint16
    assert np.abs(out16.astype(np.int64) / 257 - out8).max() <= 0.51


def test_submit_collect_frames_keep_order_with_workers_and_shape_changes():
    module, _ = load_model(LIGHT)
    engine = Engine(module, 4, EngineConfig("cpu", "fp32", cpu_workers=2))
    batches = [probe_frames(2, 24, 40, seed=1), probe_frames(1, 13, 7, seed=2), probe_frames(2, 24, 40, seed=3),
               probe_frames(1, 9, 31, seed=4)]
    try:
        results = run_pipelined(engine, batches)
    finally:
        engine.close()
    for b, r in zip(batches, results, strict=True):
        assert np.array_equal(r, engine(b))


@pytest.mark.parametrize("weights", FAMILIES)
def test_guard_recomputes_nothing_on_real_frames(weights):
    module, arch = load_model(SHARED / "weights" / weights)
    engine = Engine(module, arch.scale, EngineConfig("cpu", "fp32"))
    engine(real_frames(2, (24, 16)))
    assert engine.guard_recomputes == 0


def test_guard_recomputes_only_the_overflowing_frame_of_a_batch():
    module, _ = load_model(SHARED / "weights" / "ntire2024_safmnpp_x4.pth")
    engine = Engine(module, 4, EngineConfig("cpu", "bf16", fast_layers=False))
    batch = np.stack([real_frames(1, (24, 24))[0], checkerboard(24)])
    out = engine(batch)
    assert engine.guard_recomputes == 1
    alone = Engine(module, 4, EngineConfig("cpu", "bf16", fast_layers=False))(batch[:1])
    assert np.array_equal(out[:1], alone)  # the natural frame kept its bf16 result


class _RecordsFlags(torch.nn.Module):
    """x2 nearest upscaling that records the cuDNN/cuBLAS flags in force while it runs."""

    seen: list[tuple[bool, bool, bool]] = []  # a class attribute: the engine works on a copy of the module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(read_math_flags())
        return F.interpolate(x, scale_factor=2, mode="nearest")


@pytest.mark.parametrize("precision,tf32", [("fp32", False), ("bf16", True)])
def test_fp32_runs_without_tf32_and_flags_are_restored(precision, tf32):
    before = read_math_flags()
    _RecordsFlags.seen.clear()
    engine = Engine(_RecordsFlags(), 2, EngineConfig("cpu", precision))
    engine(probe_frames(1, 8, 8))
    assert _RecordsFlags.seen[-1] == (tf32, tf32, True)
    assert read_math_flags() == before
