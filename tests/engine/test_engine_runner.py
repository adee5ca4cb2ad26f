"""Engine: exact fp32, fused layers within the golden bound, precision choices, submit/collect order, bad input."""

from __future__ import annotations

import json

import pytest
import torch

from vsr.engine.device import choose_cpu_precision, cpu_has_native_bf16, probe_image, psnr_db, resolve_precision
from vsr.engine.fast_layers import FusedLayerNorm, with_fast_layers
from vsr.engine.runner import Engine, EngineConfig
from vsr.errors import VSRError
from vsr.models import load_model
from vsr.models.layers import LayerNorm

from ..conftest import SHARED, run_pipelined

CASES = json.loads((SHARED / "golden" / "cases.json").read_text()) if SHARED.is_dir() else []


@pytest.mark.parametrize("case", CASES, ids=[c["case"].split("/")[-1] for c in CASES])
def test_engine_fp32_with_fast_layers_and_channels_last_matches_golden(case):
    module, spec = load_model(SHARED / case["weights"])
    data = torch.load(SHARED / case["case"], weights_only=True)
    engine = Engine(module, spec.scale, EngineConfig(device="cpu", precision="fp32"))
    out = engine(data["input"])
    assert out.dtype == torch.float32 and out.device.type == "cpu"
    assert out.is_contiguous(memory_format=torch.channels_last)  # NHWC memory: what frames are made of
    assert (out - data["output"].clamp(0, 1)).abs().max().item() <= 1e-5


def test_fast_layers_replace_layernorm_on_a_copy_only():
    module, _ = load_model(SHARED / "golden" / "paper_safmn_x2_random.pth")
    fast = with_fast_layers(module)
    assert any(isinstance(m, LayerNorm) for m in module.modules())
    assert not any(isinstance(m, LayerNorm) for m in fast.modules())
    assert any(isinstance(m, FusedLayerNorm) for m in fast.modules())


def test_plain_engine_is_the_module_itself():
    module, spec = load_model(SHARED / "weights" / "ais2024_light_safmnpp_x4.pth")
    x = probe_image(40)
    plain = Engine(module, 4, EngineConfig(device="cpu", precision="fp32", channels_last=False, fast_layers=False))
    with torch.inference_mode():
        assert torch.equal(plain(x), module(x).clamp(0, 1))


def test_auto_precision_is_fp32_without_native_bf16():
    assert choose_cpu_precision(lambda x, dtype: x, native_bf16=False) == torch.float32
    module, spec = load_model(SHARED / "weights" / "ais2024_light_safmnpp_x4.pth")
    engine = Engine(module, 4, EngineConfig(device="cpu", precision="auto"))
    assert engine.precision == ("fp32" if not cpu_has_native_bf16() else engine.precision)


def test_auto_precision_rejects_bf16_that_loses_fidelity():
    """A model that cancels large terms (+100 then -100 in two convs) loses the image in bf16: auto keeps fp32."""
    eye = torch.eye(3)[:, :, None, None]

    class Cancel(torch.nn.Module):
        def forward(self, x):
            x = torch.nn.functional.conv2d(x, eye, torch.full((3,), 100.0))
            return torch.nn.functional.conv2d(x, eye, torch.full((3,), -100.0))

    engine = Engine(Cancel(), 1, EngineConfig(device="cpu", precision="fp32"))
    assert psnr_db(engine.step.run_as(probe_image(), torch.bfloat16),
                   engine.step.run_as(probe_image(), torch.float32)) < 40
    assert choose_cpu_precision(engine.step.run_as, native_bf16=True) == torch.float32


def test_auto_precision_bf16_choice_keeps_fidelity_on_a_real_model():
    module, spec = load_model(SHARED / "weights" / "ntire2023_safmn_x4.pth")
    engine = Engine(module, 4, EngineConfig(device="cpu", precision="fp32"))
    chosen = choose_cpu_precision(engine.step.run_as, native_bf16=True)
    bf16 = psnr_db(engine.step.run_as(probe_image(), torch.bfloat16),
                   engine.step.run_as(probe_image(), torch.float32))
    assert bf16 >= 40  # the model holds in bf16, so a CPU with native bf16 takes it
    assert chosen == torch.bfloat16


def test_auto_precision_does_not_depend_on_timing():
    """The same choice in every command, however busy the machine: a bf16 run made slower than fp32 (a loaded
    machine during one probe) is still chosen when it is accurate."""
    import time

    module, spec = load_model(SHARED / "weights" / "ais2024_light_safmnpp_x4.pth")
    engine = Engine(module, 4, EngineConfig(device="cpu", precision="fp32"))

    def slow_bf16(x, dtype):
        if dtype == torch.bfloat16:
            time.sleep(0.2)
        return engine.step.run_as(x, dtype)

    assert choose_cpu_precision(slow_bf16, native_bf16=True) == torch.bfloat16
    if cpu_has_native_bf16():
        auto = [Engine(module, 4, EngineConfig(device="cpu", precision="auto")).precision for _ in range(3)]
        assert auto == ["bf16"] * 3


def test_explicit_precisions():
    assert resolve_precision("fp16", torch.device("cpu")) == torch.float16
    assert resolve_precision("bf16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(VSRError, match="unknown precision"):
        resolve_precision("int8", torch.device("cpu"))
    module, _ = load_model(SHARED / "weights" / "ais2024_light_safmnpp_x4.pth")
    engine = Engine(module, 4, EngineConfig(device="cpu", precision="bf16"))
    fp32 = Engine(module, 4, EngineConfig(device="cpu", precision="fp32"))
    x = probe_image(32)
    assert engine.precision == "bf16"
    y = engine(x)
    assert y.dtype == torch.float32 and psnr_db(y, fp32(x)) >= 40


def test_submit_collect_returns_batches_in_order():
    module, _ = load_model(SHARED / "weights" / "ais2024_light_safmnpp_x4.pth")
    with Engine(module, 4, EngineConfig(device="cpu", precision="fp32", cpu_workers=1)) as engine:
        batches = [probe_image(24), probe_image(24).flip(-1), probe_image(24).flip(-2)]
        results = run_pipelined(engine, batches)
        assert len(results) == 3
        for b, r in zip(batches, results, strict=True):
            assert torch.equal(r, engine(b))
        with pytest.raises(RuntimeError, match="without a submitted batch"):
            engine.collect()
        assert engine.suggest_batch(180, 320) == 1 and engine.stats().copy_times is None


BAD = [torch.rand(3, 8, 8), torch.rand(1, 4, 8, 8), torch.zeros(1, 3, 8, 8, dtype=torch.uint8)]


@pytest.mark.parametrize("bad", BAD)
def test_bad_input_is_a_clear_error(bad):
    engine = Engine(load_model(SHARED / "weights" / "ais2024_light_safmnpp_x4.pth")[0], 4,
                    EngineConfig(device="cpu", precision="fp32"))
    with pytest.raises(VSRError, match="engine input"):
        engine(bad)


def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(VSRError, match="CUDA is not available"):
        Engine(torch.nn.Identity(), 1, EngineConfig(device="cuda"))


def test_compiled_engine_is_checked_against_eager_and_describes_itself():
    module, _ = load_model(SHARED / "weights" / "ais2024_light_safmnpp_x4.pth")
    notices: list[str] = []
    x = probe_image(24)
    with Engine(module, 4, EngineConfig(device="cpu", precision="fp32", compile=True), notice=notices.append) as e:
        assert e.cpu_workers == 1
        y = e(x)
        described = e.describe()
    ref = Engine(module, 4, EngineConfig(device="cpu", precision="fp32", cpu_workers=1))(x)
    assert (y - ref).abs().max().item() <= 1e-4
    # compiled and verified, or told why not (then eager ran)
    assert described.endswith(", compiled") or any("torch.compile output differs" in n for n in notices)
